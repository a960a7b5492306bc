import json

import pytest

from sdt_neuro.cli import main


def test_train_and_evaluate_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--preset", "bp-1layer", "--epochs", "1", "--train-samples", "500",
                 "--test-samples", "200", "--threads", "1", "--out", str(out), "--no-progress"])
    assert code == 0
    records = json.loads((out / "metrics.json").read_text())
    assert records[0]["epoch"] == 1 and 0 <= records[0]["test_da_average"] <= 1
    assert (out / "checkpoint.pt").exists() and (out / "accuracy.png").exists()
    code = main(["evaluate", str(out), "--samples", "200", "--json", str(tmp_path / "e.json")])
    assert code == 0
    result = json.loads((tmp_path / "e.json").read_text())
    for key in ("backend", "samples", "da_average", "da_max", "seconds"):
        assert key in result
    assert result["samples"] == 200 and "DA avg" in capsys.readouterr().out


def test_errors_are_reported_without_traceback(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--k", "5000", "--out", str(tmp_path)]) == 2
    assert "k=5000" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--preset", "nonsense"])
