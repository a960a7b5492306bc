import json

import pytest

from sdt_neuro.presets import SEMI_PUBLISHED
from tests.conftest import load_benchmark_script

semi_curve = load_benchmark_script("semi_curve")
PRE = SEMI_PUBLISHED["ep"]["pretrain_epochs"]


def alternation(key: str | None) -> list[dict]:
    """Pre-training, then two rounds (unlabelled, labelled), each epoch scored under ``key``."""
    records = [{"epoch": e, "phase": "pretrain", **({key: 0.5} if key else {})} for e in range(1, PRE + 1)]
    for r, value in ((1, 0.9), (2, 0.95)):
        records.append({"epoch": PRE + 2 * r - 1, "phase": "unlabelled", **({key: value - 0.1} if key else {})})
        records.append({"epoch": PRE + 2 * r, "phase": "labelled", **({key: value} if key else {})})
    return records


def test_rounds_reads_validation_where_the_run_held_it_out():
    records = alternation("val_accuracy")
    for r in records:  # the loop writes the split's size on every scored epoch
        r["val_samples"] = 2000
    records[-1]["test_accuracy"] = 0.93  # scored once, after the last epoch: not a point of the curve
    assert semi_curve.rounds(records) == ({1: 0.9, 2: 0.95}, "validation, 2,000 images")
    pretraining = [{**r, "val_samples": 2000} for r in alternation(None)[:PRE]]  # not yet a scored round
    assert semi_curve.rounds(pretraining) == ({}, "validation, 2,000 images")


def test_rounds_reads_the_test_set_of_a_run_on_the_full_training_set():
    assert semi_curve.rounds(alternation("test_accuracy")) == ({1: 0.9, 2: 0.95}, "test, full training set")
    assert semi_curve.rounds(alternation(None)) == ({}, "test, full training set")


def test_released_points_average_the_transcribed_rounds_and_the_final(tmp_path, monkeypatch):
    last = SEMI_PUBLISHED["ep"]["rounds"]
    runs = {"S-1": {"at_round": {"1": 0.90, "50": 0.94}, "final": 0.96, "rows": last},
            "S-2": {"at_round": {"1": 0.92, "50": 0.96, "100": 0.97}, "final": 0.98, "rows": last}}
    monkeypatch.setattr(semi_curve.released_runs, "RESULTS", tmp_path)
    path = tmp_path / semi_curve.released_runs.FINALS_EP
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"1000": {"runs": runs}, "300": {"runs": {"S-1": runs["S-1"]}}}))
    points, count = semi_curve.released_points(1000)
    assert count == 2 and sorted(points) == [1, 50, last]  # round 100 is missing from one run: left out
    assert points[1] == pytest.approx((0.91, 0.0141421356)) and points[last] == pytest.approx((0.97, 0.0141421356))
    runs["S-2"]["rows"] = 150  # a run cut short: its final figure is after its own last round
    path.write_text(json.dumps({"1000": {"runs": runs}}))
    assert sorted(semi_curve.released_points(1000)[0]) == [1, 50]
    path.write_text(json.dumps({"300": {"runs": {"S-1": runs["S-1"]}}}))
    assert semi_curve.released_points(300) is None  # one run has no spread
    assert semi_curve.released_points(600) is None  # not transcribed there


def test_rounds_count_the_run_s_own_pretraining_epochs():
    """A preset that pre-trains 150 epochs (``semi-bp-1000-release``) has its rounds where they are."""
    records = [{"epoch": e, "phase": "pretrain"} for e in range(1, 151)]
    records += [{"epoch": 151, "phase": "unlabelled"}, {"epoch": 152, "phase": "labelled", "test_accuracy": 0.9}]
    assert semi_curve.rounds(records) == ({1: 0.9}, "test, full training set")


def test_released_band_takes_only_label_counts_transcribed_whole(tmp_path, monkeypatch):
    curves = {"S-1": {"supervised_accuracy": [0.90, 0.94]}, "S-2": {"supervised_accuracy": [0.92, 0.96]}}
    monkeypatch.setattr(semi_curve.released_runs, "RESULTS", tmp_path)
    path = tmp_path / semi_curve.released_runs.RUNS["bp"]
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"1000": curves, "partial": {"600": curves}}))
    mean, std, runs = semi_curve.released_band("bp", 1000)
    assert runs == 2 and mean == pytest.approx([0.91, 0.95]) and std == pytest.approx([0.0141421356] * 2)
    assert semi_curve.released_band("bp", 600) is None  # 2 of the released runs: not the published spread


def test_run_summary_reads_the_run_at_the_released_runs_rounds():
    curve = {1: 0.93, 50: 0.95, 100: 0.96}
    out = semi_curve.run_summary(curve, "test, full training set", {200: 0.966}, [1, 50, 150], "x.json")
    assert out["rounds_done"] == 100 and out["best"] == 0.96
    assert out["at_published_rounds"] == {200: None}  # not reached yet
    assert out["at_released_rounds"] == {1: 0.93, 50: 0.95, 150: None}
    assert "at_released_rounds" not in semi_curve.run_summary(curve, "test", {200: 0.966}, [], "x.json")
