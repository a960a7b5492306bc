"""A user's own data: an ``.npz`` file or a folder of images in torchvision's ImageFolder layout.

``.npz``: ``x_train`` (required), ``y_train`` (optional: unsupervised training needs no labels,
direct association does), ``x_test`` and ``y_test`` (required: a result needs labelled test
images). Images ``[n, H, W]``, ``[n, H, W, C]``, ``[n, C, H, W]`` or ``[n, features]``; uint8
0-255 or floats in [0, 1].

Image folder: ``ROOT/train/<class>/<image>`` and ``ROOT/test/<class>/<image>`` (the classes are
the sorted folder names of ``train``; ``test`` may lack some). Every image must have the size of
the first; grey-scale images stay one channel unless any image has colour.
"""

from __future__ import annotations

import sys
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sdt_neuro.data.checks import check_images, check_labels, check_same_shape, count_classes
from sdt_neuro.errors import DataError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz(path: Path) -> tuple[dict[str, np.ndarray | None], str]:
    """The arrays of an ``.npz`` file, checked, and a description for messages."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # an .npy file under another name
            raise ValueError(f"it holds a single {type(loaded).__name__}, not named arrays")
        with loaded as npz:
            arrays = {key: (npz[key] if key in npz.files else None) for key in NPZ_KEYS}
            extra = sorted(set(npz.files) - set(NPZ_KEYS))
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error, SyntaxError, tokenize.TokenError) as exc:
        # a damaged member surfaces as zlib's error or as a header numpy cannot parse
        raise DataError(f"{path} cannot be read as an .npz file ({type(exc).__name__}: {exc})") from exc
    missing = [key for key in ("x_train", "x_test", "y_test") if arrays[key] is None]
    if missing:
        raise DataError(f"{path} lacks {missing}; an .npz data set holds {list(NPZ_KEYS)} (y_train optional)"
                        + (f", found {extra}" if extra else ""))
    return arrays, str(path)


def load_image_folder(root: Path) -> tuple[dict[str, np.ndarray | None], list[str]]:
    """``ROOT/train`` and ``ROOT/test`` read with torchvision's ImageFolder, as uint8 arrays, and
    the class names."""
    from torchvision.datasets import ImageFolder

    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise DataError(f"{root} is not an image folder data set: {root / split} is missing (expected "
                            f"{root}/train/<class>/<image> and {root}/test/<class>/<image>)")
    try:
        train, test = ImageFolder(str(root / "train")), ImageFolder(str(root / "test"))
    except (FileNotFoundError, RuntimeError) as exc:
        raise DataError(f"{root}: {exc}") from exc
    if len(train.classes) < 2:
        raise DataError(f"{root / 'train'} has {len(train.classes)} class folder(s); a data set here needs at least "
                        "2 classes (one folder per class)")
    unknown = sorted(set(test.classes) - set(train.classes))
    if unknown:
        raise DataError(f"{root / 'test'} has classes {unknown} that {root / 'train'} lacks")
    colour = any(_has_colour(p) for p, _ in train.samples + test.samples)
    arrays: dict[str, Any] = {}  # the images as lists until _to_uint8
    first: tuple[tuple[int, ...], str] | None = None
    for split, ds in (("train", train), ("test", test)):
        images, labels = [], []
        for path, label in ds.samples:
            img = _read(path, colour)
            if first is None:
                first = (img.shape, path)
            elif img.shape != first[0]:
                raise DataError(f"{path} is {img.shape[1]}x{img.shape[0]} pixels but {first[1]} is "
                                f"{first[0][1]}x{first[0][0]}; resize the images to one size")
            images.append(img)
            labels.append(train.class_to_idx[ds.classes[label]])
        arrays[f"x_{split}"] = images
        arrays[f"y_{split}"] = np.asarray(labels, dtype=np.int64)
    _to_uint8(arrays, root)
    return arrays, list(train.classes)


def _to_uint8(arrays: dict[str, Any], root: Path) -> None:
    """Turn each split's list of images into one uint8 array: the 16-bit, 32-bit and float images read
    on one scale for the whole folder, the one their largest value implies ([0, 1], 0-255 or 0-65535)."""
    wide = [img for key in ("x_train", "x_test") for img in arrays[key] if img.dtype != np.uint8]
    top = 1.0
    if wide:
        low, high = min(float(i.min()) for i in wide), max(float(i.max()) for i in wide)
        if not all(np.isfinite(i).all() for i in wide) or low < 0 or high > 65535:
            raise DataError(f"{root}: 16-bit, 32-bit or float images hold values in [{low}, {high}] (or NaN); "
                            "expected [0, 1], 0-255 or 0-65535. Save them as 8-bit greyscale or RGB, or pass the "
                            "arrays in an .npz file")
        top = next(t for t in (1.0, 255.0, 65535.0) if high <= t)
        print(f"note: {root}: {len(wide)} image(s) of 16-bit, 32-bit or float pixels read as values in "
              f"{'[0, 1]' if top == 1 else f'0-{top:.0f}'} (their largest is {high:g})", file=sys.stderr)
    for key in ("x_train", "x_test"):
        images = [img if img.dtype == np.uint8 else np.rint(img / top * 255).astype(np.uint8) for img in arrays[key]]
        arrays[key] = np.stack(images) if images else np.zeros((0, 1, 1), np.uint8)


def _opened(path: str) -> Any:
    """``PIL.Image.open(path)``, a :class:`DataError` where it is no image."""
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path} cannot be read as an image ({exc})") from exc


def _greyscale(mode: str) -> bool:
    """Whether PIL's image ``mode`` holds one channel: 8-bit, 1-bit, 16- or 32-bit integers, floats."""
    return mode in ("L", "1", "F") or mode.startswith("I")


def _has_colour(path: str) -> bool:
    """Whether the image has colour: grey with alpha (``LA``) has none, a palette only where it uses colours."""
    with _opened(path) as img:
        if _greyscale(img.mode) or img.mode in ("LA", "La"):
            return False
        if img.mode in ("P", "PA"):
            rgb = np.asarray(img.convert("RGB"))
            return not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
        return True


def _read(path: str, colour: bool) -> np.ndarray:
    """The image: uint8 RGB (colour) or greyscale, or, for 16-bit, 32-bit and float greyscale pixels, their
    values as float64 (scaled by :func:`_to_uint8`, not clipped as ``convert("L")`` would; repeated over
    three channels in a colour set)."""
    from PIL import UnidentifiedImageError

    try:
        with _opened(path) as img:
            if img.mode in ("L", "1") or not _greyscale(img.mode):
                return np.asarray(img.convert("RGB" if colour else "L"), dtype=np.uint8)
            values = np.asarray(img, dtype=np.float64)
            return np.repeat(values[..., None], 3, axis=-1) if colour else values
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path} cannot be read as an image ({exc})") from exc


def checked_splits(arrays: dict[str, np.ndarray | None], name: str, n_classes: int | None = None,
                   announce: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """``(x_train, y_train, x_test, y_test, n_classes)`` as checked tensors (``n_classes``: one
    more than the largest label unless given)."""
    x_train = check_images(arrays["x_train"], f"{name}: x_train", announce)
    x_test = check_images(arrays["x_test"], f"{name}: x_test", announce)
    check_same_shape(x_train, x_test, name)
    y_train = check_labels(arrays["y_train"], x_train.shape[0], f"{name}: y_train")
    y_test = check_labels(arrays["y_test"], x_test.shape[0], f"{name}: y_test")
    if y_train.numel() and int(y_train.min()) >= 0 and y_test.numel() and int(y_test.min()) >= 0:
        unseen = np.setdiff1d(y_test.numpy(), y_train.numpy())
        if unseen.size:  # no output neuron can be assigned to them: their test images all count as wrong
            print(f"note: {name}: test classes {unseen[:10].tolist()}{' ...' if unseen.size > 10 else ''} have no "
                  "training image, so no output can be assigned to them and their test images all count as wrong",
                  file=sys.stderr)
    return x_train, y_train, x_test, y_test, n_classes or count_classes(y_train, y_test, name=name)
