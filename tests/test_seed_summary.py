import json
from pathlib import Path

import pytest

from tests.conftest import load_benchmark_script

seed_summary = load_benchmark_script("seed_summary")


def write_run(directory: Path, values: list[float]) -> Path:
    directory.mkdir(parents=True)
    records = [{"epoch": i + 1, "test_da_average": v, "epoch_seconds": 2.0} for i, v in enumerate(values)]
    (directory / "metrics.json").write_text(json.dumps(records))
    return directory


def test_per_run_and_across_run_figures_are_the_hand_computed_ones(tmp_path):
    a = write_run(tmp_path / "a", [0.5, 0.9, 0.7, 0.8])
    b = write_run(tmp_path / "b", [0.6, 0.6, 0.6, 0.6])
    s = seed_summary.summarise([str(a), str(b / "metrics.json")], last=2, target=0.7)
    ra, rb = s["runs"]
    assert ra["final"] == 0.8 and ra["last2_mean"] == pytest.approx(0.75)
    assert ra["best"] == 0.9 and ra["best_epoch"] == 2 and ra["epochs"] == 4
    assert ra["epoch_seconds_total"] == 8.0 and rb["best_epoch"] == 1
    across = s["across"]
    assert across["mean"] == pytest.approx(0.7) and across["std"] == pytest.approx(0.1414, abs=1e-4)
    assert (across["min"], across["max"]) == (0.6, 0.8) and across["mean_reaches_target"]
    assert not seed_summary.summarise([str(a), str(b)], target=0.71)["across"]["mean_reaches_target"]


def test_cli_writes_json_and_markdown(tmp_path, capsys):
    a = write_run(tmp_path / "a", [0.9, 0.95])
    out = tmp_path / "summary.json"
    assert seed_summary.main([str(a), "--target", "0.96", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| 2 | 0.9500 |" in text and "does not reach the target 0.96" in text
    assert json.loads(out.read_text())["across"]["runs"] == 1


def test_missing_or_empty_runs_are_clear_errors(tmp_path, capsys):
    assert seed_summary.main([str(tmp_path / "nowhere")]) == 2
    assert "no metrics.json" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "metrics.json").write_text("[]")
    assert seed_summary.main([str(tmp_path / "empty")]) == 2
    assert "non-empty list" in capsys.readouterr().err


def test_best_epoch_counts_only_records_that_hold_the_metric():
    records = [{"epoch": 1}, {"epoch": 2, "test_da_average": 0.4}, {"epoch": 3, "test_da_average": 0.9},
               {"epoch": 4, "test_da_average": 0.8}]
    run = seed_summary.summarise_run(records, "test_da_average", last=10)
    assert run["best_epoch"] == 3 and run["epochs"] == 3 and run["last10_mean"] == pytest.approx(0.7)
    with pytest.raises(ValueError, match="test_linear_probe"):
        seed_summary.summarise_run(records, "test_linear_probe", last=10)
