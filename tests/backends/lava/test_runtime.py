"""The Lava runtime is always stopped: normal exit, host errors, Ctrl-C, failing process models."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

pytest.importorskip("lava")

from sdt_neuro.backends.lava import process as lava_process  # noqa: E402
from sdt_neuro.backends.lava.runner import LavaNetwork, LavaRuntimeError  # noqa: E402
from tests.backends.lava.nets import live_children, random_inputs, random_network  # noqa: E402


class _FailAfter:
    """A progress object that raises ``exc`` on its second update (mid-run)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc, self.calls = exc, 0

    def update(self, k: int) -> None:
        self.calls += 1
        if self.calls == 2:
            raise self.exc


def _assert_no_new_children(before: set[int]) -> None:
    deadline = time.monotonic() + 5
    while live_children() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_children() - before == set()


def test_normal_exit_and_unused_network_leave_no_processes() -> None:
    before = live_children()
    with LavaNetwork(random_network(), steps=3, batch=2) as lava_net:
        workers = set(lava_net.child_pids())
        assert workers and workers <= live_children()
        lava_net.counts(random_inputs(3))
    with LavaNetwork(random_network(), steps=3, batch=2):  # compiled, never run
        pass
    _assert_no_new_children(before)


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_error_inside_a_run_stops_the_runtime(exc: BaseException) -> None:
    before = live_children()
    lava_net = LavaNetwork(random_network(), steps=3, batch=2)
    with pytest.raises(type(exc)), lava_net:
        lava_net.counts(random_inputs(9), progress=_FailAfter(exc))
    _assert_no_new_children(before)


def test_failing_process_model_raises_and_leaves_no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: lava_process.PyBatchIFFloat) -> None:  # runs in the forked Lava worker
        if self.time_step == 4:
            raise ValueError("neuron model failed")
        original(self)

    original = lava_process.PyBatchIFFloat.run_spk
    monkeypatch.setattr(lava_process.PyBatchIFFloat, "run_spk", broken)
    before = live_children()
    with pytest.raises((LavaRuntimeError, RuntimeError)) as info, LavaNetwork(random_network(), steps=3,
                                                                               batch=2) as net:
        net.counts(random_inputs(8))
    _assert_no_new_children(before)
    if info.type is LavaRuntimeError:  # the worker's own error, not only that it exited
        assert "ValueError('neuron model failed')" in str(info.value)


def test_failing_compile_leaves_no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_init(self: object, proc_params: dict) -> None:
        raise ValueError("model cannot be built")

    monkeypatch.setattr(lava_process.PySpikeCounter, "__init__", broken_init)
    before = live_children()
    with pytest.raises(ValueError, match="cannot be built"), LavaNetwork(random_network(), steps=3, batch=2):
        pass
    _assert_no_new_children(before)


SCRIPT = textwrap.dedent("""
    import faulthandler, signal
    faulthandler.dump_traceback_later(40, exit=True)  # a hang shows its stack in the failure
    # What a terminal gives: a child of a non-interactive shell's background job inherits SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np, sys
    from tests.backends.lava.nets import random_network
    from sdt_neuro.backends.lava.runner import LavaNetwork
    with LavaNetwork(random_network((400, 300)), steps=50, batch=4) as net:
        print("running", flush=True)
        try:
            net.counts(np.random.default_rng(0).random((100000, 400)))
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            raise
""")


def _session_members(sid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _survivors(sid: int, grace: float) -> list[int]:
    """The members of session ``sid`` still there after up to ``grace`` seconds: processes already on
    their way out (a resource tracker or manager reading its pipe's end) go within milliseconds, a
    worker left waiting stays."""
    deadline = time.monotonic() + grace
    while _session_members(sid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _session_members(sid)


def _signal_a_running_script(tmp_path: Path, script: str, send: Callable[[int], None]) -> tuple[int, list[int], bytes]:
    """Start ``script`` in its own session, wait for its "running", ``send(pid)`` a signal and wait;
    returns its exit code, the session's survivors and its stderr (the session is killed after)."""
    root = Path(__file__).resolve().parents[3]
    err_path = tmp_path / "stderr.txt"
    with err_path.open("wb") as err_file:  # a file, not a pipe: an orphan holding it cannot block us
        proc = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, stderr=err_file,
                                start_new_session=True, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert proc.stdout.readline().strip() == b"running", err_path.read_bytes().decode()[-3000:]
        time.sleep(1.0)
        assert len(_session_members(proc.pid)) > 1  # the workers are up
        send(proc.pid)
        proc.wait(timeout=120)  # stopping the runtime takes seconds, more under load
        survivors = _survivors(proc.pid, grace=30)
    finally:
        proc.stdout.close()
        if proc.poll() is None or _session_members(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, survivors, err_path.read_bytes()


def test_ctrl_c_to_the_process_group_leaves_no_orphans(tmp_path: Path) -> None:
    """SIGINT to the whole group (what a terminal's Ctrl-C does) reaches the workers too."""
    code, survivors, err = _signal_a_running_script(tmp_path, SCRIPT, lambda pid: os.killpg(pid, signal.SIGINT))
    last_line = err.strip().splitlines()[-1]
    assert code != 0 and last_line.startswith(b"KeyboardInterrupt"), err.decode()[-3000:]
    assert survivors == [], err.decode()[-3000:]


SIGTERM_SCRIPT = textwrap.dedent("""
    import faulthandler
    faulthandler.dump_traceback_later(150, exit=True)  # a hang shows its stack; compiling takes 30 s under load
    import numpy as np
    from sdt_neuro.cli import exit_on_sigterm
    exit_on_sigterm()
    from tests.backends.lava.nets import random_network
    from sdt_neuro.backends.lava.runner import LavaNetwork
    with LavaNetwork(random_network((400, 300)), steps=50, batch=4) as net:
        print("running", flush=True)
        net.counts(np.random.default_rng(0).random((100000, 400)))
""")


def test_sigterm_to_the_main_process_alone_stops_the_workers(tmp_path: Path) -> None:
    """What a job scheduler or ``kill PID`` does: only the main process gets SIGTERM. Before
    ``exit_on_sigterm`` Python died at once and Lava's workers lived on as orphans."""
    code, survivors, err = _signal_a_running_script(tmp_path, SIGTERM_SCRIPT,
                                                    lambda pid: os.kill(pid, signal.SIGTERM))
    assert code == 143, err.decode()[-3000:]
    assert survivors == [], err.decode()[-3000:]


UNCLOSED_SCRIPT = textwrap.dedent("""
    import faulthandler
    faulthandler.dump_traceback_later(60, exit=True)  # a hang shows its stack in the failure
    from tests.backends.lava.nets import random_inputs, random_network
    from sdt_neuro.backends.lava.runner import LavaNetwork
    net = LavaNetwork(random_network(), steps=3, batch=2)  # no with block, never closed
    print(net.counts(random_inputs(4)).shape, flush=True)
""")


def test_a_network_never_closed_does_not_keep_the_interpreter_from_exiting() -> None:
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen([sys.executable, "-c", UNCLOSED_SCRIPT], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0 and b"(4, " in out, err.decode()[-3000:]
        assert _survivors(proc.pid, grace=10) == []  # no Lava worker left behind
    finally:
        for pid in _session_members(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.kill()


class _LaggingLava:
    """A stand-in for Lava's input and counter processes, advanced each time the host looks for
    output. The input process reads one batch per window, at the window's first step, from a
    two-slot pipe, and stalls on an empty one; as in Lava's channels, the slot it frees is given back
    to the host's send port only later (here: at the next look). The counter closes window ``w`` at
    step ``(w + 1) T + delay``, with each sample's first pixel times 10 as its count."""

    def __init__(self, steps: int, delay: int, n_out: int, batch: int) -> None:
        self.steps, self.delay, self.n_out, self.batch = steps, delay, n_out, batch
        self.pipe: list = []
        self.unacknowledged = 0  # slots read but not yet given back to the sender
        self.windows: list = []  # batches read by the input process
        self.out: list = []
        self.t, self.end, self.looks = 0, 0, 0
        self.send = SimpleNamespace(shape=(3, batch), send=self.pipe.append,
                                    probe=lambda: len(self.pipe) + self.unacknowledged < 2)
        self.recv = SimpleNamespace(probe=self._probe_out, recv=lambda: self.out.pop(0))

    def run(self, condition: Any) -> None:
        self.end = self.t + condition.num_steps

    def _probe_out(self) -> bool:
        self.unacknowledged = 0
        while self.t < self.end:
            if self.t % self.steps == 0:  # the next step opens a window: the input reads its batch
                if not self.pipe:
                    break
                self.windows.append(self.pipe.pop(0))
                self.unacknowledged += 1
            self.t += 1
            w, rest = divmod(self.t - self.delay, self.steps)
            if rest == 0 and w >= 1:
                self.out.append(np.tile(self.windows[w - 1][0] * 10, (self.n_out, 1)))
        if self.out:
            self.looks = 0
            return True
        self.looks += 1
        if self.looks > 1000:
            raise AssertionError(f"deadlock at step {self.t}: the host waits for output, the input pipe is empty")
        return False


def test_the_host_keeps_feeding_while_lava_lags_behind() -> None:
    """The counter closes a window only after the next one is read, and a freed pipe slot reaches the
    host late, so the host must go on filling the input pipe while it waits for output (a wait that
    stopped feeding hung the Lava suite once, on a loaded machine)."""
    lava = _LaggingLava(steps=4, delay=2, n_out=2, batch=2)
    net = LavaNetwork.__new__(LavaNetwork)
    net._init_lifecycle()
    net._started = True
    port = SimpleNamespace
    runtime = port(wait=lambda: None, _messaging_infrastructure=port(actors=[]))
    net.graph = port(batch=2, steps=4, delay=2, sizes=[3, 2], meta={"record": "counts"},
                     input=port(run=lava.run, runtime=runtime, batch_in=port(external_pipe_csp_send_port=lava.send)),
                     counter=port(out=port(external_pipe_csp_recv_port=lava.recv)))
    x = np.linspace(0, 1, 7 * 3).reshape(7, 3)
    counts = net.counts(x)
    np.testing.assert_allclose(counts, np.tile(x[:, :1] * 10, (1, 2)).astype(np.int64))
    assert net._inflight == {}
