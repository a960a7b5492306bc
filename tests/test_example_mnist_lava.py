"""examples/mnist_lava.py, the main job, offline on the bundled sample with small settings."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lava", reason="the main job runs Lava (Python 3.10 with sdt-neuro[lava])")
pytest.importorskip("snntorch", reason="the main job runs snnTorch (sdt-neuro[snntorch])")


def test_main_job_writes_its_table_pictures_and_page(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SDT_DATA_ROOT"}
    env["SDT_OFFLINE"] = "1"
    script = Path(__file__).parents[1] / "examples" / "mnist_lava.py"
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path), "--epochs", "2", "--samples", "64",
                           "--curve-steps", "4,8", "--curve-samples", "32", "--threads", "1"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert list(results["rows"]) == ["ANN (PyTorch)", "snnTorch", "Lava floating_pt", "Lava fixed_pt"]
    assert results["preset"] == "bp-sample" and results["da_against_steps"]["steps"] == [4, 8]
    assert results["rows"]["Lava floating_pt"]["agreement_with_snntorch"] == 1.0
    pictures = {"neurons.png", "receptive_fields.png", "spike_raster.png", "confusion_matrix.png", "da_vs_steps.png"}
    assert pictures <= {p.name for p in tmp_path.iterdir()}
    page = (tmp_path / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 6 and "Lava fixed_pt" in page  # five pictures + training curve


def test_main_job_reports_bad_input_without_a_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SDT_DATA_ROOT"}
    env["SDT_OFFLINE"] = "1"
    script = Path(__file__).parents[1] / "examples" / "mnist_lava.py"

    def run(*flags):
        return subprocess.run([sys.executable, str(script), "--out", str(tmp_path), *flags], capture_output=True,
                              text=True, timeout=300, env=env)

    done = run("--checkpoint", str(tmp_path / "missing"))
    assert done.returncode == 1 and "mnist_lava: error: checkpoint" in done.stderr
    assert "Traceback" not in done.stderr
    import numpy as np

    from sdt_neuro.training import TrainConfig, train
    from tests.conftest import synthetic_dataset

    blobs = synthetic_dataset()  # a network trained on other images: not the main job's to score as MNIST
    np.savez(tmp_path / "blobs.npz", x_train=blobs.train.x[:, 0].numpy(), y_train=blobs.train.y.numpy(),
             x_test=blobs.test.x[:, 0].numpy(), y_test=blobs.test.y.numpy())
    train(TrainConfig(rule={"n_outputs": 20, "k": 2, "gamma": 0.3}, sizes=(784, 20), lrs=(2.0,), epochs=1, threads=1,
                      dataset=str(tmp_path / "blobs.npz")), out_dir=tmp_path / "blobs", progress=False, plots=False)
    done = run("--checkpoint", str(tmp_path / "blobs"))
    assert done.returncode == 1 and "was trained on" in done.stderr and "sdt-neuro evaluate" in done.stderr
    done = run("--curve-steps", "4,,8")
    assert done.returncode == 2 and "not a comma-separated list of whole numbers" in done.stderr
    done = run("--checkpoint", "x", "--epochs", "3")
    assert done.returncode == 2 and "--checkpoint reuses a trained one" in done.stderr
