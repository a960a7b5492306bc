"""Trainer-side state of the rule (offsets H, win average A) and the target it produces."""

from __future__ import annotations

import torch

from sdt_neuro.rule import WTARule
from sdt_neuro.targets import (
    homeostasis_step_torch,
    kwta_target_torch,
    label_target_torch,
    sequential_homeostasis_step_torch,
)


class HomeostasisState:
    """Offsets ``H`` and sequential win average ``A`` of one output population."""

    def __init__(self, rule: WTARule, device: torch.device | str = "cpu") -> None:
        self.rule = rule
        self.offsets = torch.zeros(rule.n_outputs, device=device)
        self.average = torch.zeros(rule.n_outputs, device=device)

    def reset(self) -> None:
        """Zero H and A (done at each epoch start under ``homeostasis_reset='epoch'``)."""
        self.offsets.zero_()
        self.average.zero_()

    def self_defined_target(
        self, y: torch.Tensor, mask: torch.Tensor | None, sequential: bool = False
    ) -> torch.Tensor:
        """k-WTA target on ``y - H`` (masked like ``y``), then one homeostasis update."""
        d = kwta_target_torch(y.detach(), self.offsets, self.rule.k)
        if mask is not None:
            d = d * mask
        if sequential:
            self.offsets, self.average = sequential_homeostasis_step_torch(
                self.offsets, self.average, d, self.rule
            )
        else:
            self.offsets = homeostasis_step_torch(self.offsets, d, self.rule)
        return d

    def label_target(self, labels: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Target for labelled samples (semi-supervised); homeostasis is not updated."""
        d = label_target_torch(labels, self.rule)
        return d * mask if mask is not None else d

    def target(
        self, y: torch.Tensor, mask: torch.Tensor | None, labels: torch.Tensor | None,
        sequential: bool = False,
    ) -> torch.Tensor:
        """The label target when ``labels`` are given, else the self-defined target."""
        if labels is not None:
            return self.label_target(labels, mask)
        return self.self_defined_target(y, mask, sequential=sequential)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"offsets": self.offsets.cpu(), "average": self.average.cpu()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        device = self.offsets.device
        self.offsets = state["offsets"].to(device).clone()
        self.average = state["average"].to(device).clone()


def output_dropout_mask(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor | None:
    """0/1 mask ~ Bernoulli(1 - p), no rescaling; ``None`` when ``p == 0``."""
    if p <= 0:
        return None
    return (torch.rand(shape, device=device) >= p).to(torch.float32)
