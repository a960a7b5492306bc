"""snnTorch backend: parity with the NumPy oracle, rate coding, training with the rule, CLI."""

import json
import os
import sys

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("snntorch")

from sdt_neuro.backends import snntorch_head as sh  # noqa: E402
from sdt_neuro.cli import main  # noqa: E402
from sdt_neuro.convert import SpikingLayer, SpikingNetwork, convert_mlp, encode_input, simulate  # noqa: E402
from sdt_neuro.errors import CheckpointError, ConfigError, MissingBackendError, ShapeError  # noqa: E402
from sdt_neuro.models import MLP  # noqa: E402
from sdt_neuro.rule import WTARule  # noqa: E402
from sdt_neuro.scoring import evaluate_checkpoint  # noqa: E402
from sdt_neuro.training import TrainConfig, train  # noqa: E402
from sdt_neuro.training.checkpoint import load_checkpoint, load_trained_model  # noqa: E402
from tests.conftest import real_mnist, synthetic_dataset  # noqa: E402


def random_spec(sizes=(20, 30, 10), seed=0) -> SpikingNetwork:
    rng = np.random.default_rng(seed)
    layers = tuple(SpikingLayer(rng.normal(0, 0.3, (b, a)), rng.normal(0, 0.1, b))
                   for a, b in zip(sizes[:-1], sizes[1:]))
    return SpikingNetwork(layers, {"n_outputs": sizes[-1]})


def small_config(**kw) -> TrainConfig:
    base = dict(rule={"n_outputs": 20, "k": 2, "gamma": 0.3, "dropout": 0.1, "n_classes": 4},
                sizes=(784, 20), input_dropout=0.1, lrs=(2.0,), batch_size=16, epochs=2, threads=1, seed=5,
                extra={"backend": "snntorch", "steps": 8, "encoding": "current"})
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("encoding", ["current", "bernoulli"])
def test_spike_counts_equal_the_numpy_oracle(encoding):
    spec = random_spec()
    x = np.random.default_rng(3).random((40, 20))
    inputs = encode_input(x, 30, encoding, np.random.default_rng(4))
    expected = simulate(spec, inputs)
    network = sh.from_spec(spec, dtype=torch.float64)
    with torch.no_grad():
        counts = sh.spike_train(network, torch.from_numpy(np.ascontiguousarray(inputs))).sum(0).numpy()
    np.testing.assert_array_equal(counts, expected)
    assert expected.sum() > 100  # the network is not silent


def test_float64_networks_keep_float64_weights_and_thresholds():
    # 0.1 ten times stays below 1 in float64; float32's 0.1 (0.10000000149) would reach it at step 10
    spec = SpikingNetwork((SpikingLayer(np.array([[0.1], [0.07]]), np.zeros(2), threshold=0.7),), {"n_outputs": 2})
    network = sh.from_spec(spec, dtype=torch.float64)
    assert network[1].weight[0, 0].item() == 0.1 and network[2].threshold.item() == 0.7
    inputs = np.ones((10, 1, 1))
    with torch.no_grad():
        counts = sh.spike_train(network, torch.from_numpy(inputs)).sum(0).numpy()
    np.testing.assert_array_equal(counts, simulate(spec, inputs))


def test_reused_static_prefix_gives_the_same_counts_as_stepping_everything():
    spec = random_spec(seed=1)
    network = sh.from_spec(spec, dtype=torch.float64)
    x = torch.from_numpy(np.random.default_rng(5).random((25, 20)))
    with torch.no_grad():
        fast = sh.spike_counts(network, x, 20, "current")
        slow = sh.spike_counts(network, x, 20, "current", reuse_static_prefix=False)
    torch.testing.assert_close(fast, slow)
    np.testing.assert_array_equal(fast.numpy(), simulate(spec, encode_input(x.numpy(), 20, "current")))


def test_training_mode_dropout_in_the_reused_prefix_holds_one_mask_per_window():
    spec = random_spec(seed=2)
    x = torch.from_numpy(np.random.default_rng(6).random((25, 20)))
    network = torch.nn.Sequential(torch.nn.Dropout(0.5), *sh.from_spec(spec, dtype=torch.float64)).train()
    torch.manual_seed(0)
    with torch.no_grad():
        held = sh.spike_counts(network, x, 20, "current")
        torch.manual_seed(0)
        dropped = torch.nn.Dropout(0.5).train()(x)  # the same single draw, made by hand
        per_step = sh.spike_counts(network, x, 20, "current", reuse_static_prefix=False)
    expected = simulate(spec, encode_input(dropped.numpy(), 20, "current"))
    np.testing.assert_array_equal(held.numpy(), expected)
    assert (per_step != held).any()  # a new mask each step is another network


@pytest.mark.parametrize("steps", [4, 16, 64])
def test_direct_current_rates_approach_the_hard_sigmoid_within_one_over_t(steps):
    torch.manual_seed(0)
    model = MLP((784, 50)).eval()
    with torch.no_grad():
        model.layers[0].weight.mul_(8)
    x = torch.rand(30, 784)
    conv = sh.ConvertedNetwork(sh.from_spec(convert_mlp(model)), convert_mlp(model), steps)
    rates = conv.rates(x).numpy()
    ann = model(x).detach().numpy()
    assert 0.1 < ann.mean() < 0.9 and (ann == 1).any() and (ann == 0).any()
    assert np.abs(rates - ann).max() <= 1 / steps + 1e-6
    assert np.allclose(rates * steps, np.round(rates * steps))


def test_neurons_follow_snntorch_conventions():
    import snntorch as snn

    neuron = sh.if_neuron(threshold=2.0)
    assert isinstance(neuron, snn.Leaky) and neuron.init_hidden
    assert neuron.reset_mechanism == "subtract" and float(neuron.beta) == 1.0 and float(neuron.threshold) == 2.0
    out = torch.stack([neuron(torch.full((1, 3), 1.0)) for _ in range(4)])
    assert out.shape == (4, 1, 3) and out.sum().item() == 2 * 3  # v: 1, 2 (fire), 1, 2 (fire)


def test_surrogate_fires_at_threshold_and_has_fast_sigmoid_gradient():
    fn = sh.SpikeFunction(slope=4.0)
    x = torch.tensor([-0.5, 0.0, 0.25], requires_grad=True)
    out = fn(x)
    assert out.tolist() == [0.0, 1.0, 1.0]
    out.sum().backward()
    torch.testing.assert_close(x.grad, 1 / (4 * x.detach().abs() + 1) ** 2)
    with pytest.raises(ConfigError, match="slope=0"):
        sh.SpikeFunction(0)


def test_reset_touches_only_the_given_network():
    a, b = sh.from_spec(random_spec(seed=2)), sh.from_spec(random_spec(seed=3))
    x = torch.rand(4, 20)
    a(x), b(x)
    sh.reset_states(b)
    assert a[2].mem.abs().sum() > 0
    assert b[2].mem.abs().sum() == 0


def test_learner_changes_weights_and_builds_k_hot_targets():
    torch.manual_seed(0)
    rule = WTARule(n_outputs=12, k=3, gamma=0.2, dropout=0.0, n_classes=4)
    features = nn.Sequential(nn.Linear(16, 24), sh.if_neuron())
    network = nn.Sequential(*features, *sh.wta_head(24, rule))
    first, last = network[0].weight.detach().clone(), network[2].weight.detach().clone()
    learner = sh.SpikingLearner(network, rule, steps=8, optimizer=torch.optim.SGD(network.parameters(), lr=2.0))
    x = torch.rand(32, 16)
    y = learner.rates(x).detach()
    d = learner.target(y, None, None)
    assert d.sum(1).tolist() == [3.0] * 32
    for _ in range(3):
        loss = learner.train_step(x)
    assert torch.isfinite(loss)
    assert not torch.equal(first, network[0].weight) and not torch.equal(last, network[2].weight)
    assert learner.state.offsets.abs().sum() > 0
    assert learner.activity(x).shape == (32, 12)


def test_learner_with_bernoulli_input_trains():
    torch.manual_seed(1)
    rule = WTARule(n_outputs=10, k=2, gamma=0.2, n_classes=4)
    network = sh.wta_head(16, rule)
    before = network[0].weight.detach().clone()
    learner = sh.SpikingLearner(network, rule, 8, torch.optim.SGD(network.parameters(), lr=5.0), "bernoulli")
    learner.train_step(torch.rand(16, 16))
    assert not torch.equal(before, network[0].weight)


def test_learner_rejects_a_network_of_the_wrong_width_and_bad_settings():
    rule = WTARule(n_outputs=10, k=2)
    network = sh.wta_head(16, 8)
    opt = torch.optim.SGD(network.parameters(), lr=1.0)
    with pytest.raises(ShapeError, match=r"\[batch, 10\]"):
        sh.SpikingLearner(network, rule, 4, opt).train_step(torch.rand(2, 16))
    with pytest.raises(ConfigError, match="steps=0"):
        sh.SpikingLearner(network, rule, 0, opt)
    head = sh.wta_head(16, rule)
    before = head[0].weight.detach().clone()
    learner = sh.SpikingLearner(head, rule, 4, torch.optim.SGD(head.parameters(), lr=1.0))
    nan = torch.rand(2, 16)
    nan[0, 3] = float("nan")
    with pytest.raises(ConfigError, match="1 NaN or infinite"):  # its surrogate gradient would be NaN
        learner.train_step(nan)
    with pytest.raises(ConfigError, match="divide 0-255 images by 255"):
        sh.SpikingLearner(head, rule, 4, learner.optimizer, encoding="bernoulli").train_step(torch.rand(2, 16) * 255)
    assert torch.equal(before, head[0].weight)
    with pytest.raises(ConfigError, match="encoding='poisson'"):
        sh.SpikingLearner(network, rule, 4, opt, encoding="poisson")
    with pytest.raises(ConfigError, match="readout='softmax'.*ANN backend"):
        sh.learner_for_config(small_config().replace(readout="softmax", sizes=(784, 8, 4),
                                                     rule={**small_config().rule, "n_outputs": 4, "dropout": 0.0}),
                              torch.device("cpu"))


def test_shared_loop_trains_and_checkpoints_a_spiking_network(tmp_path):
    data = synthetic_dataset()
    res = train(small_config(), out_dir=tmp_path, dataset=data, progress=False,
                learner_factory=sh.learner_for_config)
    records = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("epoch", "train_loss", "test_da_average", "test_da_max", "epoch_seconds"):
        assert key in records[-1]
    assert records[-1]["test_da_average"] > 0.5  # four easy classes; chance is 0.25
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["backend"] == "snntorch" and ckpt["config"]["extra"]["steps"] == 8
    config, model, _ = load_trained_model(tmp_path)
    torch.testing.assert_close(model.layers[0].weight, res.model.layers[0].weight)
    rates = sh.evaluation_activity(config, model, data.test.x[:20], {"steps": 8})
    assert rates.dtype == np.float32 and rates.shape == (20, 20)
    np.testing.assert_allclose(rates * 8, np.round(rates * 8), atol=1e-6)


def test_resume_continues_a_spiking_run_exactly(tmp_path):
    data = synthetic_dataset()
    full = train(small_config(epochs=2), out_dir=tmp_path / "full", dataset=data, progress=False, plots=False,
                 learner_factory=sh.learner_for_config)
    train(small_config(epochs=1).replace(schedule_epochs=2), out_dir=tmp_path / "part", dataset=data,
          progress=False, plots=False, learner_factory=sh.learner_for_config)
    resumed = train(small_config(epochs=2).replace(schedule_epochs=2), out_dir=tmp_path / "part", resume=True,
                    dataset=data, progress=False, plots=False, learner_factory=sh.learner_for_config)
    assert [m["epoch"] for m in resumed.metrics] == [1, 2]
    torch.testing.assert_close(resumed.model.layers[0].weight, full.model.layers[0].weight, rtol=0, atol=0)
    torch.testing.assert_close(resumed.learner.state.offsets, full.learner.state.offsets, rtol=0, atol=0)


def test_shared_evaluation_scores_the_spiking_backend_against_the_ann(tmp_path):
    data = synthetic_dataset()
    train(small_config(extra={}), out_dir=tmp_path, dataset=data, progress=False, plots=False)
    res = evaluate_checkpoint(tmp_path, backend="snntorch", dataset=data, options={"steps": 32})
    assert res["agreement_with_ann"] >= 0.9
    assert abs(res["da_average"] - res["ann_da_average"]) <= 0.1
    assert res["samples"] == len(data.test)


def test_hidden_layers_convert_with_calibration_and_run():
    torch.manual_seed(2)
    config = small_config(sizes=(784, 30, 20), extra={})
    model = MLP((784, 30, 20)).eval()
    calib = torch.rand(50, 784)
    spec = sh.spec_for_model(config, model, calib)
    assert spec.scales[1] != 1.0
    trained_in_snntorch = sh.spec_for_model(small_config(sizes=(784, 30, 20)), model)
    assert trained_in_snntorch.scales == (1.0, 1.0, 1.0)
    conv = sh.ConvertedNetwork(sh.from_spec(spec, dtype=torch.float64), spec, 16)
    x = torch.rand(10, 784, dtype=torch.float64)
    np.testing.assert_array_equal(conv.rates(x).numpy() * 16, simulate(spec, encode_input(x.numpy(), 16, "current")))


def test_cli_convert_to_snntorch_and_nir_and_errors(tmp_path, capsys):
    import nir

    data = synthetic_dataset()
    train(small_config(epochs=1, extra={}), out_dir=tmp_path / "run", dataset=data, progress=False, plots=False)
    ckpt = str(tmp_path / "run" / "checkpoint.pt")
    assert main(["convert", ckpt, "--to", "snntorch", "--steps", "16"]) == 0
    conv = sh.load_converted(tmp_path / "run" / "snntorch-T16.pt")
    _, model, _ = load_trained_model(ckpt)
    assert conv.steps == 16 and conv.encoding == "current"
    np.testing.assert_array_equal(conv.spec.layers[0].weight, model.layers[0].weight.double().detach().numpy())
    assert main(["convert", ckpt, "--to", "nir", str(tmp_path / "net.nir"), "--steps", "16"]) == 0
    graph = nir.read(str(tmp_path / "net.nir"))
    assert {type(n).__name__ for n in graph.nodes.values()} == {"Input", "Affine", "IF", "Output"}
    assert graph.metadata["reset_mechanism"] == "zero"  # what nir.IF means: the default for --to nir
    back = sh.convert_checkpoint(tmp_path / "net.nir")  # the file's own time steps and encoding
    assert back.spec.reset == "zero" and conv.spec.reset == "subtract"
    assert (back.steps, back.encoding) == (16, "current")
    assert sh.convert_checkpoint(tmp_path / "net.nir", steps=8, encoding="bernoulli").steps == 8  # given: they stand
    assert main(["convert", str(tmp_path / "net.nir"), "--to", "snntorch", str(tmp_path / "from-nir.pt")]) == 0
    assert sh.load_converted(tmp_path / "from-nir.pt").steps == 16
    capsys.readouterr()
    assert main(["convert", str(tmp_path / "net.nir"), "--to", "snntorch", "--reset", "subtract"]) == 2
    assert "brings its own reset and read-out" in capsys.readouterr().err
    capsys.readouterr()
    assert main(["convert", ckpt, "--to", "nir", str(tmp_path / "sub.nir"), "--reset", "subtract"]) == 2
    assert "reset='zero'" in capsys.readouterr().err
    assert main(["convert", ckpt, "--to", "nir", str(tmp_path / "m.nir"), "--readout", "membrane"]) == 2
    assert "export the count read-out to NIR" in capsys.readouterr().err
    np.testing.assert_array_equal(back.spec.layers[0].weight, conv.spec.layers[0].weight.astype(np.float32))
    for a, b in zip(back.network.parameters(), conv.network.parameters()):  # the same float32 network
        assert torch.equal(a, b)
    capsys.readouterr()
    assert main(["convert", str(tmp_path / "missing.pt"), "--to", "nir"]) == 2
    assert "needs an output file" in capsys.readouterr().err  # said before the checkpoint is read
    assert main(["convert", str(tmp_path / "missing.pt"), "--to", "snntorch"]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="not a converted"):
        sh.load_converted(ckpt)


def test_cli_train_backend_snntorch(tmp_path, monkeypatch):
    monkeypatch.setattr("sdt_neuro.training.loop.load_dataset", lambda *a, **k: synthetic_dataset())
    out = tmp_path / "snn"
    code = main(["train", "--backend", "snntorch", "--steps", "4", "--preset", "bp-fast", "--epochs", "1",
                 "--k", "2", "--train-samples", "40", "--test-samples", "20", "--threads", "1",
                 "--out", str(out), "--no-progress"])
    assert code == 0
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["backend"] == "snntorch" and ckpt["config"]["extra"]["steps"] == 4
    assert main(["train", "--resume", "--out", str(out), "--epochs", "2", "--no-progress"]) == 0  # its own backend
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["backend"] == "snntorch" and ckpt["epoch"] == 2


def test_missing_snntorch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "snntorch", None)
    with pytest.raises(MissingBackendError, match=r"sdt-neuro\[snntorch\]"):
        sh.if_neuron()


def test_converted_real_mnist_network_agrees_with_the_ann():
    """A 784-100 ANN trained briefly on 2,000 real digits; its T=32 spiking twin predicts the same
    class (winner neuron) on 300 test digits almost always."""
    if not os.environ.get("SDT_DATA_ROOT"):
        pytest.skip("SDT_DATA_ROOT is not set: this test needs real MNIST (CI sets it)")
    data = real_mnist()
    cfg = TrainConfig(rule={"n_outputs": 100, "k": 5, "gamma": 0.4, "dropout": 0.2}, sizes=(784, 100),
                      lrs=(8.0,), epochs=1, threads=1, max_train_samples=2000, max_test_samples=300)
    res = train(cfg, dataset=data, progress=False, plots=False)
    model = res.model.eval()
    x = data.test.x[:300].reshape(300, -1)
    ann = model(x).detach()
    rates = sh.ConvertedNetwork(sh.from_spec(convert_mlp(model)), convert_mlp(model), 32).rates(x)
    assert (rates - ann).abs().max() <= 1 / 32 + 1e-6
    assert (rates.argmax(1) == ann.argmax(1)).float().mean() >= 0.8


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on the CPU CI machines)")
def test_cuda_rates_equal_cpu_rates():
    spec = random_spec(seed=6)
    x = torch.rand(30, 20, dtype=torch.float64)
    cpu = sh.ConvertedNetwork(sh.from_spec(spec, dtype=torch.float64), spec, 16).rates(x)
    gpu = sh.ConvertedNetwork(sh.from_spec(spec, dtype=torch.float64, device="cuda"), spec, 16).rates(x)
    torch.testing.assert_close(cpu, gpu)


@pytest.mark.parametrize("v_init", [0.0, 0.5])
def test_zero_reset_equals_the_oracle_and_survives_a_save(tmp_path, v_init):
    """snnTorch's reset_mechanism="zero" with a strict threshold is Lava's stock LIF, step for step."""
    import dataclasses

    spec = dataclasses.replace(random_spec(seed=4), reset="zero", v_init=v_init)
    x = torch.from_numpy(np.random.default_rng(9).random((25, 20)))
    with torch.no_grad():
        counts = sh.spike_counts(sh.from_spec(spec, dtype=torch.float64), x, 12, "current").numpy()
    np.testing.assert_array_equal(counts, simulate(spec, encode_input(x.numpy(), 12, "current")))
    assert not np.array_equal(counts, simulate(spec, encode_input(x.numpy(), 12, "current"), reset="subtract"))
    conv = sh.ConvertedNetwork(sh.from_spec(spec), spec, 12)
    assert sh.load_converted(sh.save_converted(conv, tmp_path / "z.pt")).spec.reset == "zero"


def test_half_threshold_start_equals_the_oracle_across_resets_and_saves(tmp_path):
    import dataclasses

    spec = dataclasses.replace(random_spec(seed=3), v_init=0.5)
    x = torch.from_numpy(np.random.default_rng(8).random((25, 20)))
    network = sh.from_spec(spec, dtype=torch.float64)
    expected = simulate(spec, encode_input(x.numpy(), 8, "current"))
    with torch.no_grad():
        for _ in range(2):  # the offset applies again after every reset
            np.testing.assert_array_equal(sh.spike_counts(network, x, 8, "current").numpy(), expected)
    conv = sh.ConvertedNetwork(network, spec, 8)
    assert sh.load_converted(sh.save_converted(conv, tmp_path / "c.pt")).spec.v_init == 0.5
    from sdt_neuro.backends import nir_io

    with pytest.raises(ConfigError, match="v_init"):
        nir_io.write_nir(spec, tmp_path / "x.nir", steps=8)


def test_membrane_readout_equals_the_oracle_and_survives_a_save(tmp_path):
    """Two layers, v_init 0.5: snnTorch's counts equal the oracle's and its final output membranes
    (snnTorch subtracts the last spike's threshold only at the next step) match them."""
    import dataclasses

    from sdt_neuro.convert import output_rates, simulate_state

    spec = dataclasses.replace(random_spec(seed=5), v_init=0.5, readout="membrane")
    x = torch.from_numpy(np.random.default_rng(3).random((25, 20)))
    network = sh.from_spec(spec, dtype=torch.float64)
    counts, membrane = simulate_state(spec, encode_input(x.numpy(), 8, "current"))
    with torch.no_grad():
        got_counts, got_membrane = sh.counts_and_membrane(network, x, 8)
    np.testing.assert_array_equal(got_counts.numpy(), counts)
    np.testing.assert_allclose(got_membrane.numpy(), membrane, rtol=1e-5, atol=1e-6)
    conv = sh.ConvertedNetwork(network, spec, 8)
    np.testing.assert_allclose(conv.rates(x).numpy(), output_rates(spec, counts, 8, membrane), atol=1e-6)
    assert not np.allclose(conv.rates(x).numpy(), counts / 8)
    assert sh.load_converted(sh.save_converted(conv, tmp_path / "m.pt")).spec.readout == "membrane"
    zero = sh.from_spec(dataclasses.replace(spec, readout="count", reset="zero"), dtype=torch.float64)
    with pytest.raises(ConfigError, match="subtractive"):
        sh.counts_and_membrane(zero, x, 8)


def test_rates_refuse_inputs_that_are_not_rates_of_the_networks_width():
    from sdt_neuro.backends.snntorch_sim import batched_rates

    spec = random_spec((20, 30, 10))
    net = sh.from_spec(spec)
    assert batched_rates(net, torch.rand(4, 20), 8, "current").shape == (4, 10)
    bad = torch.rand(4, 20)
    bad[0, 0] = float("nan")
    with pytest.raises(ConfigError, match="finite and lie in \\[0, 1\\].*NaN or infinite"):
        batched_rates(net, bad, 8, "current")
    with pytest.raises(ConfigError, match="divide 0-255 images by 255"):
        batched_rates(net, 255 * torch.rand(4, 20), 8, "bernoulli")
    with pytest.raises(ShapeError, match="inputs hold 21 values a sample"):
        batched_rates(net, torch.rand(4, 21), 8, "current")


def test_a_nir_file_with_bad_time_steps_or_encoding_is_refused_by_name(tmp_path):
    import dataclasses

    nir = pytest.importorskip("nir")
    from sdt_neuro.backends import nir_io

    for key, value, message in (("time_steps", "many", "time_steps='many' is not a whole number"),
                                ("encoding", "poisson", "encoding='poisson'")):
        graph = nir_io.to_nir(dataclasses.replace(random_spec(), reset="zero"), steps=8)
        graph.metadata[key] = value
        nir.write(str(tmp_path / "bad.nir"), graph)
        with pytest.raises(ConfigError, match=message):
            sh.convert_checkpoint(tmp_path / "bad.nir")
