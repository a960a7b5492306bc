import json
import os
import sys

import pytest

from tests.conftest import load_benchmark_script

ROOT = os.environ.get("SDT_DATA_ROOT", "")
needs_mnist = pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, "MNIST", "raw")),
                                 reason="needs MNIST under SDT_DATA_ROOT")


@needs_mnist
def test_reference_pretraining_learns_from_the_library_labelled_subset(tmp_path, monkeypatch):
    """One epoch over 100 labels at batch 32: four Adam steps lift the test accuracy far above chance,
    and the curve is written with the settings that made it."""
    script = load_benchmark_script("ep_pretrain_reference")
    out = tmp_path / "curve.json"
    monkeypatch.setattr(sys, "argv", ["ep_pretrain_reference.py", "--labels", "100", "--epochs", "1",
                                      "--data-root", ROOT, "--out", str(out)])
    script.main()
    written = json.loads(out.read_text())
    (epoch,) = written["curve"]
    assert epoch["epoch"] == 1 and epoch["test_accuracy"] > 0.4 and 0 < epoch["train_error"] < 1
    assert (written["settings"]["labels"], written["settings"]["batch"], written["settings"]["split"]) == \
        (100, 32, "balanced")
