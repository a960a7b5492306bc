"""examples/lightning_ddp.py: the rule module inside a Lightning DDP run on 2 CPU processes."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("lightning", reason="PyTorch Lightning is not installed (pip install 'sdt-neuro[lightning]')")


def test_lightning_ddp_ranks_hold_the_same_offsets(tmp_path):
    script = Path(__file__).parents[1] / "examples" / "lightning_ddp.py"
    done = subprocess.run([sys.executable, str(script), "--samples", "2048", "--epochs", "1", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "DA-average" in done.stdout
    ranks = [torch.load(tmp_path / f"offsets_rank{r}.pt") for r in range(2)]
    assert torch.equal(ranks[0]["offsets"], ranks[1]["offsets"]) and ranks[0]["offsets"].abs().sum() > 0
