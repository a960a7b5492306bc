"""Lava processes that hold B samples side by side, and their CPU process models.

Every port carries a ``[neurons, B]`` array, so one Lava time step advances B independent samples
and Lava's per-step message cost is shared by all of them. Samples flow in *windows* of ``T``
steps: the host streams one ``[n_in, B]`` batch per window into :class:`BatchInput` and reads one
``[n_out, B]`` count array per window from :class:`SpikeCounter` (Lava's external pipes, the
mechanism behind ``Injector``/``Extractor``), so no ``Monitor`` and no ``Var.get`` are needed.

Timing (Loihi semantics): every :class:`BatchDense` delays its output by one step, so neuron
layer ``l`` (1-based) sees input step ``t - l`` at step ``t``. Its state is reset at the first step
of each of its windows (``time_step % T == (1 + l) % T``) and the counter closes window ``w`` at
step ``(w + 1) T + L`` for ``L`` layers.

Keep this module free of torch and of import-time side effects: Lava may execute it while looking
for process models. The models are chosen explicitly (see ``build.py``).
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.lif.models import AbstractPyLifModelFixed, AbstractPyLifModelFloat

from sdt_neuro.backends.lava.encoding import GRADED_BITS, bernoulli_step, graded_payload, window_rng
from sdt_neuro.backends.lava.fixed_point import start_voltage_fixed, synaptic_input

BUFFER_SIZE = 2  # batches held in each host <-> Lava pipe


def window_step(time_step: int, delay: int, steps: int) -> int:
    """Step of the output's counted window at ``time_step``: 1..T inside window ``w`` (steps
    ``w T + delay + 1 .. (w + 1) T + delay``), <= 0 during the ``delay`` pipeline-fill steps; the
    window closes where it returns T."""
    t = time_step - delay
    return t if t < 1 else (t - 1) % steps + 1


class BatchInput(AbstractProcess):
    """Input layer: one ``[n_in, B]`` batch of pixel values in [0, 1] per window from the host,
    emitted every step as the value itself (``encoding="current"``) or as Bernoulli spikes with
    that probability (``"bernoulli"``, drawn from a generator seeded by ``(seed, window)``).
    In fixed point the current is an 8-bit graded payload ``round(255 x)``.

    ``delta=True`` (current only; event-driven, as Loihi 2 sends graded spikes): the value is
    sent once, as its change since the last window, at the window's first step, and zeros at the
    other steps; a :class:`BatchDense` with ``sigma=True`` adds the changes up and computes only
    when one arrives."""

    def __init__(self, *, n_in: int, batch: int, steps: int, encoding: str, seed: int = 0,
                 buffer_size: int = BUFFER_SIZE, delta: bool = False, name: str | None = None) -> None:
        super().__init__(name=name)
        shape = (n_in, batch)
        self.batch_in = InPort(shape=shape)
        self.batch_in.flag_external_pipe(buffer_size=buffer_size)
        self.s_out = OutPort(shape=shape)
        self.proc_params["steps"] = int(steps)
        self.proc_params["encoding"] = encoding
        self.proc_params["seed"] = int(seed)
        self.proc_params["delta"] = bool(delta) and encoding == "current"


class _BatchInputModel(PyLoihiProcessModel):
    batch_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.steps = proc_params["steps"]
        self.bernoulli = proc_params["encoding"] == "bernoulli"
        self.seed = proc_params["seed"]
        self.delta = proc_params.get("delta", False)
        self.x: np.ndarray | None = None
        self.rng: np.random.Generator | None = None
        self.sent: np.ndarray | None = None  # delta mode: the value the synapse holds
        self.quiet: np.ndarray | None = None  # delta mode: the no-change message

    def encode(self, x: np.ndarray) -> np.ndarray:
        """The current for a step from the window's pixel values."""
        raise NotImplementedError

    def run_spk(self) -> None:
        step = (self.time_step - 1) % self.steps
        if step == 0:
            self.x = self.batch_in.recv()
            self.rng = window_rng(self.seed, (self.time_step - 1) // self.steps)
        if self.bernoulli:
            self.s_out.send(bernoulli_step(self.x, self.rng))
        elif not self.delta:
            self.s_out.send(self.encode(self.x))
        elif step == 0:
            value = self.encode(self.x)
            change = value if self.sent is None else value - self.sent
            self.sent, self.quiet = value, np.zeros_like(value)
            self.s_out.send(change)
        else:
            self.s_out.send(self.quiet)


@implements(proc=BatchInput, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyBatchInputFloat(_BatchInputModel):
    """Float input: the pixel values, or 0/1 spikes."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return x


@implements(proc=BatchInput, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyBatchInputFixed(_BatchInputModel):
    """Fixed-point input: graded payloads ``round(255 x)`` (8 bits), or 0/1 spikes."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=GRADED_BITS + 1)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return graded_payload(x)


class BatchDense(AbstractProcess):
    """All-to-all synapses ``a[t+1] = W s[t]`` for ``[n_in, B]`` inputs (one-step delay).

    ``sigma=True``: the inputs are changes (see :class:`BatchInput`); the synapse adds them to
    the input it holds and computes ``W x`` only on a step that brings one, else repeats its last
    output, so a static window costs one product instead of T. The sum reproduces the value
    exactly (integers in fixed point; float32 pixel values in float64), so counts do not change.

    Fixed point: ``W = weight_mant * 2**weight_exp`` (8-bit mantissa) and graded inputs carry
    ``input_bits`` fractional bits, so ``a = round(weight_mant @ s * 2**(weight_exp - input_bits))``
    (rounded, where Lava's ``Dense`` floors).
    """

    def __init__(self, *, weights: np.ndarray, batch: int, weight_exp: int = 0, input_bits: int = 0,
                 sigma: bool = False, name: str | None = None) -> None:
        super().__init__(name=name)
        n_out, n_in = weights.shape
        self.s_in = InPort(shape=(n_in, batch))
        self.a_out = OutPort(shape=(n_out, batch))
        self.weights = Var(shape=(n_out, n_in), init=weights)
        self.a_buff = Var(shape=(n_out, batch), init=0)
        self.proc_params["weight_exp"] = int(weight_exp)
        self.proc_params["input_bits"] = int(input_bits)
        self.proc_params["sigma"] = bool(sigma)


class _Sigma:
    """Mixin: the input a ``sigma`` synapse holds, and whether a step brings a change."""

    def _init_sigma(self, proc_params: dict) -> None:
        self.sigma = proc_params.get("sigma", False)
        self.held: np.ndarray | None = None

    def _changed_input(self, s: np.ndarray) -> np.ndarray | None:
        """The input to compute on: ``s`` itself, or (sigma) the held sum after a change, or
        ``None`` when nothing changed."""
        if not self.sigma:
            return s
        if self.held is not None and not s.any():
            return None
        self.held = s.copy() if self.held is None else self.held + s
        return self.held


@implements(proc=BatchDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyBatchDenseFloat(_Sigma, PyLoihiProcessModel):
    """Float synapses: ``a = W s``."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    weights: np.ndarray = LavaPyType(np.ndarray, float)
    a_buff: np.ndarray = LavaPyType(np.ndarray, float)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self._init_sigma(proc_params)

    def run_spk(self) -> None:
        self.a_out.send(self.a_buff)  # computed last step: the one-step synaptic delay
        s = self._changed_input(self.s_in.recv())
        if s is not None:
            self.a_buff = self.weights @ s


@implements(proc=BatchDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyBatchDenseFixed(_Sigma, PyLoihiProcessModel):
    """Fixed-point synapses: 8-bit weight mantissas, shared exponent, rounded accumulation.

    The integer product runs through float64 BLAS: exact, since every partial sum stays far
    below 2**53.
    """

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=GRADED_BITS + 1)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    weights: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=9)
    a_buff: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.shift = proc_params["weight_exp"] - proc_params["input_bits"]
        self.w_float: np.ndarray | None = None
        self._init_sigma(proc_params)

    def run_spk(self) -> None:
        self.a_out.send(self.a_buff)
        if self.w_float is None:
            self.w_float = self.weights.astype(np.float64)
        s = self._changed_input(self.s_in.recv())
        if s is not None:
            self.a_buff = synaptic_input(self.w_float, s, self.shift)


class BatchIF(AbstractProcess):
    """Integrate-and-fire neurons with subtractive reset, ``[n, B]`` of them, reset every window.

    Lava's LIF equations with ``du = 1`` (float) or ``4095`` (fixed) and ``dv = 0``::

        u[t] = a_in[t];   v[t] = v[t-1] + (u[t] + bias);   s[t] = v[t] >= vth;   v[t] -= vth s[t]

    (in float the bias joins the input before the membrane, as in the NumPy oracle and snnTorch's
    ``Linear``; Lava's own float LIF adds it last, which rounds differently in the last bit).

    ``u`` is set to zero and ``v`` to ``v_init`` thresholds at the first step of every window (``reset_offset`` mod
    ``reset_interval``). The bias is per neuron (``[n, 1]``, shared by the B samples).

    ``report_delay=L`` (the output layer of a membrane read-out): ``v_out`` sends ``v`` at the last
    step of every window the :class:`MembraneCounter` closes (step ``t > L`` with ``(t - L) % T == 0``).
    """

    def __init__(self, *, n: int, batch: int, vth: float, bias_mant: np.ndarray, bias_exp: np.ndarray | int = 0,
                 du: float = 1.0, dv: float = 0.0, reset_interval: int, reset_offset: int,
                 v_init: float = 0.0, report_delay: int | None = None, name: str | None = None) -> None:
        super().__init__(name=name)
        shape = (n, batch)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.v_out = OutPort(shape=shape)
        self.proc_params["report_delay"] = -1 if report_delay is None else int(report_delay)
        self.u = Var(shape=shape, init=0)
        self.v = Var(shape=shape, init=0)
        self.du = Var(shape=(1,), init=du)
        self.dv = Var(shape=(1,), init=dv)
        self.vth = Var(shape=(1,), init=vth)
        self.bias_mant = Var(shape=(n, 1), init=np.reshape(bias_mant, (n, 1)))
        self.bias_exp = Var(shape=(n, 1), init=np.broadcast_to(np.reshape(bias_exp, (-1, 1)), (n, 1)).copy())
        self.proc_params["reset_interval"] = int(reset_interval)
        self.proc_params["reset_offset"] = int(reset_offset) % int(reset_interval)
        self.proc_params["v_init"] = float(v_init)


class _WindowReset:
    """Mixin: zero ``u`` and set ``v`` to ``v_init`` thresholds at the first step of each window."""

    u: np.ndarray
    v: np.ndarray
    time_step: int

    def _init_reset(self, proc_params: dict) -> None:
        self.reset_interval = proc_params["reset_interval"]
        self.reset_offset = proc_params["reset_offset"]
        self.v_init = proc_params.get("v_init", 0.0)  # fraction of the threshold

    def _start_voltage(self) -> float | int:
        return 0

    def _maybe_reset(self) -> None:
        if self.time_step % self.reset_interval == self.reset_offset:
            self.u.fill(0)
            self.v.fill(self._start_voltage())

    def _maybe_report(self) -> None:
        """Send ``v`` at the last step of a counted window (membrane read-out only)."""
        delay = self.proc_params.get("report_delay", -1)
        if delay >= 0 and window_step(self.time_step, delay, self.reset_interval) == self.reset_interval:
            self.v_out.send(self.v.copy())


@implements(proc=BatchIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyBatchIFFloat(_WindowReset, AbstractPyLifModelFloat):
    """Float IF neurons on Lava's abstract float LIF model (its ``subthr_dynamics``)."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    vth: float = LavaPyType(float, float)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self._init_reset(proc_params)

    def _start_voltage(self) -> float:
        return self.v_init * float(self.vth)

    def subthr_dynamics(self, activation_in: np.ndarray) -> None:
        """Lava's float LIF update with the oracle's order of additions: ``v + (u + bias)``."""
        self.u[:] = self.u * (1 - self.du) + activation_in
        self.v[:] = self.v * (1 - self.dv) + (self.u + self.bias_mant)

    def spiking_activation(self) -> np.ndarray:
        return self.v >= self.vth

    def reset_voltage(self, spike_vector: np.ndarray) -> None:
        self.v[spike_vector] -= self.vth  # subtractive reset

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        self._maybe_reset()
        self.subthr_dynamics(activation_in=a_in)
        spikes = self.spiking_activation()
        self.reset_voltage(spikes)
        self.s_out.send(spikes)
        self._maybe_report()


@implements(proc=BatchIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyBatchIFFixed(_WindowReset, AbstractPyLifModelFixed):
    """Fixed-point IF neurons on Lava's abstract fixed-point LIF model: 24-bit ``u``/``v``,
    input and threshold shifted left by 6 bits, ``bias = bias_mant << bias_exp``."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    vth: int = LavaPyType(int, np.int32, precision=17)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self._init_reset(proc_params)
        self.effective_vth = 0

    def scale_threshold(self) -> None:
        self.effective_vth = np.left_shift(self.vth, self.vth_shift)
        self.isthrscaled = True

    def _start_voltage(self) -> int:
        return start_voltage_fixed(int(self.vth), self.v_init)

    def spiking_activation(self) -> np.ndarray:
        return self.v >= self.effective_vth

    def reset_voltage(self, spike_vector: np.ndarray) -> None:
        self.v[spike_vector] -= self.effective_vth

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        self._maybe_reset()
        if not self.isbiasscaled:
            self.scale_bias()
        if not self.isthrscaled:
            self.scale_threshold()
        self.subthr_dynamics(activation_in=a_in)
        spikes = self.spiking_activation()
        self.reset_voltage(spikes)
        self.s_out.send(spikes)
        self._maybe_report()


class SpikeCounter(AbstractProcess):
    """Spike-count readout: sums ``[n, B]`` spikes over each window and sends the counts to the
    host once per window (``record="counts"``), or forwards every step's spikes
    (``record="spikes"``, for rasters). Window ``w`` holds steps ``w T + delay + 1 .. (w + 1) T + delay``;
    the ``delay`` pipeline-fill steps before the first window are not counted."""

    def __init__(self, *, n: int, batch: int, steps: int, delay: int, record: str = "counts",
                 buffer_size: int = BUFFER_SIZE, name: str | None = None) -> None:
        super().__init__(name=name)
        shape = (n, batch)
        self.s_in = InPort(shape=shape)
        self.out = OutPort(shape=shape)
        self.out.flag_external_pipe(buffer_size=buffer_size)
        self.counts = Var(shape=shape, init=0)
        self.proc_params["steps"] = int(steps)
        self.proc_params["delay"] = int(delay)
        self.proc_params["record"] = record


class _WindowCounterModel(PyLoihiProcessModel):
    """What every counter model shares: spikes summed in an int32 Var over each counted window
    (the ``delay`` pipeline-fill steps skipped) and :meth:`_close` called once per window."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int32)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.steps = proc_params["steps"]
        self.delay = proc_params["delay"]

    def _close(self) -> None:
        """Send the closed window's result to the host."""
        raise NotImplementedError

    def run_spk(self) -> None:
        spikes = self.s_in.recv()
        step = window_step(self.time_step, self.delay, self.steps)
        if step < 1:  # pipeline fill: the first window of the output layer starts at step delay + 1
            return
        self.counts += spikes.astype(np.int32)
        if step == self.steps:
            self._close()
            self.counts.fill(0)


@implements(proc=SpikeCounter, protocol=LoihiProtocol)
@requires(CPU)
class PySpikeCounter(_WindowCounterModel):
    """Counts to the host once per window, or every step's spikes (``record="spikes"``)."""

    out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.per_step = proc_params["record"] == "spikes"

    def run_spk(self) -> None:
        if self.per_step:
            self.out.send(self.s_in.recv())
        else:
            super().run_spk()

    def _close(self) -> None:
        self.out.send(self.counts)


class MembraneCounter(AbstractProcess):
    """Membrane read-out: like :class:`SpikeCounter` (``record="counts"``), and at each window's
    close it also receives the output neurons' membranes from their ``v_out``; the host gets one
    ``[2 n, B]`` message per window, the counts stacked on the membranes (in the neurons' own units)."""

    def __init__(self, *, n: int, batch: int, steps: int, delay: int, buffer_size: int = BUFFER_SIZE,
                 name: str | None = None) -> None:
        super().__init__(name=name)
        shape = (n, batch)
        self.s_in = InPort(shape=shape)
        self.v_in = InPort(shape=shape)
        self.out = OutPort(shape=(2 * n, batch))
        self.out.flag_external_pipe(buffer_size=buffer_size)
        self.counts = Var(shape=shape, init=0)
        self.proc_params["steps"] = int(steps)
        self.proc_params["delay"] = int(delay)


@implements(proc=MembraneCounter, protocol=LoihiProtocol)
@requires(CPU)
class PyMembraneCounter(_WindowCounterModel):
    """Counts and membranes to the host once per window (float64, exact for the 24-bit
    fixed-point voltages)."""

    v_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)

    def _close(self) -> None:
        self.out.send(np.concatenate([self.counts, self.v_in.recv()]).astype(np.float64))
