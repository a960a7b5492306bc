"""PNG figures: receptive fields, accuracy curves, confusion matrices, spike rasters."""

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


def plot_receptive_fields(weights: np.ndarray, path: str | os.PathLike, grid: int = 8,
                          image_side: int = 28) -> None:
    """First-layer weights of the first ``grid`` x ``grid`` neurons as images."""
    plt = _pyplot()
    n = min(grid * grid, weights.shape[0])
    fig, axes = plt.subplots(grid, grid, figsize=(grid, grid))
    for i, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if i < n:
            w = weights[i].reshape(image_side, image_side)
            lim = np.abs(w).max() or 1.0
            ax.imshow(w, cmap="bwr", vmin=-lim, vmax=lim)
    fig.suptitle(f"receptive fields of {n} output neurons")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_accuracy_curve(metrics: Sequence[dict[str, Any]], path: str | os.PathLike) -> None:
    """DA (average and max) against epoch, on the split each epoch was scored on (validation when
    the run has one, else test); a run with a validation split adds its final test point."""
    from sdt_neuro.records import headline

    plt = _pyplot()
    epochs = [m["epoch"] for m in metrics]
    split = headline(metrics[0])["split"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(epochs, [headline(m)["da_average"] for m in metrics], "o-", label=f"{split} DA average")
    ax.plot(epochs, [headline(m)["da_max"] for m in metrics], "s--", label=f"{split} DA max")
    if split == "validation" and "test_da_average" in metrics[-1]:
        ax.plot([epochs[-1]], [metrics[-1]["test_da_average"]], "k*", markersize=10, label="test DA average")
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
