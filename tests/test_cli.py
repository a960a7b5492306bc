import json

import pytest

from sdt_neuro.cli import main


def test_train_and_evaluate_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--preset", "bp-1layer", "--epochs", "1", "--train-samples", "500",
                 "--test-samples", "200", "--threads", "1", "--out", str(out), "--no-progress"])
    assert code == 0
    records = json.loads((out / "metrics.json").read_text())
    assert records[0]["epoch"] == 1 and records[0]["test_da_average"] > 0.5  # chance is 0.1
    assert (out / "checkpoint.pt").exists() and (out / "accuracy.png").exists()
    code = main(["evaluate", str(out), "--samples", "200", "--json", str(tmp_path / "e.json")])
    assert code == 0
    result = json.loads((tmp_path / "e.json").read_text())
    for key in ("backend", "samples", "da_average", "da_max", "seconds"):
        assert key in result
    assert result["samples"] == 200 and "DA avg" in capsys.readouterr().out
    assert main(["evaluate", str(out), "--samples", "200", "--steps", "16", "--reset", "zero"]) == 2
    assert "--steps, --reset: spiking settings; --backend ann" in capsys.readouterr().err
    before = (out / "checkpoint.pt").read_bytes()
    again = ["train", "--preset", "bp-1layer", "--epochs", "1", "--train-samples", "500", "--test-samples", "200",
             "--threads", "1", "--out", str(out), "--no-progress"]
    assert main(again) == 2  # a second run into the same folder would replace the first
    assert "holds a run (checkpoint.pt): continue it with --resume" in capsys.readouterr().err
    assert (out / "checkpoint.pt").read_bytes() == before
    assert main([*again, "--resume", "--overwrite"]) == 2 and "give one of them" in capsys.readouterr().err
    assert main([*again, "--resume", "--backend", "snntorch"]) == 2
    assert "trained with --backend ann; it cannot continue with --backend snntorch" in capsys.readouterr().err
    refused = [*again, "--overwrite", "--dataset", str(tmp_path / "missing.npz")]
    assert main(refused) == 2 and (out / "checkpoint.pt").read_bytes() == before  # refused: the old run stays
    assert main([*again, "--overwrite"]) == 0


def test_the_default_out_is_scratch_each_run_replaces(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    quick = ["train", "--preset", "bp-1layer", "--epochs", "1", "--train-samples", "100", "--test-samples", "100",
             "--threads", "1", "--no-progress"]
    assert main(quick) == 0 and main([*quick, "--seed", "1"]) == 0
    assert json.loads((tmp_path / "runs" / "latest" / "config.json").read_text())["seed"] == 1


def test_resume_alone_continues_the_runs_own_configuration_and_names_what_differs(tmp_path, capsys):
    out = tmp_path / "run"
    first = ["train", "--preset", "bp-fast", "--epochs", "1", "--train-samples", "300", "--test-samples", "100",
             "--seed", "3", "--threads", "1", "--out", str(out), "--no-progress"]
    assert main(first) == 0
    assert main(["train", "--resume", "--out", str(out), "--epochs", "2", "--no-progress"]) == 0
    assert [r["epoch"] for r in json.loads((out / "metrics.json").read_text())] == [1, 2]
    capsys.readouterr()
    assert main(["train", "--resume", "--preset", "bp-1layer", "--out", str(out), "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert "preset: 'bp-fast' in the run, 'bp-1layer' now" in err and "Saved:" not in err
    (out / "config.json").unlink()  # lost: the checkpoint's own configuration takes its place
    assert main(["train", "--resume", "--out", str(out), "--epochs", "3", "--no-progress"]) == 0
    assert "the run continues with the configuration its checkpoint holds" in capsys.readouterr().err
    assert [r["epoch"] for r in json.loads((out / "metrics.json").read_text())] == [1, 2, 3]
    assert main(["train", "--resume", "--out", str(tmp_path / "typo"), "--epochs", "3"]) == 2
    assert "typo holds no checkpoint.pt (is --out the folder" in capsys.readouterr().err


def test_train_init_gain_override_reaches_the_checkpoint(tmp_path):
    from sdt_neuro.training.checkpoint import load_trained_model

    out = tmp_path / "run"
    assert main(["train", "--preset", "bp-1layer", "--epochs", "1", "--train-samples", "100", "--test-samples",
                 "100", "--lr", "1e-9", "--init-gain", "0.02", "--threads", "1", "--out", str(out),
                 "--no-progress"]) == 0
    config, model, _ = load_trained_model(out / "checkpoint.pt")
    assert config.init_gain == 0.02
    assert model.layers[0].weight.abs().max() <= 1.001 * 0.02 * (6 / (784 + 2000)) ** 0.5


def test_errors_are_reported_without_traceback(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--k", "5000", "--out", str(tmp_path)]) == 2
    assert "k=5000" in capsys.readouterr().err
    assert main(["train", "--init-gain", "0", "--out", str(tmp_path)]) == 2
    assert "init_gain=0.0" in capsys.readouterr().err
    assert main(["train", "--preset", "nonsense"]) == 2
    assert "unknown preset 'nonsense'" in capsys.readouterr().err
    assert main(["train", "--preset", "bp-fast", "--config", str(tmp_path / "c.json")]) == 2
    assert "not both" in capsys.readouterr().err


def test_presets_list_and_config_files(tmp_path, capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    from sdt_neuro.presets import PRESETS

    names = [line.split()[0] for line in lines if line.split() and line.split()[0] in PRESETS]
    assert names == list(PRESETS)  # every preset, one line each, in order
    assert any(line.startswith("ep-2layer") and "published" in line for line in lines)
    assert any(line.startswith("bp-quick") and "ours" in line for line in lines)
    assert main(["presets", "bp-fast"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["batch_size"] == 128 and config["rule"]["k"] == 6
    config.update(epochs=1, max_train_samples=500, max_test_samples=100, threads=1)
    (tmp_path / "c.json").write_text(json.dumps(config))
    out = tmp_path / "run"
    assert main(["train", "--config", str(tmp_path / "c.json"), "--k", "4", "--out", str(out), "--no-progress"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["rule"]["k"] == 4 and saved["batch_size"] == 128 and saved["max_train_samples"] == 500
    (tmp_path / "bad.json").write_text(json.dumps({**config, "bogus": 1}))
    assert main(["train", "--config", str(tmp_path / "bad.json")]) == 2
    assert "unknown config field(s) ['bogus']" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{")
    assert main(["train", "--config", str(tmp_path / "broken.json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path)]) == 2  # a folder, not its config.json
    assert f"config file {tmp_path} cannot be read" in capsys.readouterr().err
    (tmp_path / "checkpoint.pt").write_bytes(b"PK\x03\x04\xff\xfe")  # a checkpoint given for its config
    assert main(["train", "--config", str(tmp_path / "checkpoint.pt")]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    (tmp_path / "minimal.json").write_text(json.dumps({"rule": config["rule"]}))  # every other field defaults
    assert main(["train", "--config", str(tmp_path / "minimal.json"), "--lr", "4", "--epochs", "0"]) == 2
    assert "epochs=0 must be >= 1" in capsys.readouterr().err  # --lr scaled the default rates; the checks ran


def test_a_spiking_runs_config_trains_an_ann_that_reads_as_one(tmp_path, capsys):
    from sdt_neuro.training.checkpoint import load_trained_model

    assert main(["presets", "bp-2layer"]) == 0
    config = json.loads(capsys.readouterr().out)
    config.update(epochs=1, max_train_samples=200, max_test_samples=100, threads=1,
                  extra={"backend": "snntorch", "steps": 16, "encoding": "bernoulli", "slope": 5.0})
    (tmp_path / "snn.json").write_text(json.dumps(config))  # what a --backend snntorch run writes
    out = tmp_path / "ann"
    assert main(["train", "--config", str(tmp_path / "snn.json"), "--out", str(out), "--no-progress"]) == 0
    assert "comes from a --backend snntorch run" in capsys.readouterr().err
    saved, _, _ = load_trained_model(out / "checkpoint.pt")
    assert saved.extra == {}  # converted with hidden-layer scaling, evaluated at the default T
    assert json.loads((out / "config.json").read_text())["extra"] == {}


def test_semi_supervised_runs_print_their_output_accuracy(tmp_path, capsys):
    out = tmp_path / "semi"
    assert main(["train", "--preset", "semi-bp-100-ours", "--epochs", "2", "--train-samples", "1000",
                 "--test-samples", "200", "--threads", "1", "--out", str(out), "--no-progress"]) == 0
    last = json.loads((out / "metrics.json").read_text())[-1]
    assert f"output accuracy {last['test_accuracy']:.4f}" in capsys.readouterr().out
    assert main(["evaluate", str(out), "--samples", "200"]) == 0
    assert f"output accuracy {last['test_accuracy']:.4f}" in capsys.readouterr().out


def test_ann_only_training_options_are_refused_by_the_spiking_backends(tmp_path, capsys):
    code = main(["train", "--backend", "snntorch", "--preset", "semi-bp-100-ours", "--straight-through",
                 "--out", str(tmp_path / "x"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--clean-target and --straight-through" in err and "--no-clean-target --no-straight-through" in err
    assert not (tmp_path / "x").exists()


def test_options_a_backend_would_not_read_are_refused(tmp_path, capsys):
    for backend, flag, takers in (
            ("ann", ["--fixed-point"], "--fixed-point: --backend lava"),
            ("ann", ["--race-steps", "16"], "--race-steps: --backend lava"),
            ("ann", ["--weight-max", "0.1"], "--weight-max: --backend lava"),
            ("ann", ["--race-range", "-1", "1"], "--race-range: --backend lava"),
            ("ann", ["--steps", "16"], "--steps: --backend snntorch or lava"),
            ("ann", ["--encoding", "bernoulli"], "--encoding: --backend snntorch"),
            ("snntorch", ["--samples", "5"], "--samples: --backend lava"),
            ("lava", ["--encoding", "bernoulli"], "--encoding: --backend snntorch")):
        code = main(["train", "--backend", backend, "--preset", "lava-100", *flag, "--out", str(tmp_path / "x"),
                     "--no-progress"])
        assert code == 2
        assert f"--backend {backend} does not read {flag[0]} ({takers})" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    ckpt = tmp_path / "missing.pt"  # refused before the checkpoint is even looked for
    assert main(["convert", str(ckpt), "--to", "nir", str(tmp_path / "n.nir"), "--fixed-point"]) == 2
    assert "--fixed-point is a Lava setting; --to nir does not take it" in capsys.readouterr().err


def test_a_diverging_rate_warns_of_collapse_and_flags_the_record(tmp_path, capsys):
    from sdt_neuro.evaluate import CollapseWarning

    out = tmp_path / "run"
    with pytest.warns(CollapseWarning, match="epoch 1: the outputs collapsed.*--lr"):
        code = main(["train", "--preset", "bp-fast", "--lr", "1e9", "--epochs", "1", "--train-samples", "3000",
                     "--test-samples", "1000", "--threads", "1", "--out", str(out), "--no-progress"])
    assert code == 0
    record = json.loads((out / "metrics.json").read_text())[0]
    assert record["collapsed"] is True
    capsys.readouterr()
    assert main(["evaluate", str(out), "--samples", "500"]) == 0
    assert "sdt-neuro: warning:" in capsys.readouterr().err


def test_cli_warnings_read_as_tool_lines():
    from sdt_neuro.cli import _format_warning

    assert _format_warning(UserWarning("x collapsed"), UserWarning, "f.py", 3) == "sdt-neuro: warning: x collapsed\n"


def test_every_preset_trains_on_another_data_set(tmp_path):
    import os
    from pathlib import Path

    root = os.environ.get("SDT_DATA_ROOT")
    if not root or not (Path(root) / "FashionMNIST" / "raw").is_dir():
        pytest.skip("needs Fashion-MNIST under SDT_DATA_ROOT")
    out = tmp_path / "run"
    assert main(["train", "--preset", "bp-1layer", "--dataset", "fashion-mnist", "--epochs", "1",
                 "--train-samples", "500", "--test-samples", "100", "--threads", "1", "--out", str(out),
                 "--no-progress"]) == 0
    assert json.loads((out / "config.json").read_text())["dataset"] == "fashion-mnist"


def test_no_probe_turns_off_a_presets_probe(tmp_path):
    from sdt_neuro.cli import build_parser

    assert build_parser().parse_args(["train", "--no-probe"]).probe is False
    assert build_parser().parse_args(["train"]).probe is None  # the preset decides
    from sdt_neuro.presets import preset_config

    assert preset_config("cnn-mnist").probe and preset_config("cnn-mnist", probe=False).probe is False
