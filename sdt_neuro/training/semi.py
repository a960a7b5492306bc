"""Semi-supervised schedule: which samples an epoch trains on, and whether with their labels.

With ``config.semi_labels = N`` a seeded, class-balanced subset of N training samples is labelled
(``stratified_indices`` with ``semi_split_seed``). The first ``semi_pretrain_epochs`` epochs train
on it with the true labels (supervised pre-training); the following epochs alternate one epoch on
the unlabelled rest of the training set (self-defined target) and one epoch on the labelled subset
(true labels). ``semi_supervised_only`` (ablation) trains on the labelled subset in every epoch.
The target follows the data type: the learner gets labels only in labelled epochs.
"""

from __future__ import annotations

import numpy as np
import torch

from sdt_neuro.data import stratified_indices
from sdt_neuro.training.config import TrainConfig


def labelled_indices(config: TrainConfig, labels: torch.Tensor | np.ndarray) -> np.ndarray | None:
    """Indices of the labelled subset (sorted), or ``None`` for a purely unsupervised run."""
    if config.semi_labels is None:
        return None
    return stratified_indices(labels, count=config.semi_labels, seed=config.semi_split_seed)


def epoch_pool(config: TrainConfig, epoch: int, n: int, labelled: np.ndarray | None) -> tuple[np.ndarray | None, bool]:
    """``(sample indices, with labels)`` of ``epoch`` (0-based); ``(None, False)``: every sample, unlabelled."""
    if labelled is None:
        return None, False
    labelled_epoch = (config.semi_supervised_only or epoch < config.semi_pretrain_epochs
                      or (epoch - config.semi_pretrain_epochs) % 2 == 1)
    if labelled_epoch:
        return labelled, True
    return np.setdiff1d(np.arange(n), labelled), False


def output_accuracy(activity: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    """Accuracy when each class owns its block of output neurons (``label_mapping``): the class
    whose block holds the most active neuron is the prediction (ties at random, a silent output
    is wrong, as in :mod:`sdt_neuro.evaluate`)."""
    from sdt_neuro.evaluate import SILENT, argmax_random_ties

    block = activity.shape[1] // n_classes
    scores = activity[:, : block * n_classes].reshape(activity.shape[0], n_classes, block).max(axis=2)
    pred = argmax_random_ties(scores)
    pred[~(scores > 0).any(axis=1)] = SILENT
    return float((pred == labels).mean())
