"""Checks on image and label arrays from any source, with errors that name the array and the fix.

Every loader ends here: images become ``[n, C, H, W]`` float32 in [0, 1], labels ``[n]`` int64 in
``[0, n_classes)`` (or ``-1`` everywhere when a split has no labels).
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from sdt_neuro.errors import DataError

UNLABELLED = -1
MAX_LABEL = 2**31 - 1  # beyond it a label is no class index (and would wrap when cast)


def images_nchw(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as ``[n, C, H, W]``: accepts ``[n, D]`` (one row of D features), ``[n, H, W]``,
    ``[n, H, W, C]`` and ``[n, C, H, W]`` with C = 1 or 3."""
    if x.ndim == 2:
        return x.reshape(x.shape[0], 1, 1, x.shape[1])
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4:
        if x.shape[1] in (1, 3):
            return x
        if x.shape[3] in (1, 3):
            return np.moveaxis(x, 3, 1)
    raise DataError(f"{name} has shape {x.shape}; expected [n, H, W], [n, H, W, C] or [n, C, H, W] with "
                    "C = 1 or 3 channels, or [n, features]")


def check_images(x: np.ndarray, name: str, announce: bool = True) -> torch.Tensor:
    """Images as a float32 ``[n, C, H, W]`` tensor in [0, 1].

    Refused: an empty set, non-numeric values, NaN or inf, negative values, values above 255.
    Values in 0-255 (an array whose maximum exceeds 1) are divided by 255, announced on stderr
    unless ``announce`` is false; integer arrays of 0s and 1s are binary pixels, kept (with a note).
    """
    x = np.asarray(x)
    if x.dtype == bool or not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise DataError(f"{name} holds {x.dtype} values; expected numbers (uint8 0-255 or floats in [0, 1])")
    x = images_nchw(x, name)
    if x.shape[0] == 0:
        raise DataError(f"{name} is empty (shape {x.shape})")
    if x.size == 0:
        raise DataError(f"{name} holds images of no pixels (shape {x.shape})")
    if np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x)
        if bad.any():
            raise DataError(f"{name} holds {int(np.isnan(x).sum())} NaN and {int(np.isinf(x).sum())} infinite "
                            "value(s); clean or drop those images")
    low, high = float(x.min()), float(x.max())
    if low < 0:
        raise DataError(f"{name} holds negative values (minimum {low:g}); pixel values must be in [0, 1] or 0-255")
    if high > 255:
        raise DataError(f"{name} holds values up to {high:g}; pixel values must be in [0, 1] or 0-255")
    out = torch.from_numpy(np.ascontiguousarray(x)).to(torch.float32)
    if high > 1:
        out = out.div_(255.0)
        if announce:
            print(f"note: {name} holds values in 0-{high:g}; divided by 255 to [0, 1]", file=sys.stderr)
    elif np.issubdtype(x.dtype, np.integer):  # 8-bit images this dark do not occur: binary pixels
        print(f"note: {name} holds {x.dtype} values 0-{high:g}: read as binary pixels in [0, 1] (not divided by "
              "255)", file=sys.stderr)
    return out


def check_labels(y: np.ndarray | None, n: int, name: str) -> torch.Tensor:
    """Labels as an int64 ``[n]`` tensor (all ``-1`` when ``y`` is None); refused unless they are
    ``n`` whole numbers >= 0."""
    if y is None:
        return torch.full((n,), UNLABELLED, dtype=torch.int64)
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise DataError(f"{name} has shape {y.shape}; expected [{n}] (one label per image)")
    if not np.issubdtype(y.dtype, np.number) or y.dtype == bool:
        raise DataError(f"{name} holds {y.dtype} values; expected integer class indices")
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all() or not np.array_equal(y, np.round(y)):
            raise DataError(f"{name} holds values that are not whole numbers; expected integer class indices")
    if n and y.min() < 0:
        raise DataError(f"{name} holds negative labels (minimum {y.min()}); classes are 0 .. n_classes-1")
    if n and y.max() > MAX_LABEL:
        raise DataError(f"{name} holds labels up to {y.max():g}; classes are 0 .. n_classes-1 (at most {MAX_LABEL})")
    return torch.from_numpy(y.astype(np.int64))


def count_classes(*labels: torch.Tensor, name: str) -> int:
    """Number of classes: one more than the largest label of any labelled split (at least 2)."""
    labelled = [y for y in labels if y.numel() and int(y.min()) >= 0]
    known = [int(y.max()) for y in labelled]
    if not known:
        raise DataError(f"{name}: no labels at all; evaluation needs labelled test images")
    n_classes = max(known) + 1
    if n_classes < 2:
        raise DataError(f"{name}: every label is 0; a classification needs at least 2 classes")
    seen = np.zeros(n_classes, dtype=bool)
    for y in labelled:
        seen[np.unique(y.numpy())] = True
    if not seen.all():
        empty = np.flatnonzero(~seen)
        print(f"note: {name}: {len(empty)} of the {n_classes} classes 0 .. {n_classes - 1} have no image (classes "
              f"{empty[:10].tolist()}{' ...' if len(empty) > 10 else ''}); labels are class indices from 0",
              file=sys.stderr)
    return n_classes


def check_same_shape(train: torch.Tensor, test: torch.Tensor, name: str) -> None:
    """Refuse train and test images of different shapes."""
    if train.shape[1:] != test.shape[1:]:
        raise DataError(f"{name}: training images are {tuple(train.shape[1:])} but test images "
                        f"{tuple(test.shape[1:])} (C, H, W); they must match")
