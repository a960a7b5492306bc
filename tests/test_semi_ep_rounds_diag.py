import json

from tests.conftest import load_benchmark_script


def _write_release_folder(folder, pre_test_errors, unlabelled_errors, labelled_errors):
    """The CSV files the authors' released code writes: an index column, then error and running minimum."""
    folder.mkdir()
    rows = ["", *(f"{i},0.5,0.5,{e},{e}" for i, e in enumerate(pre_test_errors))]
    (folder / "pre_supervised.csv").write_text(
        ",Train_Error,Min_Train_Error,Test_Error,Min_Test_Error\n" + "\n".join(rows[1:]) + "\n")
    rounds = (f"1,{u},{u},{lab},{lab}" for u, lab in zip(unlabelled_errors, labelled_errors))
    (folder / "semi-supervised.csv").write_text(
        ",Unsupervised_Test_Error,Min_Unsupervised_Test_Error,Supervised_Test_Error,Min_Supervised_Test_Error\n"
        + "\n".join(rounds) + "\n")


def test_release_code_rounds_read_as_accuracies_after_each_epoch(tmp_path):
    script = load_benchmark_script("semi_ep_rounds_diag")
    _write_release_folder(tmp_path / "run", [0.3, 0.08], [0.07, 0.06], [0.075, 0.05])
    pre, unlabelled, labelled = script._release_code_rounds(tmp_path / "run")
    assert pre == 1 - 0.08
    assert unlabelled == [1 - 0.07, 1 - 0.06] and labelled == [1 - 0.075, 1 - 0.05]


def _write_released(results, runs):
    """A stand-in for the transcribed released runs, where ``released_runs`` looks for them."""
    path = results / "semi" / "published" / "published_runs_ep.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"600": runs}))
    return results


def test_phases_credits_each_epoch_with_its_own_gain(tmp_path, capsys):
    """Round 1's unlabelled gain is counted from the pre-training's end, later ones from the round before."""
    script = load_benchmark_script("semi_ep_rounds_diag")
    results = _write_released(tmp_path / "results", {
        "S-1": {"pretrain_test_accuracy": [0.90], "unsupervised_accuracy": [0.91, 0.93],
                "supervised_accuracy": [0.92, 0.92]}})
    _write_release_folder(tmp_path / "run", [0.10], [0.09, 0.07], [0.08, 0.08])
    script.phases(tmp_path / "run", results=results)
    out = capsys.readouterr().out
    assert "2 rounds" in out
    assert "rounds 1-1: unlabelled epoch this run +0.0100 released +0.0100; " \
           "labelled epoch this run +0.0100 released +0.0100" in out
    assert "rounds 2-2: unlabelled epoch this run +0.0100 released +0.0100; " \
           "labelled epoch this run -0.0100 released -0.0100" in out
    assert "after round 2: this run 0.9200; released mean 0.9200 (min 0.9200, max 0.9200)" in out


def test_pretraining_sets_a_run_of_the_released_code_beside_the_files_spread(tmp_path, capsys):
    script = load_benchmark_script("semi_ep_rounds_diag")
    results = _write_released(tmp_path / "results", {"S-1": {"pretrain_test_accuracy": [0.70] * 100},
                                                     "S-2": {"pretrain_test_accuracy": [0.80] * 100}})
    _write_release_folder(tmp_path / "run", [0.25, 0.2], [], [])
    script.pretraining([tmp_path / "run"], results=results)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[-8:] == ["0.7500"] * 8 and lines[2].split()[-1] == "0.7000"
    assert lines[3].split()[-1] == "0.8000"
    assert lines[5].split()[1:] == ["0.7500", "0.8000", "-", "-", "-", "-", "-", "-"]
