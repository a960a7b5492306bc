"""Run a NIR file in another project's reader, to check that the file means what we simulate.

Readers (optional; each is imported when used and named in the error when missing):

* ``"norse"``: ``norse.torch.from_nir(graph, dt=1)``. Norse maps ``nir.IF`` to its ``IAFCell``
  (``v += I``; a spike at ``v > v_th``; then ``v = v_reset``), the spec's meaning: it runs our
  ``reset="zero"`` files spike for spike.
* ``"spikingjelly"``: ``spikingjelly.activation_based.nir_exchange.import_from_nir(graph, dt=1)``
  (SpikingJelly >= 2.0, Python >= 3.11). ``nir.IF`` becomes ``IFNode(v_threshold, v_reset)``:
  ``v += I``, a spike at ``v >= v_th`` (ours: ``>``; the two differ only where ``v`` lands exactly
  on the threshold), then ``v = v_reset``.
* ``"snntorch"``: ``snntorch.import_nir.import_from_nir`` (needs ``nirtorch``). snnTorch 1.0.0 maps
  ``nir.IF`` to ``snn.Leaky(beta=0.9)``, a leaky neuron: a different network, measured as such.

Inputs are static images fed as a direct current at every one of ``steps`` steps; the result
is the output layer's spike counts ``[n, N_out]``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from sdt_neuro.errors import ConfigError, MissingBackendError

READERS = ("norse", "spikingjelly", "snntorch")


def run_reader(reader: str, path: str | os.PathLike, x: np.ndarray, steps: int, batch: int = 1000) -> np.ndarray:
    """Spike counts ``[n, N_out]`` of the NIR file at ``path`` run by ``reader`` on images ``x`` ``[n, in]``."""
    if reader not in READERS:
        raise ConfigError(f"reader={reader!r} is not one of {READERS}")
    if steps < 1:
        raise ConfigError(f"steps={steps} must be >= 1")
    import nir
    import torch

    graph = nir.read(str(path))
    step_fn = {"norse": _norse, "spikingjelly": _spikingjelly, "snntorch": _snntorch}[reader](graph)
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    out = []
    with torch.no_grad():
        for lo in range(0, len(x), batch):
            xb = torch.from_numpy(x[lo : lo + batch])
            out.append(step_fn(xb, steps))
    return np.concatenate(out).astype(np.int64)


def _norse(graph: Any) -> Any:
    try:
        import norse.torch as norse
    except ImportError as exc:
        raise MissingBackendError("norse", "readers") from exc
    return _stateful(norse.from_nir(graph, dt=1.0))


def _spikingjelly(graph: Any) -> Any:
    try:
        from spikingjelly.activation_based.nir_exchange import import_from_nir
    except ImportError as exc:
        raise MissingBackendError("spikingjelly", "readers", "spikingjelly >= 2.0 (Python >= 3.11) is not installed: "
                                  "pip install 'spikingjelly[nir]>=2.0'") from exc
    return _stateful(import_from_nir(graph, dt=1.0))


def _stateful(model: Any) -> Any:
    """Counts of a model called as ``model(x[, state]) -> (spikes, state)`` once per step."""

    def run(xb: Any, steps: int) -> np.ndarray:
        state, total = None, 0
        for _ in range(steps):
            z, state = model(xb) if state is None else model(xb, state)
            total = total + z
        return total.numpy()

    return run


def _snntorch(graph: Any) -> Any:
    try:
        from snntorch import utils
        from snntorch.import_nir import import_from_nir
    except ImportError as exc:
        raise MissingBackendError("snntorch", "snntorch") from exc
    model = import_from_nir(graph)

    def run(xb: Any, steps: int) -> np.ndarray:
        utils.reset(model)
        total = 0
        for _ in range(steps):
            z = model(xb)
            while isinstance(z, tuple):  # (spikes, membrane), possibly nested by nirtorch
                z = z[0]
            total = total + z
        return total.numpy()

    return run
