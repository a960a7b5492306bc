"""ANN -> rate-coded spiking network, as backend-neutral NumPy arrays.

Every spiking backend (snnTorch, Lava) builds its network from a :class:`SpikingNetwork`.
Neurons are integrate-and-fire with threshold 1 and subtractive reset::

    v[t] = v[t-1] + W s_in[t] + b;   s[t] = 1[v[t] >= 1];   v[t] -= s[t]

Driven by a constant current ``a`` for T steps, the firing rate is ``clamp(a, 0, 1)`` within
1/T: the paper's hard-sigmoid output layer converts exactly. A hidden ReLU layer is rescaled by
``lambda_l``, a high percentile of its activations on calibration data, so its rate
``relu(a) / lambda_l`` stays below 1 (``W_l <- W_l lambda_{l-1} / lambda_l``,
``b_l <- b_l / lambda_l``). The output layer keeps its scale (``lambda_out = 1``).

Read-out (``SpikingNetwork.readout``): ``"count"`` reads each output neuron's spike count, its
rate ``n / T``; ``"membrane"`` also reads the membrane it ends the window with, so the rate is the
charge the neuron integrated, ``clamp((n + v_T / theta - v_init) / T, 0, 1)``: with subtractive
reset no charge is lost, so the output layer reads its input exactly and only the hidden layers'
rates are quantised (the membrane-potential read-out of the conversion literature; on a chip, one
voltage probe per output neuron at the end of the window).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sdt_neuro.errors import ConfigError, ShapeError
from sdt_neuro.models import MLP

ENCODINGS = ("current", "bernoulli")
RESETS = ("subtract", "zero")
READOUTS = ("count", "membrane")
CALIBRATION_IMAGES = 1000


def check_steps_encoding(steps: int, encoding: str) -> None:
    """ConfigError unless ``steps`` is an integer >= 1 and ``encoding`` one of ENCODINGS."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ConfigError(f"steps={steps!r} must be an integer >= 1")
    if encoding not in ENCODINGS:
        raise ConfigError(f"encoding={encoding!r} is not one of {ENCODINGS}")


@dataclass(frozen=True)
class SpikingLayer:
    """One fully connected integrate-and-fire layer: ``weight`` [out, in], ``bias`` [out]."""

    weight: np.ndarray
    bias: np.ndarray
    threshold: float = 1.0


@dataclass(frozen=True)
class SpikingNetwork:
    """A converted network: layers in order, the rule it was trained with, provenance."""

    layers: tuple[SpikingLayer, ...]
    rule: dict[str, Any]
    scales: tuple[float, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    v_init: float = 0.0  # membrane at the start of every sample, as a fraction of the threshold
    reset: str = "subtract"  # "subtract": v >= theta, v -= theta; "zero" (Lava's LIF, NIR's IF): v > theta, v = 0
    readout: str = "count"  # "count": n / T; "membrane": the output's integrated charge (n + v_T / theta - v_init) / T

    def __post_init__(self) -> None:
        if not 0.0 <= self.v_init < 1.0:
            raise ConfigError(f"v_init={self.v_init} must be in [0, 1) (a fraction of the threshold)")
        if self.reset not in RESETS:
            raise ConfigError(f"reset={self.reset!r} is not one of {RESETS}")
        if self.readout not in READOUTS:
            raise ConfigError(f"readout={self.readout!r} is not one of {READOUTS}")
        if self.readout == "membrane" and self.reset != "subtract":
            raise ConfigError("readout='membrane' needs reset='subtract': a reset to zero discards the charge "
                              "above the threshold, so count and final membrane no longer sum to the input")

    @property
    def sizes(self) -> list[int]:
        return [self.layers[0].weight.shape[1]] + [layer.weight.shape[0] for layer in self.layers]


def convert_mlp(model: MLP, calibration: torch.Tensor | None = None, percentile: float = 99.9,
                rule: dict[str, Any] | None = None) -> SpikingNetwork:
    """Convert a trained :class:`MLP`; ``calibration`` images are needed when it has hidden layers."""
    if not isinstance(model, MLP):
        raise ConfigError(f"conversion supports the MLP reference network, got {type(model).__name__}")
    if not 0 < percentile <= 100:
        raise ConfigError(f"percentile={percentile} must be in (0, 100]")
    n_hidden = len(model.layers) - 1
    scales = [1.0]
    if n_hidden:
        if calibration is None:
            raise ConfigError("a network with hidden layers needs calibration images for scaling")
        with torch.no_grad():
            pre = model.eval().pre_activations(calibration.reshape(calibration.shape[0], -1))
        for a in pre[:-1]:
            act = torch.relu(a).flatten().numpy()
            lam = float(np.percentile(act[act > 0], percentile)) if (act > 0).any() else 1.0
            scales.append(lam if lam > 0 else 1.0)
    scales.append(1.0)
    layers = []
    for i, layer in enumerate(model.layers):
        w = layer.weight.detach().cpu().numpy().astype(np.float64)
        b = layer.bias.detach().cpu().numpy().astype(np.float64)
        layers.append(SpikingLayer(w * scales[i] / scales[i + 1], b / scales[i + 1]))
    return SpikingNetwork(tuple(layers), dict(rule or {}), tuple(scales),
                          {"percentile": percentile, "source": "sdt-neuro MLP"})


OUTPUT_SCALES = ("none", "max")


def checkpoint_network(config: Any, model: MLP, calibration: torch.Tensor | None = None,
                       percentile: float = 99.9, data_root: Any = None, v_init: float = 0.0,
                       output_scale: str = "none", reset: str = "subtract", readout: str = "count") -> SpikingNetwork:
    """The one spiking network of a trained checkpoint: snnTorch, Lava and NIR export all run it.

    * one layer, or a network trained in snnTorch (``config.extra["backend"] == "snntorch"``,
      whose hidden rates are already in [0, 1]): the weights as trained;
    * an ANN with hidden layers: :func:`convert_mlp` scaled on ``calibration`` images, by default
      the first :data:`CALIBRATION_IMAGES` *training* images of ``config.dataset`` (never test
      images, so the network does not depend on what is evaluated or how much of it);
    * a multi-layer EP network is refused: its reference is the relaxed free phase with feedback,
      which a feed-forward spiking network does not compute.

    ``output_scale="max"`` divides the output layer by ``lambda``, the largest ANN output on the
    calibration images, so small outputs use the whole rate range ``[0, 1]``: on those images
    ``clamp(a / lambda, 0, 1) = y / lambda`` exactly, a uniform scale that leaves the ANN's
    predictions unchanged. Backends report rates times ``lambda`` (``scales[-1]``), on the ANN's
    scale. ``v_init`` starts every membrane at that fraction of the threshold (0.5: a rate of
    ``floor(a T + 1/2) / T``, rounded instead of floored). ``reset="zero"`` gives neurons that
    spike at ``v > theta`` and restart from 0 (Lava's stock LIF, NIR's ``IF``); the weights are
    the same (BENCHMARKS.md measures what that costs: DA against T). ``readout="membrane"`` reads
    the output layer's integrated charge instead of its count (module docstring). ``meta`` records what the conversion
    was made from (``scaling``, ``percentile``, ``output_scale``, ``calibration``: data set,
    split, count and source).
    """
    if not isinstance(model, MLP):
        raise ConfigError(f"conversion supports arch='mlp' checkpoints, got arch={getattr(config, 'arch', '?')!r}")
    if output_scale not in OUTPUT_SCALES:
        raise ConfigError(f"output_scale={output_scale!r} is not one of {OUTPUT_SCALES}")
    if model.readout != "hard-sigmoid":
        raise ConfigError(f"this network's output is a {model.readout} (readout={model.readout!r}); integrate-and-fire "
                          "neurons compute the hard-sigmoid clamp(a, 0, 1), so the spiking network would be a "
                          "different one. Convert networks trained with readout='hard-sigmoid'")
    rule = dict(config.rule)
    if len(model.layers) > 1 and config.algorithm == "ep":
        raise ConfigError(
            f"a {len(model.layers)}-layer EP network has feedback between its layers (its output is the "
            "relaxed free phase); a feed-forward spiking conversion would be a different network. "
            "Convert 1-layer EP or BP networks.")
    scale_hidden = len(model.layers) > 1 and config.extra.get("backend") != "snntorch"
    origin: dict[str, Any] = {}
    if scale_hidden or output_scale != "none":
        calibration, origin = _calibration_images(config, calibration, data_root)
    if scale_hidden:
        net = convert_mlp(model, calibration, percentile, rule)
        meta = {**net.meta, "scaling": "percentile"}
    else:
        layers = tuple(SpikingLayer(lay.weight.detach().cpu().double().numpy(),
                                    lay.bias.detach().cpu().double().numpy()) for lay in model.layers)
        net = SpikingNetwork(layers, rule, (1.0,) * (len(layers) + 1))
        meta = {"source": "sdt-neuro MLP",
                "scaling": "none (one layer)" if len(model.layers) == 1 else "none (trained in snnTorch)"}
    if output_scale == "max":
        with torch.no_grad():
            peak = float(model.eval()(calibration.reshape(calibration.shape[0], -1)).max())
        lam = min(1.0, peak) if peak > 0 else 1.0
        last = net.layers[-1]
        layers = net.layers[:-1] + (SpikingLayer(last.weight / lam, last.bias / lam, last.threshold),)
        net = SpikingNetwork(layers, rule, net.scales[:-1] + (lam,))
    meta.update(output_scale=output_scale, **({"calibration": origin} if origin else {}))
    return SpikingNetwork(net.layers, rule, net.scales, meta, v_init, reset, readout)


DEFAULT_STEPS = 32


def evaluation_steps(config: Any, steps: int | None) -> int:
    """The T a spiking evaluation runs: ``steps`` when given, else the run's training T
    (``config.extra["steps"]``, spiking runs), else :data:`DEFAULT_STEPS`."""
    return config.extra.get("steps", DEFAULT_STEPS) if steps is None else steps


def network_from_options(config: Any, model: MLP, options: dict[str, Any]) -> SpikingNetwork:
    """:func:`checkpoint_network` with the conversion settings of a backend's evaluation options
    (``percentile``, ``data_root``, ``v_init``, ``output_scale``, ``reset``, ``readout``)."""
    return checkpoint_network(config, model, percentile=float(options.get("percentile", 99.9)),
                              data_root=options.get("data_root"), v_init=float(options.get("v_init") or 0.0),
                              output_scale=options.get("output_scale") or "none",
                              reset=options.get("reset") or "subtract", readout=options.get("readout") or "count")


def _calibration_images(config: Any, calibration: torch.Tensor | None,
                        data_root: Any) -> tuple[torch.Tensor, dict[str, Any]]:
    """The given images, or the first :data:`CALIBRATION_IMAGES` training images of the run's data set."""
    if calibration is not None:
        return calibration, {"split": "given by the caller", "count": int(calibration.shape[0])}
    from sdt_neuro.data import load_dataset

    data = load_dataset(config.dataset, data_root)
    images = data.train.x[:CALIBRATION_IMAGES]
    return images, {"dataset": data.name, "split": "train", "first": int(images.shape[0]), "source": data.source}


def check_rates(x: np.ndarray) -> None:
    """Refuse inputs a rate-coded network cannot take (every backend's check): NaN or infinite values,
    or values outside [0, 1] (the current and Bernoulli encodings read them as rates)."""
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        finite = x[np.isfinite(x)]
        span = f"[{finite.min():.4g}, {finite.max():.4g}]" if finite.size else "no finite value"
        nonfinite = "" if finite.size == x.size else f" and {x.size - finite.size} NaN or infinite value(s)"
        raise ConfigError(f"input values must be finite and lie in [0, 1] (rates), got {span}{nonfinite}; divide "
                          "0-255 images by 255")


def encode_input(x: np.ndarray, steps: int, encoding: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """Input per step as [T, batch, features]: the pixel value itself ("current") or
    Bernoulli spikes with that probability ("bernoulli")."""
    if encoding not in ENCODINGS:
        raise ConfigError(f"encoding={encoding!r} is not one of {ENCODINGS}")
    if steps < 1:
        raise ConfigError(f"steps={steps} must be >= 1")
    x = np.asarray(x, dtype=np.float64).reshape(np.shape(x)[0], -1)
    if encoding == "current":
        return np.broadcast_to(x, (steps, *x.shape))
    rng = rng or np.random.default_rng(0)
    return (rng.random((steps, *x.shape)) < x).astype(np.float64)


def simulate(net: SpikingNetwork, inputs: np.ndarray, reset: str | None = None) -> np.ndarray:
    """NumPy oracle of the spiking network: spike counts [batch, N_out] for inputs [T, batch, in]
    (see :func:`simulate_state`)."""
    return simulate_state(net, inputs, reset)[0]


def simulate_state(net: SpikingNetwork, inputs: np.ndarray,
                   reset: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """NumPy oracle: output spike counts and final membranes (in thresholds), both [batch, N_out],
    for inputs [T, batch, in].

    Layers update in the same step (no synaptic delay), each from the spikes the layer below
    emitted in that step; membranes start at ``net.v_init * theta``. ``reset`` (default
    ``net.reset``) ``"subtract"``: spike at ``v >= theta``, then ``v -= theta``; ``"zero"`` (Lava's
    LIF): ``v = (v + W s) + b`` in Lava's order of additions, spike at ``v > theta``, then ``v = 0``.
    """
    reset = net.reset if reset is None else reset
    if reset not in RESETS:
        raise ConfigError(f"reset={reset!r} is not one of {RESETS}")
    if inputs.ndim != 3 or inputs.shape[2] != net.sizes[0]:
        raise ShapeError(f"inputs must be [T, batch, {net.sizes[0]}], got {inputs.shape}")
    batch = inputs.shape[1]
    v = [np.full((batch, layer.weight.shape[0]), net.v_init * layer.threshold) for layer in net.layers]
    counts = np.zeros((batch, net.sizes[-1]))
    for s in inputs:
        for i, layer in enumerate(net.layers):
            if reset == "subtract":
                v[i] += s @ layer.weight.T + layer.bias
                s = (v[i] >= layer.threshold).astype(np.float64)
                v[i] -= s * layer.threshold
            else:
                v[i] = (v[i] + s @ layer.weight.T) + layer.bias
                s = (v[i] > layer.threshold).astype(np.float64)
                v[i] *= 1.0 - s
        counts += s
    return counts, v[-1] / net.layers[-1].threshold


def output_rates(net: SpikingNetwork, counts: np.ndarray, steps: int,
                 membrane: np.ndarray | None = None) -> np.ndarray:
    """The read-out rates [batch, N_out] (before ``net.scales[-1]``), float64.

    ``net.readout == "count"``: ``counts / steps``. ``"membrane"``: the integrated charge
    ``clamp((counts + membrane - v_init) / steps, 0, 1)``, with ``membrane`` the final output
    membranes in thresholds (required then)."""
    counts = np.asarray(counts, dtype=np.float64)
    if net.readout == "membrane":
        if membrane is None:
            raise ConfigError("readout='membrane' needs the output layer's final membranes")
        membrane = np.asarray(membrane, dtype=np.float64)
        if membrane.shape != counts.shape:
            raise ShapeError(f"membranes {membrane.shape} do not match counts {counts.shape}")
        return np.clip((counts + membrane - net.v_init) / steps, 0.0, 1.0)
    return counts / steps
