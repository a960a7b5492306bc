"""Pictures of what the output neurons learned, from any backend's activity: the mean image of
the test images each neuron wins, and its input weights, for the neurons that win most."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sdt_neuro.plots import pick_neurons, plot_neuron_prototypes, plot_receptive_fields, win_counts

PROTOTYPES_PNG = "neurons.png"
WEIGHTS_PNG = "receptive_fields.png"


def neuron_gallery(out_dir: str | os.PathLike, x: np.ndarray, activity: np.ndarray, assignment: np.ndarray,
                   weights: np.ndarray | None = None, grid: int = 8,
                   weights_title: str = "learned change of the input weights", signed: bool = False) -> list[Path]:
    """Write ``neurons.png`` (and ``receptive_fields.png`` when ``weights`` [neurons, inputs] are
    given: best the learned change, see ``training.loop.learned_change``) for the ``grid`` x
    ``grid`` neurons that win the most of ``x``; each titled with its class in ``assignment``
    (direct association's, ``-1`` unassigned) and its wins (``signed``: a zero-centred output,
    :mod:`sdt_neuro.evaluate`)."""
    out = Path(out_dir)
    act = np.asarray(activity)
    neurons = pick_neurons(act, assignment, grid * grid, signed)
    wins = win_counts(act, signed)
    titles = [f"class {assignment[i]}, {wins[i]} won" if assignment[i] >= 0 else f"unassigned, {wins[i]}"
              for i in neurons]
    shape = tuple(np.asarray(x).shape[1:]) if np.asarray(x).ndim == 4 else (1, 28, 28)
    written = [out / PROTOTYPES_PNG]
    plot_neuron_prototypes(x, act, neurons, written[0], titles, shape, signed)
    if weights is not None:
        written.append(out / WEIGHTS_PNG)
        plot_receptive_fields(weights, written[1], neurons, shape, titles, title=weights_title)
    return written
