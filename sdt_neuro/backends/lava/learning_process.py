"""Lava processes for on-chip learning of the rule: one sample per window (sequential mode).

Graph (see ``learning.py`` for the host side and ``docs/lava.md`` for the timing)::

    host --x [n_in] per window--> WindowInput --graded x--> PlasticDense (LearningDense, Loihi3F rule)
                                       |  --lr per window-->          |  a = W x      ^ bap, y1, y2, y3
                                       v                             v               |
                                                               WTAOutput (LearningLIF-derived IF neurons)
                                                                     |--stats [6, N] per window--> host
    PlasticDense --weights [N, n_in], once at the requested step--> host

A window is ``P = T + 1`` steps: the input presents ``x`` for T steps, then one blank step, so that
the synapse's one-step delay puts all T input currents of the sample *inside* the learning epoch
(``t_epoch = P``) that ends with the neuron's decision. At that last step the output population

1. reads its spike counts ``c`` (rate ``r = c / T``) and mean input ``a = (v + c vth) / T = W x + b``,
2. takes the k-WTA target ``d = k_hot(top_k(r - H))`` (``sdt_neuro.targets.kwta_target``, the oracle),
3. updates ``A <- (1 - eta) A + eta d``, ``H <- H + gamma (A - T_set)`` (sequential homeostasis),
4. sends the third factor ``y2 = lr 2/N (d - r) 1[0 <= a <= 1]`` (the MSE gradient of the hard-sigmoid
   unit, scaled by the learning rate the host sent with the sample) and updates its own bias by it.

The synapse applies Lava's Loihi three-factor rule ``dw = 2 * x0 * x1 * y2``: ``x1`` is the graded
pre-synaptic trace (``GradedSpikeCfg.OVERWRITE`` keeps payload / 2, i.e. ``x / 2``), ``x0`` restricts
the update to inputs that were active in the epoch (``x > 0``; the others have ``x = 0`` anyway).
The top-k in step 2 is not local to a neuron: on Loihi it would be a soft winner-take-all by
lateral inhibition; here the population computes it in its process model.

The same processes have ``fixed_pt`` models (Lava's bit-approximate learning engine and fixed-point
LIF arithmetic; ``learning_fixed.py``), and :class:`RaceWTAOutput` replaces the sort by a local
race with lateral inhibition (``local_wta.py``).

Keep this module free of import-time side effects (Lava may execute it).
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.connection import LearningConnectionModelBitApproximate, LearningConnectionModelFloat
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.neuron import LearningNeuronModelFixed, LearningNeuronModelFloat
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.dense.models import AbstractPyDenseModelBitAcc, AbstractPyDenseModelFloat
from lava.proc.dense.process import LearningDense
from lava.proc.lif.models import AbstractPyLifModelFixed, AbstractPyLifModelFloat
from lava.proc.lif.process import LearningLIF

from sdt_neuro.backends.lava.local_wta import LocalWTA, RaceRun
from sdt_neuro.rule import WTARule
from sdt_neuro.targets import kwta_target, sequential_homeostasis_step

BUFFER_SIZE = 2
STATS_ROWS = ("rate", "target", "bias", "offsets", "average", "input_peak")  # rows of the per-window stats message


class WindowInput(AbstractProcess):
    """One sample ``[n_in]`` (pixel values in [0, 1]) plus its learning rate per window from the host.

    Emits the pixel values as graded spikes for ``steps`` steps, then zeros for one step; sends
    the window's learning rate to the output population once per window.
    """

    def __init__(self, *, n_in: int, steps: int, period: int | None = None, buffer_size: int = BUFFER_SIZE,
                 name: str | None = None) -> None:
        super().__init__(name=name)
        self.x_in = InPort(shape=(n_in + 1,))
        self.x_in.flag_external_pipe(buffer_size=buffer_size)
        self.s_out = OutPort(shape=(n_in,))
        self.lr_out = OutPort(shape=(1,))
        self.proc_params["steps"] = int(steps)
        self.proc_params["period"] = int(steps + 1 if period is None else period)
        self.proc_params["n_in"] = int(n_in)


@implements(proc=WindowInput, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyWindowInputFloat(PyLoihiProcessModel):
    """Float graded input: ``x`` for T steps, a blank step, one message from the host per window."""

    x_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    lr_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.steps = proc_params["steps"]
        self.period = proc_params["period"]
        self.zeros = np.zeros(proc_params["n_in"])
        self.x = self.zeros

    def run_spk(self) -> None:
        step = (self.time_step - 1) % self.period
        if step == 0:
            message = self.x_in.recv()
            self.x = message[:-1]
            self.lr_out.send(message[-1:])
        self.s_out.send(self.x if step < self.steps else self.zeros)


class PlasticDense(LearningDense):
    """Lava's ``LearningDense`` plus an external pipe that sends the whole weight matrix to the host
    in one message, at the learning phase of step ``readout_step`` (a Var the host sets once per run)."""

    def __init__(self, *, weights: np.ndarray, readout_step: int = 0, **kwargs: object) -> None:
        super().__init__(weights=weights, **kwargs)
        self.w_out = OutPort(shape=weights.shape)
        self.w_out.flag_external_pipe(buffer_size=1)
        self.readout_step = Var(shape=(1,), init=int(readout_step))


@implements(proc=PlasticDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyPlasticDenseFloat(LearningConnectionModelFloat, AbstractPyDenseModelFloat):
    """Lava's float learning synapse (``PyLearningDenseModelFloat``'s ``run_spk``, graded input)
    plus the weight readout. Derived from Lava's undecorated bases: ``@implements`` refuses a
    subclass of an already decorated model."""

    w_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    readout_step: np.ndarray = LavaPyType(np.ndarray, int)

    def run_spk(self) -> None:
        self.a_out.send(self.a_buff)  # one-step synaptic delay
        s_in = self.s_in.recv()
        self.a_buff = self.weights.dot(s_in)
        self.recv_traces(s_in)

    def run_lrn(self) -> None:
        super().run_lrn()
        if self.time_step == int(self.readout_step[0]):
            self.w_out.send(self.weights)


class WTAOutput(LearningLIF):
    """Output population: integrate-and-fire neurons (subtractive reset, ``du = 1, dv = 0``) that
    build the k-WTA target at the end of each window and provide the third factor as ``y2``.

    Vars beyond ``LearningLIF``'s: ``offsets`` (H), ``average`` (A), ``counts``.
    """

    def __init__(self, *, n: int, steps: int, rule: dict, bias: np.ndarray, offsets: np.ndarray,
                 average: np.ndarray, learning_rule: object, vth: float = 1.0, fixed_scale: dict | None = None,
                 buffer_size: int = BUFFER_SIZE, name: str | None = None) -> None:
        if fixed_scale is None:  # float: du = 1 (u = a_in), dv = 0, the bias in the neuron
            super().__init__(shape=(n,), du=1.0, dv=0.0, vth=vth, bias_mant=np.asarray(bias, float),
                             learning_rule=learning_rule, name=name)
        else:  # Loihi integers: du = 4095 (+1: u = a_in), dv = 0, the bias is a learned synapse
            super().__init__(shape=(n,), du=4095, dv=0, vth=int(fixed_scale["vth"]), bias_mant=0,
                             learning_rule=learning_rule, name=name)
        self.lr_in = InPort(shape=(1,))
        self.stats_out = OutPort(shape=(len(STATS_ROWS), n))
        self.stats_out.flag_external_pipe(buffer_size=buffer_size)
        self.offsets = Var(shape=(n,), init=np.asarray(offsets))
        self.average = Var(shape=(n,), init=np.asarray(average))
        self.counts = Var(shape=(n,), init=0)
        self.proc_params["steps"] = int(steps)
        self.proc_params["rule"] = dict(rule)
        self.proc_params["fixed_scale"] = None if fixed_scale is None else dict(fixed_scale)


class WindowSteps:
    """The step schedule of a learning window, shared by the float and the integer output models.

    Steps 2..T+1 count the sample's currents (``integrate``); a race model then runs R race steps;
    the window's last step decides and learns (``finish_window``). Every step sends the spikes and
    the learning engine's factors (``send_learning``). Each arithmetic supplies ``integrate``,
    ``finish_window(v, winners)``, ``window_voltage``, ``quiet_third``, ``race_score`` and
    ``y2_message``.
    """

    time_step: int
    period: int
    steps: int
    no_spikes: np.ndarray
    y1: np.ndarray
    y2: np.ndarray
    y3: np.ndarray
    v_window: np.ndarray
    race: RaceRun

    def window_step(self) -> int:
        """This step's place in the window, 1..P."""
        return (self.time_step - 1) % self.period + 1

    def sort_step(self) -> None:
        """One step of a model that takes the k largest scores."""
        within = self.window_step()
        spikes = self.integrate(self.a_in.recv(), within)
        third = self.finish_window(self.window_voltage()) if within == self.period else self.quiet_third()
        self.send_learning(spikes, third)

    def race_step(self) -> None:
        """One step of a model whose winners come from the local race (``RaceRun``)."""
        a_in, inh = self.a_in.recv(), self.inh_in.recv()
        within = self.window_step()
        spikes = race_spikes = self.no_spikes
        if 2 <= within <= self.steps + 1:  # the window's T input currents
            spikes = self.integrate(a_in, within)
            if within == self.steps + 1:  # counting done: race from the scores
                self.v_window = self.window_voltage()
                self.race.start(self.race_score())
        elif within > self.steps + 1:
            race_spikes = self.race.step(within - self.steps - 1, inh)
        third = (self.finish_window(self.v_window, self.race.fired)
                 if within == self.period else self.quiet_third())
        self.race_out.send(race_spikes)
        self.send_learning(spikes, third)

    def send_learning(self, spikes: np.ndarray, third: np.ndarray) -> None:
        """This step's spikes and the learning engine's factors (the third factor is ``y2``)."""
        self.y2 = third
        self.s_out.send(spikes)
        self.s_out_bap.send(self.no_spikes)  # no post-synaptic spike: y2 keeps its sign
        self.s_out_y1.send(self.y1)
        self.s_out_y2.send(self.y2_message())
        self.s_out_y3.send(self.y3)


class WTAOutputFloatBase(WindowSteps, LearningNeuronModelFloat, AbstractPyLifModelFloat):
    """Float model of :class:`WTAOutput` on Lava's learning-neuron and abstract LIF model classes
    (undecorated: ``@implements`` refuses a subclass of a model of another process)."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)
    vth: float = LavaPyType(float, float)
    lr_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    stats_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    offsets: np.ndarray = LavaPyType(np.ndarray, float)
    average: np.ndarray = LavaPyType(np.ndarray, float)
    counts: np.ndarray = LavaPyType(np.ndarray, float)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.steps = proc_params["steps"]
        self.period = self.steps + 1
        self.rule = WTARule.from_dict(proc_params["rule"])
        self.no_spikes = np.zeros(proc_params["shape"], dtype=bool)
        self.input_peak = np.zeros(proc_params["shape"])  # largest |a_in| of the window per neuron
        # Lava's float synapse evaluates y2 after decaying it over the epoch with y2_tau (2**16 - 1
        # for Loihi3F rules) and x1 with x1_tau: undo both so dw is exact.
        rule = proc_params["learning_rule"]
        self.trace_gain = float(np.exp(self.steps / rule.y2_tau + self.steps / rule.x1_tau))

    def integrate(self, a_in: np.ndarray, within: int) -> np.ndarray:
        """One counting step (``within``: 1..P in the window; the count restarts at 2); its spikes."""
        if within == 2:  # first step of this sample's currents
            self.u.fill(0)
            self.v.fill(0)
            self.counts.fill(0)
            self.input_peak = np.zeros(self.counts.shape)
        self.input_peak = np.maximum(self.input_peak, np.abs(a_in))
        self.subthr_dynamics(activation_in=a_in)  # u = a_in; v += u + bias (du = 1, dv = 0)
        spikes = self.v >= self.vth
        self.v[spikes] -= self.vth  # subtractive reset
        self.counts += spikes
        return spikes

    def y2_message(self) -> np.ndarray:
        return self.y2 * self.trace_gain

    def quiet_third(self) -> np.ndarray:
        return np.zeros_like(self.y2)

    def window_voltage(self) -> np.ndarray:
        return self.v.copy()

    def race_score(self) -> np.ndarray:
        return self.counts / self.steps - self.offsets  # r - H

    def finish_window(self, v: np.ndarray, winners: np.ndarray | None = None) -> np.ndarray:
        """k-WTA target (``winners`` when a race chose them), homeostasis and the third factor at the
        end of a window (``v``: the membranes when counting ended); returns the factor."""
        lr = float(self.lr_in.recv()[0])
        rate = self.counts / self.steps
        mean_input = (v + self.counts * self.vth) / self.steps  # = W x + b over the window
        target = (kwta_target(rate[None, :], self.offsets, self.rule.k)[0] if winners is None
                  else winners.astype(np.float64))
        self.offsets, self.average = sequential_homeostasis_step(self.offsets, self.average, target, self.rule)
        slope = (mean_input >= 0) & (mean_input <= 1)  # derivative of the hard-sigmoid
        third = lr * (2.0 / rate.size) * (target - rate) * slope
        self.bias_mant = self.bias_mant + third  # the neuron learns its own bias
        self.stats_out.send(np.stack([rate, target, self.bias_mant, self.offsets, self.average, self.input_peak]))
        return third


@implements(proc=WTAOutput, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyWTAOutputFloat(WTAOutputFloatBase):
    """Float model of :class:`WTAOutput`: the k winners by sorting the rates (``kwta_target``)."""

    def run_spk(self) -> None:
        self.sort_step()


# ----------------------------------------------------------------------------- local winner-take-all


class RaceWTAOutput(WTAOutput):
    """:class:`WTAOutput` that chooses its k winners locally, by a race with lateral inhibition.

    The window grows by ``race["steps"]`` (R) steps after the T counting steps. At race step j
    each neuron's potential is its score ``r - H`` (``H``: its own adaptive threshold) plus
    ``j (ceiling - floor) / R``; a neuron that reaches ``ceiling`` spikes once on ``race_out``,
    unless it has already received k inhibitory spikes. ``race_out`` feeds back through a stock
    ``Dense`` with weight -1 between every pair of distinct neurons (one-step delay), so each
    neuron knows only how many others have won. Neurons that cross in the same step all win, so
    a window can have more than k winners; ``local_wta.race_winners`` is the NumPy oracle.
    """

    def __init__(self, *, race: dict, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        n = self.counts.shape[0]
        self.race_out = OutPort(shape=(n,))
        self.inh_in = InPort(shape=(n,))
        self.proc_params["race"] = dict(race)


@implements(proc=RaceWTAOutput, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyRaceWTAOutputFloat(WTAOutputFloatBase):
    """Float model of :class:`RaceWTAOutput`: counting as in :class:`PyWTAOutputFloat`, then the race."""

    race_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)
    inh_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        race = LocalWTA(**proc_params["race"])
        self.period = self.steps + 1 + race.steps
        self.race = RaceRun.for_race(race, proc_params["shape"][0], self.rule.k)
        self.v_window = np.zeros(proc_params["shape"])

    def run_spk(self) -> None:
        self.race_step()


# ----------------------------------------------------------------------------- fixed point
# The same graph in Loihi 2 integers (``learning_fixed.py`` has the encoding and the oracle): the
# input sends graded payloads ``2 round(127 x)`` plus an always-on input that carries the bias, and
# the window's rate level; Lava's bit-approximate learning engine updates the 8-bit weights; the
# output population runs Lava's fixed-point LIF arithmetic and integer homeostasis.


@implements(proc=WindowInput, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyWindowInputFixed(PyWindowInputFloat):
    """Integer graded input: payloads for T steps, a blank step; the rate level once per window."""

    x_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    lr_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=8)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.zeros = np.zeros(proc_params["n_in"], dtype=np.int32)
        self.x = self.zeros


@implements(proc=PlasticDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyPlasticDenseFixed(LearningConnectionModelBitApproximate, AbstractPyDenseModelBitAcc):
    """Lava's bit-approximate learning synapse (``PyLearningDenseModelBitApproximate``'s
    ``run_spk``, graded input) plus the weight readout. The weights are loaded as the engine
    stores them (integers in [-256, 255]), not truncated again to even values at the first step,
    so a run that continues an earlier one starts from exactly its weights."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    w_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=9)
    readout_step: np.ndarray = LavaPyType(np.ndarray, int)

    def run_spk(self) -> None:
        shift = int(self.proc_params.get("weight_exp", 0))
        self.a_out.send(self.a_buff)  # one-step synaptic delay
        s_in = self.s_in.recv()
        a = self.weights.astype(np.int64).dot(s_in.astype(np.int64))
        self.a_buff = a << shift if shift >= 0 else a >> -shift
        self.recv_traces(s_in)

    def run_lrn(self) -> None:
        super().run_lrn()
        if self.time_step == int(self.readout_step[0]):
            self.w_out.send(self.weights)


class WTAOutputFixedBase(WindowSteps, LearningNeuronModelFixed, AbstractPyLifModelFixed):
    """Integer output population (undecorated base of the sort and race models): Lava's fixed-point
    LIF arithmetic (``du = 4095``, ``dv = 0``: integrate and fire), strict threshold, subtractive
    reset; at the end of the window integer homeostasis and the signed third factor ``y2``
    (``learning_fixed.decide``)."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)
    vth: int = LavaPyType(int, np.int32, precision=17)
    lr_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=8)
    stats_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64)
    offsets: np.ndarray = LavaPyType(np.ndarray, np.int64)
    average: np.ndarray = LavaPyType(np.ndarray, np.int64)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def __init__(self, proc_params: dict) -> None:
        from sdt_neuro.backends.lava.learning_fixed import FixedLearningScale

        super().__init__(proc_params)
        self.scale = FixedLearningScale(**proc_params["fixed_scale"])
        self.steps = proc_params["steps"]
        self.period = self.steps + 1
        self.no_spikes = np.zeros(proc_params["shape"], dtype=bool)
        self.input_peak = np.zeros(proc_params["shape"], np.int64)

    def integrate(self, a_in: np.ndarray, within: int) -> np.ndarray:
        """One counting step (``within``: 1..P in the window; the count restarts at 2); its spikes."""
        from sdt_neuro.backends.lava.learning_fixed import SHIFT

        if within == 2:  # first step of this sample's currents
            self.u.fill(0)
            self.v.fill(0)
            self.counts.fill(0)
            self.input_peak = np.zeros(self.counts.shape, np.int64)
        self.input_peak = np.maximum(self.input_peak, np.abs(a_in.astype(np.int64)))
        if not self.isbiasscaled:
            self.scale_bias()
        self.subthr_dynamics(activation_in=a_in)  # u = a_in << 6; v += u (du = 4095 + 1, dv = 0)
        vth = int(self.vth) << SHIFT
        spikes = self.v > vth
        self.v[spikes] -= vth  # subtractive reset
        self.counts += spikes
        return spikes

    def finish_window(self, v: np.ndarray, winners: np.ndarray | None = None) -> np.ndarray:
        """Decide (sort, unless ``winners`` are given), update homeostasis, report; the factor ``y2``."""
        from sdt_neuro.backends.lava.learning_fixed import decide

        level = int(self.lr_in.recv()[0])
        chosen = None if winners is None else np.asarray(winners, np.int64)
        target, y2, self.offsets = decide(self.scale, self.counts, v, self.offsets, level, winners=chosen)
        self.average = target
        self.stats_out.send(np.stack([self.counts, target, y2, self.offsets, target, self.input_peak]))
        return y2.astype(np.int32)

    def y2_message(self) -> np.ndarray:
        return self.y2

    def quiet_third(self) -> np.ndarray:
        return np.zeros(self.y2.shape, dtype=np.int32)

    def window_voltage(self) -> np.ndarray:
        return self.v.astype(np.int64)

    def race_score(self) -> np.ndarray:
        from sdt_neuro.backends.lava.learning_fixed import window_score

        return window_score(self.counts, self.offsets)  # c 2**14 - H_int


@implements(proc=WTAOutput, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyWTAOutputFixed(WTAOutputFixedBase):
    """Integer model of :class:`WTAOutput`: the k winners by sorting the integer scores."""

    def run_spk(self) -> None:
        self.sort_step()


@implements(proc=RaceWTAOutput, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyRaceWTAOutputFixed(WTAOutputFixedBase):
    """Integer model of :class:`RaceWTAOutput`: counting as in :class:`PyWTAOutputFixed`, then the
    race on integer scores ``c 2**14 - H_int`` with the ramp rounded to the same units. The lateral
    ``Dense`` is Lava's bit-accurate model, whose 8-bit mixed-sign weights are even: each win arrives
    as -2."""

    race_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)
    inh_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=16)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        race = LocalWTA(**proc_params["race"])
        self.period = self.steps + 1 + race.steps
        self.race = RaceRun.for_race(race, proc_params["shape"][0], self.scale.k, unit=self.scale.h_unit)
        self.v_window = np.zeros(proc_params["shape"], dtype=np.int64)

    def run_spk(self) -> None:
        self.race_step()
