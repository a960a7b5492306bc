import json

import pytest

from tests.conftest import BENCHMARKS, load_benchmark_script

semi_phase_steps = load_benchmark_script("semi_phase_steps")


def run(key: str, after: list[tuple[float, float]], pre: float = 0.90) -> list[dict]:
    """Two pre-training epochs (the last scored), then one round per (unlabelled, labelled) pair."""
    records = [{"epoch": 1, "phase": "pretrain"}, {"epoch": 2, "phase": "pretrain", key: pre}]
    for u, lab in after:
        records.append({"epoch": len(records) + 1, "phase": "unlabelled", key: u})
        records.append({"epoch": len(records) + 1, "phase": "labelled", key: lab})
    return records


def flat(rounds: list) -> list[float]:
    """Each round's two steps, one after the other."""
    return [step for r in rounds for step in (r.unlabelled, r.labelled)]


def test_steps_split_each_round_into_its_two_phases():
    steps, split = semi_phase_steps.ours(run("test_accuracy", [(0.92, 0.91), (0.95, 0.96)]))
    assert split == "test"
    assert flat(steps) == pytest.approx([0.02, -0.01, 0.04, 0.01])  # round 2 starts from round 1's labelled epoch
    assert [r.start for r in steps] == pytest.approx([0.90, 0.91])


def test_validation_runs_are_read_on_validation_and_a_cut_round_is_dropped():
    records = run("val_accuracy", [(0.92, 0.93)])
    for r in records:
        r["val_samples"] = 1000
    records.append({"epoch": 5, "phase": "unlabelled", "val_accuracy": 0.99, "val_samples": 1000})
    steps, split = semi_phase_steps.ours(records)
    assert split == "validation" and flat(steps) == pytest.approx([0.02, 0.01])


def test_unscored_unlabelled_epochs_are_refused():
    records = run("test_accuracy", [(0.92, 0.93)])
    del records[2]["test_accuracy"]
    with pytest.raises(ValueError, match="evaluate"):
        semi_phase_steps.ours(records)
    with pytest.raises(ValueError, match="pre-training"):
        semi_phase_steps.ours(records[2:])


def test_released_runs_and_window_means():
    released = {"pretrain_test_accuracy": [0.5, 0.90], "unsupervised_accuracy": [0.91, 0.93],
                "supervised_accuracy": [0.90, 0.95]}
    steps = semi_phase_steps.released(released)
    assert flat(steps) == pytest.approx([0.01, -0.01, 0.03, 0.02])
    means = semi_phase_steps.window_means(steps * 5)  # 10 rounds: the first two windows only
    assert [m["rounds"] for m in means] == [[1, 1], [2, 10]]
    assert means[0]["unlabelled"] == pytest.approx(1.0) and means[0]["labelled"] == pytest.approx(-1.0)
    assert means[0]["round"] == pytest.approx(0.0) and means[1]["round"] == pytest.approx(100 * 0.05 * 5 / 9, abs=1e-4)
    assert means[1]["unlabelled"] == pytest.approx(100 * (4 * 0.01 + 5 * 0.03) / 9, abs=1e-4)  # rounded to 4 places
    assert [m["rounds"] for m in semi_phase_steps.window_means(steps * 200)][-2:] == [[201, 300], [301, 400]]


def test_rounds_are_compared_at_the_same_starting_accuracy():
    rounds = semi_phase_steps._rounds(0.9012, [0.9030, 0.9080, 0.9100], [0.9020, 0.9060, 0.9150])
    bins = semi_phase_steps.by_start(rounds)  # rounds start at 0.9012, 0.9020, 0.9060
    assert sorted(bins) == [0.90, 0.905]
    assert bins[0.90]["n"] == 2 and bins[0.90]["round"] == pytest.approx(100 * (0.0008 + 0.0040) / 2)
    assert bins[0.905] == {"unlabelled": pytest.approx(0.4), "labelled": pytest.approx(0.5),
                           "round": pytest.approx(0.9), "n": 1}
    with pytest.raises(ValueError, match="not whole rounds"):
        semi_phase_steps._rounds(0.9, [0.91, 0.92], [0.93])


def test_climb_counts_the_rounds_through_a_band():
    after, split = semi_phase_steps.labelled_curve(run("test_accuracy", [(0.92, 0.91), (0.93, 0.94), (0.95, 0.96)]))
    assert after == [0.90, 0.91, 0.94, 0.96] and split == "test"  # unlabelled epochs not needed
    assert semi_phase_steps.climb(after, 0.91, 0.95) == 2  # reached 0.91 after round 1, 0.95 after round 3
    assert semi_phase_steps.climb(after, 0.85, 0.90) == 0  # started inside the band
    assert semi_phase_steps.climb(after, 0.95, 0.97) is None  # never reached 0.97
    table = semi_phase_steps.climbs(after, [after, [0.80, 0.85]])
    assert table[0]["from"] == semi_phase_steps.BANDS[0][0] and table[0]["released_never"] >= 1


def test_main_times_a_committed_bp_run_against_the_released_bp_runs(tmp_path, monkeypatch):
    record = BENCHMARKS / "results" / "semi" / "published" / "semi-bp-1000.metrics.json"
    out = tmp_path / "climbs.json"
    monkeypatch.setattr("sys.argv", ["semi_phase_steps", str(record), "--algo", "bp", "--labels", "1000",
                                     "--band", "0.93", "0.94", "--out", str(out)])
    assert semi_phase_steps.main() == 0
    result = json.loads(out.read_text())
    assert result["algo"] == "bp" and result["released_runs"] == 10 and "phase_steps" in result  # climbs only
    [band] = result["climbs"]
    assert (band["from"], band["to"]) == (0.93, 0.94) and len(band["released"]) + band["released_never"] == 10
    assert band["rounds"] == semi_phase_steps.climb(semi_phase_steps.labelled_curve(json.loads(record.read_text()))[0],
                                                    0.93, 0.94)
    monkeypatch.setattr("sys.argv", ["semi_phase_steps", str(record), "--band", "0.95", "0.94"])
    with pytest.raises(SystemExit):  # a band that climbs down
        semi_phase_steps.main()
    monkeypatch.setattr("sys.argv", ["semi_phase_steps", str(record), "--algo", "bp", "--labels", "600"])
    wanted = "no released BP runs with 600 labels in benchmarks/results/semi/published/released_runs_bp"
    with pytest.raises(SystemExit, match=wanted):  # only partial runs there; the file named from the repository
        semi_phase_steps.main()
