"""Loihi 2 fixed-point quantisation: units, rounding, range errors, and Lava against the integer oracle."""

from __future__ import annotations

import numpy as np
import pytest

from sdt_neuro.backends.lava.encoding import graded_payload
from sdt_neuro.backends.lava.fixed_point import (
    BIAS_MANT_MAX,
    VTH_MAX,
    quantize_layer,
    quantize_network,
    simulate_fixed,
)
from sdt_neuro.convert import encode_input, simulate
from sdt_neuro.errors import ConfigError, ShapeError
from tests.backends.lava.nets import random_inputs, random_network


def test_mixed_sign_mantissas_are_rounded_to_even_8_bit_values() -> None:
    rng = np.random.default_rng(0)
    w, b = rng.normal(0, 0.05, (30, 40)), rng.normal(0, 0.02, 30)
    q = quantize_layer(w, b)
    assert q.weight_mant.min() >= -256 and q.weight_mant.max() <= 254
    assert (q.weight_mant % 2 == 0).all()
    assert np.abs(q.weight_mant).max() > 127  # the largest weight fills the mantissa
    assert 1 <= q.vth <= VTH_MAX and q.scale == q.vth
    step = 2 * 2.0**q.weight_exp / q.scale  # rounding, not flooring: error at most half a step
    assert np.abs(q.float_weight() - w).max() <= step / 2 + 1e-12
    bias_volts = np.left_shift(q.bias_mant.astype(np.int64), q.bias_exp)
    np.testing.assert_allclose(bias_volts, b * q.scale * 64, atol=2.0**q.bias_exp.max())
    assert np.abs(q.bias_mant).max() <= BIAS_MANT_MAX


def test_graded_first_layer_reads_payload_over_256() -> None:
    w = np.full((1, 2), 0.25)
    q = quantize_layer(w, np.zeros(1), input_bits=8)
    np.testing.assert_allclose(q.float_weight(), w, rtol=1e-2)
    x = np.array([[1.0, 1.0]])  # 0.5 thresholds per step: a spike every other step
    single = type("N", (), {"layers": (q,)})()
    assert simulate_fixed(single, np.broadcast_to(graded_payload(x), (8, 1, 2))).item() == 4


def test_too_large_weights_and_biases_are_rejected() -> None:
    with pytest.raises(ConfigError, match="too large"):
        quantize_layer(np.array([[1e6, -1.0]]), np.zeros(1))
    with pytest.raises(ConfigError, match="bias too large"):
        quantize_layer(np.array([[1.0, -1.0]]), np.array([1e5]), vth=1000)
    with pytest.raises(ConfigError, match="finite"):
        quantize_layer(np.array([[np.nan, 1.0]]), np.zeros(1))
    with pytest.raises(ShapeError, match=r"\(2,\)"):
        quantize_layer(np.ones((1, 2)), np.zeros(2))


def test_fixed_point_counts_stay_close_to_float() -> None:
    net, x, steps = random_network((20, 15, 8), seed=3, scale=0.2), random_inputs(40), 16
    float_counts = simulate(net, encode_input(x, steps, "current"))
    q = quantize_network(net, "current")
    fixed_counts = simulate_fixed(q, np.broadcast_to(graded_payload(x), (steps, *x.shape)))
    assert float_counts.sum() > 100
    assert np.abs(fixed_counts - float_counts).sum() <= 0.05 * float_counts.sum()


@pytest.mark.parametrize("encoding", ["current", "bernoulli"])
def test_lava_fixed_point_equals_integer_oracle(encoding: str) -> None:
    pytest.importorskip("lava")
    from sdt_neuro.backends.lava.encoding import bernoulli_window
    from sdt_neuro.backends.lava.runner import LavaNetwork

    net, x, steps = random_network(seed=6), random_inputs(5), 6
    q = quantize_network(net, encoding)
    if encoding == "current":
        inputs = np.broadcast_to(graded_payload(x), (steps, *x.shape))
    else:
        inputs = bernoulli_window(x.T, steps, seed=2, window=0).transpose(0, 2, 1).astype(np.int32)
    with LavaNetwork(net, steps=steps, batch=5, fixed_point=True, encoding=encoding, seed=2) as lava_net:
        counts = lava_net.counts(x)
    assert counts.sum() > 0
    np.testing.assert_array_equal(counts, simulate_fixed(q, inputs))


def test_lava_if_neuron_matches_the_oracle_step() -> None:
    """The process model runs Lava's own fixed-point LIF arithmetic; the oracle must mirror it."""
    pytest.importorskip("lava")
    from sdt_neuro.backends.lava.runner import LavaNetwork

    net, x, steps = random_network((20, 6), seed=8, scale=1.5), random_inputs(4), 12  # strong, saturating input
    q = quantize_network(net, "current")
    with LavaNetwork(net, steps=steps, batch=4, fixed_point=True) as lava_net:
        counts = lava_net.counts(x)
    np.testing.assert_array_equal(counts, simulate_fixed(q, np.broadcast_to(graded_payload(x), (steps, *x.shape))))


def test_missing_lava_raises_missing_backend_error() -> None:
    """The backend package imports without Lava; using it names the pip extra."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['lava'] = None\n"
            "import sdt_neuro.backends.lava as backend\n"
            "from sdt_neuro.errors import MissingBackendError\n"
            "try:\n    backend.evaluation_activity\nexcept MissingBackendError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "pip install 'sdt-neuro[lava]'" in out.stdout, out.stderr


@pytest.mark.parametrize("theta", [0.5, 1.0, 2.0, 3.0])
def test_threshold_other_than_one_keeps_weights_exact_to_half_a_step(theta: float) -> None:
    """Weights scale by S = vth / theta; the exponent must come from max|W| S, not max|W| S / theta."""
    rng = np.random.default_rng(3)
    w, b = rng.normal(0, 0.05, (30, 20)), rng.normal(0, 0.02, 30)
    q = quantize_layer(w, b, threshold=theta)
    assert q.scale == pytest.approx(q.vth / theta)
    step = 2 * 2.0**q.weight_exp / q.scale
    assert np.abs(q.float_weight() - w).max() <= step / 2 + 1e-12  # nothing saturates
    assert 127 < np.abs(q.weight_mant).max() <= 254  # and the largest weight fills the mantissa


def test_fixed_counts_follow_float_counts_at_threshold_two() -> None:
    net = random_network(seed=6)
    doubled = type(net)(tuple(type(lay)(2 * lay.weight, 2 * lay.bias, 2.0) for lay in net.layers), {})
    x = random_inputs(16)
    spikes = encode_input(x, 32, "current")
    float_counts = simulate(doubled, spikes)
    fixed = simulate_fixed(quantize_network(doubled), graded_payload(spikes))
    assert float_counts.sum() > 0
    assert np.abs(fixed - float_counts).mean() < 0.3
