import os
import subprocess
import sys
import textwrap

import pytest

from sdt_neuro.memory import ENV_SWITCH, keep_freed_memory

# Frees a 100 MB block and reports how many bytes the heap keeps free for reuse (mallinfo2).
_PROBE = textwrap.dedent("""
    import ctypes, sys
    from sdt_neuro.memory import keep_freed_memory
    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = Info
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    on = keep_freed_memory()
    block = libc.malloc(100 << 20)
    ctypes.memset(block, 1, 100 << 20)
    libc.free(block)
    print(on, libc.mallinfo2().fordblks)
""")


def _run(env_value: str) -> tuple[str, int]:
    env = {**os.environ, ENV_SWITCH: env_value}
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    on, free_bytes = out.stdout.split()
    return on, int(free_bytes)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc policy")
def test_freed_large_blocks_stay_in_the_process_only_when_the_policy_is_on():
    on, kept = _run("1")
    off, returned = _run("0")
    assert on == "True" and off == "False"
    assert kept >= 100 << 20  # the freed block is kept for the next allocation
    assert returned < 100 << 20  # glibc's default: unmapped on free


def test_the_switch_turns_the_policy_off(monkeypatch):
    monkeypatch.setenv(ENV_SWITCH, "0")
    assert keep_freed_memory() is False
