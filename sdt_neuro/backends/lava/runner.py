"""Run many samples through one compiled Lava network, B at a time, and always stop the runtime.

:class:`LavaNetwork` compiles the graph once; :meth:`LavaNetwork.counts` streams the samples in
windows of ``T`` steps (``ceil(n / B)`` windows, plus ``L`` steps that flush the ``L``-step
synaptic pipeline) and returns per-sample spike counts. The host talks to Lava only
through the external pipes of the input and counter processes: one message in and one out per
window. Leaving the ``with`` block (normally, on an error or on Ctrl-C) drains an interrupted run
and stops the runtime; if Lava itself is stuck, its OS processes are terminated.
"""

from __future__ import annotations

import atexit
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from sdt_neuro.backends.lava.build import build_graph, require_lava
from sdt_neuro.backends.lava.graph import LavaGraph
from sdt_neuro.convert import check_rates
from sdt_neuro.errors import ConfigError, SdtError, ShapeError

POLL_S = 0.0005
DRAIN_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 60.0
DEAD_GRACE_S = 2.0


class LavaRuntimeError(SdtError, RuntimeError):
    """Lava stopped answering or one of its process models failed."""


def check_samples(x: np.ndarray, n_in: int) -> np.ndarray:
    """``x`` as float64 ``[n >= 1, n_in]`` with values in [0, 1], or a clear error."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ShapeError(f"inputs must be [samples, {n_in}], got shape {x.shape}")
    if x.shape[0] == 0:
        raise ShapeError(f"inputs hold no samples (shape {x.shape}); pass [samples >= 1, {n_in}]")
    check_rates(x)
    return x


def _cause(actor: Any) -> str:
    """What a Lava worker process raised, as ``": <exception>"`` (empty where it says nothing)."""
    try:
        raised = getattr(actor, "exception", None)  # Lava's SystemProcess: (exception, traceback) or None
    except (OSError, EOFError, ValueError):  # its pipe already closed
        return ""
    return f": {raised[0]!r}" if isinstance(raised, tuple) and raised else ""


def _pid_running(pid: int) -> bool:
    """Whether an OS process runs, without reaping it (so no race with Lava's own ``join()``)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no procfs: signal 0 only says the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _alive(actor: Any) -> bool:
    """``is_alive()`` for a worker; one that Lava's ``stop()`` has already closed is not alive."""
    try:
        return bool(actor.is_alive())
    except ValueError:  # "process object is closed"
        return False


def _exit_hook(net: LavaNetwork) -> Callable[[], None]:
    """An exit hook that kills ``net``'s workers unless it was closed (holding it weakly, so that the hook
    keeps no network alive)."""
    ref = weakref.ref(net)

    def hook() -> None:
        alive = ref()
        if alive is not None:
            alive.close(quiet=True, abort=True)

    return hook


class LavaNetwork:
    """A :class:`~sdt_neuro.convert.SpikingNetwork` compiled to Lava (CPU, ``Loihi2SimCfg``).

    Use it as a context manager; the runtime is created on entry (or on the first run) and
    stopped on exit. One started outside a ``with`` block and never closed is killed when the
    interpreter exits, so its worker processes cannot keep it waiting. Options are those of
    :func:`~sdt_neuro.backends.lava.build.build_graph`.
    """

    def __init__(self, net: Any, **options: Any) -> None:
        require_lava()
        self.graph: LavaGraph = build_graph(net, **options)
        self._init_lifecycle()

    def _init_lifecycle(self) -> None:
        """The state of a network not yet started (for subclasses that build their own graph)."""
        self._t = 0  # global time step reached
        self._started = False
        self._stopped = False
        self._inflight: dict[str, int] = {}  # sends/receives still owed by an interrupted run
        self._killed = False
        self.compile_seconds = 0.0
        self._at_exit = _exit_hook(self)

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> LavaNetwork:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        interrupted = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
        self.close(quiet=exc_type is not None, abort=interrupted)

    def start(self) -> None:
        """Compile and initialise the runtime (idempotent)."""
        if self._stopped:
            raise ConfigError("this LavaNetwork was closed; build a new one")
        if self._started:
            return
        t0 = time.perf_counter()
        self._started = True  # from here on close() must stop the runtime
        atexit.register(self._at_exit)
        try:
            self.graph.input.create_runtime(run_cfg=self.graph.run_cfg)
        except BaseException:
            self.close(quiet=True)  # __exit__ does not run when __enter__ fails
            raise
        self.compile_seconds = time.perf_counter() - t0

    @property
    def runtime(self) -> Any:
        return self.graph.input.runtime

    def child_pids(self) -> list[int]:
        """OS process ids of Lava's workers (for tests and diagnostics)."""
        rt = self.runtime
        actors = getattr(getattr(rt, "_messaging_infrastructure", None), "actors", []) if rt else []
        return [a.pid for a in actors if a.pid is not None]

    def close(self, quiet: bool = False, abort: bool = False) -> None:
        """Finish or abandon an interrupted run, then stop the runtime. Safe to call twice.

        ``quiet``: another exception is already on its way; a failure to drain then only kills
        Lava's processes instead of replacing that exception. ``abort`` (Ctrl-C): terminate Lava's
        processes at once instead of the stop handshake, which a terminal's Ctrl-C breaks by
        interrupting the workers too (a channel interrupted mid-message can block forever).
        """
        if self._stopped or not self._started:
            self._stopped = True
            return
        self._stopped = True
        atexit.unregister(self._at_exit)
        rt = self.runtime
        if rt is None:
            return
        if abort or not getattr(rt, "_is_initialized", False):  # (a worker failed to build: the others wait forever)
            self._kill(rt)
            return
        try:
            if self._inflight:
                self._drain()
        except BaseException:
            self._kill(rt)
            if not quiet:
                raise
        finally:
            if not self._killed:
                # Lava 0.10's stop() sends no STOP to a runtime that never ran, then waits forever
                # for its processes: mark it started so the workers are told to exit.
                rt._is_started = True
                try:
                    self._stop_runtime(rt)
                except BaseException:
                    self._kill(rt)
                    raise

    def _stop_runtime(self, rt: Any) -> None:
        """Lava's ``stop()`` in a watcher thread: it waits forever for an answer from a worker that
        has died (a Ctrl-C sent to the whole process group kills the workers too), so a dead
        worker or a stop that takes longer than ``STOP_TIMEOUT_S`` ends in :meth:`_kill`."""
        done, errors = threading.Event(), []

        def stop() -> None:
            try:
                self.graph.input.stop()
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)
            finally:
                done.set()

        pids = self.child_pids()  # read before stop() closes the process objects
        threading.Thread(target=stop, name="sdt-lava-stop", daemon=True).start()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        dead_since = None
        while not done.wait(0.01):
            now = time.monotonic()
            if dead_since is None and not all(_pid_running(pid) for pid in pids):
                dead_since = now  # workers exit on STOP too: give a clean stop a moment to finish
            if now > deadline or (dead_since is not None and now - dead_since > DEAD_GRACE_S):
                self._kill(rt)
                return
        if errors:
            raise errors[0]

    def _drain_ports(self) -> dict[str, tuple[Any, bool]]:
        """The external ports an interrupted run may still owe messages on: in-flight counter name
        -> ``(port, is_send)``. Subclasses with more pipes add theirs."""
        send, recv = self._ports()
        return {"send": (send, True), "recv": (recv, False)}

    def _drain(self) -> None:
        """Feed zero messages and discard outputs until the interrupted run ends, then wait for it."""
        ports = self._drain_ports()
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while any(self._inflight.values()):
            if time.monotonic() > deadline:
                raise LavaRuntimeError(f"Lava did not finish an interrupted run within {DRAIN_TIMEOUT_S} s")
            for key, (port, is_send) in ports.items():
                if self._inflight.get(key, 0) and port.probe():
                    if is_send:
                        port.send(np.zeros(port.shape))
                    else:
                        port.recv()
                    self._inflight[key] -= 1
                    break
            else:
                self._check_alive()
                time.sleep(POLL_S)
        self._inflight = {}
        self.runtime.wait()

    def _kill(self, rt: Any) -> None:
        """Last resort: terminate Lava's OS processes and release its shared memory."""
        self._killed = True
        infra = getattr(rt, "_messaging_infrastructure", None)
        for actor in getattr(infra, "actors", []):
            if _alive(actor):
                actor.kill()
            try:
                actor.join()
            except ValueError:  # Lava's stop() already joined and closed it
                pass
        for stop in (lambda: infra.smm.shutdown(), lambda: rt._watchdog_manager.stop()):
            try:
                stop()
            except Exception:  # already released, or never built
                pass

    def _check_alive(self) -> None:
        for actor in getattr(self.runtime._messaging_infrastructure, "actors", []):
            if not _alive(actor):
                raise LavaRuntimeError(f"a Lava process (pid {actor.pid}) exited during the run{_cause(actor)}")

    def _ports(self) -> tuple[Any, Any]:
        return (self.graph.input.batch_in.external_pipe_csp_send_port,
                self.graph.counter.out.external_pipe_csp_recv_port)

    # -- running ---------------------------------------------------------------------------
    def counts(self, x: np.ndarray, progress: Any = None) -> np.ndarray:
        """Spike counts ``[n, N_out]`` (int) of the output layer for inputs ``x`` ``[n, n_in]``.

        ``progress`` is an optional tqdm-like object whose ``update(k)`` is called per sample.
        """
        return self._windows(x, progress)[0]

    def counts_and_membrane(self, x: np.ndarray, progress: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Spike counts and the output neurons' final membranes in thresholds, both ``[n, N_out]``,
        for a network built with ``readout="membrane"``."""
        counts, membrane = self._windows(x, progress)
        if membrane is None:
            raise ConfigError("this network reads spike counts only; convert it with readout='membrane'")
        return counts, membrane

    def _windows(self, x: np.ndarray, progress: Any) -> tuple[np.ndarray, np.ndarray | None]:
        g = self.graph
        if g.meta["record"] != "counts":
            raise ConfigError("this network records spikes; use spikes() or build with record='counts'")
        n_out = g.sizes[-1]
        membrane = g.meta.get("readout") == "membrane"
        x = self._check_input(x)  # float64 [n, n_in]: what is streamed
        out = np.zeros((len(x), n_out), dtype=np.int64)
        volts = np.zeros(out.shape) if membrane else None
        for window, values in self._stream(x):
            lo = window * g.batch
            k = min(g.batch, len(out) - lo)
            out[lo : lo + k] = values[:n_out, :k].T
            if volts is not None:
                volts[lo : lo + k] = values[n_out:, :k].T
            if progress is not None:
                progress.update(k)
        return out, None if volts is None else self._in_thresholds(volts)

    def _in_thresholds(self, volts: np.ndarray) -> np.ndarray:
        """The output neurons' final voltages as thresholds (fixed point: ``vth << 6`` units,
        measured from the rounded start voltage)."""
        g = self.graph
        if g.quantized is not None:
            from sdt_neuro.backends.lava.fixed_point import membrane_in_thresholds

            return membrane_in_thresholds(volts, g.quantized.layers[-1].vth, g.meta["v_init"])
        return volts / g.meta["output_threshold"]

    def spikes(self, x: np.ndarray) -> np.ndarray:
        """Output spikes ``[n, T, N_out]`` (bool) for ``x`` ``[n, n_in]``; needs ``record="spikes"``."""
        if self.graph.meta["record"] != "spikes":
            raise ConfigError("this network records counts; build it with record='spikes' for rasters")
        g = self.graph
        x = self._check_input(x)
        out = np.zeros((len(x), g.steps, g.sizes[-1]), dtype=bool)
        for (window, step), values in self._stream(x):
            lo = window * g.batch
            k = min(g.batch, len(out) - lo)
            out[lo : lo + k, step] = values[:, :k].T > 0
        return out

    def _check_input(self, x: np.ndarray) -> np.ndarray:
        return check_samples(x, self.graph.sizes[0])

    def _stream(self, x: np.ndarray) -> Iterator[tuple[Any, np.ndarray]]:
        """Run until the last window of ``x`` has left the pipeline; yield ``(window, counts)``, or
        ``((window, step), spikes)`` when recording spikes, per message from the counter.

        Window ``w`` (global index) is fed at step ``w T + 1`` and closed at ``(w + 1) T + L``; a run
        stops ``L`` steps into the window after its last one (fed zeros), and the next run carries on
        from there, discarding that window's output.
        """
        from lava.magma.core.run_conditions import RunSteps

        self.start()
        g = self.graph
        n_win = math.ceil(len(x) / g.batch)
        first = math.ceil(self._t / g.steps)  # windows 0 .. first-1 were fed by earlier runs
        t0, t1 = self._t, (first + n_win) * g.steps + g.delay
        n_send = (t1 - 1) // g.steps + 1 - first  # windows that start inside (t0, t1]
        if g.meta["record"] == "spikes":
            expected = [("step", t) for t in range(t0 + 1, t1 + 1)]
        else:
            w_lo = max(0, (t0 - g.delay) // g.steps - 1)
            expected = [("window", w) for w in range(w_lo, first + n_win)
                        if t0 < (w + 1) * g.steps + g.delay <= t1]
        send, recv = self._ports()
        self.graph.input.run(condition=RunSteps(num_steps=t1 - t0, blocking=False))
        self._inflight = {"send": n_send, "recv": len(expected)}
        self._t = t1
        sent = 0

        def feed(block: bool) -> None:
            nonlocal sent
            while sent < n_send and (block or send.probe()):
                if not send.probe():
                    time.sleep(POLL_S)
                    continue
                batch = np.zeros(send.shape)
                chunk = x[sent * g.batch : (sent + 1) * g.batch]  # empty past the data: a zero window
                batch[:, : len(chunk)] = chunk.T
                send.send(batch)
                sent += 1
                self._inflight["send"] -= 1

        def keep_fed() -> None:  # while waiting: the counter closes window w only after the input
            feed(block=False)     # process has read window w + 1, so never let the input pipe run dry

        for kind, index in expected:
            values = self._receive(recv, idle=keep_fed)
            self._inflight["recv"] -= 1
            if kind == "window":
                if first <= index < first + n_win:
                    yield index - first, values
            else:
                window, step = divmod(index - 1 - g.delay, g.steps)  # global step -> window, step in it
                if index > g.delay and first <= window < first + n_win:
                    yield (window - first, step), values
        feed(block=True)
        self.runtime.wait()
        self._inflight = {}

    def _receive(self, recv: Any, idle: Callable[[], None] | None = None) -> np.ndarray:
        """Block until the next message on ``recv``, checking that Lava's processes are alive;
        ``idle`` runs before each look (the host's share of the work Lava may be waiting on)."""
        while True:
            if idle is not None:
                idle()
            if recv.probe():
                return recv.recv()
            self._check_alive()
            time.sleep(POLL_S)
