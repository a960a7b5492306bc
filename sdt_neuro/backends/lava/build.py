"""Build the Lava process graph of a :class:`~sdt_neuro.convert.SpikingNetwork` (no torch here).

Graph: ``BatchInput -> (BatchDense -> neurons) x L -> SpikeCounter``, every port ``[n, B]``
(a membrane read-out, ``net.readout == "membrane"``: a ``MembraneCounter`` that also receives the
output neurons' final membranes).
Neurons are our :class:`~sdt_neuro.backends.lava.process.BatchIF` (subtractive reset, the
conversion's neuron) or Lava's own ``LIFReset`` (``neuron="lava-lif"``: spikes when ``v > vth``
and resets to zero, so counts differ slightly). A network converted with ``reset="zero"`` is
built from Lava's stock processes only (:mod:`~sdt_neuro.backends.lava.stock`, one sample per
window), the graph Loihi 2's NeuroCores can run. Every process model is named explicitly in the
run configuration, keyed by process instance, so Lava runs no model discovery.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from sdt_neuro.backends.lava.graph import LavaGraph
from sdt_neuro.convert import ENCODINGS
from sdt_neuro.errors import ConfigError, MissingBackendError, ShapeError

if TYPE_CHECKING:
    from sdt_neuro.backends.lava.fixed_point import FixedPointNetwork
    from sdt_neuro.convert import SpikingNetwork

NEURONS = ("if", "lava-lif")
RECORDS = ("counts", "spikes")
MAX_BATCH = 4096
_LAVA_MP = "lava.magma.runtime.message_infrastructure.multiprocessing"


LAVA_PYTHON = (3, 10)  # lava-nc 0.10 declares Python >=3.10,<3.11


def check_lava_installed() -> None:
    """Raise :class:`MissingBackendError` unless this Python can run Lava and lava-nc is installed; imports
    nothing (a job can check before its long work)."""
    import importlib.util

    if sys.version_info[:2] != LAVA_PYTHON:
        raise MissingBackendError(
            "lava-nc", "lava",
            f"the Lava backend needs Python {LAVA_PYTHON[0]}.{LAVA_PYTHON[1]}: lava-nc 0.10, the last Lava "
            f"release (Lava is archived upstream), supports only that version, and this is Python "
            f"{sys.version_info[0]}.{sys.version_info[1]}. The core, snnTorch and NIR parts work here; for Lava "
            f"create a Python 3.10 environment and pip install 'sdt-neuro[lava]' there.")
    if importlib.util.find_spec("lava") is None:
        raise MissingBackendError("lava-nc", "lava")


def require_lava() -> None:
    """Import Lava's runtime or raise :class:`MissingBackendError`.

    Lava 0.10 calls ``multiprocessing.set_start_method("fork")`` when its runtime is first
    imported, which fails once anything else has fixed the start method (``get_start_method()``
    does, e.g. inside torch). When that method already is ``fork`` we let Lava set it again.
    """
    import multiprocessing as mp

    check_lava_installed()
    if _LAVA_MP not in sys.modules and mp.get_start_method(allow_none=True) is not None:
        if mp.get_start_method() != "fork":
            raise ConfigError(f"Lava needs the 'fork' start method, but multiprocessing already uses "
                              f"{mp.get_start_method()!r}")
        mp.context._default_context._actual_context = None  # Lava sets the same 'fork' again
    try:
        import lava.magma.core.run_configs  # noqa: F401
    except ImportError as exc:
        raise MissingBackendError("lava-nc", "lava") from exc


def validate_options(steps: int, batch: int, encoding: str, neuron: str, record: str) -> None:
    """Raise :class:`ConfigError` naming the first bad option."""
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ConfigError(f"steps={steps} must be an integer >= 1")
    if not isinstance(batch, (int, np.integer)) or not 1 <= batch <= MAX_BATCH:
        raise ConfigError(f"batch={batch} must be an integer in [1, {MAX_BATCH}]")
    if encoding not in ENCODINGS:
        raise ConfigError(f"encoding={encoding!r} is not one of {ENCODINGS}")
    if neuron not in NEURONS:
        raise ConfigError(f"neuron={neuron!r} is not one of {NEURONS}")
    if record not in RECORDS:
        raise ConfigError(f"record={record!r} is not one of {RECORDS}")


def _check_network(net: SpikingNetwork) -> None:
    if not net.layers:
        raise ShapeError("the network has no layers")
    for i, layer in enumerate(net.layers):
        w, b = np.asarray(layer.weight), np.asarray(layer.bias)
        if w.ndim != 2 or b.shape != (w.shape[0],):
            raise ShapeError(f"layer {i}: weight must be [out, in] and bias [out], got {w.shape} and {b.shape}")
        if i and w.shape[1] != net.layers[i - 1].weight.shape[0]:
            raise ShapeError(f"layer {i} takes {w.shape[1]} inputs but layer {i - 1} has "
                             f"{net.layers[i - 1].weight.shape[0]} neurons")
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise ConfigError(f"layer {i}: weights and biases must be finite (found NaN or inf)")
        if not layer.threshold > 0:
            raise ConfigError(f"layer {i}: threshold={layer.threshold} must be > 0")


def _check_quantized(net: SpikingNetwork, quantized: FixedPointNetwork, encoding: str, fixed_point: bool) -> None:
    """Refuse fixed-point parameters that are not ``net``'s for this graph: they need ``fixed_point``, one
    layer per layer of the same shape, graded input only where the first layer reads direct current,
    and the rounding of the graph's synapse (Lava's stock Dense floors, ours rounds to nearest)."""
    if not fixed_point:
        raise ConfigError("quantized parameters need fixed_point=True (the float graph would read mantissas "
                          "as real weights)")
    if len(quantized.layers) != len(net.layers):
        raise ShapeError(f"quantized has {len(quantized.layers)} layers, the network {len(net.layers)}")
    rounding = "floor" if net.reset == "zero" else "nearest"
    for i, (q, layer) in enumerate(zip(quantized.layers, net.layers)):
        if np.shape(q.weight_mant) != np.shape(layer.weight):
            raise ShapeError(f"layer {i}: quantized weights {np.shape(q.weight_mant)}, network weights "
                             f"{np.shape(layer.weight)}")
        graded = i == 0 and encoding == "current"
        if bool(q.input_bits) != graded:
            raise ConfigError(f"layer {i}: quantized for {'graded' if q.input_bits else 'spike'} input, but with "
                              f"encoding={encoding!r} it reads {'graded payloads' if graded else 'spikes'}")
        if q.rounding != rounding:
            helper = "quantize_stock" if rounding == "floor" else "quantize_network"
            raise ConfigError(f"layer {i}: rounding={q.rounding!r}, but this graph's synapse rounds by {rounding!r} "
                              f"(quantise with {helper})")


def _tile(values: np.ndarray | float, n: int, batch: int) -> np.ndarray:
    """Per-neuron values repeated for the B samples: ``[n, B]`` (Lava's LIF wants a full-shape bias)."""
    return np.repeat(np.broadcast_to(np.asarray(values).reshape(-1, 1), (n, 1)), batch, axis=1)


def build_graph(net: SpikingNetwork, *, steps: int = 32, batch: int = 64, encoding: str = "current",
                fixed_point: bool = False, neuron: str = "if", seed: int = 0, record: str = "counts",
                quantized: FixedPointNetwork | None = None, event_driven: bool = True) -> LavaGraph:
    """Create and connect the processes for ``batch`` samples side by side, ``steps`` per sample.

    ``event_driven`` (current encoding): the input sends each window's value once, as a change,
    and the first synapse computes only then (same counts, one product per window instead of T).
    ``record="spikes"`` records the output spikes whatever ``net.readout`` is (rasters need no membrane).
    A ``reset="zero"`` network ignores ``batch``, ``neuron`` and ``event_driven``: it runs on Lava's
    stock Dense and LIFReset, one sample per window (:func:`~sdt_neuro.backends.lava.stock.build_stock_graph`).
    """
    validate_options(steps, batch, encoding, neuron, record)
    _check_network(net)
    if quantized is not None:
        _check_quantized(net, quantized, encoding, fixed_point)
    if net.reset == "zero":
        require_lava()
        from sdt_neuro.backends.lava.stock import build_stock_graph

        return build_stock_graph(net, steps=int(steps), encoding=encoding, fixed_point=fixed_point, seed=seed,
                                 record=record, quantized=quantized)
    if net.v_init and neuron != "if":
        raise ConfigError(f"v_init={net.v_init} needs neuron='if' (Lava's LIFReset always restarts from 0)")
    membrane = net.readout == "membrane" and record == "counts"
    if membrane and neuron != "if":
        raise ConfigError("readout='membrane' needs neuron='if' (Lava's LIFReset resets to zero and loses the charge)")
    require_lava()
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.lif.models import PyLifResetModelBitAcc, PyLifResetModelFloat
    from lava.proc.lif.process import LIFReset

    from sdt_neuro.backends.lava import process as P
    from sdt_neuro.backends.lava.fixed_point import quantize_network

    if fixed_point and quantized is None:
        quantized = quantize_network(net, encoding)
    n_layers = len(net.layers)
    models: dict[Any, type] = {}
    events = bool(event_driven) and encoding == "current"
    inp = P.BatchInput(n_in=net.sizes[0], batch=batch, steps=steps, encoding=encoding, seed=seed,
                       buffer_size=P.BUFFER_SIZE + math.ceil(n_layers / steps), delta=events)
    models[inp] = P.PyBatchInputFixed if fixed_point else P.PyBatchInputFloat
    source, synapses, neurons = inp.s_out, [], []
    for i, layer in enumerate(net.layers):
        q = quantized.layers[i] if quantized is not None else None
        n_out = layer.weight.shape[0]
        if q is not None:
            dense = P.BatchDense(weights=q.weight_mant, batch=batch, weight_exp=q.weight_exp, input_bits=q.input_bits,
                                 sigma=events and i == 0)
            vth, bias_mant, bias_exp, du = q.vth, q.bias_mant, q.bias_exp, 4095
        else:
            dense = P.BatchDense(weights=np.asarray(layer.weight, dtype=np.float64), batch=batch,
                                 sigma=events and i == 0)
            vth, bias_mant, bias_exp, du = float(layer.threshold), np.asarray(layer.bias, np.float64), 0, 1.0
        models[dense] = P.PyBatchDenseFixed if q is not None else P.PyBatchDenseFloat
        reset = dict(reset_interval=steps, reset_offset=(1 + i + 1) % steps)  # layer i+1 sees input step t-(i+1)
        if neuron == "if":
            report = n_layers if membrane and i == n_layers - 1 else None
            cell = P.BatchIF(n=n_out, batch=batch, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp, du=du, dv=0,
                             v_init=net.v_init, report_delay=report, **reset)
            models[cell] = P.PyBatchIFFixed if q is not None else P.PyBatchIFFloat
        else:
            cell = LIFReset(shape=(n_out, batch), vth=vth, bias_mant=_tile(bias_mant, n_out, batch),
                            bias_exp=_tile(bias_exp, n_out, batch), du=du, dv=0, **reset)
            models[cell] = PyLifResetModelBitAcc if q is not None else PyLifResetModelFloat
        source.connect(dense.s_in)
        dense.a_out.connect(cell.a_in)
        source = cell.s_out
        synapses.append(dense)
        neurons.append(cell)
    buffer = P.BUFFER_SIZE + math.ceil(n_layers / steps)
    if membrane:
        counter = P.MembraneCounter(n=net.sizes[-1], batch=batch, steps=steps, delay=n_layers, buffer_size=buffer)
        models[counter] = P.PyMembraneCounter
        neurons[-1].v_out.connect(counter.v_in)
    else:
        counter = P.SpikeCounter(n=net.sizes[-1], batch=batch, steps=steps, delay=n_layers, record=record,
                                 buffer_size=buffer)
        models[counter] = P.PySpikeCounter
    source.connect(counter.s_in)
    run_cfg = Loihi2SimCfg(select_tag="fixed_pt" if fixed_point else "floating_pt",
                           exception_proc_model_map=models)
    return LavaGraph(inp, synapses, neurons, counter, run_cfg, int(steps), int(batch), encoding, bool(fixed_point),
                     neuron, list(net.sizes), quantized, {"seed": int(seed), "record": record, "event_driven": events,
                      "readout": "membrane" if membrane else "count", "v_init": float(net.v_init),
                      "output_threshold": float(net.layers[-1].threshold)})
