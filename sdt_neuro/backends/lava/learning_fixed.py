"""The rule in Loihi 2 fixed point: the integer scale of a learning run and its NumPy oracle.

Lava's bit-approximate learning engine (``PyLearningDenseModelBitApproximate``) updates a weight
once per learning epoch by the sum of products of the rule; with ``dw = "2^e * x0 * x1 * y2"``
(one product, mantissa 1, exponent ``s_exp = 7 + e``, ``e`` in [-7, 0]) it computes, per synapse
whose input spiked in the epoch (``x0``)::

    acc  = 128 w + floor(x1 * y2 / 8) * 2**s_exp          (15-bit accumulator, saturating)
    w'   = floor(acc / 128) + (r < frac(acc / 128))        (one random r per epoch, all synapses)
    w'   = clip(w', -256, 255)                              (8-bit magnitude plus sign)

so ``dw = x1 y2 2**(s_exp - 10)`` on average. The pieces are fitted to it (see ``docs/lava.md``):

- **input** ``x`` in [0, 1] is the graded payload ``p = 2 round(127 x)``, so the overwritten trace
  ``x1 = p / 2 = round(127 x)`` is exact and 7-bit; the last input is always on (``x = 1``) and its
  weight is the neuron's bias, learned by the same engine;
- **third factor** ``y2 = (d T - c) 1[0 <= a <= 1] q``: the integer error of the window times the
  sample's rate level ``q`` in [0, Q] (the host rounds ``Q lr / lr_max`` stochastically); signed,
  ``|y2| <= T Q <= 127``. No ``bap`` is sent, so the engine never clips it to [0, 127];
- **weight scale** ``s_w``: the real weight of unit ``w``; chosen so that the engine's ``dw`` is
  the rule's ``lr 2/N (d - r) x``: ``s_w = lr_max 2 / (N T 127 Q 2**(s_exp - 10))``;
- **neuron** Lava's fixed-point LIF arithmetic (``u = a_in << 6``, 24-bit ``v``, threshold
  ``vth << 6``) with ``du = 4095, dv = 0`` (integrate and fire), a strict threshold and a
  subtractive reset; the Dense input is shifted by ``weight_exp`` so one unit of threshold is
  about 2**11 input units (16-bit ``a_in``);
- **homeostasis** ``H`` in units of ``1 / (T 2**14)``, compared with the rate as
  ``c 2**14 - H_int``; with ``eta = 1`` (``A = d``) each window adds ``up`` or subtracts ``down``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from sdt_neuro.backends.lava.local_wta import LocalWTA, race_winners
from sdt_neuro.errors import ConfigError, ShapeError
from sdt_neuro.rule import WTARule
from sdt_neuro.targets import kwta_target

TRACE_MAX = 127          # 7-bit traces x1, y2
WEIGHT_MIN, WEIGHT_MAX = -256, 255
ACC_MIN, ACC_MAX = -(2**15) - 1, 2**15 - 1   # the engine's accumulator bounds, as Lava clips them
V_MAX = 2**23 - 1        # 24-bit membrane potential
A_IN_MAX = 2**15 - 1     # 16-bit synaptic input
VTH_MAX = 2**17 - 1      # 17-bit threshold mantissa
SHIFT = 6                # Lava's MSB alignment of threshold and synaptic input
H_BITS = 14              # fractional bits of the homeostasis offsets (per step of T)
ALWAYS_ON = 2 * TRACE_MAX  # payload of the always-on input that carries the bias
DEFAULT_WEIGHT_MAX = 0.08  # largest |w| of the float-learned lava-100 layers is 0.076 (BENCHMARKS.md)
LAVA_ROUNDING_SEED = 2   # ConnVarRandom's seed in Lava 0.10: the same stream in every run
TRACE_TAU = 2**16 - 1    # trace time constant: Lava fixes y1..y3 at this; x1 uses the same
TRACE_SEED = 0           # the rule's rng_seed: x traces draw from it, y traces from it + 2


@dataclass(frozen=True)
class FixedLearningScale:
    """The integer encoding of one fixed-point learning run (all fields plain numbers)."""

    steps: int
    n_outputs: int
    k: int
    lr_max: float
    rate_levels: int       # Q
    s_exp: int             # the rule's scaling exponent as Lava stores it (7 + e)
    weight_scale: float    # s_w: real value of one weight unit
    weight_exp: int        # the Dense's shift of its output (negative: right shift)
    vth: int               # threshold mantissa (effective threshold vth << 6)
    h_up: int              # H_int increment of a winner
    h_down: int            # H_int decrement of a loser

    @property
    def rule_string(self) -> str:
        """The ``dw`` of Lava's ``Loihi3FLearningRule``."""
        return f"2^{self.s_exp - 7} * x0 * x1 * y2"

    @property
    def h_unit(self) -> int:
        """H_int units per 1.0 of rate."""
        return self.steps * 2**H_BITS

    def to_dict(self) -> dict:
        return asdict(self)

    # ---- host-side conversions -------------------------------------------------------------

    def quantize_layer(self, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """Real ``[N, n_in]`` weights and ``[N]`` bias as one integer matrix ``[N, n_in + 1]``."""
        w = np.concatenate([np.asarray(weights, float), np.asarray(bias, float)[:, None]], axis=1)
        return np.clip(np.round(w / self.weight_scale), WEIGHT_MIN, WEIGHT_MAX).astype(np.int64)

    def dequantize_layer(self, w_int: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The real ``(weights, bias)`` of an integer matrix ``[N, n_in + 1]``."""
        w = np.asarray(w_int, dtype=np.float64) * self.weight_scale
        return w[:, :-1], w[:, -1]

    @staticmethod
    def payload(x: np.ndarray) -> np.ndarray:
        """Graded payloads of pixel values in [0, 1], plus the always-on input: ``[n_in + 1]``."""
        return np.append(2 * np.round(TRACE_MAX * np.asarray(x, float)), ALWAYS_ON).astype(np.int64)

    def offsets_to_int(self, offsets: np.ndarray) -> np.ndarray:
        return np.round(np.asarray(offsets, float) * self.h_unit).astype(np.int64)

    def offsets_to_real(self, h_int: np.ndarray) -> np.ndarray:
        return np.asarray(h_int, dtype=np.float64) / self.h_unit

    def rate_level(self, lr: float, rng: np.random.Generator) -> int:
        """``Q lr / lr_max`` rounded stochastically (unbiased); refuses a rate above ``lr_max``."""
        if not 0 <= lr <= self.lr_max * (1 + 1e-9):
            raise ConfigError(f"learning rate {lr} is outside [0, {self.lr_max}] (the run's lr_max)")
        level = self.rate_levels * lr / self.lr_max
        low = math.floor(level)
        return int(min(self.rate_levels, low + (rng.random() < level - low)))


def make_scale(rule: WTARule, steps: int, lr_max: float, weight_max: float = DEFAULT_WEIGHT_MAX) -> FixedLearningScale:
    """The scale that represents ``|w| <= weight_max`` in 8 bits plus sign and learns at ``lr_max``.

    Picks the rate levels ``Q`` (at most ``127 // T``) and the exponent ``e`` in [-7, 0] whose
    weight unit ``s_w`` is the largest that is ``<= weight_max / 255`` (ties: more levels). Raises :class:`ConfigError`
    naming the value and its range when none exists.
    """
    if rule.eta != 1.0:
        raise ConfigError(f"fixed-point learning needs eta=1 (the win average is the last target), got "
                          f"eta={rule.eta}")
    if not 1 <= steps <= TRACE_MAX:
        raise ConfigError(f"fixed-point learning needs 1 <= steps <= {TRACE_MAX} (|y2| = T Q <= 127), "
                          f"got steps={steps}")
    if not (lr_max > 0 and math.isfinite(lr_max)):
        raise ConfigError(f"the learning rate must be > 0, got {lr_max}")
    if not weight_max > 0:
        raise ConfigError(f"weight_max must be > 0, got {weight_max}")
    n = rule.n_outputs
    target_unit = weight_max / WEIGHT_MAX
    best: tuple[float, int, int] | None = None
    for q in range(TRACE_MAX // steps, 0, -1):  # the widest range within weight_max; then most levels
        for e in range(0, -8, -1):
            unit = lr_max * 2 / (n * steps * TRACE_MAX * q * 2.0 ** (e - 3))
            if unit <= target_unit * (1 + 1e-9) and (best is None or unit > best[0] * (1 + 1e-9)):
                best = (unit, q, e)
    if best is None:
        smallest = lr_max * 2 / (n * steps * TRACE_MAX * (TRACE_MAX // steps) * 2.0**-3)  # most levels, e = 0
        raise ConfigError(
            f"lr={lr_max} is too large for fixed-point learning with weight_max={weight_max}: the finest "
            f"weight unit the engine reaches at this rate is {smallest:.3g} > weight_max/255={target_unit:.3g}; lower "
            f"lr or raise weight_max (allowed: lr <= {lr_max * target_unit / smallest:.3g})")
    unit, q, e = best
    if unit < target_unit / 2:
        warnings.warn(f"fixed point: lr={lr_max} is small for weight_max={weight_max}: weights use only "
                      f"{unit * WEIGHT_MAX:.3g} of it (unit {unit:.3g}); raise lr or lower weight_max",
                      stacklevel=2)
    # a_in = (W_int . p) >> -weight_exp; one threshold = 2 TRACE_MAX / s_w input units before the shift
    per_threshold = 2 * TRACE_MAX / unit
    weight_exp = min(0, 11 - math.ceil(math.log2(per_threshold)))
    vth = int(round(per_threshold * 2.0**weight_exp))
    h_unit = steps * 2**H_BITS
    h_up = int(round(rule.gamma * (1 - rule.set_point) * h_unit))
    h_down = int(round(rule.gamma * rule.set_point * h_unit))
    if rule.gamma > 0 and (h_up == 0 or h_down == 0):
        smallest = 1 / (h_unit * min(rule.set_point, 1 - rule.set_point))
        raise ConfigError(f"gamma={rule.gamma} rounds to a zero homeostasis step in fixed point "
                          f"(unit 1/{h_unit}); use gamma >= {smallest:.3g}")
    return FixedLearningScale(steps=int(steps), n_outputs=n, k=rule.k, lr_max=float(lr_max), rate_levels=q,
                              s_exp=7 + e, weight_scale=unit, weight_exp=weight_exp, vth=vth, h_up=h_up,
                              h_down=h_down)


def check_initial_weights(scale: FixedLearningScale, weights: np.ndarray, bias: np.ndarray) -> None:
    """Warn when real weights saturate the 8-bit range at once (naming how many and the range)."""
    w = np.concatenate([np.ravel(weights), np.ravel(bias)])
    limit = WEIGHT_MAX * scale.weight_scale
    over = int((np.abs(w) > limit).sum())
    if over:
        warnings.warn(f"fixed point: {over} of {w.size} initial weights lie outside "
                      f"[-{limit:.4g}, {limit:.4g}] and saturate; raise weight_max", stacklevel=2)


# ----------------------------------------------------------------------------- oracle


@dataclass
class FixedWindow:
    """What one fixed-point window does: counts, target, third factor, state after the update."""

    counts: np.ndarray
    target: np.ndarray
    third: np.ndarray
    weights: np.ndarray
    offsets: np.ndarray


def input_current(scale: FixedLearningScale, w_int: np.ndarray, payload: np.ndarray) -> np.ndarray:
    """The Dense's output per step: ``(W p) >> -weight_exp`` (16-bit; raises when it is not)."""
    a = np.asarray(w_int, np.int64) @ np.asarray(payload, np.int64)
    a = a << scale.weight_exp if scale.weight_exp >= 0 else a >> -scale.weight_exp
    check_input_fits(a)
    return a


def check_input_fits(a: np.ndarray) -> None:
    """Raise :class:`ConfigError` where a synaptic input leaves the LIF's 16-bit ``a_in``."""
    peak = int(np.abs(np.asarray(a, np.int64)).max(initial=0))
    if peak > A_IN_MAX:
        raise ConfigError(f"synaptic input {peak} exceeds the 16-bit a_in (|a| <= {A_IN_MAX}); lower weight_max")


def integrate(scale: FixedLearningScale, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """T steps of Lava's fixed-point IF arithmetic on the constant input ``a``: ``(counts, v)``."""
    vth = scale.vth << SHIFT
    v = np.zeros(len(a), np.int64)
    counts = np.zeros(len(a), np.int64)
    for _ in range(scale.steps):
        v = np.clip(v + (a << SHIFT), -V_MAX, V_MAX)
        spikes = v > vth
        v[spikes] -= vth
        counts += spikes
    return counts, v


def window_score(counts: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The integer score a window's winners are chosen on: ``c 2**14 - H_int``."""
    return np.asarray(counts, np.int64) * 2**H_BITS - np.asarray(offsets, np.int64)


def decide(scale: FixedLearningScale, counts: np.ndarray, v: np.ndarray, offsets: np.ndarray,
           level: int, winners: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Target, third factor ``y2`` and the new offsets at the end of a window (all integers). The
    target is ``winners`` when given (a local race chose them), else the k largest scores."""
    if winners is not None:
        target = np.asarray(winners, np.int64)
    else:
        score = window_score(counts, offsets)
        target = kwta_target(score[None, :], np.zeros_like(score), scale.k)[0].astype(np.int64)
    offsets = offsets + np.where(target == 1, scale.h_up, -scale.h_down)
    vth = scale.vth << SHIFT
    summed = v + counts * vth  # T times the mean input, in v units
    slope = (summed >= 0) & (summed <= scale.steps * vth)
    third = (target * scale.steps - counts) * slope * int(level)
    return target, third.astype(np.int64), offsets


def decay(trace: np.ndarray, steps: int, rand: float) -> np.ndarray:
    """The engine's trace decay over ``steps`` steps (time constant :data:`TRACE_TAU`): each step
    ``floor(t e^(-1/tau))`` plus one where ``rand`` (the epoch's number) is below the fraction."""
    trace = np.asarray(trace, np.int64)
    for _ in range(steps):
        scaled = np.exp(-1 / TRACE_TAU) * trace
        low = np.floor(scaled)
        trace = (low + (rand < scaled % 1)).astype(np.int64)
    return trace


def engine_update(scale: FixedLearningScale, w_int: np.ndarray, payload: np.ndarray, third: np.ndarray,
                  rand: float, trace_rands: tuple[float, float] | None = None) -> np.ndarray:
    """Lava's bit-approximate update of ``2^e * x0 * x1 * y2`` with the epoch's random number ``rand``.

    The engine reads both traces ``T`` steps back (the last input spike of the window) through its
    stochastic decay; ``trace_rands`` = (x, y) decay numbers of the epoch model it, ``None`` skips it.
    """
    x1 = np.minimum(np.asarray(payload, np.int64) // 2, TRACE_MAX)
    x0 = (np.asarray(payload) > 0)[None, :]
    y2 = np.clip(np.asarray(third, np.int64), -TRACE_MAX - 1, TRACE_MAX)
    if trace_rands is not None:
        x1, y2 = decay(x1, scale.steps, trace_rands[0]), decay(y2, scale.steps, trace_rands[1])
    x1, y2 = x1[None, :], y2[:, None]
    current = np.right_shift(x1 * y2, 3) << scale.s_exp  # factor widths 7 + 7 + 4 -> shift 3
    current = np.clip(current, ACC_MIN, ACC_MAX) * x0
    acc = np.clip((np.asarray(w_int, np.int64) << 7) + current, ACC_MIN, ACC_MAX)
    scaled = acc / 128.0
    low = np.floor(scaled)
    new = low + (rand < scaled - low)
    return np.clip(new, WEIGHT_MIN, WEIGHT_MAX).astype(np.int64)


def fixed_reference_window(scale: FixedLearningScale, w_int: np.ndarray, payload: np.ndarray,
                           offsets: np.ndarray, level: int, rand: float,
                           trace_rands: tuple[float, float] | None = None, race: LocalWTA | None = None) -> FixedWindow:
    """One window in integers: Lava's fixed-point IF neurons, the k-WTA target, homeostasis, the
    third factor and the learning engine's rounded update (``rand``: the epoch's random number)."""
    w_int = np.asarray(w_int, np.int64)
    payload = np.asarray(payload, np.int64)
    if w_int.shape != (scale.n_outputs, payload.size):
        raise ShapeError(f"weights must be [{scale.n_outputs}, {payload.size}], got {w_int.shape}")
    counts, v = integrate(scale, input_current(scale, w_int, payload))
    offsets = np.asarray(offsets, np.int64)
    winners = None if race is None else race_winners(window_score(counts, offsets), scale.k, race, unit=scale.h_unit)
    target, third, offsets = decide(scale, counts, v, offsets, level, winners)
    return FixedWindow(counts, target, third, engine_update(scale, w_int, payload, third, rand, trace_rands),
                       offsets)


def lava_random_streams(n: int, period: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The random numbers Lava 0.10's engine uses in its first ``n`` learning epochs of ``period``
    steps: weight rounding (``ConnVarRandom``: one at start, one before each epoch, seed 2) and the
    x and y trace decays (``TraceRandom``: one at start, two per step, seeds ``TRACE_SEED`` and +2)."""
    rounding = np.random.default_rng(LAVA_ROUNDING_SEED)
    rounding.random(1)
    weights = np.array([rounding.random(1)[0] for _ in range(n)])
    traces = []
    for seed in (TRACE_SEED, TRACE_SEED + 2):
        draws = np.random.default_rng(seed).random(2 * n * period + 1)
        traces.append(draws[2 * period * np.arange(1, n + 1)])
    return weights, traces[0], traces[1]
