import numpy as np
import pytest
import torch

from sdt_neuro.convert import convert_mlp, encode_input, simulate
from sdt_neuro.errors import ConfigError, ShapeError
from sdt_neuro.models import CNN, MLP


def test_output_layer_rates_match_hard_sigmoid_within_one_over_t():
    torch.manual_seed(0)
    model = MLP((784, 50)).eval()
    with torch.no_grad():
        model.layers[0].weight.mul_(8)
    x = torch.rand(20, 784)
    net = convert_mlp(model)
    steps = 64
    counts = simulate(net, encode_input(x.numpy(), steps, "current"))
    ann = model(x).detach().numpy()
    assert np.abs(counts / steps - ann).max() <= 1 / steps + 1e-9
    assert 0 < ann.mean() < 1


def test_hidden_layers_are_scaled_by_percentile():
    """Known answer: hidden activations 1..7 (two zeros left out); their median is 4, their max 7."""
    model = MLP((4, 3, 2)).eval()
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.eye(3, 4))
        model.layers[0].bias.zero_()
        model.layers[1].weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]]))
        model.layers[1].bias.copy_(torch.tensor([0.25, -0.5]))
    calib = torch.tensor([[1.0, 2.0, 3.0, 9.0], [4.0, 5.0, 6.0, 9.0], [-1.0, -1.0, 7.0, 9.0]])
    for percentile, lam in ((50.0, 4.0), (100.0, 7.0)):
        net = convert_mlp(model, calib, percentile=percentile)
        assert net.scales == (1.0, lam, 1.0)
        np.testing.assert_allclose(net.layers[0].weight, np.eye(3, 4) / lam)
        np.testing.assert_allclose(net.layers[1].weight, [[lam, 2 * lam, 3 * lam], [-lam, 0.5 * lam, 0.0]])
        np.testing.assert_allclose(net.layers[1].bias, [0.25, -0.5])  # the output keeps its scale
    with pytest.raises(ConfigError, match="calibration"):
        convert_mlp(model)


def test_zero_reset_oracle_spikes_above_the_threshold_and_restarts_from_zero():
    from sdt_neuro.convert import SpikingLayer, SpikingNetwork

    net = SpikingNetwork((SpikingLayer(np.array([[1.0]]), np.array([0.0])),), {})
    inputs = np.full((6, 1, 1), 0.5)  # v: 0.5, 1.0, 1.5 ...
    assert simulate(net, inputs)[0, 0] == 3  # subtract: spikes at v >= 1 (steps 2, 4, 6)
    assert simulate(net, inputs, reset="zero")[0, 0] == 2  # zero: v > 1 needs 3 steps (steps 3, 6)
    with pytest.raises(ConfigError, match="reset"):
        simulate(net, inputs, reset="keep")
    zero = SpikingNetwork(net.layers, {}, reset="zero")
    assert simulate(zero, inputs)[0, 0] == 2  # the network's own reset is the default
    with pytest.raises(ConfigError, match="reset='keep'"):
        SpikingNetwork(net.layers, {}, reset="keep")


def test_bernoulli_encoding_rate_and_errors():
    x = np.full((2, 784), 0.25)
    spikes = encode_input(x, 400, "bernoulli", np.random.default_rng(0))
    assert set(np.unique(spikes)) <= {0.0, 1.0} and abs(spikes.mean() - 0.25) < 0.01
    with pytest.raises(ConfigError, match="encoding"):
        encode_input(x, 4, "poisson")
    with pytest.raises(ShapeError, match="inputs must be"):
        simulate(convert_mlp(MLP((784, 10))), np.zeros((4, 2, 100)))
    with pytest.raises(ConfigError, match="MLP"):
        convert_mlp(CNN(n_outputs=10, prune=0))


def test_half_threshold_start_rounds_the_rate():
    import dataclasses

    from sdt_neuro.convert import SpikingLayer, SpikingNetwork

    net = SpikingNetwork((SpikingLayer(np.array([[1.0]]), np.array([0.0])),), {})
    inputs = np.full((8, 1, 1), 0.3)  # rate 0.3 over 8 steps: 2.4 spikes
    assert simulate(net, inputs)[0, 0] == 2  # floor
    assert simulate(dataclasses.replace(net, v_init=0.5), inputs)[0, 0] == 2  # round(2.4)
    assert simulate(dataclasses.replace(net, v_init=0.5), np.full((8, 1, 1), 0.33))[0, 0] == 3  # round(2.64)
    assert simulate(net, np.full((8, 1, 1), 0.33))[0, 0] == 2
    with pytest.raises(ConfigError, match="v_init"):
        SpikingNetwork((), {}, v_init=1.0)


def test_output_scale_spreads_small_outputs_over_the_rate_range_without_changing_the_ann():
    from types import SimpleNamespace

    from sdt_neuro.convert import checkpoint_network

    torch.manual_seed(0)
    model = MLP((784, 30)).eval()
    with torch.no_grad():
        model.layers[0].weight.mul_(0.2)  # small outputs, as on Fashion-MNIST
    config = SimpleNamespace(rule={}, algorithm="bp", extra={}, dataset="mnist")
    calib = torch.rand(50, 784)
    y = model(calib).detach().numpy()
    net = checkpoint_network(config, model, calibration=calib, output_scale="max")
    lam = net.scales[-1]
    assert lam == pytest.approx(float(y.max())) and 0 < lam < 1 and net.meta["output_scale"] == "max"
    steps = 64
    rates = simulate(net, encode_input(calib.numpy(), steps, "current")) / steps * lam
    assert np.abs(rates - y).max() <= lam / steps + 1e-9  # 1/lambda times finer than unscaled
    plain = checkpoint_network(config, model, calibration=calib)
    assert plain.scales[-1] == 1.0 and "calibration" not in plain.meta
    with pytest.raises(ConfigError, match="output_scale"):
        checkpoint_network(config, model, calibration=calib, output_scale="auto")


def test_membrane_readout_reads_the_output_layer_exactly():
    """count + final membrane is the charge the output integrated: a one-layer network driven by a
    constant current reads clamp(W x + b, 0, 1), the ANN itself, where counts are only within 1/T."""
    import dataclasses

    from sdt_neuro.convert import output_rates, simulate_state

    torch.manual_seed(0)
    model = MLP((784, 50)).eval()
    with torch.no_grad():
        model.layers[0].weight.mul_(8)
    x = torch.rand(20, 784)
    net = dataclasses.replace(convert_mlp(model), readout="membrane")
    ann = model(x).detach().numpy()
    for v_init in (0.0, 0.5):
        net = dataclasses.replace(net, v_init=v_init)
        counts, membrane = simulate_state(net, encode_input(x.numpy(), 8, "current"))
        np.testing.assert_array_equal(counts, simulate(net, encode_input(x.numpy(), 8, "current")))
        np.testing.assert_allclose(output_rates(net, counts, 8, membrane), ann, atol=1e-5)  # float32 ANN
        assert np.abs(counts / 8 - ann).max() > 0.01  # the count alone is coarser
    assert 0 < (ann == 0).mean() < 1 and (ann == 1).any()  # both ends of the clamp were exercised


def test_membrane_readout_is_refused_where_it_cannot_hold():
    import dataclasses

    from sdt_neuro.convert import SpikingLayer, SpikingNetwork, output_rates

    net = SpikingNetwork((SpikingLayer(np.array([[1.0]]), np.array([0.0])),), {})
    with pytest.raises(ConfigError, match="readout='membrane' needs reset='subtract'"):
        dataclasses.replace(net, reset="zero", readout="membrane")
    with pytest.raises(ConfigError, match="readout='spikes'"):
        dataclasses.replace(net, readout="spikes")
    with pytest.raises(ConfigError, match="final membranes"):
        output_rates(dataclasses.replace(net, readout="membrane"), np.zeros((2, 1)), 8)
    with pytest.raises(ShapeError, match="do not match"):
        output_rates(dataclasses.replace(net, readout="membrane"), np.zeros((2, 1)), 8, np.zeros((3, 1)))
    np.testing.assert_array_equal(output_rates(net, np.array([[4.0]]), 8), [[0.5]])  # count: n / T


@pytest.mark.parametrize("readout", ["sigmoid", "softmax"])
def test_a_network_whose_output_is_not_the_hard_sigmoid_is_not_converted(readout):
    from types import SimpleNamespace

    from sdt_neuro.convert import checkpoint_network

    config = SimpleNamespace(rule={}, algorithm="bp", extra={}, dataset="mnist")
    with pytest.raises(ConfigError, match=f"output is a {readout}.*readout='hard-sigmoid'"):
        checkpoint_network(config, MLP((784, 50, 10), readout=readout), calibration=torch.rand(5, 784))
