"""Lava spike counts against the NumPy oracle (``sdt_neuro.convert.simulate``) on tiny networks."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("lava")

from sdt_neuro.backends.lava.encoding import bernoulli_window  # noqa: E402
from sdt_neuro.backends.lava.runner import LavaNetwork  # noqa: E402
from sdt_neuro.convert import encode_input, simulate  # noqa: E402
from sdt_neuro.errors import ConfigError, ShapeError  # noqa: E402
from tests.backends.lava.nets import random_inputs, random_network  # noqa: E402


def test_float_counts_equal_oracle_across_batches_and_runs() -> None:
    net, x, steps = random_network(seed=0), random_inputs(11), 6
    expected = simulate(net, encode_input(x, steps, "current"))
    with LavaNetwork(net, steps=steps, batch=4) as lava_net:
        first = lava_net.counts(x)  # 3 windows, the last one partly empty
        second = lava_net.counts(x[3:8])  # a second run on the same compiled network
    assert expected.sum() > 0
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(second, expected[3:8])


def test_float_counts_add_the_bias_in_the_oracles_order() -> None:
    from sdt_neuro.convert import SpikingLayer, SpikingNetwork

    # 0.35 + (-0.1) rounds to 0.24999999999999997: (v + 0.35) - 0.1 would reach 4 spikes where the oracle has 3
    net = SpikingNetwork((SpikingLayer(np.array([[0.35], [0.5]]), np.array([-0.1, 0.0])),), {"n_outputs": 2})
    x = np.ones((1, 1))
    with LavaNetwork(net, steps=16, batch=1) as lava_net:
        counts = lava_net.counts(x)
    np.testing.assert_array_equal(counts, simulate(net, encode_input(x, 16, "current")))


def test_counts_of_a_list_of_samples_equal_those_of_the_array() -> None:
    net, x, steps = random_network(seed=0), random_inputs(5), 4
    with LavaNetwork(net, steps=steps, batch=4) as lava_net:
        np.testing.assert_array_equal(lava_net.counts(x.tolist()), simulate(net, encode_input(x, steps, "current")))


def test_counts_do_not_depend_on_batch_size_or_delay() -> None:
    net, x, steps = random_network((20, 12, 10, 6), seed=2), random_inputs(7), 2  # 3 layers: delay > T
    expected = simulate(net, encode_input(x, steps, "current"))
    for batch in (1, 3):
        with LavaNetwork(net, steps=steps, batch=batch) as lava_net:
            np.testing.assert_array_equal(lava_net.counts(x), expected)
            np.testing.assert_array_equal(lava_net.counts(x[2:]), expected[2:])  # runs resume mid-window


def test_bernoulli_counts_equal_oracle_on_the_same_spikes() -> None:
    net, x, steps, batch, seed = random_network(seed=1), random_inputs(6), 8, 4, 3
    windows = []
    for w in range(2):
        chunk = np.zeros((20, batch))
        part = x[w * batch:(w + 1) * batch]
        chunk[:, :len(part)] = part.T
        windows.append(bernoulli_window(chunk, steps, seed, w).transpose(0, 2, 1))
    spikes = np.concatenate(windows, axis=1)[:, :len(x)].astype(float)
    with LavaNetwork(net, steps=steps, batch=batch, encoding="bernoulli", seed=seed) as lava_net:
        counts = lava_net.counts(x)
    np.testing.assert_array_equal(counts, simulate(net, spikes))


def test_spike_record_sums_to_counts() -> None:
    net, x, steps = random_network(seed=4), random_inputs(5), 5
    with LavaNetwork(net, steps=steps, batch=2, record="spikes") as lava_net:
        spikes = lava_net.spikes(x)
    assert spikes.shape == (5, steps, 8) and spikes.dtype == bool
    np.testing.assert_array_equal(spikes.sum(axis=1), simulate(net, encode_input(x, steps, "current")))


def test_lava_lif_option_equals_the_zero_reset_oracle() -> None:
    """Lava's own LIFReset (spike on v > vth, v = 0 after it) gives the zero-reset oracle's counts,
    which differ from the subtractive ones."""
    net, x, steps = random_network(seed=5), random_inputs(6), 8
    inputs = encode_input(x, steps, "current")
    zero = simulate(net, inputs, reset="zero")
    with LavaNetwork(net, steps=steps, batch=3, neuron="lava-lif") as lava_net:
        counts = lava_net.counts(x)
    assert zero.sum() > 0
    np.testing.assert_array_equal(counts, zero)
    assert (zero != simulate(net, inputs)).any()


def test_pipeline_fill_steps_are_not_counted() -> None:
    """A bias that alone crosses the threshold fires in the L fill steps before the first window;
    those spikes belong to no sample (T=4, bias 1.2: 4 spikes per window, as the oracle says)."""
    from sdt_neuro.convert import SpikingLayer, SpikingNetwork

    for sizes in ((3, 2), (3, 4, 2)):
        layers = tuple(SpikingLayer(np.zeros((o, i)), np.full(o, 1.2)) for i, o in zip(sizes[:-1], sizes[1:]))
        net, x, steps = SpikingNetwork(layers, {}), np.zeros((5, 3)), 4
        expected = simulate(net, encode_input(x, steps, "current"))
        assert (expected == 4).all()
        with LavaNetwork(net, steps=steps, batch=2) as lava_net:
            np.testing.assert_array_equal(lava_net.counts(x), expected)
        with LavaNetwork(net, steps=steps, batch=2, record="spikes") as lava_net:
            np.testing.assert_array_equal(lava_net.spikes(x).sum(axis=1), expected)


@pytest.mark.parametrize("bad", [np.zeros((3, 19)), np.zeros((3, 4, 5)), np.zeros((0, 20))])
def test_wrong_input_shapes_are_rejected(bad: np.ndarray) -> None:
    with LavaNetwork(random_network(), steps=2, batch=2) as lava_net, pytest.raises(ShapeError, match="20"):
        lava_net.counts(bad)


def test_bad_options_name_the_value() -> None:
    net = random_network()
    with pytest.raises(ConfigError, match="steps=0"):
        LavaNetwork(net, steps=0)
    with pytest.raises(ConfigError, match="batch=0"):
        LavaNetwork(net, batch=0)
    with pytest.raises(ConfigError, match="'poisson'"):
        LavaNetwork(net, encoding="poisson")
    with LavaNetwork(net, steps=2, batch=2) as lava_net, pytest.raises(ConfigError, match=r"\[0, 1\]"):
        lava_net.counts(np.full((2, 20), 2.0))


def test_quantized_parameters_that_are_not_the_networks_are_refused() -> None:
    import dataclasses

    from sdt_neuro.backends.lava.build import build_graph
    from sdt_neuro.backends.lava.fixed_point import quantize_network, quantize_stock

    net = random_network()
    ok = quantize_network(net)
    assert build_graph(net, steps=2, batch=2, fixed_point=True, quantized=ok).quantized is ok
    with pytest.raises(ConfigError, match="fixed_point=True"):
        build_graph(net, steps=2, batch=2, quantized=ok)
    with pytest.raises(ShapeError, match="1 layers, the network 2"):
        build_graph(net, fixed_point=True, quantized=quantize_network(random_network((20, 15))))
    with pytest.raises(ShapeError, match=r"layer 0: quantized weights \(15, 21\)"):
        build_graph(net, fixed_point=True, quantized=quantize_network(random_network((21, 15, 8))))
    with pytest.raises(ConfigError, match="layer 0: quantized for graded input"):
        build_graph(net, fixed_point=True, encoding="bernoulli", quantized=ok)
    with pytest.raises(ConfigError, match="quantize_network"):
        build_graph(net, fixed_point=True, quantized=quantize_stock(net))
    zero = dataclasses.replace(net, reset="zero")
    with pytest.raises(ConfigError, match="quantize_stock"):
        build_graph(zero, fixed_point=True, quantized=quantize_network(zero))


def test_a_membrane_started_at_half_the_threshold_matches_the_oracles() -> None:
    """v_init = 0.5: Lava float equals the NumPy oracle, Lava fixed point the integer oracle, and
    the counts round a constant drive's rate instead of flooring it."""
    import dataclasses

    from sdt_neuro.backends.lava.encoding import graded_payload
    from sdt_neuro.backends.lava.fixed_point import quantize_network, simulate_fixed

    net, x, steps = dataclasses.replace(random_network(seed=7), v_init=0.5), random_inputs(9), 8
    inputs = encode_input(x, steps, "current")
    expected = simulate(net, inputs)
    assert (expected != simulate(dataclasses.replace(net, v_init=0.0), inputs)).any()
    with LavaNetwork(net, steps=steps, batch=4) as lava_net:
        np.testing.assert_array_equal(lava_net.counts(x), expected)
    with LavaNetwork(net, steps=steps, batch=4, fixed_point=True) as lava_net:
        np.testing.assert_array_equal(lava_net.counts(x),
                                      simulate_fixed(quantize_network(net), graded_payload(inputs), v_init=0.5))
    with pytest.raises(ConfigError, match="v_init"):
        LavaNetwork(net, steps=steps, batch=4, neuron="lava-lif")


def test_event_driven_input_gives_the_oracle_counts_and_computes_once_per_window() -> None:
    """The input sends each window's value once, as a change; the first synapse adds the changes
    up and computes only when one arrives. Same images twice in a row (no change at all) and a
    blank image included; float32 pixel values, as every loader gives them."""
    net, steps = random_network(seed=5), 6
    x = random_inputs(9).astype(np.float32).astype(np.float64)
    x[3] = x[2]  # window 2 (B=3: images 3..5) starts with the same value as window 1 in column 0
    x[7] = 0.0
    expected = simulate(net, encode_input(x, steps, "current"))
    for fixed in (False, True):
        counts = {}
        for events in (True, False):
            with LavaNetwork(net, steps=steps, batch=3, fixed_point=fixed, event_driven=events) as lava_net:
                assert lava_net.graph.meta["event_driven"] is events
                counts[events] = lava_net.counts(x)
        np.testing.assert_array_equal(counts[True], counts[False])
        if not fixed:
            np.testing.assert_array_equal(counts[True], expected)


def test_event_driven_synapse_holds_its_output_between_changes() -> None:
    from sdt_neuro.backends.lava.process import _Sigma

    synapse = _Sigma()
    synapse._init_sigma({"sigma": True})
    first = synapse._changed_input(np.array([[0.5], [0.25]]))
    assert first.tolist() == [[0.5], [0.25]]
    assert synapse._changed_input(np.zeros((2, 1))) is None  # nothing changed: no product
    assert synapse._changed_input(np.array([[-0.5], [0.5]])).tolist() == [[0.0], [0.75]]
    dense = _Sigma()
    dense._init_sigma({"sigma": False})
    assert dense._changed_input(np.zeros((2, 1))).tolist() == [[0.0], [0.0]]  # spikes: every step


def test_membrane_readout_equals_the_oracles_in_float_and_fixed_point() -> None:
    """The output layer reports its membrane at each window's close: Lava float equals the NumPy
    oracle, fixed point the integer oracle, across runs and with a 3-layer delay longer than T."""
    import dataclasses

    from sdt_neuro.backends.lava.encoding import graded_payload
    from sdt_neuro.backends.lava.fixed_point import quantize_network, simulate_fixed_state
    from sdt_neuro.convert import simulate_state

    for sizes, steps in (((20, 15, 8), 8), ((20, 12, 10, 6), 2)):
        net = dataclasses.replace(random_network(sizes, seed=7), v_init=0.5, readout="membrane")
        x = random_inputs(9)
        inputs = encode_input(x, steps, "current")
        counts, membrane = simulate_state(net, inputs)
        with LavaNetwork(net, steps=steps, batch=4) as lava_net:
            got = lava_net.counts_and_membrane(x)
            again = lava_net.counts_and_membrane(x[2:7])
        np.testing.assert_array_equal(got[0], counts)
        np.testing.assert_allclose(got[1], membrane, atol=1e-12)
        np.testing.assert_array_equal(again[0], counts[2:7])
        np.testing.assert_allclose(again[1], membrane[2:7], atol=1e-12)
        expected = simulate_fixed_state(quantize_network(net), graded_payload(inputs), v_init=0.5)
        with LavaNetwork(net, steps=steps, batch=4, fixed_point=True) as lava_net:
            got = lava_net.counts_and_membrane(x)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
    with LavaNetwork(dataclasses.replace(net, readout="count"), steps=steps, batch=4) as lava_net:
        with pytest.raises(ConfigError, match="readout='membrane'"):
            lava_net.counts_and_membrane(x)
    with pytest.raises(ConfigError, match="neuron='if'"):
        LavaNetwork(dataclasses.replace(net, v_init=0.0), steps=steps, batch=4, neuron="lava-lif")
