"""Refuse non-finite numbers where they would pass silently (a NaN output never wins k-WTA, an
all-NaN activity still yields an accuracy). One reduction over the array: cheap next to the
products that made it."""

from __future__ import annotations

from typing import Any

import numpy as np

from sdt_neuro.errors import NonFiniteError


def require_finite(values: Any, what: str) -> None:
    """Raise :class:`NonFiniteError` naming ``what`` unless every entry of ``values`` (NumPy array,
    torch tensor or anything ``np.asarray`` takes) is finite."""
    if hasattr(values, "detach"):  # a torch tensor: reduce where it lives
        import torch

        if values.dtype.is_floating_point and not bool(torch.isfinite(values).all()):
            _raise(values.detach().cpu().numpy(), what)
        return
    a = np.asarray(values)
    if a.dtype.kind in "fc" and not np.isfinite(a).all():
        _raise(a, what)


def _raise(a: np.ndarray, what: str) -> None:
    nan, inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
    raise NonFiniteError(f"{what} holds non-finite values: {nan} NaN and {inf} inf of {a.size} entries "
                         f"(shape {tuple(a.shape)})")
