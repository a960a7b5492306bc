"""Data sets held in memory as one float tensor in [0, 1], batched by indexing.

The data root comes from ``--data-root``, else ``SDT_DATA_ROOT``, else a user cache directory
where torchvision may download (``SDT_OFFLINE=1`` forbids it). Files are read through torchvision's own dataset classes
(``<root>/MNIST/raw/*-ubyte``, ``<root>/FashionMNIST/raw/*-ubyte``). When no data can be found
or fetched, MNIST falls back (loudly) to a small real sample shipped inside the package.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from sdt_neuro.errors import ConfigError, DataError

DATASETS = ("mnist", "fashion-mnist")
ENV_DATA_ROOT = "SDT_DATA_ROOT"
ENV_OFFLINE = "SDT_OFFLINE"
SAMPLE_FILE = "mnist_sample.npz"


@dataclass(frozen=True)
class Split:
    """One split of a data set: images ``x`` [n, 1, 28, 28] float32 in [0, 1], labels ``y`` [n]."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, indices: torch.Tensor | np.ndarray) -> Split:
        """The samples at ``indices``."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return Split(self.x[idx], self.y[idx])

    def flat(self) -> torch.Tensor:
        """Images flattened to [n, 784]."""
        return self.x.reshape(len(self), -1)


@dataclass(frozen=True)
class Dataset:
    """Train and test splits plus where they came from."""

    name: str
    train: Split
    test: Split
    source: str
    n_classes: int = 10


def default_cache_root() -> Path:
    """User cache directory for downloads (``$XDG_CACHE_HOME/sdt-neuro`` or ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "sdt-neuro"


def resolve_data_root(data_root: str | os.PathLike | None) -> tuple[Path, bool]:
    """Return ``(root, download_allowed)``: the given root, ``SDT_DATA_ROOT``, or the cache
    (where torchvision may download, unless ``SDT_OFFLINE=1``)."""
    if data_root:
        return Path(data_root).expanduser(), False
    env = os.environ.get(ENV_DATA_ROOT)
    if env:
        return Path(env).expanduser(), False
    return default_cache_root(), os.environ.get(ENV_OFFLINE, "") in ("", "0")


def load_dataset(
    name: str = "mnist",
    data_root: str | os.PathLike | None = None,
    allow_sample: bool = True,
) -> Dataset:
    """Load MNIST or Fashion-MNIST fully into memory.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        data_root: folder in torchvision's layout; ``None`` uses ``SDT_DATA_ROOT`` or the cache
            directory (download allowed there).
        allow_sample: fall back to the bundled MNIST sample when nothing else is available.
    """
    if name not in DATASETS:
        raise ConfigError(f"dataset={name!r} is not one of {DATASETS}")
    root, download = resolve_data_root(data_root)
    explicit = bool(data_root or os.environ.get(ENV_DATA_ROOT))
    folder = "MNIST" if name == "mnist" else "FashionMNIST"
    try:
        train = _torchvision_split(name, root, True, download)
        test = _torchvision_split(name, root, False, download)
        return Dataset(name, train, test, source=str(root))
    except CorruptData as exc:
        raise DataError(
            f"the {name} files in {root / folder / 'raw'} are corrupt: {exc}. Replace them with intact "
            f"IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
            f"t10k-labels-idx1-ubyte)."
        ) from exc
    except (RuntimeError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if name == "mnist" and allow_sample and not explicit:
            return load_bundled_sample(reason=reason)
        raise DataError(
            f"could not load {name} from {root} ({reason}). Supply the data: put the IDX files "
            f"in {root / folder / 'raw'} (train-images-idx3-ubyte, ...), or pass --data-root DIR / "
            f"set {ENV_DATA_ROOT}=DIR to a folder holding {folder}/raw/, or unset both to let "
            f"torchvision download into {default_cache_root()}."
        ) from exc


class CorruptData(Exception):
    """Files exist but do not hold a valid split (internal; surfaces as :class:`DataError`)."""


def _torchvision_split(name: str, root: Path, train: bool, download: bool) -> Split:
    from torchvision import datasets

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    split = "training" if train else "test"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = cls(str(root), train=train, download=download)
        except RuntimeError as exc:
            if "not found" in str(exc).lower():
                raise  # missing: the caller may fall back or say how to supply the data
            raise CorruptData(f"the {split} split cannot be read ({str(exc).splitlines()[0]})") from exc
        except (ValueError, AssertionError, IndexError, EOFError) as exc:  # wrong magic, size or type
            raise CorruptData(f"the {split} split cannot be read ({type(exc).__name__}: {exc})") from exc
    images, labels = ds.data.numpy(), ds.targets.numpy()
    _check_split(images, labels, split)
    return _to_split(images, labels)


def _check_split(images: np.ndarray, labels: np.ndarray, split: str, n_classes: int = 10) -> None:
    """:class:`CorruptData` unless images are [n, 28, 28] uint8 with n labels in [0, n_classes)."""
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise CorruptData(f"{split} images have shape {images.shape} and type {images.dtype}, expected "
                          "[n, 28, 28] uint8")
    if labels.shape != (images.shape[0],):
        raise CorruptData(f"{split} split has {images.shape[0]} images but {labels.size} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = int(((labels < 0) | (labels >= n_classes)).sum())
        raise CorruptData(f"{split} labels hold {bad} value(s) outside [0, {n_classes}) "
                          f"(range {labels.min()}..{labels.max()})")


def _to_split(images: np.ndarray, labels: np.ndarray) -> Split:
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(255.0)
    return Split(x.reshape(-1, 1, 28, 28), torch.from_numpy(labels.astype(np.int64)))


def load_bundled_sample(reason: str = "requested") -> Dataset:
    """The small real MNIST sample shipped with the package (announced on stderr)."""
    path = resources.files("sdt_neuro") / "resources" / SAMPLE_FILE
    with resources.as_file(path) as file, np.load(file) as npz:
        train = _to_split(npz["train_x"], npz["train_y"])
        test = _to_split(npz["test_x"], npz["test_y"])
    print(
        f"WARNING: using the bundled MNIST sample ({len(train)} train / {len(test)} test digits) "
        f"because the full data set is unavailable ({reason}). Figures from it are not comparable "
        f"to full-MNIST results. Set {ENV_DATA_ROOT} or pass --data-root for the full set.",
        file=sys.stderr,
    )
    return Dataset("mnist", train, test, source="bundled-sample")


def stratified_indices(
    labels: torch.Tensor | np.ndarray,
    fraction: float | None = None,
    count: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Seeded, class-balanced subset of indices, by ``fraction`` of the set or total ``count``."""
    labels = np.asarray(labels)
    if (fraction is None) == (count is None):
        raise ConfigError("give exactly one of fraction or count for a labelled subset")
    classes = np.unique(labels)
    if fraction is not None:
        if not 0 < fraction <= 1:
            raise ConfigError(f"fraction={fraction} must be in (0, 1]")
        if fraction == 1:
            return np.arange(labels.size)
        count = max(len(classes), int(round(fraction * labels.size)))
    assert count is not None
    if not len(classes) <= count <= labels.size:
        raise ConfigError(f"count={count} must be in [{len(classes)}, {labels.size}]")
    rng = np.random.default_rng(seed)
    per_class = np.full(len(classes), count // len(classes))
    per_class[: count % len(classes)] += 1
    chosen = []
    for c, n in zip(classes, per_class):
        members = np.flatnonzero(labels == c)
        if n > members.size:
            raise ConfigError(f"class {c} has {members.size} samples, {n} requested")
        chosen.append(rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(chosen))


def iterate_batches(
    n: int, batch_size: int, generator: torch.Generator | None = None, shuffle: bool = True
) -> Iterator[torch.Tensor]:
    """Index tensors of consecutive batches over ``range(n)`` (last batch may be short)."""
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} must be >= 1")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]
