import pytest
import torch

from sdt_neuro.evaluate import direct_association
from sdt_neuro.presets import PRESETS, preset_config
from tests.conftest import load_benchmark_script, synthetic_dataset

reproduce = load_benchmark_script("reproduce")


@pytest.mark.parametrize("table", sorted(reproduce.TABLES))
def test_every_row_names_a_preset_and_valid_quick_overrides(table):
    for row in reproduce.TABLES[table]:
        assert row.preset in PRESETS and 0.5 < row.published < 1
        preset_config(row.preset, **row.quick)


def test_a_row_runs_and_renders_measured_next_to_published():
    row = reproduce.Row("bp-1layer", 0.9578, quick={"epochs": 1})
    # one epoch on 200 synthetic images: only the plumbing is under test here
    result = reproduce.run_row(row, "quick", synthetic_dataset(), None, 1)
    assert result["epochs"] == 1 and result["published"] == 0.9578 and result["measured"] > 0.9  # four blobs
    text = reproduce.markdown([result])
    assert "| bp-1layer | test_da_average |" in text and "0.9578" in text and f"{result['measured']:.4f}" in text


def test_rows_filter_runs_only_the_matching_presets(tmp_path, monkeypatch):
    ran = []

    def fake_row(row, budget, data, data_root, threads):
        ran.append(row.preset)
        return {"preset": row.preset, "metric": row.metric, "measured": 0.5, "published": row.published,
                "epochs": 1, "seconds": 1.0, "overrides": {}}

    monkeypatch.setattr(reproduce, "run_row", fake_row)
    monkeypatch.setattr(reproduce, "load_dataset", lambda name, root: synthetic_dataset())
    assert reproduce.main(["--table", "semi", "--rows", "semi-bp-1", "--out", str(tmp_path)]) == 0
    assert ran == ["semi-bp-100", "semi-bp-1000"]
    assert (tmp_path / "reproduce_semi_quick_semi-bp-1.md").read_text().count("| semi-bp-") == 2
    with pytest.raises(SystemExit):
        reproduce.main(["--table", "semi", "--rows", "no-such-preset", "--out", str(tmp_path)])


def test_untrained_rows_score_the_seeded_network_without_training(monkeypatch):
    data = synthetic_dataset()

    def no_training(*args, **kwargs):
        raise AssertionError("an untrained row must not train")

    monkeypatch.setattr(reproduce, "train", no_training)
    config = preset_config("bp-1layer", threads=1).replace(
        rule={"n_outputs": 50, "k": 2, "gamma": 0.4, "dropout": 0.2}, sizes=(784, 50))
    torch.manual_seed(config.seed)
    model = config.build_model().eval()

    def act(split):
        return model(split.flat()).detach().numpy()

    expected = direct_association(act(data.train), data.train.y.numpy(), act(data.test), data.test.y.numpy(),
                                  data.n_classes).average
    torch.manual_seed(123)  # the row seeds the network itself
    assert reproduce.score_untrained(config, "test_da_average", data) == expected

    row = reproduce.Row("bp-1layer", 0.6199, quick={"label_fraction": 0.5}, untrained=True)
    result = reproduce.run_row(row, "full", data, None, 1)  # overrides hold under every budget
    assert result["epochs"] == 0 and result["overrides"] == {"label_fraction": 0.5}
    assert result["preset"] == "bp-1layer (untrained)" and result["measured"] > 0.5  # chance is 0.25
    probe = reproduce.score_untrained(config, "test_linear_probe", data)
    assert probe >= 0.9  # the four synthetic blobs are linearly separable from random features
    with pytest.raises(ValueError, match="test_accuracy"):
        reproduce.score_untrained(config, "test_accuracy", data)


def test_rows_filter_selects_the_untrained_rows_by_name(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(reproduce, "run_row", lambda row, *a: ran.append(row.name) or {
        "preset": row.name, "metric": row.metric, "measured": 0.5, "published": row.published, "epochs": 0,
        "seconds": 1.0, "overrides": {}})
    monkeypatch.setattr(reproduce, "load_dataset", lambda name, root: synthetic_dataset())
    assert reproduce.main(["--table", "mlp", "--rows", "untrained", "--out", str(tmp_path)]) == 0
    assert ran == ["bp-1layer (untrained)"] * 3


def test_paper_table_has_every_published_row_and_says_why_one_is_empty(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")
    (tmp_path / "ep-2layer-5ep.metrics.json").write_text(json.dumps(
        [{"epoch": e, "test_da_average": 0.8 + e / 100, "epoch_seconds": 10.0} for e in range(1, 6)]))
    (tmp_path / "bp-2layer-200ep.metrics.json").write_text(json.dumps([{"epoch": 200, "test_da_average": 0.9661}]))
    rows = {r["row"]: r for r in paper_table.collect(tmp_path)}
    assert set(rows) == set(paper_table.PUBLISHED)
    assert rows["ep-2layer-epoch5"]["measured"] == pytest.approx(0.85) and rows["ep-2layer-epoch5"]["seconds"] == 50.0
    assert rows["bp-2layer"]["measured"] == 0.9661 and rows["bp-2layer"]["split"] == "test"
    for row in rows.values():
        assert set(row) >= {"row", "published", "measured", "seeds", "std", "epochs", "seconds", "split", "command"}
        assert row["measured"] is not None or row["reason"]
    assert "missing" in rows["bp-1layer"]["reason"] + rows["ep-1layer"]["reason"]
    assert reproduce.main(["--table", "paper", "--results", str(tmp_path), "--out", str(tmp_path / "new")]) == 0
    written = json.loads((tmp_path / "new" / "paper.json").read_text())  # a new folder: made
    assert written[0]["row"] == "bp-1layer" and written[0]["measured"] is None  # from --results, not the repo's


def test_paper_table_takes_a_finished_published_semi_run_and_its_ablations(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")
    semi = tmp_path / "semi" / "published"
    semi.mkdir(parents=True)

    def run(name, epochs, accuracy, val=None):
        split = {"val_samples": val} if val else {}
        records = [{"epoch": e, "epoch_seconds": 1.0, **split} for e in range(1, epochs)]
        records.append({"epoch": epochs, "epoch_seconds": 1.0, "test_accuracy": accuracy, **split})
        (semi / f"{name}.metrics.json").write_text(json.dumps(records))

    run("semi-ep-600", 500, 0.9661)
    run("semi-ep-600-supervised", 300, 0.9193, val=1000)
    run("semi-ep-100", 120, 0.9)  # cut off: 120 of 500 epochs
    run("semi-ep-600-gamma0", 150, 0.95)  # an ablation cut off: 150 of 500 epochs
    rows = {r["row"]: r for r in paper_table.collect(tmp_path)}
    done = rows["semi-ep-600"]
    assert (done["measured"], done["epochs"], done["seconds"], done["split"]) == (0.9661, 500, 500.0, "test")
    assert done["supervised_only"] == 0.9193 and done["no_homeostasis"] is None
    assert rows["semi-ep-100"]["measured"] is None and "120 epochs committed" in rows["semi-ep-100"]["reason"]
    assert "projected about 0.1 h of one core" in rows["semi-ep-300"]["reason"]  # arithmetic from semi-ep-600's 500 s
    assert "slowest finished run" in rows["semi-ep-300"]["reason"]  # its records do not say their threads
    assert "projected" not in rows["semi-bp-300"]["reason"]  # no finished BP run to project from
    assert done["published_ablations"] == {"supervised_only": 0.9182, "no_homeostasis": 0.9665}  # METHOD.md
    assert done["unfinished_ablations"] == [{"ablation": "no_homeostasis", "epochs_committed": 150, "epochs": 500}]
    assert "unfinished_ablations" not in rows["semi-ep-300"]
    note = paper_table.markdown([done])
    assert "supervised only 0.9193 (published 0.9182)" in note
    assert "without homeostasis unfinished (150 of 500 epochs committed)" in note
    assert done["ablation_splits"] == {"supervised_only": "--val-samples 1000"} and "held_out_seeds" not in done
    assert "Ablations: 1 of the 1 figures above held out a validation split (--val-samples 1000" in note


def test_paper_table_averages_an_ablation_over_its_finished_seeds_and_says_which_are_unfinished(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")
    semi = tmp_path / "semi" / "published"
    semi.mkdir(parents=True)

    def run(name, epochs, accuracy=None, val=1000):
        split = {"val_samples": val} if val else {}
        records = [{"epoch": e, "epoch_seconds": 1.0, **split} for e in range(1, epochs + 1)]
        if accuracy is not None:
            records[-1]["test_accuracy"] = accuracy
        (semi / f"{name}.metrics.json").write_text(json.dumps(records))

    run("semi-ep-600", 500, 0.9627, val=None)
    run("semi-ep-600-gamma0-seed1", 500, 0.9620)  # finished before seed 0: waits for it
    run("semi-ep-600-gamma0-seed2", 200)  # unfinished
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-600"]
    assert row["no_homeostasis"] is None and "ablation_seeds" not in row
    run("semi-ep-600-gamma0", 500, 0.9580)
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-600"]
    assert row["no_homeostasis"] == 0.96
    assert row["ablation_seeds"]["no_homeostasis"]["seeds"] == 2
    assert row["ablation_seeds"]["no_homeostasis"]["per_seed"] == [0.958, 0.962]
    assert row["unfinished_ablations"] == [{"ablation": "no_homeostasis", "seed": 2, "epochs_committed": 200,
                                            "epochs": 500}]
    assert row["measured"] == 0.9627  # the row itself is untouched by its ablation's seeds
    note = paper_table.markdown([row])
    assert "without homeostasis 0.9600 ± 0.0028 over 2 seeds (published 0.9665)" in note
    assert "without homeostasis seed 2 unfinished (200 of 500 epochs committed; not counted)" in note
    assert "Ablations: 1 of the 1 figures above held out" in note
    run("semi-ep-600-gamma0-seed1", 500, 0.9620, val=None)  # seeds that differ in their split say so
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-600"]
    assert row["ablation_splits"] == {"no_homeostasis": "mixed"}
    assert "0 trained on the full training set, 1 mixed the two over their seeds" in paper_table.markdown([row])


def test_paper_table_projects_an_unrun_rows_cost_from_one_thread_runs_only(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")
    semi = tmp_path / "semi" / "published"
    semi.mkdir(parents=True)

    def run(name, seconds, threads):  # 500 epochs, the last scored
        records = [{"epoch": e, "epoch_seconds": seconds / 500, "threads": threads(e)} for e in range(1, 501)]
        records[-1]["test_accuracy"] = 0.95
        (semi / f"{name}.metrics.json").write_text(json.dumps(records))

    run("semi-ep-100", 3600.0, lambda e: 1 if e < 300 else 2)  # faster: two threads after epoch 300
    run("semi-ep-600", 1800.0, lambda e: 1)
    run("semi-ep-1000", 7200.0, lambda e: 2)
    reason = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-300"]["reason"]
    assert "projected about 0.5 h of one core" in reason and "semi-ep-600 run's 1800 s, on 1 thread" in reason
    run("semi-ep-600", 1800.0, lambda e: 2)  # no run on one thread throughout: the slowest of them
    reason = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-300"]["reason"]
    assert "projected about 2.0 h" in reason and "semi-ep-1000 run's 7200 s" in reason
    assert "none records one thread throughout" in reason
    run("semi-ep-600-seed1", 2700.0, lambda e: 1)  # a further seed counts as a finished run too
    reason = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-300"]["reason"]
    assert "projected about 0.8 h" in reason and "semi-ep-600-seed1 run's 2700 s, on 1 thread" in reason


def test_paper_table_keeps_run_details_out_of_a_seeded_row_and_names_full_training_set_seeds(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")
    semi = tmp_path / "semi" / "published"
    semi.mkdir(parents=True)

    def run(name, accuracy, val_samples):
        records = [{"epoch": e, "epoch_seconds": 1.0, "threads": 1} for e in range(1, 501)]
        records[-1]["test_accuracy"] = accuracy
        if val_samples is not None:  # a run with a validation split says its size on its scored epochs
            records[-1]["val_samples"] = val_samples
        (semi / f"{name}.metrics.json").write_text(json.dumps(records))

    run("semi-ep-600", 0.96, 1000)
    run("semi-ep-600-seed1", 0.962, 1000)
    run("semi-ep-600-seed2", 0.964, None)  # the full training set, no validation split
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-600"]
    assert "threads" not in row and "val_samples" not in row and "val_split" not in row
    assert (row["seeds"], row["seed_ids"], row["full_train_seeds"]) == (3, [0, 1, 2], [2])
    assert "seed S = 1, --seed S" in row["command"] and "seed S = 2, the same without --val-samples" in row["command"]
    assert "seed(s) 2 trained on the full training set" in paper_table.markdown([row])
    assert row["held_out_seeds"] == [0, 1]
    assert "seed(s) 0, 1 held out a validation split (the test set scored once" in paper_table.markdown([row])
    run("semi-ep-600-seed2", 0.964, 1000)  # with a split throughout: no such note
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-600"]
    assert "full_train_seeds" not in row and "seed S = 1..2, --seed S" in row["command"]
    assert "--val-samples 1000" in row["command"]
    run("semi-ep-600", 0.96, None)  # seed 0 on the full training set, the others with a split
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-600"]
    assert row["command"].startswith("sdt-neuro train --preset semi-ep-600 --threads 1 --data-root")
    assert "seed S = 1..2, the same with --val-samples 1000 (a validation split)" in row["command"]
    assert "--val-samples" not in {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-1000"]["command"]


def test_paper_table_resumes_an_unfinished_run_with_the_split_it_began_with(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")
    semi = tmp_path / "semi" / "published"
    semi.mkdir(parents=True)
    scored = [{"epoch": e, "epoch_seconds": 1.0, "val_samples": 1000, "val_accuracy": 0.9} for e in range(1, 40)]
    (semi / "semi-bp-600.metrics.json").write_text(json.dumps(scored))
    (semi / "semi-ep-600.metrics.json").write_text(json.dumps([{k: v for k, v in r.items() if k != "val_samples"}
                                                               for r in scored]))
    rows = {r["row"]: r for r in paper_table.collect(tmp_path)}
    assert "39 epochs committed" in rows["semi-bp-600"]["reason"]
    assert "--threads 1 --val-samples 1000 --data-root" in rows["semi-bp-600"]["command"]  # --resume needs it
    assert "--val-samples" not in rows["semi-ep-600"]["command"]  # begun on the full training set


def test_paper_table_puts_an_earlier_recipes_runs_beside_a_row_never_as_its_result(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")

    def run(folder, name, epochs, accuracy=None):
        (tmp_path / "semi" / folder).mkdir(parents=True, exist_ok=True)
        records = [{"epoch": e, "epoch_seconds": 1.0} for e in range(1, epochs + 1)]
        if accuracy is not None:
            records[-1]["test_accuracy"] = accuracy
        (tmp_path / "semi" / folder / f"{name}.metrics.json").write_text(json.dumps(records))

    run("published-v2", "semi-ep-600", 500, 0.96)
    run("published-v2", "semi-ep-600-seed1", 500, 0.97)
    run("published-v2", "semi-ep-600-supervised", 300, 0.92)
    run("published-v2", "semi-ep-600-xavier", 500, 0.958)  # a variant of that recipe, an entry of its own
    run("published", "semi-ep-600", 56)  # the current preset's run, cut off
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-600"]
    assert row["measured"] is None and "56 epochs committed" in row["reason"]
    assert "projected about 0.1 h" in row["reason"] and "(published-v2)" in row["reason"]  # 500 s of v2's run
    earlier, xavier = row["earlier_recipes"]
    assert (earlier["name"], earlier["measured"], earlier["seeds"], earlier["supervised_only"]) == \
        ("published-v2", 0.965, 2, 0.92)
    assert (xavier["name"], xavier["measured"], xavier["seeds"], xavier["supervised_only"]) == \
        ("published-v2-xavier", 0.958, 1, None)
    note = paper_table.markdown([row])
    assert "earlier recipe published-v2 (0.9650 ± 0.0071 over 2 seed(s), supervised only 0.9200)" in note
    assert "earlier recipe published-v2-xavier (0.9580 over 1 seed(s))" in note
    assert row["supervised_only"] is None  # the current preset's ablation has not run
    run("published", "semi-ep-600", 500, 0.9661)  # once the current preset's run ends, it is the result
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-600"]
    assert (row["measured"], row["seeds"]) == (0.9661, 1) and row["earlier_recipes"][0]["measured"] == 0.965
    bp = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-bp-600"]
    assert "earlier_recipes" not in bp and "projected" not in bp["reason"]  # EP's recipes are not BP's


def test_paper_table_puts_our_variants_runs_beside_a_row_never_as_its_result(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")
    (tmp_path / "semi" / "published").mkdir(parents=True)

    def run(name, epochs, accuracy=None, val_samples=None):
        records = [{"epoch": e, "epoch_seconds": 1.0} for e in range(1, epochs + 1)]
        if accuracy is not None:
            records[-1]["test_accuracy"] = accuracy
        if val_samples:  # on an earlier record only: any record that names the split says the run held it out
            records[-2]["val_samples"] = val_samples
        (tmp_path / "semi" / "published" / f"{name}.metrics.json").write_text(json.dumps(records))

    run("semi-ep-600", 500, 0.962)
    run("semi-ep-600-b128", 130)  # cut off
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-600"]
    assert row["our_variants"][0]["epochs_committed"] == 130 and row["measured"] == 0.962
    assert "ours semi-ep-600-b128: 130 epochs committed" in paper_table.markdown([row])
    run("semi-ep-600-b128", 500, 0.9671, val_samples=1000)
    run("semi-ep-600-b128-seed1", 500, 0.9653)
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-600"]
    variant = row["our_variants"][0]
    assert (row["measured"], row["seeds"]) == (0.962, 1)  # the row keeps its own runs
    assert (variant["measured"], variant["seeds"], variant["full_train_seeds"]) == (0.9662, 2, [1])
    assert "batches of 128" in variant["recipe"]
    assert ("ours semi-ep-600-b128 (0.9662 ± 0.0013 over 2 seed(s), seed(s) 0 with the validation split held out, "
            "seed(s) 1 on the full training set)") in paper_table.markdown([row])
    assert "our_variants" not in {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-bp-600"]


def test_paper_table_switches_a_row_to_its_chosen_preset_only_once_enough_seeds_have_finished(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")
    (tmp_path / "semi" / "published").mkdir(parents=True)
    chosen, needed = paper_table.SEMI_ROW_PRESETS["semi-ep-600"]
    assert chosen in PRESETS and needed == 2

    def run(name, epochs, accuracy=None):
        records = [{"epoch": e, "epoch_seconds": 1.0} for e in range(1, epochs + 1)]
        if accuracy is not None:
            records[-1]["test_accuracy"] = accuracy
        (tmp_path / "semi" / "published" / f"{name}.metrics.json").write_text(json.dumps(records))

    def row():
        return {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-600"]

    run("semi-ep-600", 500, 0.96)
    run("semi-ep-600-seed1", 500, 0.962)
    run("semi-ep-600-supervised", 500, 0.92)
    run(f"{chosen}-seed1", 500, 0.97)  # a further seed alone does not switch the row
    run(chosen, 200)
    assert (row()["measured"], row()["seeds"]) == (0.961, 2) and "preset" not in row()
    beside = {v["preset"]: v for v in row()["our_variants"]}
    assert beside[chosen]["epochs_committed"] == 200 and "semi-ep-600" not in beside
    run(chosen, 500, 0.964)  # seed 0 and seed 1 finished: two seeds
    switched = row()
    assert (switched["measured"], switched["seeds"], switched["preset"]) == (0.967, 2, chosen)
    assert f"--preset {chosen}" in switched["command"] and f"~/runs/{chosen}-seedS" in switched["command"]
    assert switched["supervised_only"] == 0.92  # the ablations stay the row's own
    beside = {v["preset"]: v for v in switched["our_variants"]}
    assert (beside["semi-ep-600"]["measured"], beside["semi-ep-600"]["role"]) == (0.961, "replaced")
    assert chosen not in beside
    note = paper_table.markdown([switched])
    assert f"runs of {chosen} (chosen on validation" in note
    assert "the row's earlier preset semi-ep-600 (0.9610 ± 0.0014 over 2 seed(s)" in note


def test_paper_table_averages_a_semi_row_over_its_finished_seeds(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")
    semi = tmp_path / "semi" / "published"
    semi.mkdir(parents=True)

    def run(name, epochs, accuracy=None):
        records = [{"epoch": e, "epoch_seconds": 2.0} for e in range(1, epochs + 1)]
        if accuracy is not None:
            records[-1]["test_accuracy"] = accuracy
        (semi / f"{name}.metrics.json").write_text(json.dumps(records))

    run("semi-ep-600", 500, 0.96)
    run("semi-ep-600-seed1", 120)  # cut off: not counted
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-600"]
    assert (row["measured"], row["seeds"], row["std"]) == (0.96, 1, None)
    assert row["unfinished_seeds"] == [{"seed": 1, "epochs_committed": 120, "epochs": 500}]
    assert "seed 1 unfinished (120 of 500 epochs committed; not counted)" in paper_table.markdown([row])
    run("semi-ep-600-seed1", 500, 0.97)
    run("semi-ep-600-seed2", 500)  # at its last epoch, but no test figure yet: still unfinished
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-600"]
    assert row["unfinished_seeds"] == [{"seed": 2, "epochs_committed": 500, "epochs": 500}]
    assert "seed 1 unfinished" not in paper_table.markdown([row])
    assert (row["measured"], row["seeds"], row["per_seed"], row["seconds"]) == (0.965, 2, [0.96, 0.97], 2000.0)
    assert abs(row["std"] - 0.00707) < 1e-5 and "semi-ep-600-seed1" in row["source"]
    assert "--seed S --out ~/runs/semi-ep-600-seedS" in row["command"]
    run("semi-ep-1000", 300)  # seed 0 unfinished: its further seeds are still named
    run("semi-ep-1000-seed1", 40)
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-1000"]
    assert row["measured"] is None and row["unfinished_seeds"] == [{"seed": 1, "epochs_committed": 40, "epochs": 500}]


def test_paper_table_gives_the_released_runs_spread_of_a_semi_ep_row(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")
    rows = {r["row"]: r for r in paper_table.collect(tmp_path)}
    assert "published_std" not in rows["semi-ep-600"]
    semi = tmp_path / "semi" / "published"
    semi.mkdir(parents=True)
    released = {"600": {"S-1": {"supervised_accuracy": [0.9, 0.964]}, "S-2": {"supervised_accuracy": [0.9, 0.968]}}}
    (semi / "published_runs_ep.json").write_text(json.dumps(released))
    rows = {r["row"]: r for r in paper_table.collect(tmp_path)}
    assert (rows["semi-ep-600"]["published_std"], rows["semi-ep-600"]["published_seeds"]) == (0.0028, 2)
    assert "published_std" not in rows["semi-ep-100"] and "published_std" not in rows["semi-bp-600"]
    assert "| 0.9657 ± 0.0028 | – |" in paper_table.markdown([rows["semi-ep-600"]])
    # rows whose curves were not transcribed take the released final figures; the curves win where both exist
    finals = {"1000": {"runs": {"S-1": {"final_exact": 0.967}, "S-2": {"final_exact": 0.969}}},
              "600": {"runs": {"S-1": {"final_exact": 0.5}, "S-2": {"final_exact": 0.9}}}}
    (semi / "released_finals_ep.json").write_text(json.dumps(finals))
    rows = {r["row"]: r for r in paper_table.collect(tmp_path)}
    assert (rows["semi-ep-1000"]["published_std"], rows["semi-ep-1000"]["published_seeds"]) == (0.0014, 2)
    assert rows["semi-ep-600"]["published_std"] == 0.0028 and "published_std" not in rows["semi-bp-1000"]
    # BP: the released curves give the spread only for the label counts transcribed whole, not the partial ones
    runs = {f"S-{i}": {"supervised_accuracy": [0.9, v]} for i, v in enumerate((0.95, 0.96))}
    partial = {"S-1": {"supervised_accuracy": [0.9, 0.94]}, "S-2": {"supervised_accuracy": [0.9, 0.95]}}
    bp = {"1000": runs, "partial": {"600": partial}}
    (semi / "released_runs_bp.json").write_text(json.dumps(bp))
    rows = {r["row"]: r for r in paper_table.collect(tmp_path)}
    assert (rows["semi-bp-1000"]["published_std"], rows["semi-bp-1000"]["published_seeds"]) == (0.0071, 2)
    assert "published_std" not in rows["semi-bp-600"]


def test_paper_table_takes_the_published_cnn_probe_once_the_run_ends(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["cnn-fmnist"]
    assert row["measured"] is None and "has not been run" in row["reason"]
    (tmp_path / "cnn").mkdir()
    records = [{"epoch": e, "epoch_seconds": 60.0, "val_da_average": 0.7} for e in range(1, 4)]
    (tmp_path / "cnn" / "cnn-fmnist.metrics.json").write_text(json.dumps(records))
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["cnn-fmnist"]
    assert row["measured"] is None and "epoch 3 of 20" in row["reason"] and "--resume" in row["reason"]
    records = [{"epoch": e, "epoch_seconds": 60.0} for e in range(1, 21)]
    records[-1].update({"test_linear_probe": 0.899, paper_table.CNN_PROBE: 0.903})
    (tmp_path / "cnn" / "cnn-fmnist.metrics.json").write_text(json.dumps(records))
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["cnn-fmnist"]
    assert "--val-samples" not in row["command"]  # its records name no validation split
    records[-1]["val_samples"] = 1000
    (tmp_path / "cnn" / "cnn-fmnist.metrics.json").write_text(json.dumps(records))
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["cnn-fmnist"]
    assert (row["measured"], row["probe_ours"], row["epochs"], row["seconds"]) == (0.903, 0.899, 20, 1200.0)
    assert "published_std" not in row
    (tmp_path / "cnn" / "published_per_seed.json").write_text(json.dumps(
        {"runs": {"cnn-fmnist": {"seeds": 10, "std": 0.0027}}}))
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["cnn-fmnist"]
    assert (row["published_std"], row["published_seeds"]) == (0.0027, 10)
    assert "| 0.9025 ± 0.0027 | 0.9030 |" in paper_table.markdown([row])
    assert "--val-samples 1000" in row["command"] and "our probe protocol 0.8990" in paper_table.markdown([row])


def test_paper_table_averages_the_finished_cnn_seeds(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")
    (tmp_path / "cnn").mkdir()

    def write(name, probe, ours, epochs=20, collapsed=False):
        records = [{"epoch": e, "epoch_seconds": 10.0} for e in range(1, epochs + 1)]
        records[-1].update({"test_linear_probe": ours, paper_table.CNN_PROBE: probe, "collapsed": collapsed})
        (tmp_path / "cnn" / f"{name}.metrics.json").write_text(json.dumps(records))

    write("cnn-fmnist", 0.90, 0.91)
    write("cnn-fmnist-seed1", 0.92, 0.93, collapsed=True)
    write("cnn-fmnist-seed2", 0.99, 0.99, epochs=5)  # unfinished: not a seed of the row yet
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["cnn-fmnist"]
    assert (row["measured"], row["seeds"], row["per_seed"], row["seconds"]) == (0.91, 2, [0.90, 0.92], 400.0)
    assert row["probe_ours"] == 0.92 and row["collapsed"] is True
    assert abs(row["std"] - 0.01414) < 1e-5 and "cnn-fmnist-seed1" in row["source"]
    assert "for seed S = 1, --seed S --out ~/runs/cnn-fmnist-seedS" in row["command"]
    write("cnn-fmnist-seed3", 0.93, None)  # a seed without our probe, and a gap in the seeds
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["cnn-fmnist"]
    assert row["seed_ids"] == [0, 1, 3] and "for seed S = 1, 3, --seed S" in row["command"]
    assert row["probe_ours"] is None  # not seed 0's figure passed off as the mean
    assert "our probe protocol" not in paper_table.markdown([row])


def test_paper_table_takes_a_single_run_only_once_it_has_finished(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")

    def write(path, epochs, da):
        path.parent.mkdir(parents=True, exist_ok=True)
        records = [{"epoch": e, "epoch_seconds": 1.0} for e in range(1, epochs + 1)]
        records[-1]["test_da_average"] = da
        path.write_text(json.dumps(records))

    write(tmp_path / "bp-2layer-200ep.metrics.json", 3, 0.90)
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["bp-2layer"]
    assert row["measured"] is None and "unfinished: 3 of 200 epochs" in row["reason"]
    write(tmp_path / "bp-2layer-200ep.metrics.json", 200, 0.9661)
    write(tmp_path / "rescored" / "bp-2layer-200ep.metrics.json", 50, 0.95)  # a re-run still going
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["bp-2layer"]
    assert row["measured"] == 0.9661 and "rescored" not in row["source"]
    write(tmp_path / "rescored" / "bp-2layer-200ep.metrics.json", 200, 0.9655)
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["bp-2layer"]
    assert row["measured"] == 0.9655 and "rescored/" in row["source"]


def test_paper_table_reads_the_two_layer_ep_row_at_epoch_5_whatever_split_it_held_out(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["ep-2layer-epoch5"]
    assert row["measured"] is None and row["reason"].startswith("not run")
    records = [{"epoch": e, "epoch_seconds": 10.0, "val_da_average": 0.8} for e in range(1, 8)]
    records[4]["test_da_average"] = 0.92  # epoch 5; later epochs are not the row's
    (tmp_path / "ep-2layer-5ep.metrics.json").write_text(json.dumps(records))
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["ep-2layer-epoch5"]
    assert (row["measured"], row["seconds"], row["curve"]) == (0.92, 50.0, {5: 0.92})
    (tmp_path / "ep-2layer-5ep.metrics.json").write_text(json.dumps(records[:3]))
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["ep-2layer-epoch5"]
    assert row["measured"] is None and "3 of 5 epochs" in row["reason"]


def test_paper_table_says_where_a_cnn_run_on_the_full_training_set_stands_and_takes_one_run_past_its_epochs(
        tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")
    (tmp_path / "cnn").mkdir()
    records = [{"epoch": e, "epoch_seconds": 60.0, "test_da_average": 0.7} for e in range(1, 4)]
    (tmp_path / "cnn" / "cnn-fmnist.metrics.json").write_text(json.dumps(records))
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["cnn-fmnist"]
    assert "epoch 3 of 20 (test DA 0.7000; continue" in row["reason"] and "nan" not in row["reason"]
    records = [{"epoch": e, "epoch_seconds": 60.0} for e in range(1, 22)]  # resumed with more epochs
    records[-1][paper_table.CNN_PROBE] = 0.905
    (tmp_path / "cnn" / "cnn-fmnist.metrics.json").write_text(json.dumps(records))
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["cnn-fmnist"]
    assert (row["measured"], row["epochs"]) == (0.905, 21)


def test_paper_table_shows_finished_seeds_of_a_row_whose_seed_0_has_not_finished(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")
    semi = tmp_path / "semi" / "published"
    semi.mkdir(parents=True)
    records = [{"epoch": e, "epoch_seconds": 1.0} for e in range(1, 501)]
    records[-1]["test_accuracy"] = 0.9612
    (semi / "semi-ep-300-seed1.metrics.json").write_text(json.dumps(records))
    (semi / "semi-ep-300.metrics.json").write_text(json.dumps(records[:40]))
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["semi-ep-300"]
    assert row["measured"] is None and row["seeds_waiting"] == [{"seed": 1, "measured": 0.9612}]
    assert "seed 1 finished at 0.9612 (counted once seed 0 has finished)" in paper_table.markdown([row])


def test_paper_table_bp_1layer_row_follows_its_seed_summary(tmp_path):
    import json

    paper_table = load_benchmark_script("paper_table")
    summary = {"runs": [{"epochs": 200, "epoch_seconds_total": 100.0}],
               "across": {"runs": 1, "mean": 0.958, "std": 0.0}}
    (tmp_path / "bp-1layer-seeds.json").write_text(json.dumps(summary))
    row = {r["row"]: r for r in paper_table.collect(tmp_path)}["bp-1layer"]
    assert (row["measured"], row["seeds"], row["std"], row["epochs"]) == (0.958, 1, None, 200)
    assert row["command"].endswith("(S = 0..0)")


def test_paper_table_markdown_shows_a_zero_published_spread_and_a_collapsed_seed():
    paper_table = load_benchmark_script("paper_table")
    row = {"row": "cnn-fmnist", "published": 0.9025, "published_std": 0.0, "measured": 0.91, "seeds": 2,
           "std": 0.01, "epochs": 20, "seconds": 400.0, "collapsed": True}
    text = paper_table.markdown([row])
    assert "| 0.9025 ± 0.0000 |" in text and "at least one seed collapsed" in text
    assert "collapsed" not in paper_table.markdown([{**row, "collapsed": False}])
