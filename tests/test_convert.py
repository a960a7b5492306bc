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
    torch.manual_seed(1)
    model = MLP((784, 40, 10)).eval()
    calib = torch.rand(100, 784)
    net = convert_mlp(model, calib, percentile=99.0)
    lam = net.scales[1]
    a = torch.relu(model.pre_activations(calib)[0]).detach().flatten().numpy()
    assert lam == pytest.approx(np.percentile(a[a > 0], 99.0))
    np.testing.assert_allclose(net.layers[0].weight, model.layers[0].weight.detach().numpy() / lam, rtol=1e-6)
    np.testing.assert_allclose(net.layers[1].weight, model.layers[1].weight.detach().numpy() * lam, rtol=1e-6)
    with pytest.raises(ConfigError, match="calibration"):
        convert_mlp(model)


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
