"""Loihi 2 fixed-point form of a :class:`~sdt_neuro.convert.SpikingNetwork` (NumPy only).

Units follow Lava's fixed-point LIF and Dense models. A layer with float weights ``W``, bias
``b`` and threshold ``theta`` is scaled by ``S = vth / theta`` *weight units* per float unit:

* weights: ``W S ~ weight_mant * 2**weight_exp`` with an 8-bit mantissa (even values in
  [-256, 254] for mixed signs, as Loihi 2 stores them; [0, 255] or [-255, 0] for one sign) and
  one exponent per layer, **rounded** to the nearest representable value (Lava floors);
* synaptic input: ``a = round(weight_mant @ s * 2**(weight_exp - input_bits))``, where graded
  inputs (direct current ``x = p / 255``, payload ``p`` of ``input_bits = 8``) are read as
  ``p / 2**8``, so the first layer's weights are scaled by ``256 / 255`` before rounding;
* neuron: ``u = a << 6`` (24-bit wrap), ``v = clip(v + u + (bias_mant << bias_exp), +-(2**23 - 1))``,
  spike when ``v >= vth << 6``, then ``v -= vth << 6``; the bias is thus ``b S 64`` voltage units
  with a 13-bit mantissa and a 3-bit exponent per neuron.

``vth`` is the largest integer that keeps the worst-case voltage inside 24 bits
(``vth (1 + max_i(sum_j |W_ij| + |b_i|) / theta) < 2**17``), at most ``2**17 - 1``, small enough
for every bias to fit ``4095 << 7``, and lowered so
that the largest weight fills the mantissa (``max |W| S`` in (127, 254] ``* 2**weight_exp``).

Reset-to-zero networks run on Lava's stock ``Dense`` and ``LIFReset`` (:func:`quantize_stock`):
the stock Dense drops the bits below ``2**shift`` by an arithmetic right shift (``floor``), so half
a unit (``2**5`` voltage units) is added to the bias to centre the error; the synaptic input of
every neuron must fit the LIF's 16-bit ``a_in``; a neuron spikes at ``v > vth << 6`` and restarts
from ``v = 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sdt_neuro.backends.lava.encoding import GRADED_BITS, GRADED_MAX
from sdt_neuro.errors import ConfigError, ShapeError

if TYPE_CHECKING:  # convert.py imports torch; this module must not (Lava process models use it)
    from sdt_neuro.convert import SpikingNetwork

WEIGHT_MANT_MAX = 255  # 8-bit magnitude; mixed-sign mantissas are even in [-256, 254]
WEIGHT_EXP_RANGE = (-8, 7)
VTH_MAX = 2**17 - 1  # 17-bit unsigned threshold
BIAS_MANT_MAX = 4095  # 13-bit signed mantissa
BIAS_EXP_MAX = 7  # 3-bit unsigned exponent
UV_BITS = 24
ACT_SHIFT = 6  # Lava left-shifts synaptic input and threshold by 6 bits
UV_MAX = 2 ** (UV_BITS - 1)
A_IN_MAX = 2**15 - 1  # Lava's LIF declares its synaptic input a_in as 16-bit


@dataclass(frozen=True)
class FixedPointLayer:
    """One layer in Lava's fixed-point units (see the module docstring)."""

    weight_mant: np.ndarray  # int32 [out, in]
    weight_exp: int
    input_bits: int  # 0: binary spikes; 8: graded payload p / 2**8
    vth: int  # threshold in weight units; Lava compares v with vth << 6
    bias_mant: np.ndarray  # int32 [out]
    bias_exp: np.ndarray  # int32 [out], 0..7
    scale: float  # S: weight units per float unit
    rounding: str = "nearest"  # the synapse's rounding below 2**shift: ours, or "floor" (Lava's stock Dense)

    @property
    def shift(self) -> int:
        """The synapse's power of two: ``a = weight_mant @ s * 2**shift`` before rounding."""
        return self.weight_exp - self.input_bits

    def float_weight(self) -> np.ndarray:
        """The weights the mantissas represent, in the float network's units (for reports)."""
        graded = 2.0**self.input_bits / GRADED_MAX if self.input_bits else 1.0
        return self.weight_mant * 2.0**self.weight_exp / (self.scale * graded)

    def summary(self) -> dict[str, Any]:
        return {"weight_exp": self.weight_exp, "input_bits": self.input_bits, "vth": self.vth,
                "scale": self.scale, "rounding": self.rounding,
                "weight_mant_range": [int(self.weight_mant.min()), int(self.weight_mant.max())],
                "bias_exp_max": int(self.bias_exp.max()) if self.bias_exp.size else 0}


@dataclass(frozen=True)
class FixedPointNetwork:
    """All layers of a quantised network, input side first."""

    layers: tuple[FixedPointLayer, ...]

    def summary(self) -> list[dict[str, Any]]:
        return [layer.summary() for layer in self.layers]


def _even_or_integer(values: np.ndarray, mixed: bool) -> np.ndarray:
    """Round to Loihi 2's 8-bit mantissa grid: even integers in [-256, 254] for mixed signs."""
    if mixed:
        return np.clip(2 * np.rint(values / 2), -WEIGHT_MANT_MAX - 1, WEIGHT_MANT_MAX - 1).astype(np.int32)
    return np.clip(np.rint(values), -WEIGHT_MANT_MAX, WEIGHT_MANT_MAX).astype(np.int32)


def quantize_layer(weight: np.ndarray, bias: np.ndarray, threshold: float = 1.0, input_bits: int = 0,
                   vth: int | None = None) -> FixedPointLayer:
    """Quantise one float layer ``v += W s + b`` (spike at ``threshold``) to fixed point.

    ``vth`` forces the threshold in weight units (default: the largest safe one).
    """
    weight = np.asarray(weight, dtype=np.float64)
    bias = np.asarray(bias, dtype=np.float64)
    if weight.ndim != 2 or bias.shape != (weight.shape[0],):
        raise ShapeError(f"weight must be [out, in] and bias [out], got {weight.shape} and {bias.shape}")
    if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
        raise ConfigError("weights and biases must be finite for fixed point (found NaN or inf)")
    if not (threshold > 0 and math.isfinite(threshold)):
        raise ConfigError(f"threshold={threshold} must be a positive finite number")
    if input_bits not in (0, GRADED_BITS):
        raise ConfigError(f"input_bits={input_bits} is not one of (0, {GRADED_BITS})")
    w = weight * (2.0**input_bits / GRADED_MAX) if input_bits else weight
    ratio = float(np.abs(w).max()) / threshold if w.size else 0.0
    worst_input = float((np.abs(weight).sum(axis=1) + np.abs(bias)).max()) / threshold if w.size else 0.0
    limit = (WEIGHT_MANT_MAX - 1) * 2 ** WEIGHT_EXP_RANGE[1]
    forced = vth is not None
    if vth is None:
        vth = min(VTH_MAX, int(VTH_MAX // (1.0 + worst_input)))
        vth = min(vth, int(limit // ratio)) if ratio > 0 else vth
        bias_ratio = float(np.abs(bias).max()) / threshold * 2**ACT_SHIFT if bias.size else 0.0
        vth = min(vth, int((BIAS_MANT_MAX << BIAS_EXP_MAX) // bias_ratio)) if bias_ratio > 0 else vth
        if ratio > 0 and vth >= 1:  # lower vth to the largest one whose weights fill the mantissa
            exp = max(math.floor(math.log2(ratio * vth / (WEIGHT_MANT_MAX - 1))), WEIGHT_EXP_RANGE[0])
            vth = max(1, min(vth, int((WEIGHT_MANT_MAX - 1) * 2.0**exp / ratio)))
    for _ in range(8):  # shrink vth until the rounded weights also keep the voltage inside 24 bits
        if not 1 <= vth <= VTH_MAX:
            raise ConfigError(
                f"weights too large for Loihi 2 fixed point: max |W| / threshold = {ratio:.4g} and a worst-case "
                f"input of {worst_input:.4g} thresholds per step leave vth={vth}, outside [1, {VTH_MAX}] "
                f"(max |W| / threshold must stay below {limit})")
        layer = _quantize_at(w, bias, threshold, input_bits, int(vth), ratio)
        if forced or vth + _worst_input_units(layer) < VTH_MAX:
            return layer
        vth = int(vth * 0.9)
    raise ConfigError(f"no threshold in [1, {VTH_MAX}] keeps this layer inside 24-bit voltages")


def _quantize_at(w: np.ndarray, bias: np.ndarray, threshold: float, input_bits: int, vth: int,
                 ratio: float) -> FixedPointLayer:
    """The layer at threshold ``vth`` weight units; ``ratio = max |w| / threshold``, so the largest
    weight is ``max |w| * S = ratio * vth`` weight units (``S = vth / threshold``)."""
    scale = vth / threshold
    peak = ratio * vth
    exp = math.ceil(math.log2(peak / (WEIGHT_MANT_MAX - 1))) if peak > 0 else 0
    exp = int(min(max(exp, WEIGHT_EXP_RANGE[0]), WEIGHT_EXP_RANGE[1]))
    if peak > (WEIGHT_MANT_MAX - 1) * 2.0**exp:
        raise ConfigError(f"weights too large: max |W| * S = {peak:.4g} exceeds the 8-bit mantissa "
                          f"at weight_exp={exp} (allowed exponents {WEIGHT_EXP_RANGE})")
    mixed = bool((w > 0).any() and (w < 0).any())
    mant = _even_or_integer(w * scale / 2.0**exp, mixed)
    bias_mant, bias_exp = _quantize_bias(bias * scale * 2**ACT_SHIFT)
    return FixedPointLayer(mant, exp, input_bits, int(vth), bias_mant, bias_exp, float(scale))


def _worst_input_units(layer: FixedPointLayer) -> float:
    """Largest per-step |synaptic input + bias| of any neuron, in weight units."""
    graded = GRADED_MAX / 2.0**layer.input_bits if layer.input_bits else 1.0
    w = np.abs(layer.weight_mant).sum(axis=1) * 2.0**layer.weight_exp * graded
    b = np.abs(np.left_shift(layer.bias_mant.astype(np.int64), layer.bias_exp)) / 2.0**ACT_SHIFT
    return float((w + b).max()) + 1.0 if w.size else 0.0


def _quantize_bias(volts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``volts ~ bias_mant << bias_exp`` per neuron with the smallest exponent that fits."""
    mag = np.abs(volts)
    exp = np.zeros(volts.shape, dtype=np.int32)
    big = mag > BIAS_MANT_MAX
    exp[big] = np.ceil(np.log2(mag[big] / BIAS_MANT_MAX)).astype(np.int32)
    exp = np.where(np.rint(mag / 2.0**exp) > BIAS_MANT_MAX, exp + 1, exp)
    if (exp > BIAS_EXP_MAX).any():
        worst = float(mag.max())
        raise ConfigError(f"bias too large for fixed point: {worst:.4g} voltage units exceeds "
                          f"{BIAS_MANT_MAX} << {BIAS_EXP_MAX} = {BIAS_MANT_MAX << BIAS_EXP_MAX}")
    return np.rint(volts / 2.0**exp).astype(np.int32), exp.astype(np.int32)


def quantize_network(net: SpikingNetwork, encoding: str = "current") -> FixedPointNetwork:
    """Every layer of ``net``; the first reads graded payloads for direct-current input."""
    layers = []
    for i, layer in enumerate(net.layers):
        bits = GRADED_BITS if (i == 0 and encoding == "current") else 0
        layers.append(quantize_layer(layer.weight, layer.bias, layer.threshold, input_bits=bits))
    return FixedPointNetwork(tuple(layers))


def synaptic_input(weight_float: np.ndarray, s: np.ndarray, shift: int, rounding: str = "nearest") -> np.ndarray:
    """``round(weight_mant @ s * 2**shift)`` (or ``floor``, Lava's stock Dense) as int32, exact in
    float64 for these magnitudes."""
    acc = weight_float @ s.astype(np.float64)
    if shift:
        acc = np.floor(acc * 2.0**shift + (0.5 if rounding == "nearest" else 0.0))
    return acc.astype(np.int32)


def quantize_stock(net: SpikingNetwork, encoding: str = "current") -> FixedPointNetwork:
    """Fixed point for Lava's stock ``Dense`` + ``LIFReset`` (reset-to-zero networks).

    As :func:`quantize_network`, then: ``vth`` lowered until every neuron's largest synaptic input
    fits the LIF's 16-bit ``a_in``; where the Dense shifts right (``shift < 0``) it floors, so
    ``2**5`` voltage units (half a synaptic unit after Lava's ``<< 6``) join the bias.
    """
    layers = []
    for i, layer in enumerate(net.layers):
        bits = GRADED_BITS if (i == 0 and encoding == "current") else 0
        q = quantize_layer(layer.weight, layer.bias, layer.threshold, input_bits=bits)
        while _largest_synaptic_input(q) > A_IN_MAX:
            if q.vth <= 1:
                raise ConfigError(f"layer {i}: no threshold keeps the synaptic input inside Lava's 16-bit a_in")
            q = quantize_layer(layer.weight, layer.bias, layer.threshold, input_bits=bits, vth=int(q.vth * 0.9))
        volts = np.asarray(layer.bias, dtype=np.float64) * q.scale * 2**ACT_SHIFT
        if q.shift < 0:
            volts = volts + 2 ** (ACT_SHIFT - 1)
        bias_mant, bias_exp = _quantize_bias(volts)
        layers.append(FixedPointLayer(q.weight_mant, q.weight_exp, q.input_bits, q.vth, bias_mant, bias_exp,
                                      q.scale, "floor"))
    return FixedPointNetwork(tuple(layers))


def _largest_synaptic_input(layer: FixedPointLayer) -> float:
    """Largest ``|weight_mant @ s| * 2**shift`` over all inputs (payloads up to 255, or spikes)."""
    peak = GRADED_MAX if layer.input_bits else 1
    w = layer.weight_mant.astype(np.int64)
    worst = np.maximum(np.clip(w, 0, None).sum(axis=1), -np.clip(w, None, 0).sum(axis=1)) * peak
    return float(worst.max()) * 2.0**layer.shift if worst.size else 0.0


def if_step_fixed(v: np.ndarray, a: np.ndarray, bias: np.ndarray, vth: int, reset: str = "subtract") -> np.ndarray:
    """One fixed-point IF step in place on ``v``; returns the spikes (Lava's LIF with du=4095, dv=0)::

        u = wrap24(a << 6);  v = clip(v + u + bias, +-(2**23 - 1));  s = v >= vth << 6;  v -= s (vth << 6)

    ``reset="zero"`` (Lava's stock LIF): ``s = v > vth << 6``, then ``v = 0`` where it spiked.
    """
    u = np.left_shift(a.astype(np.int64), ACT_SHIFT)
    u = np.where(u > UV_MAX, u - 2 * UV_MAX, u)
    u = np.where(u <= -UV_MAX, u + 2 * UV_MAX, u)
    v[...] = np.clip(v + u + bias, -UV_MAX + 1, UV_MAX - 1)
    threshold = vth << ACT_SHIFT
    if reset == "zero":
        spikes = v > threshold
        v[spikes] = 0
        return spikes
    spikes = v >= threshold
    v[spikes] -= threshold
    return spikes


def start_voltage_fixed(vth: int, v_init: float) -> int:
    """The voltage a window starts at: ``v_init`` thresholds, ``round(v_init * (vth << 6))``."""
    return int(round(v_init * (int(vth) << ACT_SHIFT)))


def membrane_in_thresholds(v: np.ndarray, vth: int, v_init: float) -> np.ndarray:
    """Fixed-point voltages as thresholds above the window's start, plus ``v_init``: what
    :func:`~sdt_neuro.convert.output_rates` reads (``v / (vth << 6)``, measured from the rounded
    start voltage so the charge comes out exact)."""
    units = float(int(vth) << ACT_SHIFT)
    return (np.asarray(v, dtype=np.float64) - start_voltage_fixed(vth, v_init)) / units + v_init


def simulate_fixed(qnet: FixedPointNetwork, inputs: np.ndarray, v_init: float = 0.0,
                   reset: str = "subtract") -> np.ndarray:
    """Integer oracle of the fixed-point network (no synaptic delay): counts [batch, N_out] for
    inputs [T, batch, in] (graded payloads for a first layer with ``input_bits``, else 0/1);
    voltages start at :func:`start_voltage_fixed`; ``reset`` as in :func:`if_step_fixed`."""
    return simulate_fixed_state(qnet, inputs, v_init, reset)[0]


def simulate_fixed_state(qnet: FixedPointNetwork, inputs: np.ndarray, v_init: float = 0.0,
                         reset: str = "subtract") -> tuple[np.ndarray, np.ndarray]:
    """:func:`simulate_fixed`'s counts and the output layer's final voltages in thresholds
    (:func:`membrane_in_thresholds`), both [batch, N_out]."""
    n_in = qnet.layers[0].weight_mant.shape[1]
    if inputs.ndim != 3 or inputs.shape[2] != n_in:
        raise ShapeError(f"inputs must be [T, batch, {n_in}], got {inputs.shape}")
    batch = inputs.shape[1]
    v = [np.full((layer.weight_mant.shape[0], batch), start_voltage_fixed(layer.vth, v_init), dtype=np.int64)
         for layer in qnet.layers]
    bias = [np.left_shift(layer.bias_mant.astype(np.int64), layer.bias_exp)[:, None] for layer in qnet.layers]
    w = [layer.weight_mant.astype(np.float64) for layer in qnet.layers]
    counts = np.zeros((qnet.layers[-1].weight_mant.shape[0], batch), dtype=np.int64)
    for step in inputs:
        s = step.T
        for i, layer in enumerate(qnet.layers):
            a = synaptic_input(w[i], s, layer.shift, layer.rounding)
            s = if_step_fixed(v[i], a, bias[i], layer.vth, reset)
        counts += s
    return counts.T, membrane_in_thresholds(v[-1], qnet.layers[-1].vth, v_init).T
