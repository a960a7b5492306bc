"""NIR export and import of converted networks (``nir.Affine`` + ``nir.IF`` chains).

A :class:`~sdt_neuro.convert.SpikingNetwork` of L layers is written as the graph
``input -> affine_0 -> if_0 -> ... -> affine_{L-1} -> if_{L-1} -> output`` with

* ``nir.Affine(weight [out, in], bias [out])``: ``I(t) = W s(t) + b``, the bias a constant current;
* ``nir.IF(r=1, v_threshold=theta, v_reset=0)``: ``dv/dt = R I``; a spike when ``v > theta``,
  then ``v = v_reset`` (the meaning of ``nir.IF`` since nir 1.0.6).

That is exactly a ``reset="zero"`` network (Lava's stock LIF), so those files mean what they say
to any reader that follows the spec (Norse's ``from_nir`` runs them spike for spike). A
subtractive network (``v <- v - theta``) has no NIR node: :func:`to_nir` refuses it unless
``subtract_in_metadata=True``, which writes the same nodes and says "subtract" only in the
metadata, for :func:`read_nir` alone. The graph's ``metadata`` also carries ``dt=1`` and
``time_steps`` (one Euler step per time step, ``v[t] = v[t-1] + I[t]``), the
``spike_condition``, the input ``encoding``, the ``readout`` (``count``, or ``membrane``: count
plus final membrane, a subtractive network's only), the layer ``scales`` of the conversion and the
rule (JSON). Other readers, as of 2026-12 (docs/nir.md): snnTorch 1.0.0 + nirtorch map ``nir.IF`` to
``snn.Leaky(beta=0.9)``; sinabs 3.1.3 (nir <= 1.0.4) to a subtractive multi-spike ``IAF`` whose
membrane is clipped at ``-theta``; rockpool 3.1.0 has no ``IF``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from sdt_neuro.convert import RESETS, SpikingLayer, SpikingNetwork, check_steps_encoding
from sdt_neuro.errors import CheckpointError, ConfigError, MissingBackendError, ShapeError

FORMAT_TAG = "sdt-neuro-rate-coded-if"


def _nir() -> Any:
    try:
        import nir
    except ImportError as exc:
        raise MissingBackendError("nir", "snntorch") from exc
    return nir


def to_nir(net: SpikingNetwork, steps: int, encoding: str = "current", dtype: type = np.float32,
           subtract_in_metadata: bool = False) -> Any:
    """``nir.NIRGraph`` of ``net`` (weights cast to ``dtype``, float32 by default for other tools).

    ``net.reset`` must be ``"zero"`` (what ``nir.IF`` means), unless ``subtract_in_metadata``.
    """
    check_steps_encoding(steps, encoding)  # the reader refuses what it could not run
    if net.v_init:
        raise ConfigError(f"v_init={net.v_init}: NIR's IF node has no initial membrane, so the file would mean "
                          "another network; export with v_init=0")
    if net.reset != "zero" and not subtract_in_metadata:
        raise ConfigError(
            "this network resets by subtraction, but nir.IF resets to v_reset (nir >= 1.0.6), so readers that follow "
            "the spec would run another network. Convert with reset='zero' (sdt-neuro convert --to nir does), or "
            "pass subtract_in_metadata=True for a file only sdt-neuro reads as subtractive")
    nir = _nir()
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array([net.sizes[0]]))}
    edges, previous = [], "input"
    for i, layer in enumerate(net.layers):
        n = layer.weight.shape[0]
        nodes[f"affine_{i}"] = nir.Affine(weight=np.asarray(layer.weight, dtype=dtype),
                                          bias=np.asarray(layer.bias, dtype=dtype))
        nodes[f"if_{i}"] = nir.IF(r=np.ones(n, dtype=dtype), v_threshold=np.full(n, layer.threshold, dtype=dtype),
                                  v_reset=np.zeros(n, dtype=dtype))
        edges += [(previous, f"affine_{i}"), (f"affine_{i}", f"if_{i}")]
        previous = f"if_{i}"
    nodes["output"] = nir.Output(output_type=np.array([net.sizes[-1]]))
    edges.append((previous, "output"))
    metadata = {
        "format": FORMAT_TAG, "reset_mechanism": net.reset,
        "spike_condition": "v > v_threshold" if net.reset == "zero" else "v >= v_threshold",
        "dt": 1.0, "time_steps": int(steps), "encoding": encoding,
        "readout": net.readout,
        "output": ("spike counts over time_steps; rate = counts / time_steps" if net.readout == "count" else
                   "the output layer's charge: rate = clamp((counts + v_final / v_threshold) / time_steps, 0, 1)"),
        "scales": np.asarray(net.scales, dtype=np.float64), "rule_json": json.dumps(net.rule),
        "meta_json": json.dumps(net.meta),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def write_nir(net: SpikingNetwork, path: str | os.PathLike, steps: int, encoding: str = "current",
              subtract_in_metadata: bool = False) -> Path:
    """Write ``net`` as a NIR file (HDF5) that ``nir.read`` loads; returns the path (see :func:`to_nir`)."""
    nir = _nir()
    graph = to_nir(net, steps, encoding, subtract_in_metadata=subtract_in_metadata)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nir.write(str(path), graph)
    return path


def from_nir(graph: Any) -> tuple[SpikingNetwork, dict[str, Any]]:
    """``(network, metadata)`` from a chain ``Input -> (Affine -> IF)* -> Output`` (a ``Linear`` in place
    of an ``Affine`` reads as one with zero bias: snnTorch exports a bias-free layer so).

    Raises :class:`ConfigError` for any other structure (no layer at all included), ``r != 1``,
    per-neuron thresholds, a non-zero ``v_reset`` or a ``dt`` other than one time step. A graph
    without our format tag is read as the spec says (reset to zero, spike-count read-out, unit
    scales), whatever else its metadata says; only its ``rule_json`` and ``meta_json`` are read.
    """
    nir = _nir()
    chain = _chain(graph)
    if not chain:
        raise ConfigError("the graph holds no Affine -> IF layer between its Input and Output")
    if len(chain) % 2:
        raise ConfigError(f"expected alternating Affine and IF nodes, got {[type(n).__name__ for n in chain]}")
    layers = []
    for affine, neuron in zip(chain[::2], chain[1::2]):
        if not isinstance(affine, (nir.Affine, nir.Linear)) or not isinstance(neuron, nir.IF):
            raise ConfigError(f"expected Affine -> IF, got {type(affine).__name__} -> {type(neuron).__name__}; "
                              "sdt-neuro reads chains of nir.Affine (or nir.Linear) + nir.IF only")
        layers.append(_layer(affine, neuron))
    meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in dict(graph.metadata or {}).items()}
    if "dt" in meta and (len(dt := _numbers(meta, "dt")) != 1 or not np.isclose(dt[0], 1.0)):
        raise ConfigError(f"the graph's metadata says dt={meta['dt']}; sdt-neuro runs one Euler step of dt = 1 "
                          "per time step (v[t] = v[t-1] + I[t])")
    reset, readout, scales = "zero", "count", (1.0,) * (len(layers) + 1)  # nir.IF's meaning
    if meta.get("format") == FORMAT_TAG:  # only our own files may say otherwise
        reset = meta.get("reset_mechanism", "zero")
        if reset not in RESETS:
            raise ConfigError(f"the graph's metadata says reset_mechanism={reset!r}, not one of {RESETS}")
        readout = str(meta.get("readout", "count"))
        scales = _numbers(meta, "scales") if "scales" in meta else scales
    spec = SpikingNetwork(tuple(layers), _json_field(meta, "rule_json"), scales, _json_field(meta, "meta_json"),
                          reset=reset, readout=readout)
    for a, b in zip(layers[:-1], layers[1:]):
        if a.weight.shape[0] != b.weight.shape[1]:
            raise ShapeError(f"layer widths do not chain: {a.weight.shape} then {b.weight.shape}")
    return spec, meta


def _numbers(meta: dict[str, Any], key: str) -> tuple[float, ...]:
    """The number(s) a graph's metadata holds under ``key``, refused by name when they are not."""
    try:
        values = np.atleast_1d(np.asarray(meta[key], dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the graph's metadata {key}={meta[key]!r} is not a number ({exc})") from exc
    if values.ndim != 1 or not np.isfinite(values).all():
        raise ConfigError(f"the graph's metadata {key}={meta[key]!r} must hold finite numbers")
    return tuple(float(v) for v in values)


def _json_field(meta: dict[str, Any], key: str) -> dict[str, Any]:
    """The JSON object a graph's metadata holds under ``key`` (``{}`` where absent)."""
    try:
        value = json.loads(meta.get(key, "{}"))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ConfigError(f"the graph's metadata {key!r} is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"the graph's metadata {key!r} holds {type(value).__name__}, expected a JSON object")
    return value


def read_nir(path: str | os.PathLike) -> tuple[SpikingNetwork, dict[str, Any]]:
    """Read a NIR file written by :func:`write_nir` (or any Affine/IF chain)."""
    nir = _nir()
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"NIR file {path} does not exist")
    try:
        graph = nir.read(str(path))
    except Exception as exc:  # h5py and nir raise many types
        raise CheckpointError(f"{path} is not a readable NIR file ({type(exc).__name__}: {exc})") from exc
    return from_nir(graph)


def _chain(graph: Any) -> list[Any]:
    """Nodes between the single input and the single output, in order."""
    nir = _nir()
    succ: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        succ.setdefault(src, []).append(dst)
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise ConfigError(f"expected one Input node, found {len(inputs)}")
    name, chain, seen = inputs[0], [], set()
    while True:
        nxt = succ.get(name, [])
        if len(nxt) != 1 or nxt[0] in seen:
            raise ConfigError(f"node {name!r} must have exactly one successor in a feed-forward chain, has {nxt}")
        name = nxt[0]
        seen.add(name)
        node = graph.nodes[name]
        if isinstance(node, nir.Output):
            return chain
        chain.append(node)


def _layer(affine: Any, neuron: Any) -> SpikingLayer:
    """One layer from an ``Affine`` (or a bias-free ``Linear``: bias 0) and the ``IF`` after it."""
    weight = np.asarray(affine.weight)
    bias = np.asarray(affine.bias) if hasattr(affine, "bias") else np.zeros(weight.shape[:1], weight.dtype)
    if weight.ndim != 2 or bias.shape != (weight.shape[0],):
        raise ShapeError(f"{type(affine).__name__} weight {weight.shape} and bias {bias.shape} do not form one "
                         "dense layer")
    r, v_threshold, v_reset = (_per_neuron(neuron, name, weight.shape[0]) for name in ("r", "v_threshold", "v_reset"))
    thresholds = np.unique(v_threshold)
    if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
        bad = int((~np.isfinite(weight)).sum() + (~np.isfinite(bias)).sum())
        raise ConfigError(f"{type(affine).__name__} weight or bias holds {bad} NaN or infinite value(s)")
    if not (np.isfinite(thresholds).all() and (thresholds > 0).all()):
        raise ConfigError(f"IF v_threshold={thresholds.tolist()[:3]} must be finite and > 0")
    if thresholds.size != 1:
        raise ConfigError(f"per-neuron thresholds differ ({thresholds.min()}..{thresholds.max()}); "
                          "sdt-neuro supports one threshold per layer")
    if not np.all(r == 1):
        raise ConfigError(f"IF resistance r={np.unique(r)} is not supported (allowed: r = 1)")
    if not np.all(v_reset == 0):
        raise ConfigError(f"IF v_reset={np.unique(v_reset)} is not supported (allowed: 0)")
    return SpikingLayer(weight, bias, float(thresholds[0]))


def _per_neuron(neuron: Any, name: str, n: int) -> np.ndarray:
    """``neuron.<name>`` for each of the layer's ``n`` neurons: one value (0-d, as Norse exports an
    ``IAFCell``, or of shape (1,)) stands for all of them."""
    values = np.asarray(getattr(neuron, name), dtype=np.float64)
    if values.size == 1:  # 0-d, or shape (1,)
        return np.full(n, float(values.reshape(())))
    if values.shape != (n,):
        raise ShapeError(f"IF {name} has shape {values.shape}, for {n} neurons (the layer before it)")
    return values
