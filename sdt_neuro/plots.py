"""PNG figures: what neurons learned (weights, mean won images), accuracy curves, confusion
matrices, spike rasters."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def winners(activity: np.ndarray, signed: bool = False) -> np.ndarray:
    """The neuron each row's sample goes to (the highest activity of the row), -1 for a silent row
    (none where the activity is ``signed``, :mod:`sdt_neuro.evaluate`)."""
    act = np.asarray(activity)
    top = act.argmax(axis=1)
    return top if signed else np.where(act.max(axis=1) > 0, top, -1)


def win_counts(activity: np.ndarray, signed: bool = False) -> np.ndarray:
    """How many samples each neuron wins (:func:`winners`; silent rows count for none)."""
    won = winners(activity, signed)
    return np.bincount(won[won >= 0], minlength=np.asarray(activity).shape[1])


def pick_neurons(activity: np.ndarray, assignment: np.ndarray, n: int = 64, signed: bool = False) -> np.ndarray:
    """The ``n`` neurons that win the most samples (highest activity of the row), ordered by their
    assigned class and then by wins: the neurons worth looking at."""
    wins = win_counts(activity, signed)
    best = np.argsort(-wins, kind="stable")[:n]
    best = best[wins[best] > 0]
    return np.asarray(sorted(best, key=lambda i: (int(assignment[i]) if assignment[i] >= 0 else 10**9, -wins[i])),
                      dtype=np.int64)


def _image(vector: np.ndarray, input_shape: Sequence[int], signed: bool) -> tuple[np.ndarray, dict[str, Any]]:
    """One input-shaped vector as something ``imshow`` shows well: grey or a diverging map for
    one channel (clipped at the 99th percentile so a few large values do not wash out the rest),
    RGB stretched to [0, 1] for three."""
    c, h, w = (int(d) for d in input_shape)
    img = np.asarray(vector, dtype=np.float64).reshape(c, h, w)
    if c == 3:
        img = np.moveaxis(img, 0, -1)
        low, high = np.percentile(img, 1), np.percentile(img, 99)
        return np.clip((img - low) / ((high - low) or 1.0), 0, 1), {}
    img = img[0]
    if signed:
        lim = np.percentile(np.abs(img), 99) or 1.0
        return img, {"cmap": "bwr", "vmin": -lim, "vmax": lim}
    return img, {"cmap": "gray_r", "vmin": 0, "vmax": max(float(img.max()), 1e-9)}


def _grid(images: Sequence[tuple[np.ndarray, dict[str, Any]]], titles: Sequence[str], path: str | os.PathLike,
          title: str) -> None:
    plt = _pyplot()
    cols = max(1, min(8, len(images)))
    rows = max(1, -(-len(images) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.25 * cols, 1.35 * rows + 0.5), squeeze=False)
    for i, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if i < len(images):
            img, kw = images[i]
            ax.imshow(img, interpolation="nearest", **kw)
            ax.set_title(titles[i], fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_receptive_fields(weights: np.ndarray, path: str | os.PathLike, neurons: Sequence[int] | None = None,
                          input_shape: Sequence[int] = (1, 28, 28), titles: Sequence[str] | None = None,
                          grid: int = 8, title: str = "input weights") -> None:
    """Input weights of ``neurons`` (default: the first ``grid`` x ``grid``) as images, each on
    its own colour scale (red positive, blue negative, clipped at its 99th percentile)."""
    chosen = list(range(min(grid * grid, weights.shape[0]))) if neurons is None else list(neurons)
    images = [_image(weights[i], input_shape, signed=True) for i in chosen]
    _grid(images, titles or [f"#{i}" for i in chosen], path,
          f"{title} of {len(chosen)} output neurons (red +, blue -)")


def plot_neuron_prototypes(x: np.ndarray, activity: np.ndarray, neurons: Sequence[int], path: str | os.PathLike,
                           titles: Sequence[str], input_shape: Sequence[int] = (1, 28, 28),
                           signed: bool = False) -> None:
    """For each of ``neurons``, the mean of the images it wins (:func:`winners`: silent rows go to no
    neuron): what the neuron learned to answer."""
    flat = np.asarray(x).reshape(len(x), -1)
    won = winners(activity, signed)
    images = [_image(flat[won == i].mean(axis=0), input_shape, signed=False) for i in neurons]
    _grid(images, titles, path, "mean image of the test images each neuron wins")


def plot_accuracy_curve(metrics: Sequence[dict[str, Any]], path: str | os.PathLike) -> None:
    """DA (average and max) against epoch, on the split each epoch was scored on (validation when
    the run has one, else test); a run with a validation split adds its final test point. Epochs
    left unscored are skipped; a semi-supervised run adds its output accuracy."""
    from sdt_neuro.records import headline, scored

    metrics = scored(list(metrics))
    if not metrics:
        raise ValueError("no scored epoch to plot: the records hold no DA figures (a run without training "
                         "labels, or one whose epochs were all left unscored)")
    plt = _pyplot()
    epochs = [m["epoch"] for m in metrics]
    split = headline(metrics[0])["split"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(epochs, [headline(m)["da_average"] for m in metrics], "o-", label=f"{split} DA average")
    ax.plot(epochs, [headline(m)["da_max"] for m in metrics], "s--", label=f"{split} DA max")
    if "accuracy" in headline(metrics[0]):
        ax.plot(epochs, [headline(m)["accuracy"] for m in metrics], "^-", label=f"{split} output accuracy")
    if split == "validation" and "test_da_average" in metrics[-1]:
        ax.plot([epochs[-1]], [metrics[-1]["test_da_average"]], "k*", markersize=10, label="test DA average")
        if "test_accuracy" in metrics[-1]:
            ax.plot([epochs[-1]], [metrics[-1]["test_accuracy"]], "r*", markersize=10, label="test output accuracy")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion_matrix(cm: np.ndarray, path: str | os.PathLike, title: str = "confusion matrix") -> None:
    """Row-normalised confusion matrix with counts."""
    plt = _pyplot()
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_xticks(range(cm.shape[1]))
    ax.set_yticks(range(cm.shape[0]))
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_spike_raster(spikes: np.ndarray, path: str | os.PathLike, labels: Sequence[int] | None = None,
                      max_neurons: int = 200) -> None:
    """Spike raster of a few samples: ``spikes`` is [samples, T, neurons] of 0/1."""
    plt = _pyplot()
    n_samples = spikes.shape[0]
    fig, axes = plt.subplots(1, n_samples, figsize=(2.2 * n_samples, 3), squeeze=False)
    for s, ax in enumerate(axes[0]):
        active = np.flatnonzero(spikes[s].sum(axis=0))[:max_neurons]
        t, n = np.nonzero(spikes[s][:, active])
        ax.scatter(t, n, s=2, marker="|")
        ax.set_xlabel("step")
        ax.set_title(f"label {labels[s]}" if labels is not None else f"sample {s}", fontsize=9)
        if s == 0:
            ax.set_ylabel("active output neuron")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_curve(xs: Sequence[float], series: dict[str, Sequence[float]], path: str | os.PathLike,
               xlabel: str, ylabel: str, logx: bool = False) -> None:
    """Generic line plot of several named series against ``xs``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, ys in series.items():
        ax.plot(xs, ys, "o-", label=name)
    if logx:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
