"""On-chip learning of the rule in Lava (sequential mode), host side.

:class:`LavaLearningSession` compiles the learning graph of ``learning_process.py`` (input, a
``LearningDense`` with a Loihi three-factor rule, a ``LearningLIF``-derived output population)
for one run of ``n`` sample windows, streams the samples through an external pipe (one message
per window), receives the output population's per-window statistics, and gets the learned weight
matrix back in a single message at the end. :class:`LavaLearner` plugs it into the shared training
loop (``sdt-neuro train --backend lava``); :func:`reference_window` is the NumPy oracle of one
window (the reference's one-layer sequential-mode update on spike rates). The same session runs
in Loihi 2 integers (``fixed=``, ``learning_fixed.py``) or with the local race for the winners
(``wta=``, ``local_wta.py``).
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sdt_neuro.backends.lava.build import require_lava
from sdt_neuro.backends.lava.learning_fixed import (
    TRACE_SEED,
    TRACE_TAU,
    FixedLearningScale,
    check_initial_weights,
    check_input_fits,
)
from sdt_neuro.backends.lava.local_wta import LocalWTA, race_winners
from sdt_neuro.backends.lava.runner import LavaNetwork, check_samples
from sdt_neuro.errors import ConfigError, ShapeError
from sdt_neuro.rule import WTARule
from sdt_neuro.targets import kwta_target, sequential_homeostasis_step

DEFAULT_STEPS = 8
MAX_STEPS = 1000


# ----------------------------------------------------------------------------- oracle


@dataclass
class WindowResult:
    """What one sample window does: spike rates, target, and the state after the update."""

    rate: np.ndarray
    target: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    offsets: np.ndarray
    average: np.ndarray


def reference_window(weights: np.ndarray, bias: np.ndarray, x: np.ndarray, offsets: np.ndarray,
                     average: np.ndarray, rule: WTARule, steps: int, lr: float,
                     wta: LocalWTA | None = None) -> WindowResult:
    """One sequential-mode step of the rule for a layer of IF neurons (threshold 1, subtractive
    reset) driven by the constant current ``W x + b`` for ``steps`` steps, in NumPy.

    ``r = counts / T``; ``d = kwta(r - H)``; ``A, H`` by sequential homeostasis;
    ``W += lr 2/N ((d - r) 1[0 <= a <= 1]) x^T`` and ``b += lr 2/N (d - r) 1[0 <= a <= 1]``: the
    gradient step of ``mean((y - d)^2)`` with the hard-sigmoid output ``y`` read as the spike rate.
    ``wta``: the winners of the local race instead of the k largest ``r - H``.
    """
    current = weights @ x
    v = np.zeros(len(bias))
    counts = np.zeros(len(bias))
    for _ in range(steps):
        v = v + current + bias
        spikes = v >= 1.0
        v[spikes] -= 1.0
        counts += spikes
    rate = counts / steps
    mean_input = (v + counts) / steps
    if wta is None:
        target = kwta_target(rate[None, :], offsets, rule.k)[0]
    else:  # the local race (``local_wta.py``)
        target = race_winners(rate - offsets, rule.k, wta)
    offsets, average = sequential_homeostasis_step(offsets, average, target, rule)
    third = lr * (2.0 / len(rate)) * (target - rate) * ((mean_input >= 0) & (mean_input <= 1))
    return WindowResult(rate, target, weights + np.outer(third, x), bias + third, offsets, average)


# ----------------------------------------------------------------------------- Lava session


@dataclass
class LearningGraph:
    """The processes of one learning run and the run configuration naming their models."""

    input: Any
    dense: Any
    output: Any
    run_cfg: Any
    steps: int
    sizes: list[int]
    windows: int
    race_steps: int = 0

    @property
    def period(self) -> int:
        """Steps per sample window: T presentation steps, one blank step, and the race's steps."""
        return self.steps + 1 + self.race_steps


def check_learning_options(rule: WTARule, steps: int, windows: int) -> None:
    """Raise :class:`ConfigError` naming the first option the Lava learner cannot run."""
    if not isinstance(steps, (int, np.integer)) or not 1 <= steps <= MAX_STEPS:
        raise ConfigError(f"steps={steps} must be an integer in [1, {MAX_STEPS}]")
    if not isinstance(windows, (int, np.integer)) or windows < 1:
        raise ConfigError(f"the run needs >= 1 sample, got {windows}")
    if rule.dropout != 0:
        raise ConfigError(f"the Lava learner has no output dropout: rule.dropout={rule.dropout} must be 0")


def build_learning_graph(weights: np.ndarray, bias: np.ndarray, rule: WTARule, steps: int, windows: int,
                         offsets: np.ndarray | None = None, average: np.ndarray | None = None,
                         fixed: FixedLearningScale | None = None, wta: LocalWTA | None = None) -> LearningGraph:
    """Processes for ``windows`` samples of ``steps`` steps each (plus a blank step per window).

    ``fixed``: learn in Loihi 2 integers with Lava's bit-approximate engine (``learning_fixed.py``);
    the weights, bias and offsets given here are real values, quantized with ``fixed``.
    ``wta``: choose the winners by a local race with lateral inhibition instead of sorting the
    rates in the output population's process model (float and fixed point).
    """
    weights = np.asarray(weights, dtype=np.float64)
    bias = np.asarray(bias, dtype=np.float64)
    if weights.ndim != 2 or bias.shape != (weights.shape[0],):
        raise ShapeError(f"weights must be [out, in] and bias [out], got {weights.shape} and {bias.shape}")
    if weights.shape[0] != rule.n_outputs:
        raise ShapeError(f"weights have {weights.shape[0]} outputs but rule.n_outputs={rule.n_outputs}")
    if not (np.isfinite(weights).all() and np.isfinite(bias).all()):
        raise ConfigError("weights and biases must be finite (found NaN or inf)")
    check_learning_options(rule, steps, windows)
    n_out, n_in = weights.shape
    offsets = np.zeros(n_out) if offsets is None else np.asarray(offsets, dtype=np.float64)
    average = np.zeros(n_out) if average is None else np.asarray(average, dtype=np.float64)
    if offsets.shape != (n_out,) or average.shape != (n_out,):
        raise ShapeError(f"offsets and average must have shape ({n_out},), got {offsets.shape}, {average.shape}")
    require_lava()
    from lava.magma.core.learning.learning_rule import Loihi3FLearningRule
    from lava.magma.core.run_configs import Loihi2SimCfg

    from sdt_neuro.backends.lava import learning_process as P

    period = steps + 1
    if fixed is not None:
        if (fixed.steps, fixed.n_outputs, fixed.k) != (steps, n_out, rule.k):
            raise ConfigError(f"the fixed-point scale was made for steps={fixed.steps}, n_outputs={fixed.n_outputs}, "
                              f"k={fixed.k}; this graph has {steps}, {n_out}, {rule.k}")
        return _fixed_graph(weights, bias, rule, steps, windows, offsets, fixed, wta)
    race_steps = 0 if wta is None else wta.check().steps
    period += race_steps
    # x1: graded pre-synaptic trace (payload / 2); tau large, its decay is undone by the neuron.
    lava_rule = Loihi3FLearningRule(dw="2 * x0 * x1 * y2", x1_impulse=0, x1_tau=2**16 - 1, t_epoch=period)
    inp = P.WindowInput(n_in=n_in, steps=steps, period=period)
    dense = P.PlasticDense(weights=weights, readout_step=windows * period, num_message_bits=24,
                           learning_rule=lava_rule, graded_spike_cfg=_graded_overwrite())
    neuron_args = dict(n=n_out, steps=steps, rule=rule.to_dict(), bias=bias, offsets=offsets, average=average,
                       learning_rule=lava_rule)
    out = P.WTAOutput(**neuron_args) if wta is None else P.RaceWTAOutput(race=wta.to_dict(), **neuron_args)
    _wire(inp, dense, out)
    models = {inp: P.PyWindowInputFloat, dense: P.PyPlasticDenseFloat, out: P.PyWTAOutputFloat}
    if wta is not None:  # lateral inhibition: a stock Dense, -1 between every pair of distinct neurons
        from lava.proc.dense.models import PyDenseModelFloat

        models.update({_lateral(out, n_out, -1.0): PyDenseModelFloat, out: P.PyRaceWTAOutputFloat})
    run_cfg = Loihi2SimCfg(select_tag="floating_pt", exception_proc_model_map=models)
    return LearningGraph(inp, dense, out, run_cfg, int(steps), [n_in, n_out], int(windows), race_steps)


def _fixed_graph(weights: np.ndarray, bias: np.ndarray, rule: WTARule, steps: int, windows: int,
                 offsets: np.ndarray, fixed: FixedLearningScale, wta: LocalWTA | None = None) -> LearningGraph:
    """The integer graph: always-on bias input, bit-approximate engine, fixed-point output population
    (with the local race: a bit-accurate lateral ``Dense``)."""
    from lava.magma.core.learning.learning_rule import Loihi3FLearningRule
    from lava.magma.core.run_configs import Loihi2SimCfg

    from sdt_neuro.backends.lava import learning_process as P

    n_out, n_in = weights.shape
    race_steps = 0 if wta is None else wta.check().steps
    period = steps + 1 + race_steps
    w_int = fixed.quantize_layer(weights, bias)
    lava_rule = Loihi3FLearningRule(dw=fixed.rule_string, x1_impulse=0, x1_tau=TRACE_TAU, t_epoch=period,
                                    rng_seed=TRACE_SEED)
    inp = P.WindowInput(n_in=n_in + 1, steps=steps, period=period)
    dense = P.PlasticDense(weights=w_int, readout_step=windows * period, num_message_bits=24, learning_rule=lava_rule,
                           graded_spike_cfg=_graded_overwrite(), weight_exp=fixed.weight_exp)
    neuron_args = dict(n=n_out, steps=steps, rule=rule.to_dict(), bias=np.zeros(n_out), learning_rule=lava_rule,
                       offsets=fixed.offsets_to_int(offsets), average=np.zeros(n_out, np.int64),
                       fixed_scale=fixed.to_dict())
    out = P.WTAOutput(**neuron_args) if wta is None else P.RaceWTAOutput(race=wta.to_dict(), **neuron_args)
    _wire(inp, dense, out)
    models = {inp: P.PyWindowInputFixed, dense: P.PyPlasticDenseFixed, out: P.PyWTAOutputFixed}
    if wta is not None:  # lateral inhibition on Lava's bit-accurate Dense: -1 rounds to the even -2
        from lava.proc.dense.models import PyDenseModelBitAcc

        models.update({_lateral(out, n_out, -2.0): PyDenseModelBitAcc, out: P.PyRaceWTAOutputFixed})
    run_cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=models)
    return LearningGraph(inp, dense, out, run_cfg, int(steps), [n_in, n_out], int(windows), race_steps)


def _wire(inp: Any, dense: Any, out: Any) -> None:
    """Input to synapse to output population, the window's rate to the output, and the output's
    learning ports (bap, y1, y2, y3) back to the synapse."""
    inp.s_out.connect(dense.s_in)
    inp.lr_out.connect(out.lr_in)
    dense.a_out.connect(out.a_in)
    for src, dst in ((out.s_out_bap, dense.s_in_bap), (out.s_out_y1, dense.s_in_y1),
                     (out.s_out_y2, dense.s_in_y2), (out.s_out_y3, dense.s_in_y3)):
        src.connect(dst)


def _lateral(out: Any, n: int, weight: float) -> Any:
    """A stock ``Dense`` from the race's spikes back to the population: ``weight`` between every pair
    of distinct neurons, none on the diagonal."""
    from lava.proc.dense.process import Dense

    lateral = Dense(weights=weight * (1.0 - np.eye(n)))
    out.race_out.connect(lateral.s_in)
    lateral.a_out.connect(out.inh_in)
    return lateral


def _graded_overwrite() -> Any:
    from lava.magma.core.learning.constants import GradedSpikeCfg

    return GradedSpikeCfg.OVERWRITE


class FloatWindows:
    """What a float session sends per window (the sample and its rate) and reads back (stats
    ``[rate, target, bias, offsets, average, input_peak]``, as the neurons report them)."""

    def encode(self, x: np.ndarray, lr: float) -> np.ndarray:
        return np.concatenate([x, [lr]])

    def decode(self, stats: np.ndarray) -> np.ndarray:
        return np.asarray(stats, dtype=np.float64)


class FixedWindows:
    """The same in integers: payloads ``2 round(127 x)`` and the stochastically rounded rate level
    in; ``[counts, target, y2, H_int, average, input_peak]`` back as ``[rate, target, y2, H, average,
    input_peak]``, refusing a window whose synaptic input left the 16-bit ``a_in`` (as the oracle does)."""

    def __init__(self, scale: FixedLearningScale, seed: int) -> None:
        self.scale = scale
        self.levels = np.random.default_rng(seed)  # stochastic rounding of the per-window rate level

    def encode(self, x: np.ndarray, lr: float) -> np.ndarray:
        return np.append(self.scale.payload(x), self.scale.rate_level(lr, self.levels)).astype(np.int32)

    def decode(self, stats: np.ndarray) -> np.ndarray:
        check_input_fits(stats[-1])  # input_peak, the last of learning_process.STATS_ROWS
        out = np.asarray(stats, dtype=np.float64)
        out[0] /= self.scale.steps
        out[3] = self.scale.offsets_to_real(out[3])
        return out


class LavaLearningSession(LavaNetwork):
    """One Lava run that learns from ``windows`` samples, one at a time (sequential mode).

    Use as a context manager (the runtime is always stopped on exit, as for
    :class:`~sdt_neuro.backends.lava.runner.LavaNetwork`)::

        with LavaLearningSession(w, b, rule, steps=8, windows=len(x)) as s:
            stats = s.learn(x, lr=0.5)          # [n, 6, N]: rate, target, bias, offsets, average, input_peak
            w, b = s.weights, s.bias
    """

    def __init__(self, weights: np.ndarray, bias: np.ndarray, rule: WTARule, *, steps: int, windows: int,
                 offsets: np.ndarray | None = None, average: np.ndarray | None = None,
                 fixed: FixedLearningScale | None = None, seed: int = 0, wta: LocalWTA | None = None) -> None:
        require_lava()
        self.graph = build_learning_graph(weights, bias, rule, steps, windows, offsets, average,  # type: ignore[assignment]
                                          fixed=fixed, wta=wta)
        self.fixed = fixed
        self.codec: FloatWindows | FixedWindows = FloatWindows() if fixed is None else FixedWindows(fixed, seed)
        self.weights_int: np.ndarray | None = None
        self.rule = rule
        self._init_lifecycle()
        self.sent = 0
        self.received = 0
        self.weights: np.ndarray | None = None
        self.bias = np.asarray(bias, dtype=np.float64).copy()
        self.offsets = np.zeros(rule.n_outputs) if offsets is None else np.asarray(offsets, float).copy()
        self.average = np.zeros(rule.n_outputs) if average is None else np.asarray(average, float).copy()
        self.run_seconds = 0.0

    def _ports(self) -> tuple[Any, Any]:
        g = self.graph
        return g.input.x_in.external_pipe_csp_send_port, g.output.stats_out.external_pipe_csp_recv_port

    def begin(self) -> None:
        """Start the (non-blocking) run of all windows."""
        from lava.magma.core.run_conditions import RunSteps

        if self._t:
            raise ConfigError("a LavaLearningSession runs once; build a new one for more samples")
        self.start()
        g = self.graph
        self._t = g.windows * g.period
        g.input.run(condition=RunSteps(num_steps=self._t, blocking=False))
        self._inflight = {"send": g.windows, "recv": g.windows, "weights": 1}
        self._t_run = time.perf_counter()

    def step(self, x: np.ndarray, lr: float) -> np.ndarray:
        """Present one sample with learning rate ``lr``; return its stats ``[6, N]`` (``STATS_ROWS``)."""
        x = check_samples(np.asarray(x).reshape(1, -1), self.graph.sizes[0])[0]
        if not (math.isfinite(lr) and lr >= 0):
            raise ConfigError(f"lr={lr} must be a finite learning rate >= 0")
        if not self._inflight:
            self.begin()
        if self.sent >= self.graph.windows:
            raise ConfigError(f"this session was built for {self.graph.windows} samples")
        send, recv = self._ports()
        send.send(self.codec.encode(x, lr))
        self.sent += 1
        self._inflight["send"] -= 1
        stats = self.codec.decode(self._receive(recv))
        self.received += 1
        self._inflight["recv"] -= 1
        self.offsets, self.average = stats[3].copy(), stats[4].copy()
        if self.fixed is None:  # the float neurons report the bias they learn; the fixed graph's is a weight
            self.bias = stats[2].copy()
        if self.received == self.graph.windows:
            self._finish()
        return stats

    def learn(self, x: np.ndarray, lr: float | np.ndarray, progress: Any = None) -> np.ndarray:
        """Learn from every sample of ``x`` ``[n, n_in]`` (``lr`` scalar or one per sample); stats ``[n, 6, N]``."""
        x = check_samples(x, self.graph.sizes[0])
        if len(x) != self.graph.windows - self.sent:
            raise ShapeError(f"this session expects {self.graph.windows - self.sent} more samples, got {len(x)}")
        lrs = np.broadcast_to(np.asarray(lr, dtype=np.float64), (len(x),))
        if not (np.isfinite(lrs).all() and (lrs >= 0).all()):  # before any sample is sent
            raise ConfigError(f"lr must hold finite learning rates >= 0, got values from {lrs.min()} to {lrs.max()}")
        out = np.zeros((len(x), *self.graph.output.stats_out.shape))
        for i in range(len(x)):
            out[i] = self.step(x[i], float(lrs[i]))
            if progress is not None:
                progress.update(1)
        return out

    def _finish(self) -> None:
        g = self.graph
        recv = g.dense.w_out.external_pipe_csp_recv_port
        raw = np.array(self._receive(recv), dtype=np.float64)
        if self.fixed is None:
            self.weights = raw
        else:
            self.weights_int = raw.astype(np.int64)
            self.weights, self.bias = self.fixed.dequantize_layer(self.weights_int)
        self._inflight["weights"] = 0
        self.runtime.wait()
        self._inflight = {}
        self.run_seconds = time.perf_counter() - self._t_run

    def _drain_ports(self) -> dict[str, tuple[Any, bool]]:
        """The inference pipes plus the one that returns the weights (zero windows: learning rate 0)."""
        return {**super()._drain_ports(), "weights": (self.graph.dense.w_out.external_pipe_csp_recv_port, False)}


# ----------------------------------------------------------------------------- training loop


class LavaLearner:
    """The shared loop's learner (``training.loop.Learner``) whose weights learn inside Lava.

    Every epoch is one Lava run of ``epoch_samples`` windows, compiled from the current weights
    and homeostasis state at the epoch's first sample; after its last sample the weights come back
    in one message and are copied into ``model`` (the reference MLP, for evaluation and
    checkpoints). The learning rate of each sample is the one the loop set in ``optimizer``.
    """

    backend = "lava"

    def __init__(self, config: Any, device: torch.device, epoch_samples: int) -> None:
        from sdt_neuro.training.homeostasis import HomeostasisState

        check_config(config)
        self.config = config
        self.rule = config.wta_rule
        self.device = torch.device("cpu")
        self.steps = int(config.extra.get("steps", DEFAULT_STEPS))
        check_learning_options(self.rule, self.steps, epoch_samples)
        torch.manual_seed(config.seed)  # same initial weights as the reference learner
        self.model = config.build_model()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lrs[0])  # carries the loop's rate
        self.state = HomeostasisState(self.rule)
        self.epoch_samples = int(epoch_samples)
        self.session: LavaLearningSession | None = None
        self.compile_seconds = 0.0
        self.fixed = fixed_scale(config)
        self.wta = local_wta(config)
        if self.fixed is not None:
            layer = self.model.layers[0]
            check_initial_weights(self.fixed, layer.weight.detach().numpy(), layer.bias.detach().numpy())
        self._epochs = 0

    def train_step(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is not None:
            raise ConfigError("the Lava learner trains without labels (self-defined target only)")
        if x.shape[0] != 1:
            raise ConfigError(f"the Lava learner runs sequential mode: batches of 1 sample, got {x.shape[0]}")
        if self.session is None:
            self._open()
        assert self.session is not None
        sample = check_samples(x.reshape(1, -1).cpu().numpy(), self.config.sizes[0])[0]
        stats = self.session.step(sample, float(self.optimizer.param_groups[0]["lr"]))
        if self.session.received == self.epoch_samples:
            self._close_epoch()
        return torch.tensor(float(np.mean((stats[0] - stats[1]) ** 2)))

    def _open(self) -> None:
        layer = self.model.layers[0]
        self.session = LavaLearningSession(
            layer.weight.detach().double().numpy(), layer.bias.detach().double().numpy(), self.rule,
            steps=self.steps, windows=self.epoch_samples, offsets=self.state.offsets.double().numpy(),
            average=self.state.average.double().numpy(), fixed=self.fixed, seed=self.config.seed + self._epochs,
            wta=self.wta)
        self._epochs += 1
        self.session.start()
        self.compile_seconds += self.session.compile_seconds

    def _close_epoch(self) -> None:
        session, self.session = self.session, None
        assert session is not None and session.weights is not None
        session.close()
        layer = self.model.layers[0]
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(session.weights))
            layer.bias.copy_(torch.from_numpy(session.bias))
        self.state.offsets = torch.from_numpy(session.offsets).float()
        self.state.average = torch.from_numpy(session.average).float()

    def close(self) -> None:
        """Stop a run left open (an interrupted epoch, whose weights are dropped: the checkpoint keeps the
        last whole epoch) at once, without feeding it the rest of its windows; safe to call twice."""
        if self.session is not None:
            session, self.session = self.session, None
            session.close(quiet=True, abort=True)

    @torch.no_grad()
    def activity(self, x: torch.Tensor) -> torch.Tensor:
        """Output activity of the reference MLP holding the Lava-learned weights."""
        if self.session is not None:
            raise ConfigError("an epoch is still running in Lava; its weights are not back yet")
        self.model.eval()
        return self.model(x)


def local_wta(config: Any) -> LocalWTA | None:
    """The race of a ``--race-steps`` run (``extra["race_steps"]``, ``race_floor``, ``race_ceiling``), or ``None``."""
    steps = int(config.extra.get("race_steps") or 0)
    if not steps:
        return None
    default = LocalWTA()
    return LocalWTA(steps=steps, floor=float(config.extra.get("race_floor", default.floor)),
                    ceiling=float(config.extra.get("race_ceiling", default.ceiling))).check()


def fixed_scale(config: Any) -> FixedLearningScale | None:
    """The integer scale of a ``--fixed-point`` run (``extra["fixed_point"]``), or ``None`` for float."""
    if not config.extra.get("fixed_point"):
        return None
    from sdt_neuro.backends.lava.learning_fixed import DEFAULT_WEIGHT_MAX, make_scale

    steps = int(config.extra.get("steps", DEFAULT_STEPS))
    return make_scale(config.wta_rule, steps, float(config.lrs[0]),
                      float(config.extra.get("weight_max", DEFAULT_WEIGHT_MAX)))


def check_config(config: Any) -> None:
    """Raise :class:`ConfigError` unless ``config`` is one that the Lava learner runs."""
    problems = []
    if config.arch != "mlp" or len(config.sizes) != 2:
        problems.append(f"a one-layer MLP (arch='mlp', 2 sizes), got arch={config.arch!r}, sizes={config.sizes}")
    if config.mode != "sequential" or config.batch_size != 1:
        problems.append(f"mode='sequential' with batch_size=1, got {config.mode!r}, {config.batch_size}")
    if config.input_dropout != 0:
        problems.append(f"input_dropout=0, got {config.input_dropout}")
    if config.optimizer != "sgd":
        problems.append(f"optimizer='sgd', got {config.optimizer!r}")
    if config.wta_rule.dropout != 0:
        problems.append(f"rule dropout=0, got {config.wta_rule.dropout}")
    if config.readout != "hard-sigmoid" or config.procedure:
        problems.append(f"the hard-sigmoid read-out and one phase, got readout={config.readout!r} and "
                        f"{len(config.procedure)} stage(s) of phases")
    if config.algorithm != "bp":  # the window's update is the reference's one-layer BP step
        problems.append(f"algorithm='bp' (the on-chip rule is the one-layer BP step), got {config.algorithm!r}")
    if config.semi_labels is not None:
        problems.append(f"no labelled subset (it learns without labels), got semi_labels={config.semi_labels}")
    if problems:
        raise ConfigError("the Lava learner needs " + "; ".join(problems) + " (see preset lava-100)")


def epoch_samples(config: Any, data: Any) -> int:
    """How many images an epoch of the shared loop sends to Lava: the training split, without the
    validation images and cut to ``max_train_samples``."""
    from sdt_neuro.training.run_data import fit_to_data, training_split

    return len(training_split(fit_to_data(config, data), data))


def train_command(config: Any, args: Any) -> int:
    """``sdt-neuro train --backend lava [--preset lava-100] --samples N --steps T``."""
    from sdt_neuro.data import load_dataset
    from sdt_neuro.training.loop import train

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("--backend lava learns in one process (Lava runs its own processes); start it "
                          "without torchrun")
    if getattr(args, "resume", False):
        raise ConfigError("--resume is not supported by the Lava learner (each run is one pass)")
    if getattr(args, "samples", None) is not None:
        config = config.replace(max_train_samples=int(args.samples))
    steps = int(args.steps) if args.steps is not None else int(config.extra.get("steps", DEFAULT_STEPS))
    config = config.replace(extra={**config.extra, "backend": "lava", "steps": steps})
    if getattr(args, "fixed_point", False):
        config = config.replace(extra={**config.extra, "fixed_point": True})
    if getattr(args, "race_steps", None) is not None:
        if int(args.race_steps) < 1:
            raise ConfigError(f"--race-steps {args.race_steps}: a race needs R >= 1 steps (leave it out to pick the "
                              "winners by sorting)")
        config = config.replace(extra={**config.extra, "race_steps": int(args.race_steps)})
    if getattr(args, "race_range", None):
        if not config.extra.get("race_steps"):
            raise ConfigError("--race-range sets the local race's scores: add --race-steps")
        floor, ceiling = (float(v) for v in args.race_range)
        config = config.replace(extra={**config.extra, "race_floor": floor, "race_ceiling": ceiling})
    local_wta(config)  # refuse a race it cannot run before loading data
    if getattr(args, "weight_max", None) is not None:
        if not config.extra.get("fixed_point"):
            raise ConfigError("--weight-max sets the fixed-point weight range: add --fixed-point")
        config = config.replace(extra={**config.extra, "weight_max": float(args.weight_max)})
    check_config(config)
    scale = fixed_scale(config)
    if scale is not None:
        print(f"fixed point: dw = {scale.rule_string}, weight unit {scale.weight_scale:.4g} (|w| <= "
              f"{255 * scale.weight_scale:.4g}), {scale.rate_levels} rate levels, threshold {scale.vth} << 6, "
              f"weight_exp {scale.weight_exp}")
    data = load_dataset(config.dataset, args.data_root)
    n = epoch_samples(config, data)
    if getattr(args, "samples", None) is not None and n < int(args.samples):
        print(f"note: --samples {args.samples} is more than the {n} training images; an epoch sends all {n}",
              file=sys.stderr)
    learners: list[LavaLearner] = []

    def factory(cfg: Any, device: torch.device) -> LavaLearner:
        learners.append(LavaLearner(cfg, device, epoch_samples=n))
        return learners[-1]

    from sdt_neuro.records import epoch_line, written

    out = Path(args.out)
    t0 = time.perf_counter()
    try:
        result = train(config, out_dir=out, data_root=args.data_root, dataset=data,
                       progress=False if args.no_progress else None, learner_factory=factory,
                       overwrite=getattr(args, "overwrite", False))
    finally:
        for learner in learners:
            learner.close()
    for m in result.metrics:
        print(epoch_line(m, f"  ({m['train_seconds']:.1f} s in Lava, T={steps}, {n} samples)"))
    print(f"total {time.perf_counter() - t0:.1f} s; wrote {written(out)}")
    return 0
