"""Semi-supervised runs: the labelled subset, and accuracy read from class-owned outputs.

With ``config.semi_labels = N`` a seeded, stratified subset of N training samples is labelled
(``stratified_indices`` with ``semi_split_seed``, by default the run's seed, shared among the
classes evenly or in proportion to them by ``semi_label_split``); the rest is the
unlabelled pool. Which epoch trains on which pool, with labels or not, is the run's plan of phases
(``training/phases.py``): the published procedure (pre-training, then rounds of one unlabelled and
one labelled epoch) or the one the older ``semi_*`` fields describe. The learner gets labels only
in labelled phases.
"""

from __future__ import annotations

import numpy as np
import torch

from sdt_neuro.data import stratified_indices
from sdt_neuro.errors import ConfigError
from sdt_neuro.training.config import TrainConfig


def labelled_indices(config: TrainConfig, labels: torch.Tensor | np.ndarray) -> np.ndarray | None:
    """Indices of the labelled subset (sorted), or ``None`` for a purely unsupervised run."""
    if config.semi_labels is None:
        return None
    classes = int(np.unique(np.asarray(labels)).size)
    if config.semi_labels < classes:
        raise ConfigError(f"semi_labels={config.semi_labels} must be >= the {classes} classes of the training "
                          "images (at least one labelled image per class)")
    try:
        return stratified_indices(labels, count=config.semi_labels, seed=split_seed(config),
                                  allocation=config.semi_label_split)
    except ConfigError as exc:
        raise ConfigError(f"semi_labels={config.semi_labels}: {exc}") from exc


def split_seed(config: TrainConfig) -> int:
    """The seed of the labelled subset: ``semi_split_seed``, or the run's ``seed`` when it is ``None``."""
    return config.seed if config.semi_split_seed is None else config.semi_split_seed


def output_accuracy(activity: np.ndarray, labels: np.ndarray, n_classes: int, signed: bool = False) -> float:
    """Accuracy when each class owns its block of output neurons (``label_mapping``): the class
    whose block holds the most active neuron is the prediction (ties at random, a silent output
    is wrong unless the output is ``signed``, as in :mod:`sdt_neuro.evaluate`)."""
    from sdt_neuro.evaluate import SILENT, argmax_random_ties

    block = activity.shape[1] // n_classes
    scores = activity[:, : block * n_classes].reshape(activity.shape[0], n_classes, block).max(axis=2)
    pred = argmax_random_ties(scores)
    if not signed:
        pred[~(scores > 0).any(axis=1)] = SILENT
    return float((pred == labels).mean())
