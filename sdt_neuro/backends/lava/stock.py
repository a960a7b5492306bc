"""Reset-to-zero networks built from Lava's stock processes only (no torch here).

Graph: ``BatchInput -> (Dense -> LIFReset) x L -> SpikeCounter`` with one sample per window
(``batch=1``): Lava's stock ``Dense`` and ``LIFReset`` take flat ``[n]`` ports, so the host
input and the counter (the host side of a chip run, as Lava's ``Injector``/``Extractor`` are)
connect to them through Lava's ``reshape`` of a port. Between them runs only what Loihi 2's
NeuroCores run: ``Dense`` (graded 8-bit payloads into the first layer, spikes after it) and
``LIFReset`` (``du`` = 1, ``dv`` = 0: integrate-and-fire; a spike at ``v > vth``, then ``v = 0``;
``u`` and ``v`` cleared at the first step of each window). In fixed point these are Lava's
bit-accurate models ``PyDenseModelBitAcc`` and ``PyLifResetModelBitAcc``, with the arithmetic of
:func:`~sdt_neuro.backends.lava.fixed_point.quantize_stock`.

Timing is that of :mod:`~sdt_neuro.backends.lava.process`: layer ``l`` (1-based) sees input step
``t - l`` at step ``t`` and resets at ``time_step % T == (1 + l) % T``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from sdt_neuro.backends.lava.graph import LavaGraph
from sdt_neuro.errors import ConfigError

if TYPE_CHECKING:
    from sdt_neuro.backends.lava.fixed_point import FixedPointNetwork
    from sdt_neuro.convert import SpikingNetwork

GRADED_MESSAGE_BITS = 8  # the first Dense reads graded payloads (direct current); later ones spikes


def build_stock_graph(net: SpikingNetwork, *, steps: int, encoding: str, fixed_point: bool, seed: int,
                      record: str, quantized: FixedPointNetwork | None = None) -> LavaGraph:
    """The processes of a ``reset="zero"`` network, one sample per window (see the module docstring)."""
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.models import PyDenseModelBitAcc, PyDenseModelFloat
    from lava.proc.dense.process import Dense
    from lava.proc.lif.models import PyLifResetModelBitAcc, PyLifResetModelFloat
    from lava.proc.lif.process import LIFReset

    from sdt_neuro.backends.lava import process as P
    from sdt_neuro.backends.lava.fixed_point import quantize_stock

    if net.reset != "zero":
        raise ConfigError(f"Lava's stock LIF resets to zero; this network resets by {net.reset!r} "
                          "(use the default graph for subtractive reset)")
    if net.v_init:
        raise ConfigError(f"v_init={net.v_init}: Lava's stock LIFReset restarts every window from v = 0; "
                          "convert with v_init=0 for reset='zero'")
    if fixed_point and quantized is None:
        quantized = quantize_stock(net, encoding)
    n_layers = len(net.layers)
    buffer_size = P.BUFFER_SIZE + math.ceil(n_layers / steps)
    models: dict[Any, type] = {}
    inp = P.BatchInput(n_in=net.sizes[0], batch=1, steps=steps, encoding=encoding, seed=seed,
                       buffer_size=buffer_size)
    models[inp] = P.PyBatchInputFixed if fixed_point else P.PyBatchInputFloat
    source, synapses, neurons = inp.s_out.reshape((net.sizes[0],)), [], []
    for i, layer in enumerate(net.layers):
        n_out = layer.weight.shape[0]
        graded = GRADED_MESSAGE_BITS if (i == 0 and encoding == "current") else 0
        reset = dict(reset_interval=steps, reset_offset=(2 + i) % steps)
        if quantized is not None:
            q = quantized.layers[i]
            dense = Dense(weights=q.weight_mant, weight_exp=q.shift, num_weight_bits=8, num_message_bits=graded)
            cell = LIFReset(shape=(n_out,), vth=q.vth, bias_mant=q.bias_mant, bias_exp=q.bias_exp,
                            du=4095, dv=0, **reset)
            models[dense], models[cell] = PyDenseModelBitAcc, PyLifResetModelBitAcc
        else:
            dense = Dense(weights=np.asarray(layer.weight, dtype=np.float64), num_message_bits=graded)
            cell = LIFReset(shape=(n_out,), vth=float(layer.threshold), bias_mant=np.asarray(layer.bias, np.float64),
                            bias_exp=0, du=1.0, dv=0.0, **reset)
            models[dense], models[cell] = PyDenseModelFloat, PyLifResetModelFloat
        source.connect(dense.s_in)
        dense.a_out.connect(cell.a_in)
        source = cell.s_out
        synapses.append(dense)
        neurons.append(cell)
    counter = P.SpikeCounter(n=net.sizes[-1], batch=1, steps=steps, delay=n_layers, record=record,
                             buffer_size=buffer_size)
    models[counter] = P.PySpikeCounter
    source.reshape((net.sizes[-1], 1)).connect(counter.s_in)
    run_cfg = Loihi2SimCfg(select_tag="fixed_pt" if fixed_point else "floating_pt",
                           exception_proc_model_map=models)
    return LavaGraph(inp, synapses, neurons, counter, run_cfg, int(steps), 1, encoding, bool(fixed_point),
                     "lava-lif", list(net.sizes), quantized,
                     {"seed": int(seed), "record": record, "event_driven": False, "stock": True})
