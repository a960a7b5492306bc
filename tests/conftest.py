"""Shared test helpers: small seeded data built per test (no module-scope state)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from sdt_neuro.data import Dataset, Split, load_bundled_sample, load_dataset

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def load_benchmark_script(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` (not a package) as the module ``name``; the scripts import their
    shared helpers (``released_runs``) as siblings, as they do when run."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def synthetic_dataset(n_train: int = 200, n_test: int = 100, n_classes: int = 4, seed: int = 0) -> Dataset:
    """Four blob prototypes on a 28x28 canvas plus noise: learnable in a few steps."""
    gen = torch.Generator().manual_seed(seed)
    protos = torch.zeros(n_classes, 28, 28)
    for c in range(n_classes):
        r, q = divmod(c, 2)
        protos[c, 4 + 12 * r : 12 + 12 * r, 4 + 12 * q : 12 + 12 * q] = 1.0

    def split(n: int) -> Split:
        y = torch.arange(n) % n_classes
        x = (protos[y] + 0.2 * torch.rand(n, 28, 28, generator=gen)).clamp(0, 1)
        return Split(x.reshape(n, 1, 28, 28), y)

    return Dataset("synthetic", split(n_train), split(n_test), source="synthetic", n_classes=n_classes)


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch, tmp_path_factory):
    """Tests never download: without SDT_DATA_ROOT they fall back to the bundled sample."""
    monkeypatch.setenv("SDT_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def synthetic() -> Dataset:
    return synthetic_dataset()


def real_mnist() -> Dataset:
    """Full MNIST from SDT_DATA_ROOT when set (CI sets it), else the bundled real sample."""
    if os.environ.get("SDT_DATA_ROOT"):
        return load_dataset("mnist")
    return load_bundled_sample(reason="SDT_DATA_ROOT not set in the test environment")


def record_target_sources(learner) -> list:
    """Wrap ``learner.state.self_defined_target`` so every output it builds a target from is kept."""
    seen: list = []
    original = learner.state.self_defined_target

    def recording(y, mask, **kw):
        seen.append(y.clone())
        return original(y, mask, **kw)

    learner.state.self_defined_target = recording
    return seen
