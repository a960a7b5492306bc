import os
import stat

import pytest
import torch

from sdt_neuro.errors import CheckpointError
from sdt_neuro.training.checkpoint import save_checkpoint


def test_a_checkpoint_is_readable_as_the_umask_allows_not_only_by_its_owner(tmp_path):
    old = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "c.pt", {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "c.pt").stat().st_mode) == 0o644  # as metrics.json beside it


def test_a_checkpoint_that_cannot_be_written_is_a_clear_error_that_keeps_the_previous_one(tmp_path, monkeypatch):
    (tmp_path / "in-the-way.pt").mkdir()
    with pytest.raises(CheckpointError, match="cannot write checkpoint .*in-the-way.pt"):
        save_checkpoint(tmp_path / "in-the-way.pt", {"x": 1})
    save_checkpoint(tmp_path / "c.pt", {"x": 1})

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(CheckpointError, match=r"No space left on device \(the previous checkpoint there is kept\)"):
        save_checkpoint(tmp_path / "c.pt", {"x": 2})
    monkeypatch.undo()
    assert torch.load(tmp_path / "c.pt", weights_only=True)["x"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt", "in-the-way.pt"]  # no temporary file left


def test_a_write_the_file_system_refuses_part_way_is_a_checkpoint_error(tmp_path):
    """A real short write (the file-size limit, as a full disk): torch.save reports it as a RuntimeError."""
    import subprocess
    import sys

    script = f"""
import resource, signal, torch
from sdt_neuro.errors import CheckpointError
from sdt_neuro.training.checkpoint import save_checkpoint
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, resource.RLIM_INFINITY))
try:
    save_checkpoint({str(tmp_path / "c.pt")!r}, {{"w": torch.zeros(100_000)}})
except CheckpointError as exc:
    print("refused:", exc)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"refused: cannot write checkpoint {tmp_path / 'c.pt'}: File too large")
    assert list(tmp_path.iterdir()) == []  # no temporary file left


def test_an_interrupted_write_leaves_no_temporary_file_and_is_not_swallowed(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "c.pt", {"x": 1})

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "c.pt", {"x": 2})
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
    assert torch.load(tmp_path / "c.pt", weights_only=True)["x"] == 1
