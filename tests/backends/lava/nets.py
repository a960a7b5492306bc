"""Small seeded spiking networks and process helpers for the Lava backend tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sdt_neuro.convert import SpikingLayer, SpikingNetwork


def random_network(sizes: tuple[int, ...] = (20, 15, 8), seed: int = 0, scale: float = 0.4) -> SpikingNetwork:
    """Random float weights (no ties at the threshold) and small positive biases."""
    rng = np.random.default_rng(seed)
    layers = tuple(SpikingLayer(rng.normal(0, scale, (o, i)), rng.normal(0.05, 0.1, o))
                   for i, o in zip(sizes[:-1], sizes[1:]))
    return SpikingNetwork(layers, {})


def random_inputs(n: int, n_in: int = 20, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((n, n_in))


def live_children(pid: int | None = None) -> set[int]:
    """Live child processes of ``pid`` (default: this one), without multiprocessing's resource tracker."""
    pid = pid or os.getpid()
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z" and b"resource_tracker" not in cmd:
            found.add(int(stat.parent.name))
    return found
