"""Training configuration: a frozen, validated, JSON-serialisable record of a run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sdt_neuro.errors import ConfigError
from sdt_neuro.rule import WTARule

ALGORITHMS = ("bp",)
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("linear", "constant")
DEVICES = ("auto", "cpu", "cuda")
MODES = ("batch", "sequential")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (the rule is stored as a dict inside).

    ``lrs`` holds one learning rate per trainable layer (the last one is reused for extra
    layers). ``schedule="linear"`` decays every rate linearly, batch by batch, from 1x to
    ``final_lr_factor`` x over ``schedule_epochs`` epochs (default: ``epochs``), as in the
    paper. A preset keeps its published horizon when ``epochs`` is cut short, so
    ``--epochs 1`` runs the first epoch of the published schedule.
    """

    rule: dict[str, Any]
    dataset: str = "mnist"
    arch: str = "mlp"
    sizes: tuple[int, ...] = (784, 2000)
    input_dropout: float = 0.3
    hidden_dropout: float = 0.0
    prune: float = 0.5
    algorithm: str = "bp"
    mode: str = "batch"
    optimizer: str = "sgd"
    lrs: tuple[float, ...] = (8.0,)
    batch_size: int = 16
    epochs: int = 1
    schedule: str = "linear"
    schedule_epochs: int | None = None
    final_lr_factor: float = 5e-4
    seed: int = 0
    threads: int | None = None
    device: str = "auto"
    label_fraction: float = 1.0
    probe: bool = False
    max_train_samples: int | None = None
    max_test_samples: int | None = None
    preset: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))
        object.__setattr__(self, "lrs", tuple(float(v) for v in self.lrs))
        rule = self.wta_rule  # validates the rule
        for name, value, allowed in (
            ("algorithm", self.algorithm, ALGORITHMS),
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("schedule", self.schedule, SCHEDULES),
            ("device", self.device, DEVICES),
            ("mode", self.mode, MODES),
            ("arch", self.arch, ("mlp", "cnn")),
        ):
            if value not in allowed:
                raise ConfigError(f"{name}={value!r} is not one of {allowed}")
        if self.sizes[-1] != rule.n_outputs:
            raise ConfigError(
                f"the network has {self.sizes[-1]} outputs but rule.n_outputs={rule.n_outputs}"
            )
        if self.batch_size < 1:
            raise ConfigError(f"batch_size={self.batch_size} must be >= 1")
        if self.mode == "sequential" and self.batch_size != 1:
            raise ConfigError(f"mode='sequential' needs batch_size=1, got {self.batch_size}")
        if self.epochs < 1:
            raise ConfigError(f"epochs={self.epochs} must be >= 1")
        if self.schedule_epochs is not None and self.schedule_epochs < 1:
            raise ConfigError(f"schedule_epochs={self.schedule_epochs} must be >= 1")
        if not self.lrs or any(v <= 0 for v in self.lrs):
            raise ConfigError(f"lrs={self.lrs} must hold positive learning rates")
        if not 0 < self.final_lr_factor <= 1:
            raise ConfigError(f"final_lr_factor={self.final_lr_factor} must be in (0, 1]")
        if not 0 < self.label_fraction <= 1:
            raise ConfigError(f"label_fraction={self.label_fraction} must be in (0, 1]")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads={self.threads} must be >= 1")
        for name in ("max_train_samples", "max_test_samples"):
            value = getattr(self, name)
            if value is not None and value < 10:
                raise ConfigError(f"{name}={value} must be >= 10 (or unset for the whole split)")

    @property
    def wta_rule(self) -> WTARule:
        return WTARule.from_dict(self.rule)

    def lr_for_layer(self, i: int) -> float:
        return self.lrs[min(i, len(self.lrs) - 1)]

    def replace(self, **changes: Any) -> TrainConfig:
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sizes"], d["lrs"] = list(self.sizes), list(self.lrs)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s) {unknown}; allowed: {sorted(known)}")
        return cls(**data)
