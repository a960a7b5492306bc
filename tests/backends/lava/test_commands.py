"""Checkpoint -> Lava through the shared evaluation code and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("lava")

from sdt_neuro.backends.lava import evaluation_activity  # noqa: E402
from sdt_neuro.cli import main  # noqa: E402
from sdt_neuro.convert import convert_mlp, encode_input, simulate  # noqa: E402
from sdt_neuro.data import load_bundled_sample  # noqa: E402
from sdt_neuro.errors import ConfigError  # noqa: E402
from sdt_neuro.scoring import evaluate_checkpoint  # noqa: E402
from sdt_neuro.training import TrainConfig, train  # noqa: E402
from sdt_neuro.training.checkpoint import load_trained_model  # noqa: E402
from tests.conftest import synthetic_dataset  # noqa: E402


def _checkpoint(tmp_path: Path, sizes: tuple[int, ...] = (784, 20), n_classes: int = 4) -> Path:
    cfg = TrainConfig(rule={"n_outputs": sizes[-1], "k": 2, "gamma": 0.3, "n_classes": n_classes}, sizes=sizes,
                      lrs=(2.0,) * (len(sizes) - 1), epochs=1, threads=1)
    data = synthetic_dataset(n_classes=n_classes) if n_classes <= 4 else load_bundled_sample()
    train(cfg, out_dir=tmp_path, dataset=data, progress=False, plots=False)
    return tmp_path / "checkpoint.pt"


def test_rates_equal_oracle_and_score_like_the_ann(tmp_path: Path) -> None:
    ckpt, data = _checkpoint(tmp_path), synthetic_dataset()
    config, model, _ = load_trained_model(ckpt)
    x = data.test.x[:24]
    rates = evaluation_activity(config, model, x, {"steps": 16, "encoding": "current", "fixed_point": False,
                                                   "seed": 0, "batch": 10})
    counts = simulate(convert_mlp(model), encode_input(x.reshape(24, -1).numpy(), 16, "current"))
    assert rates.dtype == np.float32 and rates.shape == (24, 20)
    np.testing.assert_array_equal(rates, (counts / 16).astype(np.float32))
    result = evaluate_checkpoint(ckpt, backend="lava", dataset=data,
                                 options={"steps": 16, "fixed_point": True, "batch": 50})
    assert result["backend"] == "lava" and result["samples"] == 100
    assert result["agreement_with_ann"] >= 0.9
    assert abs(result["da_average"] - result["ann_da_average"]) <= 0.1


def test_hidden_layers_and_cnn_checkpoints(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path, sizes=(784, 12, 20))
    config, model, _ = load_trained_model(ckpt)
    x = synthetic_dataset().test.x[:6]
    rates = evaluation_activity(config, model, x, {"steps": 8, "batch": 6})
    from sdt_neuro.backends.lava.commands import spiking_network

    counts = simulate(spiking_network(config, model), encode_input(x.reshape(6, -1).numpy(), 8, "current"))
    np.testing.assert_array_equal(rates, (counts / 8).astype(np.float32))
    with pytest.raises(ConfigError, match="arch='cnn'"):
        evaluation_activity(SimpleNamespace(arch="cnn", rule={}), model, None, {})


def test_convert_command_prints_and_saves_parameters(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = _checkpoint(tmp_path)
    out = tmp_path / "lava.npz"
    assert main(["convert", str(ckpt), "--to", "lava", str(out), "--fixed-point", "--steps", "8"]) == 0
    printed = capsys.readouterr().out
    assert "784-20" in printed and "weight_exp" in printed and "vth" in printed
    saved = np.load(out)
    assert saved["layer0_weight_mant"].shape == (20, 784) and int(saved["layer0_input_bits"]) == 8
    assert np.abs(saved["layer0_weight_mant"]).max() <= 256
    assert (str(saved["reset"]), str(saved["readout"]), float(saved["v_init"])) == ("subtract", "count", 0.0)
    zero = tmp_path / "zero.npz"
    assert main(["convert", str(ckpt), "--to", "lava", str(zero), "--reset", "zero", "--steps", "8"]) == 0
    assert str(np.load(zero)["reset"]) == "zero"  # the neuron model travels with the weights
    capsys.readouterr()
    assert main(["convert", str(tmp_path / "missing.pt"), "--to", "lava", str(tmp_path / "x.txt")]) == 2
    assert "must end in .npz" in capsys.readouterr().err  # refused before the checkpoint is read


def test_cli_evaluate_with_the_lava_backend(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = _checkpoint(tmp_path, n_classes=10)  # evaluated on MNIST (SDT_DATA_ROOT or the bundled sample)
    code = main(["evaluate", str(ckpt), "--backend", "lava", "--fixed-point", "--steps", "8", "--samples", "30",
                 "--batch", "16", "--label-fraction", "0.05", "--json", str(tmp_path / "lava.json")])
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.startswith("lava: 30 test samples") and "agreement with ANN" in printed
    record = json.loads((tmp_path / "lava.json").read_text())
    assert record["process_models"] == [f"sdt_neuro.backends.lava.process.{name}" for name in (
        "PyBatchInputFixed", "PyBatchDenseFixed", "PyBatchIFFixed", "PySpikeCounter")]
    assert record["reset"] == "subtract" and record["event_driven"] is True and record["fixed_point"] is True
    assert record["dataset"] == "mnist" and record["steps"] == 8 and record["encoding"] == "current"
    assert record["readout"] == "count"
    assert main(["evaluate", str(ckpt), "--backend", "lava", "--steps", "8", "--samples", "10", "--label-fraction",
                 "0.05", "--readout", "membrane", "--json", str(tmp_path / "mem.json")]) == 0
    record = json.loads((tmp_path / "mem.json").read_text())
    assert record["readout"] == "membrane" and record["process_models"][-1].endswith("PyMembraneCounter")
    assert main(["evaluate", str(ckpt), "--backend", "lava", "--steps", "0", "--samples", "5"]) == 2
    assert "steps=0" in capsys.readouterr().err


def test_one_conversion_serves_lava_and_snntorch_whatever_is_evaluated(tmp_path: Path) -> None:
    """Hidden layers are scaled on training images, never on the images evaluated: Lava's network
    does not change with the number of samples and equals snnTorch's, count for count."""
    pytest.importorskip("snntorch")
    from sdt_neuro.backends import snntorch_head
    from sdt_neuro.backends.lava.commands import spiking_network

    ckpt = _checkpoint(tmp_path, sizes=(784, 12, 20))
    config, model, _ = load_trained_model(ckpt)
    x = synthetic_dataset().test.x[:40]
    many = evaluation_activity(config, model, x, {"steps": 32, "batch": 16})
    few = evaluation_activity(config, model, x[:5], {"steps": 32, "batch": 5})
    np.testing.assert_array_equal(few, many[:5])
    np.testing.assert_array_equal(many, snntorch_head.evaluation_activity(config, model, x, {"steps": 32}))
    net = spiking_network(config, model)
    assert net.meta["calibration"]["split"] == "train" and net.meta["calibration"]["first"] == 1000
    assert net.meta["scaling"] == "percentile"


def test_the_data_root_route_does_not_change_the_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from sdt_neuro.backends.lava.commands import spiking_network

    root = os.environ.get("SDT_DATA_ROOT")
    if not root or not (Path(root) / "MNIST" / "raw").is_dir():
        pytest.skip("needs full MNIST under SDT_DATA_ROOT")
    config, model, _ = load_trained_model(_checkpoint(tmp_path, sizes=(784, 12, 20)))
    from_env = spiking_network(config, model)
    monkeypatch.delenv("SDT_DATA_ROOT")
    from_flag = spiking_network(config, model, data_root=root)
    assert from_env.scales == from_flag.scales


def test_percentile_option_reaches_the_lava_conversion(tmp_path: Path) -> None:
    config, model, _ = load_trained_model(_checkpoint(tmp_path, sizes=(784, 12, 20)))
    x = synthetic_dataset().test.x[:8]
    low = evaluation_activity(config, model, x, {"steps": 16, "percentile": 50.0})
    high = evaluation_activity(config, model, x, {"steps": 16, "percentile": 100.0})
    assert (low != high).any()


def test_multi_layer_ep_checkpoints_are_refused(tmp_path: Path) -> None:
    from sdt_neuro.convert import checkpoint_network

    cfg = TrainConfig(rule={"n_outputs": 20, "k": 2, "gamma": 0.3, "n_classes": 4}, sizes=(784, 12, 20),
                      algorithm="ep", lrs=(0.01,), epochs=1)
    with pytest.raises(ConfigError, match="feedback"):
        checkpoint_network(cfg, cfg.build_model())


def test_steps_default_to_the_training_t(tmp_path: Path) -> None:
    config, model, _ = load_trained_model(_checkpoint(tmp_path))
    config = config.replace(extra={"steps": 4})
    x = synthetic_dataset().test.x[:6]
    rates = evaluation_activity(config, model, x, {"steps": None, "batch": 6})
    counts = simulate(convert_mlp(model), encode_input(x.reshape(6, -1).numpy(), 4, "current"))
    np.testing.assert_array_equal(rates, (counts / 4).astype(np.float32))


def test_membrane_readout_reads_a_one_layer_network_as_the_ann(tmp_path: Path) -> None:
    """With pixel currents the output's charge is W x + b itself: Lava (float and fixed point) and
    snnTorch reproduce the ANN's predictions where the count read-out at T=4 does not, and the JSON
    says which read-out ran."""
    ckpt, data = _checkpoint(tmp_path), synthetic_dataset()
    config, model, _ = load_trained_model(ckpt)
    x = data.test.x[:24]
    options = {"steps": 4, "encoding": "current", "seed": 0, "batch": 10, "readout": "membrane"}
    ann = model.eval()(x.reshape(24, -1)).detach().numpy()
    np.testing.assert_allclose(evaluation_activity(config, model, x, {**options, "fixed_point": False}), ann,
                               atol=1e-5)
    fixed = evaluation_activity(config, model, x, {**options, "fixed_point": True})
    assert np.abs(fixed - ann).max() < 0.02  # 8-bit weights, not 1/T steps
    counts = evaluation_activity(config, model, x, {**options, "readout": "count", "fixed_point": False})
    assert np.abs(counts - ann).max() > 0.05
    for backend in ("lava", "snntorch"):
        result = evaluate_checkpoint(ckpt, backend=backend, dataset=data, options={"steps": 4, "readout": "membrane"})
        assert result["readout"] == "membrane" and result["agreement_with_ann"] == 1.0
        assert result["da_average"] == result["ann_da_average"]
    with pytest.raises(ConfigError, match="needs reset='subtract'"):
        evaluate_checkpoint(ckpt, backend="lava", dataset=data, options={"reset": "zero", "readout": "membrane"})
