"""Data sets held in memory as one float tensor in [0, 1], batched by indexing.

A data set is named (``mnist``, ``fashion-mnist``, ``kmnist``, ``emnist-<split>``, ``cifar10``,
``svhn``: read by torchvision's own classes from a data root, see :mod:`sdt_neuro.data.named`) or a
path: an ``.npz`` file or an ImageFolder tree of the user's own (:mod:`sdt_neuro.data.files`).
The data root comes from ``--data-root``, else ``SDT_DATA_ROOT``, else a user cache directory
where torchvision may download (``SDT_OFFLINE=1`` forbids it). When no data can be found or
fetched, MNIST falls back (loudly) to a small real sample shipped inside the package.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from sdt_neuro.data.checks import UNLABELLED
from sdt_neuro.data.named import NAMED_SETS, CorruptData, NamedSet, named_set, read_named
from sdt_neuro.errors import ConfigError, DataError

DATASETS = tuple(NAMED_SETS)
ENV_DATA_ROOT = "SDT_DATA_ROOT"
ENV_OFFLINE = "SDT_OFFLINE"
#: the ``source`` of the small MNIST sample shipped with the package
SAMPLE_SOURCE = "bundled-sample"
SAMPLE_FILE = "mnist_sample.npz"


@dataclass(frozen=True)
class Split:
    """One split of a data set: images ``x`` [n, C, H, W] float32 in [0, 1], labels ``y`` [n]
    (``-1`` everywhere for a split without labels)."""

    x: torch.Tensor
    y: torch.Tensor

    @property
    def labelled(self) -> bool:
        """Whether every sample has a label."""
        return bool(self.y.numel()) and int(self.y.min()) != UNLABELLED

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, indices: torch.Tensor | np.ndarray) -> Split:
        """The samples at ``indices``."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return Split(self.x[idx], self.y[idx])

    def flat(self) -> torch.Tensor:
        """Images flattened to [n, C * H * W]."""
        return self.x.reshape(len(self), -1)


@dataclass(frozen=True)
class Dataset:
    """Train and test splits plus where they came from."""

    name: str
    train: Split
    test: Split
    source: str
    n_classes: int = 10

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(int(d) for d in self.train.x.shape[1:])  # type: ignore[return-value]

    @cached_property
    def fingerprint(self) -> str:
        """A short digest of the data (sizes, image shape, every label in order), the same wherever the
        files lie and whichever image decoder read them: a checkpoint holds it, so ``--resume``
        refuses other data (:func:`changed_since`). Computed once per data set."""
        digest = hashlib.sha1(f"{len(self.train)}/{len(self.test)}/{self.input_shape}".encode())
        for split in (self.train, self.test):
            digest.update(split.y.cpu().numpy().astype("<i8").tobytes())
        return digest.hexdigest()[:16]


def changed_since(source: str | None, fingerprint: str | None, data: Dataset) -> str | None:
    """How ``data`` differs from the data a run trained on (its checkpoint's ``data_source`` and
    ``data_fingerprint``), as the end of a sentence that begins with "the run", or None where it is the
    same data wherever it lies now. Checkpoints from before fingerprints tell only the bundled sample
    from real data."""
    if fingerprint is not None:
        same = fingerprint == data.fingerprint
    else:
        same = source is None or (source == SAMPLE_SOURCE) == (data.source == SAMPLE_SOURCE)
    if same:
        return None
    now = _place(data.source)
    if source == data.source:
        if source == SAMPLE_SOURCE:  # another sdt-neuro version's sample
            return "trained on another version of the bundled MNIST sample than this one"
        return f"trained on the data at {now}, which has changed since (other images or labels)"
    if source is None:
        return f"trained on other data than {now} loaded now"
    if source == SAMPLE_SOURCE:
        return f"trained on {_place(source)}, not on {now} loaded now (the sample loads only where no MNIST is found)"
    reads = f"--data-root {source}" if data.name in DATASETS else f"--dataset {source}"
    return f"trained on {source}, not on {now} loaded now ({reads} reads it)"


def _place(source: str) -> str:
    """Where a data set's images came from, in words."""
    return "the bundled MNIST sample" if source == SAMPLE_SOURCE else source


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
    """Load a data set fully into memory.

    Args:
        name: a named set (``DATASETS``), a path to an ``.npz`` file, or a path to a folder with
            ``train/<class>/`` and ``test/<class>/`` images (relative paths: to the working
            directory, else to the data root).
        data_root: folder in torchvision's layout; ``None`` uses ``SDT_DATA_ROOT`` or the cache
            directory (download allowed there).
        allow_sample: fall back to the bundled MNIST sample when MNIST is unavailable.
    """
    spec = named_set(name)
    root, download = resolve_data_root(data_root)
    if spec is None:
        return load_user_data(_user_path(name, root))
    explicit = bool(data_root or os.environ.get(ENV_DATA_ROOT))
    try:
        train = _to_split(*read_named(spec, root, True, download))
        test = _to_split(*read_named(spec, root, False, download))
        return Dataset(spec.name, train, test, source=str(root), n_classes=spec.n_classes)
    except CorruptData as exc:
        raise DataError(
            f"the {spec.name} files in {root} are corrupt: {exc}. Replace them with intact copies "
            f"({spec.files})."
        ) from exc
    except (RuntimeError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if spec.name == "mnist" and allow_sample and not explicit:
            return load_bundled_sample(reason=reason)
        raise DataError(_missing_message(spec, root, reason, explicit)) from exc


def _missing_message(spec: NamedSet, root: Path, reason: str, explicit: bool = True) -> str:
    """Why ``spec`` could not be loaded and the ways to supply it that apply here."""
    offline = os.environ.get(ENV_OFFLINE, "") not in ("", "0")
    reason = reason.replace(" You can use download=True to download it", "")  # torchvision's, for its API
    ways = [f"put its files under {root}: {spec.files}", f"pass --data-root DIR or set {ENV_DATA_ROOT}=DIR to a "
            "folder holding them"]
    if explicit:
        ways.append(f"unset both to let torchvision download into {default_cache_root()}"
                    + (f" (with {ENV_OFFLINE} unset too)" if offline else ""))
    elif offline:
        ways.append(f"unset {ENV_OFFLINE} to let torchvision download into {root}")
    return f"could not load {spec.name} from {root} ({reason}). Supply the data: {'; or '.join(ways)}."


def _user_path(name: str, root: Path) -> Path:
    """``name`` as the path of the user's own data, or a :class:`ConfigError` listing the names."""
    for path in (Path(name).expanduser(), root / name):
        if path.exists():
            return path.resolve()
    raise ConfigError(f"dataset={name!r} is neither one of {DATASETS} nor an existing .npz file or image "
                      "folder (train/<class>/, test/<class>/)")


def load_user_data(path: Path) -> Dataset:
    """An ``.npz`` file or an image folder of the user's own, checked (see :mod:`sdt_neuro.data.files`)."""
    from sdt_neuro.data.files import checked_splits, load_image_folder, load_npz

    if path.is_dir():
        arrays, classes = load_image_folder(path)
        n_classes: int | None = len(classes)
    elif path.suffix.lower() == ".npz":
        arrays, _ = load_npz(path)
        n_classes = None
    else:
        raise ConfigError(f"{path} is neither an .npz file nor a folder of images")
    x_train, y_train, x_test, y_test, n_classes = checked_splits(arrays, str(path), n_classes,
                                                                 announce=not path.is_dir())  # images: 8-bit
    return Dataset(str(path), Split(x_train, y_train), Split(x_test, y_test), source=str(path), n_classes=n_classes)


def _to_split(images: np.ndarray, labels: np.ndarray) -> Split:
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(255.0)
    x = x[:, None] if x.dim() == 3 else x
    return Split(x, torch.from_numpy(labels.astype(np.int64)))


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
    return Dataset("mnist", train, test, source=SAMPLE_SOURCE)


#: how :func:`stratified_indices` shares a subset among the classes
ALLOCATIONS = ("balanced", "proportional")


def proportional_counts(sizes: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` shared among classes of ``sizes`` members in proportion to them: each class gets the
    floor of its share, and the units left go to the largest remainders (exact integer arithmetic,
    equal remainders at random). Refused where a class would get none."""
    sizes = np.asarray(sizes, dtype=np.int64)
    per_class, remainder = np.divmod(count * sizes, int(sizes.sum()))
    left = count - int(per_class.sum())
    order = np.lexsort((rng.random(sizes.size), -remainder))  # largest remainder first
    per_class[order[:left]] += 1
    if (per_class == 0).any():
        raise ConfigError(f"a subset of {count} shared in proportion to class sizes {sizes.tolist()} leaves class "
                          f"#{int(np.argmin(per_class))} without a sample: take more, or the balanced allocation")
    return per_class


def stratified_indices(
    labels: torch.Tensor | np.ndarray,
    fraction: float | None = None,
    count: int | None = None,
    seed: int = 0,
    allocation: str = "balanced",
    leave: int = 0,
) -> np.ndarray:
    """Seeded, stratified subset of indices, by ``fraction`` of the set or total ``count``.

    ``allocation`` shares the count among the classes: ``"balanced"`` as evenly as it divides,
    ``"proportional"`` in
    proportion to each class's share of ``labels`` (largest remainders, ties drawn with ``seed``), as a
    stratified ``train_test_split`` does. With ``leave`` (a validation split: 1), that many samples of
    each class stay out of a balanced subset, and a class with fewer samples than its even share gives
    what it has while the others share the rest; without, such a class is refused."""
    labels = np.asarray(labels)
    if allocation not in ALLOCATIONS:
        raise ConfigError(f"allocation={allocation!r} must be one of {ALLOCATIONS}")
    if (fraction is None) == (count is None):
        raise ConfigError("give exactly one of fraction or count for a labelled subset")
    classes, sizes = np.unique(labels, return_counts=True)
    if fraction is not None:
        if not 0 < fraction <= 1:
            raise ConfigError(f"fraction={fraction} must be in (0, 1]")
        if fraction == 1:
            return np.arange(labels.size)
        count = max(len(classes), int(round(fraction * labels.size)))
    assert count is not None
    available = np.maximum(sizes - leave, 0)
    if not len(classes) <= count <= available.sum():
        raise ConfigError(f"count={count} must be in [{len(classes)}, {int(available.sum())}]"
                          + (f" ({leave} image(s) of each class left out)" if leave else ""))
    rng = np.random.default_rng(seed)
    if allocation == "balanced":
        # with leave, a small class gives what it has and the others share the rest; without, the even
        # shares stand uncapped, so the loop below refuses a class too small for its share
        per_class = balanced_counts(available if leave else np.full_like(sizes, count), count)
    else:
        per_class = proportional_counts(sizes, count, rng)
    chosen = []
    for c, n in zip(classes, per_class):
        members = np.flatnonzero(labels == c)
        if n > members.size:
            raise ConfigError(f"class {c} has {members.size} samples, {n} requested (a balanced subset takes the "
                              "same number from each class: ask for fewer, or give that class more images)")
        chosen.append(rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(chosen))


def balanced_counts(sizes: np.ndarray, count: int) -> np.ndarray:
    """``count`` shared as evenly as it divides among classes of ``sizes`` samples (the remainder to the
    first classes), none given more than it has: what a small class cannot give, the others share."""
    per_class = np.zeros(len(sizes), dtype=np.int64)
    remaining = count
    while remaining > 0:
        room = np.flatnonzero(per_class < sizes)
        add = np.full(room.size, remaining // room.size)
        add[: remaining % room.size] += 1
        add = np.minimum(add, sizes[room] - per_class[room])
        per_class[room] += add
        remaining -= int(add.sum())
    return per_class


def iterate_batches(
    n: int, batch_size: int, generator: torch.Generator | None = None, shuffle: bool = True
) -> Iterator[torch.Tensor]:
    """Index tensors of consecutive batches over ``range(n)`` (last batch may be short)."""
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} must be >= 1")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]
