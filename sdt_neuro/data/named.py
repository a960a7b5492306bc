"""The torchvision image sets a data root may hold, as a table: which class reads each, where its
files go, how many classes it has, and what to fix on the way (EMNIST's transposed images and
1-based letters)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class CorruptData(Exception):
    """Files exist but do not hold a valid split (internal; surfaces as :class:`DataError`)."""


@dataclass(frozen=True)
class NamedSet:
    """One torchvision data set: ``reader`` is the class in ``torchvision.datasets``."""

    name: str
    reader: str
    files: str  # where the files go under the data root, for messages
    n_classes: int
    train_args: dict[str, Any] = field(default_factory=lambda: {"train": True})
    test_args: dict[str, Any] = field(default_factory=lambda: {"train": False})
    label_offset: int = 0
    transpose: bool = False  # EMNIST stores images transposed


_IDX = "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"
_EMNIST_CLASSES = {"balanced": 47, "byclass": 62, "bymerge": 47, "digits": 10, "letters": 26, "mnist": 10}


def _emnist(split: str) -> NamedSet:
    return NamedSet(f"emnist-{split}", "EMNIST", "EMNIST/raw/ (emnist-<split>-*-ubyte)", _EMNIST_CLASSES[split],
                    {"split": split, "train": True}, {"split": split, "train": False},
                    label_offset=-1 if split == "letters" else 0, transpose=True)


NAMED_SETS: dict[str, NamedSet] = {s.name: s for s in (
    NamedSet("mnist", "MNIST", f"MNIST/raw/ ({_IDX})", 10),
    NamedSet("fashion-mnist", "FashionMNIST", f"FashionMNIST/raw/ ({_IDX})", 10),
    NamedSet("kmnist", "KMNIST", f"KMNIST/raw/ ({_IDX})", 10),
    *(_emnist(split) for split in _EMNIST_CLASSES),
    NamedSet("cifar10", "CIFAR10", "cifar-10-batches-py/ (data_batch_1..5, test_batch)", 10),
    NamedSet("svhn", "SVHN", "train_32x32.mat and test_32x32.mat (needs scipy)", 10,
             {"split": "train"}, {"split": "test"}),
)}
ALIASES = {"emnist": "emnist-balanced", "fashion_mnist": "fashion-mnist", "cifar-10": "cifar10"}


def named_set(name: str) -> NamedSet | None:
    """The table entry for ``name`` (or an alias), else ``None``."""
    return NAMED_SETS.get(ALIASES.get(name, name))


def read_named(spec: NamedSet, root: Path, train: bool, download: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of one split as read by torchvision: images uint8 ``[n, H, W]`` or
    ``[n, C, H, W]``. A missing file or a failed download raises ``RuntimeError`` (the caller explains),
    unreadable files :class:`CorruptData`."""
    from torchvision import datasets

    split = "training" if train else "test"
    reader = getattr(datasets, spec.reader)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = reader(str(root), download=download, **(spec.train_args if train else spec.test_args))
        except RuntimeError as exc:
            if "not found" in str(exc).lower() or (download and "download" in str(exc).lower()):
                raise  # missing, or a download that failed: the caller may fall back or say how to supply the data
            raise CorruptData(f"the {split} split cannot be read ({str(exc).splitlines()[0]})") from exc
        except (ValueError, AssertionError, IndexError, EOFError, KeyError) as exc:  # wrong magic, size, type
            raise CorruptData(f"the {split} split cannot be read ({type(exc).__name__}: {exc})") from exc
        except ImportError as exc:
            raise RuntimeError(f"{spec.name} needs {exc.name} to read its files: pip install {exc.name}") from exc
    images = np.asarray(ds.data)
    labels = np.asarray(ds.targets if hasattr(ds, "targets") else ds.labels)
    if spec.transpose:
        images = np.swapaxes(images, -1, -2)
    if images.ndim == 4 and images.shape[-1] == 3:  # CIFAR: [n, H, W, 3]
        images = np.moveaxis(images, -1, 1)
    labels = labels.astype(np.int64) + spec.label_offset
    check_split(images, labels, split, spec.n_classes)
    return np.ascontiguousarray(images), labels


def check_split(images: np.ndarray, labels: np.ndarray, split: str, n_classes: int = 10) -> None:
    """:class:`CorruptData` unless images are uint8 ``[n, H, W]`` / ``[n, C, H, W]`` with ``n``
    labels in ``[0, n_classes)``."""
    if images.ndim not in (3, 4) or images.dtype != np.uint8:
        raise CorruptData(f"{split} images have shape {images.shape} and type {images.dtype}, expected "
                          "[n, H, W] or [n, C, H, W] uint8")
    if labels.shape != (images.shape[0],):
        raise CorruptData(f"{split} split has {images.shape[0]} images but {labels.size} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = int(((labels < 0) | (labels >= n_classes)).sum())
        raise CorruptData(f"{split} labels hold {bad} value(s) outside [0, {n_classes}) "
                          f"(range {labels.min()}..{labels.max()})")
