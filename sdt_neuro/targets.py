"""Pure math of the rule: k-WTA target, label target and homeostasis, in NumPy and torch.

The NumPy functions are the oracle (Lava process models use them); the ``*_torch`` twins are
tested to give identical results. State (offsets ``H``, win average ``A``) is passed in and
returned, never kept here. Ties in the top-k are broken towards the lower neuron index, so both
forms pick the same winners even when many outputs sit at the hard-sigmoid's 0 or 1. Non-finite
outputs or offsets are refused (:class:`~sdt_neuro.errors.NonFiniteError`).

With a dropout mask ``m`` (BP, EP) the learners take the winners of the masked output ``m * y``
and mask the target again, so a row has at most k ones, all on kept neurons, and exactly k when
at least k kept neurons beat every dropped one (``m * y - H`` of a dropped neuron is ``-H``).
"""

from __future__ import annotations

import numpy as np
import torch

from sdt_neuro.errors import ShapeError
from sdt_neuro.finite import require_finite
from sdt_neuro.rule import WTARule


def _check_2d(y_shape: tuple[int, ...], offsets_shape: tuple[int, ...], k: int) -> None:
    if len(y_shape) != 2:
        raise ShapeError(f"outputs must be 2-D [batch, neurons], got shape {tuple(y_shape)}")
    if tuple(offsets_shape) != (y_shape[1],):
        raise ShapeError(
            f"offsets must have shape ({y_shape[1]},) to match outputs {tuple(y_shape)}, "
            f"got {tuple(offsets_shape)}"
        )
    if not 1 <= k < y_shape[1]:
        raise ShapeError(f"k={k} must satisfy 1 <= k < {y_shape[1]} (the number of neurons)")


def _check_finite(y: object, offsets: object) -> None:
    """NaN never wins a comparison, so a NaN output would silently leave a row with fewer than
    k winners: refuse it."""
    require_finite(y, "the output layer's activity y given to the k-WTA target")
    require_finite(offsets, "the homeostasis offsets H")


def kwta_target(y: np.ndarray, offsets: np.ndarray, k: int) -> np.ndarray:
    """k-hot target: 1 for the k largest entries of ``y - offsets`` per row, else 0.

    Ties at the k-th value go to the lower index. Returns an array of ``y``'s dtype.
    """
    y = np.asarray(y)
    offsets = np.asarray(offsets, dtype=y.dtype)
    _check_2d(y.shape, offsets.shape, k)
    _check_finite(y, offsets)
    v = y - offsets
    kth = -np.partition(-v, k - 1, axis=1)[:, k - 1 : k]
    above = v > kth
    tied = v == kth
    room = k - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= room))
    return chosen.astype(y.dtype)


def kwta_target_torch(y: torch.Tensor, offsets: torch.Tensor, k: int) -> torch.Tensor:
    """Torch twin of :func:`kwta_target` (no gradient flows through it). Ranks in at least float32, so
    that half-precision outputs (autocast) do not round the offsets' small differences into ties."""
    _check_2d(tuple(y.shape), tuple(offsets.shape), k)
    _check_finite(y, offsets)
    with torch.no_grad():
        wide = torch.promote_types(torch.promote_types(y.dtype, offsets.dtype), torch.float32)
        v = y.to(wide) - offsets.to(wide)
        kth = torch.topk(v, k, dim=1, sorted=True).values[:, k - 1 : k]
        above = v > kth
        tied = v == kth
        room = k - above.sum(dim=1, keepdim=True)
        chosen = above | (tied & (torch.cumsum(tied, dim=1) <= room))
        return chosen.to(y.dtype)


def label_target(labels: np.ndarray, rule: WTARule, dtype: type = np.float32) -> np.ndarray:
    """Target for labelled samples: class c lights its block of neurons (see ``WTARule``)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ShapeError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= rule.n_classes):
        raise ShapeError(f"labels must lie in [0, {rule.n_classes}), got {labels.min()}..{labels.max()}")
    d = np.zeros((labels.size, rule.n_outputs), dtype=dtype)
    for c in np.unique(labels):
        lo, hi = rule.class_block(int(c))
        d[labels == c, lo:hi] = 1
    return d


def label_target_torch(labels: torch.Tensor, rule: WTARule, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Torch twin of :func:`label_target`."""
    d = label_target(labels.detach().cpu().numpy(), rule, dtype=np.float32)
    return torch.from_numpy(d).to(device=labels.device, dtype=dtype)


def homeostasis_step(offsets: np.ndarray, wins: np.ndarray, rule: WTARule) -> np.ndarray:
    """Batch mode: ``H + gamma * (mean_batch(wins) - T)``."""
    wins = np.asarray(wins)
    return offsets + rule.gamma * (wins.mean(axis=0) - rule.set_point)


def homeostasis_step_torch(offsets: torch.Tensor, wins: torch.Tensor, rule: WTARule) -> torch.Tensor:
    """Torch twin of :func:`homeostasis_step`."""
    return offsets + rule.gamma * (wins.mean(dim=0) - rule.set_point)


def sequential_homeostasis_step(
    offsets: np.ndarray, average: np.ndarray, wins: np.ndarray, rule: WTARule
) -> tuple[np.ndarray, np.ndarray]:
    """Sequential mode, one sample: ``A <- (1-eta) A + eta d``; ``H <- H + gamma (A - T)``.

    ``wins`` may be [N] or [1, N]. Returns ``(offsets, average)``.
    """
    d = np.asarray(wins).reshape(-1)
    average = (1.0 - rule.eta) * average + rule.eta * d
    return offsets + rule.gamma * (average - rule.set_point), average


def sequential_homeostasis_step_torch(
    offsets: torch.Tensor, average: torch.Tensor, wins: torch.Tensor, rule: WTARule
) -> tuple[torch.Tensor, torch.Tensor]:
    """Torch twin of :func:`sequential_homeostasis_step`."""
    d = wins.reshape(-1)
    average = (1.0 - rule.eta) * average + rule.eta * d
    return offsets + rule.gamma * (average - rule.set_point), average
