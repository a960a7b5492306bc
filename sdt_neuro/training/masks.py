"""Dropout masks the learners draw, and the output a self-defined target is built from.

Shared by the BP, EP and snnTorch learners, so that none of them imports another.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def output_dropout_mask(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor | None:
    """0/1 mask ~ Bernoulli(1 - p), no rescaling; ``None`` when ``p == 0``."""
    if p <= 0:
        return None
    return (torch.rand(shape, device=device) >= p).to(torch.float32)


def dropout_keep(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor | None:
    """Inverted-dropout multiplier (0 or 1/(1-p)), ``None`` when ``p == 0``."""
    if p <= 0:
        return None
    return (torch.rand(shape, device=device) >= p).to(torch.float32).div_(1.0 - p)


def target_source(learner: Any, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None,
                  labels: torch.Tensor | None,
                  clean_pass: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """The output a learner builds its target from: ``y`` (the training pass), or with
    ``config.clean_target`` on an unlabelled batch the same output of a pass without dropout
    (``clean_pass(x)``, default ``learner.activity(x)``) masked like ``y``. ``x`` is the input
    before input dropout."""
    if labels is not None or not learner.config.clean_target:
        return y
    clean = (clean_pass or learner.activity)(x)
    return clean if mask is None else clean * mask
