"""Everything the training loop does differently with more than one process, in one place.

Started by ``torchrun --nproc-per-node N -m sdt_neuro train ...`` (or across nodes with torchrun's
own flags), each process is one rank. :func:`setup` joins the process group (gloo on CPU, NCCL on
CUDA) from torchrun's environment; without it, or with one process, every function here is the
identity and the loop runs as it always has.

* **Batches.** ``--batch-size`` is the *global* batch: every rank draws the same permutation (the
  loop's shuffling generator is seeded alike) and trains on its share of each batch
  (:meth:`Ranks.shard`), so the run sees the samples a one-process run would (except a last batch
  of fewer samples than ranks, which is skipped).
* **Updates.** A learner that steps a torch optimiser gets its gradients averaged over the ranks
  (weighted by each rank's share of the batch) just before the step, as DDP does; a learner that
  updates its weights in place (the BP fast path, EP) gets its weights averaged the same way just
  after the step, which for plain SGD is the same update. The homeostasis offsets are all-reduced
  inside :class:`~sdt_neuro.training.homeostasis.SelfDefinedTarget`.
* **Randomness.** Rank r seeds torch with ``seed + r`` (rank 0 draws what a one-process run
  draws), so dropout masks differ between ranks; the sign of EP's beta then differs too.
* **Data** is read by rank 0 first, then by the others (a download happens once).
* **Evaluation** is sharded and gathered (:meth:`Ranks.gather_rows`); every rank computes the
  same figures. Only rank 0 writes metrics, checkpoints and plots (:attr:`Ranks.main`).
* **Resume** works with another world size: the checkpoint holds rank 0's state and the global
  shuffling generator; dropout masks after a resume with another world size differ from an
  uninterrupted run's, as they would for any other world size.
* **Failure.** torchrun ends every rank when one fails or on Ctrl-C; checkpoints are written
  atomically by rank 0 only, so the last one stays intact.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Ranks:
    """This process's place among the training processes."""

    rank: int = 0
    world: int = 1
    owned: bool = False  # this module joined the process group (and leaves it in teardown)

    @property
    def main(self) -> bool:
        """Whether this rank writes files and prints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def main_first(self, load: Callable[[], Any]) -> Any:
        """``load()`` on rank 0 before the other ranks (a data set is downloaded once, not by every
        rank at once into the same folder)."""
        if not self.active:
            return load()
        import torch.distributed as dist

        if self.main:
            value = load()
            dist.barrier()
            return value
        dist.barrier()
        return load()

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This rank's share of a global batch of indices (contiguous, sizes differ by at most one)."""
        return idx if not self.active else idx[self._slice(idx)]

    def gather_rows(self, compute: Callable[[torch.Tensor], Any], x: torch.Tensor) -> Any:
        """``compute(x)`` (a NumPy array of rows) over all of ``x``: each rank computes its
        contiguous share and the shares are gathered in order on every rank."""
        if not self.active:
            return compute(x)
        import numpy as np
        import torch.distributed as dist

        part = compute(x[self._slice(x)])
        parts: list[Any] = [None] * self.world
        dist.all_gather_object(parts, part)
        return np.concatenate(parts)

    def _slice(self, x: torch.Tensor) -> slice:
        n = x.shape[0]
        return slice(n * self.rank // self.world, n * (self.rank + 1) // self.world)

    def weighted_mean_(self, tensors: list[torch.Tensor], weight: float, total: float) -> None:
        """Replace each tensor by the ``weight / total``-weighted sum over the ranks, in place."""
        if not self.active or not tensors:
            return
        import torch.distributed as dist

        flat = torch.cat([t.reshape(-1) for t in tensors]).mul_(weight / total)
        dist.all_reduce(flat)
        offset = 0
        for t in tensors:
            t.copy_(flat[offset:offset + t.numel()].view_as(t))
            offset += t.numel()


def setup(device: torch.device) -> Ranks:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1), or the one the caller
    already initialised; else a single rank."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size())
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Ranks()
    if device.type == "cuda":  # before the group: NCCL binds each rank's communicator to the current GPU
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size(), owned=True)


def device_for_rank(device: torch.device) -> torch.device:
    """Under torchrun each rank takes the GPU of its ``LOCAL_RANK``."""
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


class SyncedSteps:
    """Keeps the ranks' weights identical around a learner's ``train_step``: gradients averaged
    before an optimiser step, or weights averaged after an in-place update."""

    def __init__(self, learner: Any, ranks: Ranks) -> None:
        self.learner, self.ranks = learner, ranks
        self.stepped = False
        self.share = 1.0
        self.total = 1.0
        self.watch(learner.optimizer)

    def watch(self, optimizer: torch.optim.Optimizer) -> None:
        """Average the gradients across the ranks before each ``optimizer.step`` (once per optimiser:
        a run whose phases switch optimisers watches each one as it comes in)."""
        if not self.ranks.active or getattr(optimizer, "_sdt_synced", False):
            return
        step = optimizer.step

        def synced_step(*args: Any, **kwargs: Any) -> Any:
            grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
            self.ranks.weighted_mean_(grads, self.share, self.total)
            self.stepped = True
            return step(*args, **kwargs)

        optimizer.step = synced_step  # type: ignore[method-assign]
        optimizer._sdt_synced = True  # type: ignore[attr-defined]

    def mean_loss(self, losses: list[torch.Tensor], shares: list[float]) -> float:
        """The epoch's mean loss over its global batches: each step's losses weighted by the ranks' shares
        (``shares``: this rank's ``share / total`` of each step) and summed over the ranks, in one
        all-reduce per epoch; on one process the plain mean."""
        if not losses:
            return float("nan")
        stacked = torch.stack([v.detach().reshape(()) for v in losses])
        if not self.ranks.active:
            return float(stacked.mean())
        weighted = stacked.double() * torch.tensor(shares, dtype=torch.float64, device=stacked.device)
        self.ranks.weighted_mean_([weighted], 1.0, 1.0)  # the sum over the ranks of each step's share
        return float(weighted.mean())

    def __call__(self, x: torch.Tensor, labels: torch.Tensor | None, global_count: int,
                 loss: str = "mse") -> torch.Tensor:
        """One step on this rank's share ``x`` of a global batch of ``global_count`` samples;
        ``loss`` is the phase's (passed on to the learner only when it is not the default)."""
        self.share, self.total = float(x.shape[0]), float(global_count)
        self.stepped = False
        kwargs: dict[str, Any] = {} if loss == "mse" else {"loss": loss}
        value = (self.learner.train_step(x, labels, **kwargs) if labels is not None
                 else self.learner.train_step(x, **kwargs))
        if self.ranks.active and not self.stepped:  # the learner updated its weights in place
            with torch.no_grad():
                self.ranks.weighted_mean_([p.data for p in self.learner.model.parameters()], self.share, self.total)
        return value


def teardown(ranks: Ranks, together: bool = True) -> None:
    """Leave the process group if :func:`setup` joined it; ``together`` waits for every rank first (not
    on an error, which the other ranks may not share)."""
    if ranks.owned:
        import torch.distributed as dist

        if dist.is_initialized():
            if together:
                dist.barrier()  # leave together: no rank tears gloo down under another's last message
            dist.destroy_process_group()
