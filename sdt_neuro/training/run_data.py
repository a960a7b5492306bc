"""The data a run saw, rebuilt from its configuration: the validation split (carved from the
training images first), the training split, the test split, and the labelled samples its direct
association used. The training loop and ``evaluate`` both call these, so a checkpoint is scored
with the labels it was trained and assessed with, not more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sdt_neuro.data import Dataset, Split, stratified_indices
from sdt_neuro.errors import ConfigError
from sdt_neuro.training.config import TrainConfig
from sdt_neuro.training.phases import run_phases
from sdt_neuro.training.semi import labelled_indices, split_seed


def fit_to_data(config: TrainConfig, data: Dataset) -> TrainConfig:
    """``config`` made for ``data``: its image shape (the MLP's input width follows), its number of
    classes, and a user data set's absolute path, so a checkpoint finds its data again."""
    changes: dict[str, Any] = {}
    shape = data.input_shape
    if config.input_shape is None or tuple(config.input_shape) != shape:
        changes["input_shape"] = shape
        if config.arch == "mlp":
            changes["sizes"] = (shape[0] * shape[1] * shape[2], *config.sizes[1:])
    if config.rule.get("n_classes", 10) != data.n_classes:
        changes["rule"] = {**config.rule, "n_classes": data.n_classes}
    if data.name != config.dataset and Path(data.name).is_absolute() and Path(data.name).exists():  # a user file
        changes["dataset"] = data.name
    if not data.train.labelled:
        needs = [name for name, set_ in (("semi_labels", config.semi_labels is not None),
                                         ("val_samples", bool(config.val_samples))) if set_]
        needs += [f"phase {p.name!r} (labels: true)" for p in run_phases(config) if p.labels]
        if needs:
            raise ConfigError(f"{data.name} has no training labels (y_train); {', '.join(needs)} need them")
    if not changes:
        return config
    try:
        return config.replace(**changes)
    except ConfigError as exc:
        raise ConfigError(f"{config.preset or 'this configuration'} does not fit {data.name} "
                          f"({shape[0]}x{shape[1]}x{shape[2]} images, {data.n_classes} classes): {exc}") from exc


def _validation_indices(config: TrainConfig, data: Dataset) -> np.ndarray | None:
    """Indices into ``data.train`` of the validation set (``None`` without one)."""
    if not config.val_samples:
        return None
    n = len(data.train)
    if config.val_samples >= n:
        raise ConfigError(f"val_samples={config.val_samples} must be smaller than the {n} training images "
                          f"of {data.name}")
    classes = int(np.unique(data.train.y.numpy()).size)
    if config.val_samples < classes:
        raise ConfigError(f"val_samples={config.val_samples} (--val-samples) must be >= the {classes} classes of "
                          f"{data.name} (at least one validation image per class), or unset for no validation split")
    # each class keeps a training image: a class of few images gives the rest, the others share the remainder
    try:
        return stratified_indices(data.train.y, count=config.val_samples, seed=config.val_seed, leave=1)
    except ConfigError as exc:
        raise ConfigError(f"val_samples={config.val_samples} (--val-samples) does not fit {data.name}: {exc}") from exc


def validation_split(config: TrainConfig, data: Dataset) -> Split | None:
    """The run's validation images, carved from the training set (``None`` without ``val_samples``)."""
    idx = _validation_indices(config, data)
    return None if idx is None else data.train.subset(idx)


def training_split(config: TrainConfig, data: Dataset) -> Split:
    """The run's training images: all of them but the validation set, or the stratified
    ``max_train_samples`` subset of those drawn with the run's seed."""
    train = data.train
    val = _validation_indices(config, data)
    if val is not None:
        train = train.subset(np.setdiff1d(np.arange(len(train)), val))
    if config.max_train_samples and config.max_train_samples < len(train):
        train = train.subset(stratified_indices(train.y, count=config.max_train_samples, seed=config.seed))
    return train


def evaluation_split(config: TrainConfig, data: Dataset) -> Split:
    """The run's test images: all, or the first ``max_test_samples``."""
    test = data.test
    if config.max_test_samples and config.max_test_samples < len(test):
        test = test.subset(np.arange(config.max_test_samples))
    return test


def label_indices(config: TrainConfig, train: Split) -> np.ndarray:
    """Indices into ``train`` whose labels assign the neurons: a semi-supervised run's labelled
    subset, else the stratified ``label_fraction`` drawn with the run's seed."""
    labelled = labelled_indices(config, train.y)
    if labelled is not None:
        return labelled
    return stratified_indices(train.y, fraction=config.label_fraction, seed=config.seed)


def label_provenance(config: TrainConfig, count: int, fraction: float | None = None,
                     seed: int | None = None, *, n_train: int | None = None) -> dict[str, Any]:
    """How the labelled set of an evaluation was chosen, for its JSON record (``n_train``: the run's
    training images, of which a semi-supervised subset's ``count`` is the fraction recorded)."""
    if fraction is None:
        semi = config.semi_labels is not None
        how = "semi-supervised labelled subset" if semi else "label_fraction"
        return {"source": f"as in training ({how})", "count": count,
                "fraction": labelled_fraction(config, count, n_train),
                "seed": split_seed(config) if semi else config.seed,
                "allocation": config.semi_label_split if semi else "balanced"}
    return {"source": "label_fraction argument", "count": count, "fraction": fraction, "seed": seed}


def labelled_fraction(config: TrainConfig, count: int, n_train: int | None) -> float:
    """The fraction of the training images whose labels assigned the neurons: ``label_fraction``, or
    for a semi-supervised run its ``count`` labelled images out of ``n_train``."""
    if config.semi_labels is None or not n_train:
        return config.label_fraction
    return count / n_train
