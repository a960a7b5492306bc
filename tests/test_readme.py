"""README's API tour runs as written: its Python blocks, in order, in a fresh folder."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_the_tour_this_test_runs():
    blocks = python_blocks()
    assert len(blocks) == 2  # the core tour, then the spiking backends (a new block needs a look here)
    assert "from sdt_neuro.training import train" in blocks[0] and "compile_checkpoint" in blocks[1]
    assert "d = target(y, m)" in blocks[0]  # the rule's dropout: the set point (1 - p) k / N needs the mask


@pytest.mark.skipif(not os.environ.get("SDT_DATA_ROOT"), reason="the tour trains on MNIST and loads Fashion-MNIST")
def test_the_api_tour_runs_as_written(tmp_path):
    blocks = python_blocks()
    if importlib.util.find_spec("lava") is None or importlib.util.find_spec("snntorch") is None:
        blocks = blocks[:1]  # the spiking block needs sdt-neuro[all] on Python 3.10
    script = tmp_path / "tour.py"
    script.write_text("import torch\ntorch.set_num_threads(1)\n" + "\n".join(blocks))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "SDT_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert 0.5 < float(lines[0]) <= 1 and 0.5 < float(lines[1]) <= 1  # DA after one epoch, then at 1% labels
    assert lines[2] == "[('pretrain', 32), ('unlabelled', 128), ('labelled', 32)]"  # what the README says
    assert (tmp_path / "runs" / "bp1" / "index.html").is_file()
