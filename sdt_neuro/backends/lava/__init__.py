"""Lava backend (lava-nc 0.10, CPU simulation): trained networks as batched Lava processes.

Importing this package does not import Lava; the names below load on first use, and a missing
lava-nc raises :class:`~sdt_neuro.errors.MissingBackendError`.

    from sdt_neuro.backends.lava import compile_checkpoint
    with compile_checkpoint("runs/latest", steps=32, batch=128) as net:
        counts = net.counts(images.reshape(len(images), -1))   # [n, N_out] spike counts
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "LavaLearner": "learning",
    "LavaLearningSession": "learning",
    "LavaNetwork": "runner",
    "LavaRuntimeError": "runner",
    "build_graph": "build",
    "compile_checkpoint": "commands",
    "convert_command": "commands",
    "evaluation_activity": "commands",
    "spiking_network": "commands",
    "quantize_network": "fixed_point",
    "reference_window": "learning",
    "simulate_fixed": "fixed_point",
    "simulate_fixed_state": "fixed_point",
    "train_command": "learning",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    from sdt_neuro.backends.lava.build import require_lava

    require_lava()
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)


__all__ = sorted(_EXPORTS)
