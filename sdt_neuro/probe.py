"""Linear classifier (LC) on frozen output activity, with its training protocol as data.

A probe is dropout + linear(N -> classes), trained with cross-entropy and Adam. Protocols:

* ``ours``: 30 epochs, rate 1e-3, cosine decay, batch 256, features z-scored with the training
  features' statistics (a CNN's outputs can be 1e-3 in scale);
* ``published-cnn`` (METHOD.md): 50 epochs, rate 0.1, the rate halved at 20/35/50/60/70/80/90 %
  of the epochs, no standardisation; batch 256 (the batch is not recorded: ours);
* ``published-bp-mlp``: 50 epochs, rate 0.1, ExponentialLR 0.9 per epoch;
* ``published-ep-mlp-1`` / ``-2``: 100 epochs, rate 0.0022 / 0.0045, constant.

The probe draws from its own seeded generator: the global torch RNG is left as it was, so a
training run that probes resumes exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sdt_neuro.errors import ConfigError
from sdt_neuro.evaluate import _as_2d, _as_labels

if TYPE_CHECKING:
    import torch

SCHEDULES = ("cosine", "step", "exponential", "constant")


@dataclass(frozen=True)
class ProbeProtocol:
    """How a probe is trained; ``milestones`` are fractions of ``epochs`` (``step`` schedule),
    ``decay`` the factor per milestone (``step``) or per epoch (``exponential``)."""

    epochs: int = 30
    lr: float = 1e-3
    batch_size: int = 256
    dropout: float = 0.2
    schedule: str = "cosine"
    milestones: tuple[float, ...] = ()
    decay: float = 0.5
    standardize: bool = True

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"probe schedule={self.schedule!r} is not one of {SCHEDULES}")
        if self.epochs < 1 or self.batch_size < 1 or not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"probe epochs={self.epochs}, batch_size={self.batch_size} and lr={self.lr} "
                              "must be positive (and finite)")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"probe dropout={self.dropout} must be in [0, 1)")
        if not 0 < self.decay <= 1:
            raise ConfigError(f"probe decay={self.decay} must be in (0, 1] (the factor per milestone or epoch)")
        if any(not 0 < m < 1 for m in self.milestones):
            raise ConfigError(f"probe milestones={self.milestones} are fractions of the epochs, each in (0, 1)")


PROBE_PROTOCOLS: dict[str, ProbeProtocol] = {
    "ours": ProbeProtocol(),
    "published-cnn": ProbeProtocol(epochs=50, lr=0.1, schedule="step",
                                   milestones=(0.2, 0.35, 0.5, 0.6, 0.7, 0.8, 0.9), standardize=False),
    "published-bp-mlp": ProbeProtocol(epochs=50, lr=0.1, schedule="exponential", decay=0.9, standardize=False),
    "published-ep-mlp-1": ProbeProtocol(epochs=100, lr=0.0022, schedule="constant", standardize=False),
    "published-ep-mlp-2": ProbeProtocol(epochs=100, lr=0.0045, schedule="constant", standardize=False),
}


def probe_protocol(name: str) -> ProbeProtocol:
    if name not in PROBE_PROTOCOLS:
        raise ConfigError(f"probe protocol {name!r} is not one of {sorted(PROBE_PROTOCOLS)}")
    return PROBE_PROTOCOLS[name]


def linear_probe(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    n_classes: int = 10,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    dropout: float | None = None,
    seed: int = 0,
    standardize: bool | None = None,
    protocol: str | ProbeProtocol = "ours",
    device: str | torch.device = "cpu",
) -> float:
    """Test accuracy of a probe trained on ``train_features`` under ``protocol`` (a name in
    :data:`PROBE_PROTOCOLS` or a :class:`ProbeProtocol`); the keyword arguments override its fields.
    ``device``: where the probe trains (a training run passes its own; on one CPU thread the 80 probe
    epochs of a CNN run take minutes); the shuffling is the same on any device."""
    import torch

    proto = probe_protocol(protocol) if isinstance(protocol, str) else protocol
    overrides = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "dropout": dropout, "standardize": standardize}
    proto = ProbeProtocol(**{**proto.__dict__, **{k: v for k, v in overrides.items() if v is not None}})
    xtr = torch.as_tensor(_as_2d("train_features", train_features), dtype=torch.float32)
    ytr = torch.as_tensor(_as_labels(train_labels, xtr.shape[0], n_classes))
    xte = torch.as_tensor(_as_2d("test_features", test_features), dtype=torch.float32)
    yte = torch.as_tensor(_as_labels(test_labels, xte.shape[0], n_classes))
    if proto.standardize:
        mean, std = xtr.mean(0), xtr.std(0)
        std = torch.where(std > 1e-12, std, torch.ones_like(std))
        xtr, xte = (xtr - mean) / std, (xte - mean) / std
    device = torch.device(device)
    xtr, ytr, xte, yte = (t.to(device) for t in (xtr, ytr, xte, yte))
    # seeded here (torch.manual_seed reseeds every CUDA device), and every caller's generator restored
    cuda = list(range(torch.cuda.device_count())) if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        return _train_probe(xtr, ytr, xte, yte, n_classes, proto, seed)


def _scheduler(opt: Any, proto: ProbeProtocol) -> Any:
    import torch

    sched = torch.optim.lr_scheduler
    if proto.schedule == "cosine":
        return sched.CosineAnnealingLR(opt, T_max=proto.epochs)
    if proto.schedule == "step":
        marks = sorted({max(1, round(f * proto.epochs)) for f in proto.milestones})
        return sched.MultiStepLR(opt, milestones=marks, gamma=proto.decay)
    if proto.schedule == "exponential":
        return sched.ExponentialLR(opt, gamma=proto.decay)
    return sched.LambdaLR(opt, lambda _: 1.0)


def _train_probe(xtr: Any, ytr: Any, xte: Any, yte: Any, n_classes: int, proto: ProbeProtocol, seed: int) -> float:
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)  # batch order: on the CPU, whatever the device
    torch.manual_seed(seed)
    probe = nn.Sequential(nn.Dropout(proto.dropout), nn.Linear(xtr.shape[1], n_classes)).to(xtr.device)
    opt = torch.optim.Adam(probe.parameters(), lr=proto.lr)
    sched = _scheduler(opt, proto)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(proto.epochs):
        probe.train()
        for idx in torch.randperm(xtr.shape[0], generator=gen).to(xtr.device).split(proto.batch_size):
            opt.zero_grad(set_to_none=True)
            loss_fn(probe(xtr[idx]), ytr[idx]).backward()
            opt.step()
        sched.step()
    probe.eval()
    with torch.no_grad():
        return float((probe(xte).argmax(1) == yte).float().mean())
