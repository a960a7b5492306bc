"""The rule as a torch module: the self-defined target and its homeostasis state.

:class:`SelfDefinedTarget` holds the offsets ``H`` and the sequential win average ``A`` as
buffers, so it moves with ``.to(device)``, saves with ``state_dict()`` and sits inside a user's
model under DDP, Lightning, Accelerate or Ray Train. Its math is :mod:`sdt_neuro.targets` (the
NumPy oracle's torch twin); every learner of this package uses it.

**More than one process.** The homeostasis step needs the batch mean of the winners,
``mean_batch(d)``. When ``torch.distributed`` is initialised with more than one rank, the module
all-reduces the per-rank sum of ``d`` and the sample count, so every rank applies the same update
from the global batch and holds the same offsets (as ``SyncBatchNorm`` does for its statistics;
DDP's own buffer broadcast would instead copy rank 0's offsets). The k-WTA itself is per sample
and needs no communication. In sequential mode the per-rank wins are averaged the same way.
"""

from __future__ import annotations

import torch
from torch import nn

from sdt_neuro.rule import WTARule
from sdt_neuro.targets import (
    homeostasis_step_torch,
    kwta_target_torch,
    label_target_torch,
    sequential_homeostasis_step_torch,
)


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def global_mean_wins(d: torch.Tensor) -> torch.Tensor:
    """``mean_batch(d)`` over every rank's samples (this rank's alone without torch.distributed)."""
    if not _distributed():
        return d.mean(dim=0)
    import torch.distributed as dist

    packed = torch.cat([d.sum(dim=0), torch.tensor([float(d.shape[0])], device=d.device, dtype=d.dtype)])
    dist.all_reduce(packed)
    return packed[:-1] / packed[-1]


class SelfDefinedTarget(nn.Module):
    """k-WTA target with homeostasis for one output population of ``rule.n_outputs`` neurons.

    ``forward(y, mask=None, labels=None)`` returns the target for the batch ``y`` [B, N]: the
    label target when ``labels`` are given (homeostasis untouched), else the k-hot winners of
    ``y - H`` (masked like ``y``), and then one homeostasis step (in training mode only; in eval
    mode the state is read, never written). ``sequential=True`` uses the batch-1 rule with the
    win average ``A``. With ``rule.dropout`` p > 0 the caller drops outputs (``y * m``, ``m`` from
    :func:`~sdt_neuro.training.masks.output_dropout_mask`) and passes ``m``: the set point assumes
    a fraction p of them dropped, so without it H drifts up by about gamma p k / N a step.

        d = k_hot(top_k(y - H)) * m;   H <- H + gamma * (mean_batch(d) - (1 - p) k / N)
    """

    offsets: torch.Tensor
    average: torch.Tensor

    def __init__(self, rule: WTARule, device: torch.device | str = "cpu", sequential: bool = False) -> None:
        super().__init__()
        self.rule = rule
        self.sequential = sequential
        self.register_buffer("offsets", torch.zeros(rule.n_outputs, device=device))
        self.register_buffer("average", torch.zeros(rule.n_outputs, device=device))

    def forward(self, y: torch.Tensor, mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.target(y, mask, labels, sequential=self.sequential)

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
        if not self.training:
            return d
        with torch.no_grad():
            wins = global_mean_wins(d)[None, :]
            if sequential:
                offsets, average = sequential_homeostasis_step_torch(self.offsets, self.average, wins, self.rule)
                self.average.copy_(average)
            else:
                offsets = homeostasis_step_torch(self.offsets, wins, self.rule)
            self.offsets.copy_(offsets)
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

    def extra_repr(self) -> str:
        r = self.rule
        return f"n_outputs={r.n_outputs}, k={r.k}, gamma={r.gamma}, dropout={r.dropout}, sequential={self.sequential}"


HomeostasisState = SelfDefinedTarget  # the name the learners used before the module existed
