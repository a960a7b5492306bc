"""What the training loop checks after every step and epoch: non-finite numbers stop the run
(before a broken state can reach the checkpoint), collapsed outputs are flagged and warned about."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from sdt_neuro.errors import NonFiniteError, TrainingDiverged
from sdt_neuro.evaluate import CollapseWarning, collapse_message, collapse_reasons
from sdt_neuro.records import headline
from sdt_neuro.training.config import TrainConfig


def diverged(config: TrainConfig, epoch: int, batch: int | None, detail: str) -> TrainingDiverged:
    """The error that stops a run, naming where and what to lower."""
    where = f"epoch {epoch + 1}" + (f", batch {batch + 1}" if batch is not None else " (end)")
    return TrainingDiverged(
        f"training diverged at {where}: {detail}. {_lower_rates(config)} or the homeostasis rate (--gamma, now "
        f"{config.wta_rule.gamma}), and start again (a fresh --out, or --overwrite: --resume continues only "
        "the same settings). The checkpoint and metrics on disk are those of the last completed epoch.")


def _lower_rates(config: TrainConfig) -> str:
    """Where the rates that trained come from: the phases' own (a config file) or the config's (``--lr``)."""
    from sdt_neuro.training.phases import run_phases

    own = {p.name: list(p.lrs) for p in run_phases(config) if p.lrs is not None}
    if own:
        return f"Lower the learning rates (the phases' own, in a config file: {own})"
    return f"Lower the learning rate (--lr; the rates now are {list(config.lrs)})"


def check_loss(loss: torch.Tensor, config: TrainConfig, epoch: int, batch: int) -> None:
    """:class:`TrainingDiverged` when a step's loss is not finite."""
    if not bool(torch.isfinite(loss)):
        raise diverged(config, epoch, batch, f"the loss is {float(loss)}")


def check_weights(model: torch.nn.Module, config: TrainConfig, epoch: int) -> None:
    """:class:`TrainingDiverged` naming the first parameter that holds NaN or inf."""
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            bad = int((~torch.isfinite(p)).sum())
            raise diverged(config, epoch, None, f"parameter {name!r} holds {bad} non-finite value(s)")


def step_error(exc: NonFiniteError, config: TrainConfig, epoch: int, batch: int) -> TrainingDiverged:
    """A non-finite value met inside a learner's step, with the place it happened."""
    return diverged(config, epoch, batch, str(exc))


def flag_collapse(record: dict[str, Any], config: TrainConfig, warn: bool = True) -> None:
    """Set ``record["collapsed"]`` (and its reasons) and warn when the epoch's figures say the
    outputs collapsed."""
    rule = config.wta_rule
    reasons = collapse_reasons(record["unassigned_neurons"], rule.n_outputs, record["win_entropy_ratio"],
                               headline(record)["da_average"], rule.n_classes)
    record["collapsed"] = bool(reasons)
    if reasons:
        record["collapse_reasons"] = reasons
    if reasons and warn:
        warnings.warn(collapse_message(reasons, f"epoch {record['epoch']}"), CollapseWarning, stacklevel=3)
