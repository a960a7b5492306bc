"""NIR export/import: the file loads with nir.read, and reading it back gives the same network."""

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from sdt_neuro.backends import nir_io  # noqa: E402
from sdt_neuro.convert import SpikingLayer, SpikingNetwork, encode_input, simulate  # noqa: E402
from sdt_neuro.errors import CheckpointError, ConfigError, ShapeError  # noqa: E402


def spec(seed=0, reset="zero") -> SpikingNetwork:
    rng = np.random.default_rng(seed)
    layers = (SpikingLayer(rng.normal(0, 0.3, (12, 8)), rng.normal(0, 0.1, 12)),
              SpikingLayer(rng.normal(0, 0.3, (5, 12)), rng.normal(0, 0.1, 5), threshold=1.0))
    return SpikingNetwork(layers, {"n_outputs": 5, "k": 2}, (1.0, 2.5, 1.0), {"percentile": 99.9}, reset=reset)


def test_round_trip_gives_identical_weights_and_metadata(tmp_path):
    net = spec()
    path = nir_io.write_nir(net, tmp_path / "net.nir", steps=32, encoding="bernoulli")
    graph = nir.read(str(path))
    assert [type(graph.nodes[n]).__name__ for n in ("affine_0", "if_0", "affine_1", "if_1")] == \
        ["Affine", "IF", "Affine", "IF"]
    assert graph.metadata["reset_mechanism"] == "zero" and graph.metadata["time_steps"] == 32
    assert graph.metadata["spike_condition"] == "v > v_threshold"
    back, meta = nir_io.read_nir(path)
    assert back.reset == "zero"
    for a, b in zip(back.layers, net.layers):
        np.testing.assert_array_equal(a.weight, b.weight.astype(np.float32))
        np.testing.assert_array_equal(a.bias, b.bias.astype(np.float32))
        assert a.threshold == b.threshold
    assert back.rule == net.rule and back.scales == net.scales and back.meta == net.meta
    assert meta["encoding"] == "bernoulli" and meta["dt"] == 1.0
    inputs = encode_input(np.random.default_rng(1).random((10, 8)), 20, "current")
    f32 = SpikingNetwork(tuple(SpikingLayer(lay.weight.astype(np.float32).astype(np.float64),
                                            lay.bias.astype(np.float32).astype(np.float64)) for lay in net.layers),
                         net.rule, reset="zero")
    np.testing.assert_array_equal(simulate(back, inputs), simulate(f32, inputs))


def test_a_subtractive_network_is_refused_unless_kept_in_metadata(tmp_path):
    """nir.IF means reset to v_reset: a subtractive file would mean another network to spec readers."""
    net = spec(reset="subtract")
    with pytest.raises(ConfigError, match="reset='zero'"):
        nir_io.write_nir(net, tmp_path / "net.nir", steps=8)
    path = nir_io.write_nir(net, tmp_path / "net.nir", steps=8, subtract_in_metadata=True)
    back, meta = nir_io.read_nir(path)
    assert back.reset == "subtract" and meta["spike_condition"] == "v >= v_threshold"
    assert back.readout == "count" == meta["readout"]
    import dataclasses

    path = nir_io.write_nir(dataclasses.replace(net, readout="membrane"), tmp_path / "mem.nir", steps=8,
                            subtract_in_metadata=True)
    back, meta = nir_io.read_nir(path)
    assert back.readout == "membrane" and "v_final" in meta["output"]


def test_a_foreign_if_chain_is_read_as_the_spec_says(tmp_path):
    w = np.ones((3, 4), np.float32)
    node = nir.IF(r=np.ones(3), v_threshold=np.ones(3), v_reset=np.zeros(3))
    back, _ = nir_io.from_nir(nir.NIRGraph.from_list(nir.Affine(w, np.zeros(3, np.float32)), node))
    assert back.reset == "zero"


def test_norse_runs_our_file_spike_for_spike(tmp_path):
    """Norse (an independent reader that follows nir >= 1.0.6) gives the oracle's counts."""
    norse = pytest.importorskip("norse.torch", reason="norse is an optional test dependency (pip install norse)")
    import torch

    from sdt_neuro.backends.nir_readers import run_reader

    net = spec(3)
    path = nir_io.write_nir(net, tmp_path / "net.nir", steps=16)
    x = np.random.default_rng(2).random((20, 8))
    counts = run_reader("norse", path, x, steps=16)
    back, _ = nir_io.read_nir(path)
    np.testing.assert_array_equal(counts, simulate(back, encode_input(x.astype(np.float32), 16, "current")))
    assert norse is not None and torch is not None


def test_spikingjelly_runs_our_file_spike_for_spike(tmp_path):
    """SpikingJelly >= 2.0 (Python >= 3.11) fires at v >= theta; off the threshold it is our network."""
    pytest.importorskip("spikingjelly.activation_based.nir_exchange",
                        reason="spikingjelly[nir] >= 2.0 is an optional test dependency (Python >= 3.11)")
    from sdt_neuro.backends.nir_readers import run_reader

    net = spec(4)
    path = nir_io.write_nir(net, tmp_path / "net.nir", steps=12)
    x = np.random.default_rng(5).random((20, 8))
    back, _ = nir_io.read_nir(path)
    expected = simulate(back, encode_input(x.astype(np.float32), 12, "current"))
    np.testing.assert_array_equal(run_reader("spikingjelly", path, x, steps=12), expected)


def test_reader_names_and_steps_are_checked(tmp_path):
    from sdt_neuro.backends.nir_readers import run_reader

    with pytest.raises(ConfigError, match="reader="):
        run_reader("brian", tmp_path / "x.nir", np.zeros((1, 8)), steps=4)
    with pytest.raises(ConfigError, match="steps"):
        run_reader("norse", tmp_path / "x.nir", np.zeros((1, 8)), steps=0)


def test_float64_export_is_bit_exact(tmp_path):
    net = spec(1)
    nir.write(str(tmp_path / "f64.nir"), nir_io.to_nir(net, 16, dtype=np.float64))
    back, _ = nir_io.read_nir(tmp_path / "f64.nir")
    np.testing.assert_array_equal(back.layers[1].weight, net.layers[1].weight)


def test_only_our_own_metadata_can_say_subtract_and_dt_must_be_one_step():
    w = np.ones((3, 4), np.float32)

    def graph(**metadata):
        g = nir.NIRGraph.from_list(nir.Affine(w, np.zeros(3, np.float32)),
                                   nir.IF(r=np.ones(3), v_threshold=np.ones(3), v_reset=np.zeros(3)))
        g.metadata = metadata
        return g

    assert nir_io.from_nir(graph(reset_mechanism="subtract"))[0].reset == "zero"  # a foreign file: the spec
    assert nir_io.from_nir(graph(format=nir_io.FORMAT_TAG, reset_mechanism="subtract"))[0].reset == "subtract"
    with pytest.raises(ConfigError, match="reset_mechanism='Subtract'"):
        nir_io.from_nir(graph(format=nir_io.FORMAT_TAG, reset_mechanism="Subtract"))
    with pytest.raises(ConfigError, match="dt=0.001"):
        nir_io.from_nir(graph(dt=0.001))
    assert nir_io.from_nir(graph(dt=1.0))[0].layers[0].weight.shape == (3, 4)
    with pytest.raises(ConfigError, match="dt='abc' is not a number"):
        nir_io.from_nir(graph(dt="abc"))
    with pytest.raises(ConfigError, match="dt=\\[\\]"):
        nir_io.from_nir(graph(dt=[]))
    assert nir_io.from_nir(graph(readout="membrane", scales="x"))[0].readout == "count"  # a foreign file: the spec
    with pytest.raises(ConfigError, match="scales='x' is not a number"):
        nir_io.from_nir(graph(format=nir_io.FORMAT_TAG, scales="x"))



def test_a_file_the_reader_would_refuse_is_not_written(tmp_path):
    net = spec()
    for steps, encoding in ((0, "current"), (2.7, "current"), (8, "garbage")):
        with pytest.raises(ConfigError, match="steps=|encoding="):
            nir_io.write_nir(net, tmp_path / "bad.nir", steps=steps, encoding=encoding)
    assert not (tmp_path / "bad.nir").exists()


def test_foreign_graphs_are_refused_with_a_reason(tmp_path):
    w = np.ones((3, 4), np.float32)
    lif = nir.LIF(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3))
    with pytest.raises(ConfigError, match="Affine -> IF"):
        nir_io.from_nir(nir.NIRGraph.from_list(nir.Affine(w, np.zeros(3, np.float32)), lif))
    bad_r = nir.IF(r=2 * np.ones(3), v_threshold=np.ones(3), v_reset=np.zeros(3))
    with pytest.raises(ConfigError, match="r="):
        nir_io.from_nir(nir.NIRGraph.from_list(nir.Affine(w, np.zeros(3, np.float32)), bad_r))
    mixed = nir.IF(r=np.ones(3), v_threshold=np.array([1.0, 2.0, 1.0]), v_reset=np.zeros(3))
    with pytest.raises(ConfigError, match="per-neuron thresholds"):
        nir_io.from_nir(nir.NIRGraph.from_list(nir.Affine(w, np.zeros(3, np.float32)), mixed))
    loop = nir.NIRGraph(nodes={"input": nir.Input(np.array([4])), "a": nir.Affine(w, np.zeros(3, np.float32)),
                               "n": nir.IF(np.ones(3), np.ones(3), np.zeros(3)), "output": nir.Output(np.array([3]))},
                        edges=[("input", "a"), ("a", "n"), ("n", "a"), ("n", "output")], type_check=False)
    with pytest.raises(ConfigError, match="exactly one successor"):
        nir_io.from_nir(loop)
    empty = nir.NIRGraph(nodes={"input": nir.Input(np.array([4])), "output": nir.Output(np.array([4]))},
                         edges=[("input", "output")])
    with pytest.raises(ConfigError, match="no Affine -> IF layer"):
        nir_io.from_nir(empty)
    unchained = nir.NIRGraph.from_list(nir.Affine(w, np.zeros(3, np.float32)), nir.IF(np.ones(3), np.ones(3),
                                       np.zeros(3)), nir.Affine(np.ones((2, 5), np.float32), np.zeros(2, np.float32)),
                                       nir.IF(np.ones(2), np.ones(2), np.zeros(2)), type_check=False)
    with pytest.raises(ShapeError, match="do not chain"):
        nir_io.from_nir(unchained)
    with pytest.raises(CheckpointError, match="does not exist"):
        nir_io.read_nir(tmp_path / "missing.nir")
    (tmp_path / "junk.nir").write_text("not hdf5")
    with pytest.raises(CheckpointError, match="not a readable NIR"):
        nir_io.read_nir(tmp_path / "junk.nir")


def test_snntorch_reads_our_file_as_a_leaky_network_as_documented(tmp_path):
    """snnTorch 1.0.0 + nirtorch import nir.IF as Leaky(beta=0.9): reported as it is (docs/snntorch.md)."""
    pytest.importorskip("nirtorch")
    import nir
    import numpy as np
    from snntorch.import_nir import import_from_nir

    from sdt_neuro.backends.nir_io import write_nir
    from sdt_neuro.convert import SpikingLayer, SpikingNetwork

    net = SpikingNetwork((SpikingLayer(np.random.default_rng(0).normal(0, 0.3, (5, 8)), np.zeros(5)),), {},
                         reset="zero")
    write_nir(net, tmp_path / "net.nir", steps=8)
    imported = import_from_nir(nir.read(str(tmp_path / "net.nir")))
    leaky = [m for m in imported.modules() if type(m).__name__ == "Leaky"]
    assert len(leaky) == 1 and float(leaky[0].beta) == pytest.approx(0.9)


def test_non_finite_weights_bad_thresholds_and_bad_metadata_are_refused(tmp_path):
    w, b = np.ones((3, 4), np.float32), np.zeros(3, np.float32)

    def graph(weight=w, threshold=1.0):
        return nir.NIRGraph.from_list(nir.Affine(weight, b), nir.IF(r=np.ones(3), v_threshold=np.full(3, threshold),
                                                                    v_reset=np.zeros(3)))

    nan = w.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ConfigError, match="1 NaN or infinite"):
        nir_io.from_nir(graph(nan))
    for threshold in (0.0, -1.0, np.inf):
        with pytest.raises(ConfigError, match="must be finite and > 0"):
            nir_io.from_nir(graph(threshold=threshold))
    good = graph()
    good.metadata = {"rule_json": "{not json"}
    with pytest.raises(ConfigError, match="'rule_json' is not valid JSON"):
        nir_io.from_nir(good)
    good.metadata = {"meta_json": "[1, 2]"}
    with pytest.raises(ConfigError, match="expected a JSON object"):
        nir_io.from_nir(good)


def test_a_bias_free_linear_and_one_value_for_every_neuron_read_as_their_layer():
    w = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    chain = nir.NIRGraph.from_list(nir.Linear(w), nir.IF(r=np.ones(3), v_threshold=np.full(3, 2.0),
                                                         v_reset=np.zeros(3)))
    net, _ = nir_io.from_nir(chain)
    assert np.array_equal(net.layers[0].weight, w) and np.array_equal(net.layers[0].bias, np.zeros(3))
    one = nir.IF(r=np.array(1.0), v_threshold=np.array(2.0), v_reset=np.array(0.0))  # one value for all
    net, _ = nir_io.from_nir(nir.NIRGraph.from_list(nir.Affine(w, np.ones(3, np.float32)), one, type_check=False))
    assert net.layers[0].threshold == 2.0 and np.array_equal(net.layers[0].bias, np.ones(3))
    single = nir.IF(r=np.ones(1), v_threshold=np.array([0.5]), v_reset=np.zeros(1))  # shape (1,), as Norse may
    net, _ = nir_io.from_nir(nir.NIRGraph.from_list(nir.Linear(w), single, type_check=False))
    assert net.layers[0].threshold == 0.5
    with pytest.raises(ConfigError, match=r"v_reset=\[0.5\] is not supported"):
        nir_io.from_nir(nir.NIRGraph.from_list(nir.Linear(w), nir.IF(r=np.array(1.0), v_threshold=np.array(1.0),
                                                                      v_reset=np.array(0.5)), type_check=False))
    wide = nir.IF(r=np.ones(5), v_threshold=np.ones(5), v_reset=np.zeros(5))
    with pytest.raises(ShapeError, match=r"IF r has shape \(5,\), for 3 neurons"):
        nir_io.from_nir(nir.NIRGraph.from_list(nir.Linear(w), wide, type_check=False))
    with pytest.raises(ConfigError, match="r=\\[2.\\]"):
        nir_io.from_nir(nir.NIRGraph.from_list(nir.Linear(w), nir.IF(r=np.array(2.0), v_threshold=np.array(1.0),
                                                                      v_reset=np.array(0.0)), type_check=False))


def test_norses_own_export_of_an_integrate_and_fire_layer_is_read(tmp_path):
    """Norse writes ``IAFCell`` as ``nir.IF`` with one value for all neurons: read, written and read again."""
    torch = pytest.importorskip("torch")
    norse = pytest.importorskip("norse.torch", reason="norse is an optional test dependency (pip install norse)")
    torch.manual_seed(0)
    model = norse.SequentialState(torch.nn.Linear(6, 4, bias=False), norse.IAFCell())
    graph = norse.to_nir(model, torch.zeros(1, 6))
    net, _ = nir_io.from_nir(graph)
    assert np.allclose(net.layers[0].weight, model[0].weight.detach().numpy())
    assert net.layers[0].threshold == 1.0 and not net.layers[0].bias.any()
    again, _ = nir_io.read_nir(nir_io.write_nir(net, tmp_path / "norse.nir", steps=8))
    assert np.array_equal(again.layers[0].weight, net.layers[0].weight)
