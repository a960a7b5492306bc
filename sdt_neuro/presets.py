"""Named training presets: the paper's published settings, plus our own fast schedule.

Published settings (METHOD.md): SGD with per-layer rates, batch 16, linear decay of the rate from
1x to 5e-4x over the run, Xavier(0.5) initialisation. Where the paper gives no value (the CNN's
learning rate and dropout), the choice is ours and marked as such.
"""

from __future__ import annotations

from typing import Any

from sdt_neuro.errors import ConfigError
from sdt_neuro.training.config import TrainConfig

PRESETS: dict[str, dict[str, Any]] = {
    "bp-1layer": {
        "rule": {"n_outputs": 2000, "k": 6, "gamma": 0.4, "dropout": 0.2},
        "sizes": (784, 2000), "input_dropout": 0.3, "hidden_dropout": 0.0,
        "optimizer": "sgd", "lrs": (8.0,), "batch_size": 16, "epochs": 200,
        "schedule_epochs": 200,
    },
    "bp-2layer": {
        "rule": {"n_outputs": 2000, "k": 5, "gamma": 0.5, "dropout": 0.2},
        "sizes": (784, 2000, 2000), "input_dropout": 0.3, "hidden_dropout": 0.2,
        "optimizer": "sgd", "lrs": (2.5, 5.0), "batch_size": 16, "epochs": 200,
        "schedule_epochs": 200,
    },
    # Ours: same 784-2000 network and rule, larger batches and a short linear schedule.
    "bp-fast": {
        "rule": {"n_outputs": 2000, "k": 6, "gamma": 0.4, "dropout": 0.2},
        "sizes": (784, 2000), "input_dropout": 0.3, "hidden_dropout": 0.0,
        "optimizer": "sgd", "lrs": (8.0,), "batch_size": 16, "epochs": 8,
    },
    # CNN 32f5-128f3-3000, k=1, gamma=1, Adam, batch 16 (published); lr and dropout are ours.
    "cnn-mnist": {
        "rule": {"n_outputs": 3000, "k": 1, "gamma": 1.0, "dropout": 0.0},
        "dataset": "mnist", "arch": "cnn", "sizes": (784, 3000), "prune": 0.5,
        "input_dropout": 0.0, "optimizer": "adam", "lrs": (1e-4,), "batch_size": 16,
        "epochs": 10, "probe": True,
    },
    "cnn-fmnist": {
        "rule": {"n_outputs": 3000, "k": 1, "gamma": 1.0, "dropout": 0.0},
        "dataset": "fashion-mnist", "arch": "cnn", "sizes": (784, 3000), "prune": 0.5,
        "input_dropout": 0.0, "optimizer": "adam", "lrs": (1e-4,), "batch_size": 16,
        "epochs": 10, "probe": True,
    },
}


def preset_config(name: str, **overrides: Any) -> TrainConfig:
    """The preset's :class:`TrainConfig` with ``overrides`` applied.

    Rule fields (``k``, ``gamma``, ``dropout``, ``eta``) may be given at top level; ``lr``
    scales every layer's rate so their ratio is kept; ``None`` values are ignored.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    base = {k: (dict(v) if isinstance(v, dict) else v) for k, v in PRESETS[name].items()}
    rule = base.pop("rule")
    for key in ("k", "gamma", "dropout", "eta"):
        if overrides.get(key) is not None:
            rule[key] = overrides.pop(key)
        overrides.pop(key, None)
    lr = overrides.pop("lr", None)
    if lr is not None:
        first = base["lrs"][0]
        base["lrs"] = tuple(lr * v / first for v in base["lrs"])
    base.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(rule=rule, preset=name, **base)
