"""Backend-neutral evaluation: arrays of output activity (or spike counts) in, numbers out.

Every backend (ANN reference, snnTorch, Lava) is scored by these same functions, so a figure from
one is comparable to a figure from another. Nothing here takes a model.

Direct association (DA): on a labelled set, each neuron's mean response per class assigns it to
its best class (a neuron that never responds stays unassigned, -1). A sample is predicted as the
class whose assigned neurons have the highest mean response ("average") or as the class of the
single most active assigned neuron ("max").

Two rules make every backend's figure mean the same thing (spike counts over few steps tie often):

* **silent samples are wrong**: a sample with no positive activity on any assigned neuron is
  predicted ``-1`` (:data:`SILENT`), which matches no label, and counted in ``DAResult.silent``;
* **ties are broken at random**: among the classes (DA-average) or neurons (DA-max) that share the
  highest score, one is drawn uniformly with a generator seeded by ``seed`` (default 0), so the
  same activity always gives the same predictions and no class is favoured by its index.

Both rules read activity as a response that is zero when a neuron is silent (spike counts, rates,
hard-sigmoid outputs). ``signed=True`` reads a signed output (a linear read-out, whose zero is just
a value): every neuron is assigned to its best class, every sample is predicted and has winners.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdt_neuro.errors import DataError, ShapeError
from sdt_neuro.finite import require_finite

SILENT = -1  # the prediction for a sample with no activity on any assigned neuron


def _as_2d(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float32)
    if a.ndim != 2:
        raise ShapeError(f"{name} must be 2-D [samples, neurons], got shape {a.shape}")
    require_finite(a, name)
    return a


def _as_labels(labels: np.ndarray, n: int, n_classes: int | None = None) -> np.ndarray:
    """``labels`` as int64 of shape ``(n,)``; with ``n_classes``, each a class index in ``[0, n_classes)``."""
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ShapeError(f"labels must have shape ({n},), got {labels.shape}")
    if labels.dtype.kind not in "iu" and not (labels.dtype.kind == "f" and np.array_equal(labels, np.round(labels))):
        raise DataError(f"labels must be whole class indices, got {labels.dtype} values")
    labels = labels.astype(np.int64)
    if n_classes is not None and labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataError(f"labels must be class indices in [0, {n_classes}), got values from {labels.min()} to "
                        f"{labels.max()} (-1 marks an image without a label: scoring needs labelled images)")
    return labels


def assign_neurons(activity: np.ndarray, labels: np.ndarray, n_classes: int, signed: bool = False) -> np.ndarray:
    """Class of each neuron (argmax of its per-class mean response), -1 if never active (never,
    with ``signed`` activity); a class without labelled samples gets none."""
    act = _as_2d("labelled activity", activity)
    labels = _as_labels(labels, act.shape[0], n_classes)
    if not act.shape[0]:
        raise ShapeError("no labelled samples: the neurons cannot be assigned a class")
    import torch

    a = torch.from_numpy(np.ascontiguousarray(act))
    sums = torch.zeros((n_classes, act.shape[1]), dtype=a.dtype).index_add_(0, torch.from_numpy(labels), a)
    counts = np.bincount(labels, minlength=n_classes)
    means = sums.numpy() / np.maximum(counts, 1)[:, None]
    means[counts == 0] = -np.inf  # a class without labelled samples owns no neuron (a signed mean may be < 0)
    assigned = means.argmax(axis=0)
    if not signed:
        assigned[sums.numpy().sum(axis=0) <= 0] = -1
    return assigned


def argmax_random_ties(scores: np.ndarray, seed: int = 0) -> np.ndarray:
    """Row-wise argmax; a row whose maximum is shared picks one of the tied columns uniformly at
    random (seeded). ``-inf`` columns are never picked unless the whole row is ``-inf``."""
    scores = np.asarray(scores)
    pred = scores.argmax(axis=1)
    if scores.size == 0:
        return pred
    tied = scores == scores.max(axis=1, keepdims=True)
    rows = np.flatnonzero(tied.sum(axis=1) > 1)
    if rows.size:
        keys = np.random.default_rng(seed).random((rows.size, scores.shape[1]))
        keys[~tied[rows]] = -1.0
        pred[rows] = keys.argmax(axis=1)
    return pred


def _silent(act: np.ndarray, assignment: np.ndarray, signed: bool = False) -> np.ndarray:
    """Samples with no positive activity on any assigned neuron (none, with ``signed`` activity,
    unless no neuron is assigned)."""
    assigned = assignment >= 0
    if signed and assigned.any():
        return np.zeros(act.shape[0], dtype=bool)
    if not assigned.any():
        return np.ones(act.shape[0], dtype=bool)
    return ~(act[:, assigned] > 0).any(axis=1)


def _check_assignment(act: np.ndarray, assignment: np.ndarray) -> None:
    if assignment.shape != (act.shape[1],):
        raise ShapeError(f"assignment has shape {assignment.shape}, activity has {act.shape[1]} neurons")


def predict_average(activity: np.ndarray, assignment: np.ndarray, n_classes: int, seed: int = 0,
                    signed: bool = False) -> np.ndarray:
    """Class whose assigned neurons have the highest mean activity (classes with none: never);
    ties at random, silent samples :data:`SILENT`."""
    act = _as_2d("activity", activity)
    _check_assignment(act, assignment)
    scores = np.full((act.shape[0], n_classes), -np.inf, dtype=act.dtype)
    for c in range(n_classes):
        members = assignment == c
        if members.any():
            scores[:, c] = act[:, members].mean(axis=1)
    pred = argmax_random_ties(scores, seed)
    pred[_silent(act, assignment, signed)] = SILENT
    return pred


def predict_max(activity: np.ndarray, assignment: np.ndarray, seed: int = 0, signed: bool = False) -> np.ndarray:
    """Class of the most active assigned neuron (unassigned neurons are ignored); when several
    neurons share the maximum, one of them uniformly at random (so a class holding more of them
    is likelier), drawn per class count so the prediction does not depend on the order of the
    neurons; silent samples :data:`SILENT`."""
    act = _as_2d("activity", activity)
    _check_assignment(act, assignment)
    assigned = assignment >= 0
    if not assigned.any():
        return np.full(act.shape[0], SILENT, dtype=np.int64)
    n_classes = int(assignment.max()) + 1
    best = act[:, assigned].max(axis=1, keepdims=True)
    at_best = (act == best) & assigned[None, :]
    counts = np.zeros((act.shape[0], n_classes), dtype=np.int64)
    for c in range(n_classes):
        counts[:, c] = at_best[:, assignment == c].sum(axis=1)
    pred = counts.argmax(axis=1)
    rows = np.flatnonzero(at_best.sum(axis=1) > 1)
    if rows.size:
        cum = np.cumsum(counts[rows], axis=1)
        draw = np.random.default_rng(seed).random(rows.size) * cum[:, -1]
        pred[rows] = (cum <= draw[:, None]).sum(axis=1)
    pred[_silent(act, assignment, signed)] = SILENT
    return pred


@dataclass(frozen=True)
class DAResult:
    """Direct-association accuracies and the predictions behind them."""

    average: float
    max: float
    pred_average: np.ndarray
    pred_max: np.ndarray
    assignment: np.ndarray
    silent: int = 0


def direct_association(
    label_activity: np.ndarray,
    label_labels: np.ndarray,
    test_activity: np.ndarray,
    test_labels: np.ndarray,
    n_classes: int = 10,
    seed: int = 0,
    signed: bool = False,
) -> DAResult:
    """Assign neurons on the labelled set, then score both DA predictions on the test set
    (silent samples count as wrong, ties are broken at random with ``seed``; ``signed``: the
    activity is a signed output, see the module docstring)."""
    assignment = assign_neurons(label_activity, label_labels, n_classes, signed)
    test_act = _as_2d("test_activity", test_activity)
    test_labels = _as_labels(test_labels, test_act.shape[0], n_classes)
    if not test_act.shape[0]:
        raise ShapeError("no test samples to score")
    pa = predict_average(test_act, assignment, n_classes, seed, signed)
    pm = predict_max(test_act, assignment, seed, signed)
    return DAResult(
        average=float((pa == test_labels).mean()),
        max=float((pm == test_labels).mean()),
        pred_average=pa,
        pred_max=pm,
        assignment=assignment,
        silent=int(_silent(test_act, assignment, signed).sum()),
    )


def agreement(pred_a: np.ndarray, pred_b: np.ndarray) -> float:
    """Fraction of samples on which two prediction vectors agree."""
    a, b = np.asarray(pred_a), np.asarray(pred_b)
    if a.shape != b.shape or a.ndim != 1:
        raise ShapeError(f"predictions must be 1-D of equal length, got {a.shape} and {b.shape}")
    return float((a == b).mean()) if a.size else float("nan")


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """``[true, predicted]`` counts; :data:`SILENT` predictions are left out (rows then sum to
    fewer than the class's samples)."""
    labels = _as_labels(labels, np.asarray(labels).shape[0], n_classes)
    predictions = _as_labels(predictions, labels.shape[0])
    spoken = predictions != SILENT
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (labels[spoken], predictions[spoken]), 1)
    return cm


@dataclass(frozen=True)
class NeuronUsage:
    """Health of homeostasis: how evenly output neurons are used."""

    n_neurons: int
    unassigned: int
    never_win: int
    win_fraction_min: float
    win_fraction_max: float
    win_cv: float
    win_entropy_ratio: float

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def neuron_usage(activity: np.ndarray, assignment: np.ndarray | None = None, k: int = 1,
                 signed: bool = False) -> NeuronUsage:
    """Win-frequency spread of the k winners per sample, and unassigned neuron count.

    Winners are chosen as the rule chooses them (:func:`sdt_neuro.targets.kwta_target`: ties go
    to the lower index) among the active neurons: a silent sample (no positive activity; none with
    ``signed`` activity) has no winners, and a sample with fewer than k active neurons has only
    those (sparse spike counts would otherwise hand the empty places to the lowest indices).
    Frequencies are per sample. ``win_entropy_ratio`` is the entropy of the win
    distribution over its maximum, log(N): 1 means every neuron wins equally often.
    """
    from sdt_neuro.targets import kwta_target

    act = _as_2d("activity", activity)
    n = act.shape[1]
    if not 1 <= k < n:
        raise ShapeError(f"k={k} must satisfy 1 <= k < {n}")
    active = np.ones(act.shape[0], dtype=bool) if signed else (act > 0).any(axis=1)
    wins = np.zeros(n, dtype=np.float64)
    for i in range(0, act.shape[0], 4096):
        rows = act[i : i + 4096][active[i : i + 4096]]
        if rows.size:
            won = kwta_target(rows, np.zeros(n, dtype=rows.dtype), k)
            wins += (won if signed else won * (rows > 0)).sum(axis=0)
    freq = wins / max(act.shape[0], 1)
    p = wins / max(wins.sum(), 1)
    nz = p[p > 0]
    entropy = max(0.0, float(-(nz * np.log(nz)).sum() / np.log(n)))  # 0.0, not -0.0, when nothing won
    mean = freq.mean()
    return NeuronUsage(
        n_neurons=n,
        unassigned=(int((assignment < 0).sum()) if assignment is not None
                    else 0 if signed else int((act.sum(0) <= 0).sum())),
        never_win=int((wins == 0).sum()),
        win_fraction_min=float(freq.min()),
        win_fraction_max=float(freq.max()),
        win_cv=float(freq.std() / mean) if mean > 0 else float("nan"),
        win_entropy_ratio=entropy,
    )


class CollapseWarning(UserWarning):
    """A run or an evaluation whose outputs collapsed: most never win, or DA sits near chance."""


COLLAPSE_CAUSES = ("usual causes: a learning rate so high that the outputs saturate or so low that nothing "
                   "moves (--lr), gamma too small for homeostasis to spread the wins (--gamma; 0 switches it "
                   "off), or k too large for the layer (--k)")


SILENT_CAUSES = ("the spiking network fires too little to answer, which says nothing of the trained weights "
                 "(score them with --backend ann): give it more time steps (--steps), start the membranes half "
                 "way (--v-init 0.5), or read the output's charge (--readout membrane)")


def collapse_reasons(unassigned: int, n_neurons: int, win_entropy_ratio: float, da_average: float,
                     n_classes: int, silent: int = 0, samples: int = 0) -> list[str]:
    """Why the figures say the outputs collapsed (empty: they did not).

    Collapsed means: more than half of the outputs are unassigned (never respond), more than half
    of the ``samples`` scored are ``silent`` (no assigned output responds; the winners' entropy
    then describes the few that answered and is not judged), the winners' entropy is below half
    its maximum (a few outputs win everything), or DA-average is below 1.5 times chance
    (``1 / n_classes``).
    """
    reasons = []
    if unassigned > n_neurons / 2:
        reasons.append(f"unassigned_neurons={unassigned} of {n_neurons}: most outputs never respond")
    mostly_silent = samples > 0 and silent > samples / 2
    if mostly_silent:
        reasons.append(f"silent_samples={silent} of {samples}: no assigned output responds to most samples")
    elif win_entropy_ratio < 0.5:
        reasons.append(f"win_entropy_ratio={win_entropy_ratio:.3f} < 0.5: a few outputs win nearly every sample")
    if da_average < 1.5 / n_classes:
        reasons.append(f"DA-average {da_average:.4f} is near chance ({1 / n_classes:.3f})")
    return reasons


def collapse_message(reasons: list[str], where: str, spiking: bool = False) -> str:
    """The warning for ``reasons``; a ``spiking`` evaluation whose samples were mostly silent
    names its own causes rather than training's."""
    silent = spiking and any(r.startswith("silent_samples=") for r in reasons)
    return f"{where}: the outputs collapsed ({'; '.join(reasons)}); {SILENT_CAUSES if silent else COLLAPSE_CAUSES}."
