"""A training procedure as data: stages of phases the shared loop runs, one phase-epoch at a time.

A :class:`Phase` says what one epoch trains on and how: its samples (``"all"``, the run's
``"labelled"`` subset or the ``"unlabelled"`` rest), whether with their labels, which optimiser
(``optimizer``: a slot name; phases naming the same slot share one optimiser and its state;
``reset_optimizer``: that state, Adam's moments and step count, is cleared at the start of each of
the phase's epochs, as if a new optimiser began it), its kind, batch size, base rates per layer,
rate schedule and loss. A :class:`Stage` repeats its phases
in order ``repeat`` times. The published semi-supervised run is two stages::

    Stage(repeat=100, phases=(pretrain,))                     # supervised pre-training
    Stage(repeat=200, phases=(unlabelled, labelled))          # alternation rounds

A run's config holds its stages as plain dicts (``TrainConfig.procedure``); without them the
stages follow from the older fields (``epochs``; ``semi_*`` for the earlier semi-supervised
recipe), so every run, unsupervised or not, goes through the same plan.

Rate schedules (``schedule["kind"]``), as a factor on the phase's base rates:

* ``"run"``: the run-wide schedule of the config (``schedule``, ``final_lr_factor``, linear per
  batch over ``schedule_epochs``), times ``schedule["scale"]`` (default 1);
* ``"exponential"``: ``gamma ** i`` at the phase's ``i``-th epoch (PyTorch's ExponentialLR);
* ``"linear"``: from ``start`` to ``end`` linearly over the phase's epochs in its stage, or over its
  first ``span`` epochs and then held at ``end`` (PyTorch's ``LinearLR`` with ``total_iters=span``).

Losses (``loss``): ``"mse"`` (the hard-sigmoid and linear read-outs), ``"cross-entropy"`` (the
read-out's own: per-output binary for the sigmoid, the softmax's for the softmax) and
``"output-cross-entropy"`` (BP with the sigmoid read-out: softmax cross-entropy taken over the
sigmoid outputs as if they were logits, as the authors' released semi-supervised BP code does).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from sdt_neuro.errors import ConfigError
from sdt_neuro.models import MSE_READOUTS

POOLS = ("all", "labelled", "unlabelled")
LOSSES = ("mse", "cross-entropy", "output-cross-entropy")
SCHEDULE_KINDS = ("run", "exponential", "linear")
OPTIMIZER_KINDS = ("sgd", "adam")


@dataclass(frozen=True)
class Phase:
    """One kind of epoch (see the module docstring); ``None`` fields take the config's value."""

    name: str
    pool: str = "all"
    labels: bool = False
    optimizer: str = "main"
    optimizer_kind: str | None = None
    batch_size: int | None = None
    lrs: tuple[float, ...] | None = None
    schedule: dict[str, Any] = field(default_factory=lambda: {"kind": "run"})
    loss: str = "mse"
    evaluate: bool = True
    reset_optimizer: bool = False

    def __post_init__(self) -> None:
        if self.lrs is not None:
            object.__setattr__(self, "lrs", tuple(float(v) for v in self.lrs))
        if not isinstance(self.schedule, dict):
            raise ConfigError(f"phase {self.name!r}: schedule={self.schedule!r} must be an object such as "
                              "{'kind': 'run'}")
        object.__setattr__(self, "schedule", dict(self.schedule))
        where = f"phase {self.name!r}"
        for name, value, allowed in (("pool", self.pool, POOLS), ("loss", self.loss, LOSSES),
                                     ("schedule kind", self.schedule.get("kind"), SCHEDULE_KINDS)):
            if value not in allowed:
                raise ConfigError(f"{where}: {name}={value!r} is not one of {allowed}")
        for name in ("labels", "evaluate", "reset_optimizer"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{where}: {name}={getattr(self, name)!r} must be true or false")
        if self.batch_size is not None and (isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int)):
            raise ConfigError(f"{where}: batch_size={self.batch_size!r} must be a whole number")
        if self.optimizer_kind is not None and self.optimizer_kind not in OPTIMIZER_KINDS:
            raise ConfigError(f"{where}: optimizer_kind={self.optimizer_kind!r} is not one of {OPTIMIZER_KINDS}")
        if self.labels and self.pool == "unlabelled":
            raise ConfigError(f"{where}: the unlabelled pool has no labels to train with")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"{where}: batch_size={self.batch_size} must be >= 1")
        if self.lrs is not None and (not self.lrs or any(not (math.isfinite(v) and v > 0) for v in self.lrs)):
            raise ConfigError(f"{where}: lrs={list(self.lrs)} must hold positive, finite learning rates")
        kind = self.schedule["kind"]
        need = {"run": (), "exponential": ("gamma",), "linear": ("start", "end")}[kind]
        missing = [k for k in need if k not in self.schedule]
        if missing:
            raise ConfigError(f"{where}: a {kind!r} schedule needs {missing}")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for k, v in self.schedule.items() if k != "kind"):
            raise ConfigError(f"{where}: schedule {self.schedule} needs numbers")
        if any(not (math.isfinite(float(self.schedule[k])) and float(self.schedule[k]) > 0)
               for k in (*need, "scale") if k in self.schedule):
            raise ConfigError(f"{where}: schedule {self.schedule} needs positive, finite factors")
        span = self.schedule.get("span")
        if span is not None and (kind != "linear" or not isinstance(span, int) or span < 1):
            raise ConfigError(f"{where}: span={span!r} needs a 'linear' schedule and a whole number of epochs >= 1")
        allowed = {"kind", *need, *{"run": ("scale",), "exponential": (), "linear": ("span",)}[kind]}
        if unknown := sorted(set(self.schedule) - allowed):
            raise ConfigError(f"{where}: a {kind!r} schedule takes {sorted(allowed)}, not {unknown}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lrs"] = None if self.lrs is None else list(self.lrs)
        return d


@dataclass(frozen=True)
class Stage:
    """``phases`` run in order, ``repeat`` times."""

    phases: tuple[Phase, ...]
    repeat: int

    def __post_init__(self) -> None:
        if self.repeat < 1 or not self.phases:
            raise ConfigError(f"a stage needs repeat >= 1 and at least one phase, got repeat={self.repeat}, "
                              f"{len(self.phases)} phases")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stage:
        unknown = sorted(set(data) - {"phases", "repeat"})
        if unknown:
            raise ConfigError(f"unknown stage field(s) {unknown}; allowed: ['phases', 'repeat']")
        missing = sorted({"phases", "repeat"} - set(data))
        repeat = data.get("repeat")
        if missing or isinstance(repeat, bool) or not isinstance(repeat, int):
            raise ConfigError(f"a stage needs 'phases' and a whole-number 'repeat', got {data}")
        try:
            phases = tuple(p if isinstance(p, Phase) else Phase(**p) for p in data["phases"])
        except TypeError as exc:
            raise ConfigError(f"bad phase in procedure: {exc}") from exc
        return cls(phases, repeat)

    def to_dict(self) -> dict[str, Any]:
        return {"repeat": self.repeat, "phases": [p.to_dict() for p in self.phases]}


@dataclass(frozen=True)
class PlannedEpoch:
    """Epoch ``index`` of the run: ``phase``, its ``occurrence``-th epoch out of ``occurrences`` in
    its stage, and whether it closes its stage."""

    index: int
    phase: Phase
    occurrence: int
    occurrences: int
    stage_end: bool


def stages(config: Any) -> tuple[Stage, ...]:
    """The run's stages: ``config.procedure``, else the ones its older fields describe (trained with
    the read-out's loss: MSE for the hard-sigmoid and linear ones, cross-entropy for the others)."""
    if config.procedure:
        return tuple(Stage.from_dict(s) for s in config.procedure)
    loss = "mse" if config.readout in MSE_READOUTS else "cross-entropy"  # the read-out's loss
    if config.semi_labels is None:
        return (Stage((Phase("train", loss=loss),), config.epochs),)
    labelled = Phase("labelled", pool="labelled", labels=True, loss=loss)
    if config.semi_supervised_only:
        return (Stage((labelled,), config.epochs),)
    unlabelled = Phase("unlabelled", pool="unlabelled", loss=loss,
                       schedule={"kind": "run", "scale": config.semi_unlabelled_lr_factor})
    out = []
    if config.semi_pretrain_epochs:
        out.append(Stage((Phase("pretrain", pool="labelled", labels=True, loss=loss),), config.semi_pretrain_epochs))
    rest = config.epochs - config.semi_pretrain_epochs
    if rest > 0:
        out.append(Stage((unlabelled, labelled), -(-rest // 2)))
    return tuple(out)


def run_phases(config: Any) -> list[Phase]:
    """Every phase of the run's stages, in order (a phase repeated by its stage is listed once)."""
    return [phase for stage in stages(config) for phase in stage.phases]


def plan(config: Any) -> list[PlannedEpoch]:
    """Every epoch of the run in order (``config.epochs`` of them: a run may stop early)."""
    out: list[PlannedEpoch] = []
    for stage in stages(config):
        for r in range(stage.repeat):
            for phase in stage.phases:
                last = r == stage.repeat - 1 and phase is stage.phases[-1]
                out.append(PlannedEpoch(len(out), phase, r, stage.repeat, last))
    if config.procedure and config.epochs > len(out):
        raise ConfigError(f"epochs={config.epochs} but the procedure holds {len(out)} epochs")
    return out[: config.epochs]


def total_epochs(procedure: Any) -> int:
    """How many epochs the stages in ``procedure`` (dicts, checked as :class:`Stage`) hold."""
    return sum(len(stage.phases) * stage.repeat for stage in map(Stage.from_dict, procedure))


def phase_factor(config: Any, planned: PlannedEpoch, progress: float) -> float:
    """The rate factor of ``planned``'s phase; ``progress`` is the run's position in epochs / horizon
    (used by the ``"run"`` schedule only)."""
    s = planned.phase.schedule
    if s["kind"] == "run":
        return lr_factor(config, progress) * float(s.get("scale", 1.0))
    if s["kind"] == "exponential":
        return float(s["gamma"]) ** planned.occurrence
    span = int(s["span"]) if "span" in s else max(planned.occurrences - 1, 1)
    return float(s["start"]) + (float(s["end"]) - float(s["start"])) * min(planned.occurrence, span) / span


def lr_factor(config: Any, progress: float) -> float:
    """The run-wide schedule's rate multiplier after ``progress`` (in epochs / horizon) of training."""
    if config.schedule == "constant":
        return 1.0
    return 1.0 - (1.0 - config.final_lr_factor) * min(progress, 1.0)


def phase_rates(config: Any, phase: Phase, n_groups: int) -> list[float]:
    """The phase's base rate for each of ``n_groups`` parameter groups (the last reused)."""
    lrs = phase.lrs or config.lrs
    return [lrs[min(i, len(lrs) - 1)] for i in range(n_groups)]


def build_optimizer(kind: str, groups: list[list[torch.nn.Parameter]]) -> torch.optim.Optimizer:
    """A fresh optimiser over per-layer parameter groups (rates are set per epoch by the loop)."""
    param_groups = [{"params": g, "lr": 0.0} for g in groups]
    if kind == "adam":
        # The fused kernel updates each parameter in one pass: about 10x faster than the
        # default for the CNN's 19M weights on CPU (an Adam step was half of a training step).
        return torch.optim.Adam(param_groups, fused=True)
    return torch.optim.SGD(param_groups, lr=0.0)


def layer_optimizer(model: torch.nn.Module, config: Any) -> torch.optim.Optimizer:
    """A learner's own optimiser (``config.optimizer``): one group per weight layer (``Linear``,
    ``Conv2d``, in order) at the config's rate for that layer."""
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    optimizer = build_optimizer(config.optimizer, [list(m.parameters()) for m in layers])
    for i, group in enumerate(optimizer.param_groups):
        group["lr"] = config.lr_for_layer(i)
    return optimizer
