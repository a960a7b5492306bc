"""Reset-to-zero networks on Lava's stock Dense + LIFReset: exact against the float and integer oracles."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sdt_neuro.backends.lava.encoding import graded_payload
from sdt_neuro.backends.lava.fixed_point import (
    A_IN_MAX,
    quantize_layer,
    quantize_network,
    quantize_stock,
    simulate_fixed,
)
from sdt_neuro.convert import SpikingLayer, SpikingNetwork, encode_input, simulate
from sdt_neuro.errors import ConfigError
from tests.backends.lava.nets import random_inputs, random_network


def zero_reset(net: SpikingNetwork) -> SpikingNetwork:
    return dataclasses.replace(net, reset="zero")


def with_large_bias(net: SpikingNetwork) -> SpikingNetwork:
    """The first neuron's bias alone crosses the threshold every other step (pipeline-fill steps show up)."""
    first = net.layers[0]
    bias = first.bias.copy()
    bias[0] = 1.2
    return dataclasses.replace(net, layers=(SpikingLayer(first.weight, bias),) + net.layers[1:])


def payloads(x: np.ndarray, steps: int) -> np.ndarray:
    return np.broadcast_to(graded_payload(x), (steps, *x.shape))


def test_stock_quantisation_floors_and_centres_the_error_in_the_bias() -> None:
    net = zero_reset(random_network((20, 8), seed=2))
    floor = quantize_stock(net).layers[0]
    layer = net.layers[0]
    nearest = quantize_layer(layer.weight, layer.bias, layer.threshold, input_bits=8, vth=floor.vth)
    assert floor.rounding == "floor" and nearest.rounding == "nearest" and floor.shift < 0
    np.testing.assert_array_equal(floor.weight_mant, nearest.weight_mant)
    volts = lambda q: np.left_shift(q.bias_mant.astype(np.int64), q.bias_exp)  # noqa: E731
    assert np.abs(volts(floor) - volts(nearest) - 32).max() <= 2 ** int(floor.bias_exp.max())


def test_stock_quantisation_keeps_the_synaptic_input_inside_16_bits() -> None:
    net = zero_reset(random_network((400, 5), seed=4, scale=2.0))  # large sums of |W|
    q = quantize_stock(net).layers[0]
    worst = np.maximum(np.clip(q.weight_mant, 0, None).sum(1), -np.clip(q.weight_mant, None, 0).sum(1)) * 255
    assert worst.max() * 2.0**q.shift <= A_IN_MAX
    assert quantize_network(net).layers[0].vth > q.vth  # it had to give up threshold resolution


def test_zero_reset_oracles_agree_in_float_and_fixed_point() -> None:
    net, x, steps = with_large_bias(zero_reset(random_network(seed=5))), random_inputs(30), 16
    float_counts = simulate(net, encode_input(x, steps, "current"))
    fixed_counts = simulate_fixed(quantize_stock(net), payloads(x, steps), reset="zero")
    assert float_counts.sum() > 100
    assert np.abs(fixed_counts - float_counts).sum() <= 0.05 * float_counts.sum()


@pytest.mark.parametrize("sizes", [(20, 8), (20, 15, 8)])
@pytest.mark.parametrize("fixed_point", [False, True])
def test_stock_graph_gives_the_oracle_counts(sizes: tuple[int, ...], fixed_point: bool) -> None:
    pytest.importorskip("lava")
    from sdt_neuro.backends.lava.runner import LavaNetwork

    net, x, steps = with_large_bias(zero_reset(random_network(sizes, seed=7))), random_inputs(5), 4
    with LavaNetwork(net, steps=steps, fixed_point=fixed_point) as lava_net:
        counts = lava_net.counts(x)
        graph = lava_net.graph
    expected = (simulate_fixed(quantize_stock(net), payloads(x, steps), reset="zero") if fixed_point
                else simulate(net, encode_input(x, steps, "current")))
    assert counts.sum() > 0 and counts[:, :].max() <= steps
    np.testing.assert_array_equal(counts, expected)
    models = graph.run_cfg.exception_proc_model_map
    between = {f"{m.__module__}.{m.__qualname__}" for p, m in models.items() if p not in (graph.input, graph.counter)}
    suffix = "BitAcc" if fixed_point else "Float"
    assert between == {f"lava.proc.dense.models.PyDenseModel{suffix}", f"lava.proc.lif.models.PyLifResetModel{suffix}"}
    assert graph.batch == 1 and graph.meta["stock"]


def test_stock_graph_refuses_what_stock_neurons_cannot_do() -> None:
    pytest.importorskip("lava")
    from sdt_neuro.backends.lava.stock import build_stock_graph

    net = zero_reset(random_network((20, 8)))
    with pytest.raises(ConfigError, match="v_init"):
        build_stock_graph(dataclasses.replace(net, v_init=0.5), steps=4, encoding="current", fixed_point=False,
                          seed=0, record="counts")
    with pytest.raises(ConfigError, match="subtract"):
        build_stock_graph(random_network((20, 8)), steps=4, encoding="current", fixed_point=False, seed=0,
                          record="counts")
