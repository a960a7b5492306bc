"""Score a trained checkpoint on any backend with the shared evaluation code.

Every backend produces output activity (ANN: hard-sigmoid outputs; spiking backends: spike
counts over T steps) for the same test images; neurons are assigned to classes on a labelled,
stratified fraction of the training set, and the same DA / agreement / usage functions score
them. Non-ANN backends are also compared with the ANN's predictions (``agreement_with_ann``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sdt_neuro.convert import evaluation_steps
from sdt_neuro.data import Dataset, changed_since, load_dataset, stratified_indices
from sdt_neuro.errors import ConfigError, DataError
from sdt_neuro.evaluate import (
    collapse_reasons,
    confusion_matrix,
    direct_association,
    neuron_usage,
)
from sdt_neuro.probe import linear_probe
from sdt_neuro.training.checkpoint import load_trained_model
from sdt_neuro.training.config import TrainConfig
from sdt_neuro.training.ep import free_phase_activity
from sdt_neuro.training.ep_readout import readout_activity
from sdt_neuro.training.semi import output_accuracy

EVAL_CHUNK = 2000

# name -> function(config, model, x [n, 1, 28, 28] float32, options) -> activity [n, N] array.
# Backends add themselves lazily through ``_backend_runner``; the core knows only "ann".
BackendRunner = Callable[[TrainConfig, torch.nn.Module, torch.Tensor, dict[str, Any]], np.ndarray]
BACKENDS = ("ann", "snntorch", "lava")
# Settings each backend understands (``evaluate_checkpoint(..., steps=32)`` or ``options={...}``).
BACKEND_OPTIONS = {
    "ann": (),
    "snntorch": ("steps", "encoding", "seed", "batch", "device", "data_root", "percentile", "progress", "v_init",
                 "output_scale", "reset", "readout"),
    "lava": ("steps", "encoding", "seed", "batch", "data_root", "percentile", "progress", "fixed_point", "neuron",
             "v_init", "output_scale", "reset", "readout"),
}
SPLITS = ("test", "validation")


def ann_activity(config: TrainConfig, model: torch.nn.Module, x: torch.Tensor,
                 options: dict[str, Any] | None = None) -> np.ndarray:
    """Output of the reference network (eval mode), in chunks; for an EP network, the output of
    its free phase (through its softmax read-out when it has one)."""
    model.eval()
    with torch.no_grad():
        outs = []
        for i in range(0, x.shape[0], EVAL_CHUNK):
            xb = x[i : i + EVAL_CHUNK]
            if config.algorithm == "ep" and config.readout == "softmax":
                outs.append(readout_activity(config, model, xb))
                continue
            if config.algorithm == "ep":
                outs.append(free_phase_activity(config, model, xb))
                continue
            outs.append(model(xb.reshape(xb.shape[0], -1) if config.arch == "mlp" else xb))
    return torch.cat(outs).numpy() if outs else np.zeros((0, config.sizes[-1]), np.float32)


def _backend_runner(name: str) -> BackendRunner:
    if name == "ann":
        return ann_activity
    if name == "snntorch":
        from sdt_neuro.backends import snntorch_head

        return snntorch_head.evaluation_activity
    if name == "lava":
        from sdt_neuro.backends import lava

        return lava.evaluation_activity
    raise ConfigError(f"backend={name!r} is not one of {BACKENDS}")


def _merge_options(backend: str, options: dict[str, Any] | None, extra: dict[str, Any]) -> dict[str, Any]:
    """``options`` plus keyword settings; a setting the backend does not know is refused by name."""
    merged = {**(options or {}), **extra}
    allowed = BACKEND_OPTIONS.get(backend, ())
    unknown = sorted(k for k, v in merged.items() if k not in allowed and v is not None)
    if unknown:
        raise ConfigError(f"backend={backend!r} does not take {unknown}; its settings are {list(allowed) or 'none'}")
    return {k: v for k, v in merged.items() if k in allowed}


def score_activity(
    label_activity: np.ndarray,
    label_labels: np.ndarray,
    test_activity: np.ndarray,
    test_labels: np.ndarray,
    n_classes: int,
    k: int,
    reference_predictions: np.ndarray | None = None,
    signed: bool = False,
) -> dict[str, Any]:
    """DA (average, max), neuron usage, confusion matrix and agreement with a reference (``signed``:
    the activity is a signed output, :mod:`sdt_neuro.evaluate`)."""
    da = direct_association(label_activity, label_labels, test_activity, test_labels, n_classes, signed=signed)
    usage = neuron_usage(test_activity, da.assignment, k=min(k, test_activity.shape[1] - 1), signed=signed)
    result: dict[str, Any] = {
        "samples": int(test_activity.shape[0]),
        "da_average": da.average,
        "da_max": da.max,
        "neuron_usage": usage.to_dict(),
        "silent_samples": da.silent,
        "confusion_matrix": confusion_matrix(test_labels, da.pred_average, n_classes).tolist(),
        "predictions": da.pred_average,
    }
    reasons = collapse_reasons(usage.unassigned, usage.n_neurons, usage.win_entropy_ratio, da.average, n_classes,
                               silent=da.silent, samples=int(test_activity.shape[0]))
    result["collapsed"] = bool(reasons)
    if reasons:
        result["collapse_reasons"] = reasons
    if reference_predictions is not None:
        from sdt_neuro.evaluate import agreement

        result["agreement_with_ann"] = agreement(da.pred_average, reference_predictions)
    return result


@dataclass
class LabelledReference:
    """A checkpoint with what the shared evaluation assigns its neurons from: the ANN outputs of
    the labelled training images the run used (:func:`labelled_reference`)."""

    config: TrainConfig
    model: torch.nn.Module
    data: Dataset
    label_activity: np.ndarray
    label_y: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)

    def score(self, activity: np.ndarray, y: np.ndarray, reference: np.ndarray | None = None) -> dict[str, Any]:
        """:func:`score_activity` of test ``activity`` [n, N] with labels ``y`` under this assignment."""
        rule = self.config.wta_rule
        return score_activity(self.label_activity, self.label_y, activity, y, rule.n_classes, rule.k, reference,
                              signed=self.config.signed_output)


def labelled_reference(checkpoint: str | os.PathLike, data_root: str | os.PathLike | None = None,
                       dataset: Dataset | None = None, label_fraction: float | None = None,
                       seed: int | None = None) -> LabelledReference:
    """Load ``checkpoint`` and its data set (or ``dataset``), and compute the labelled activity that
    assigns its neurons: the run's own labelled training images, or (``label_fraction``, ``seed``:
    default the run's) another stratified fraction of its training split. ``provenance`` says which."""
    from sdt_neuro.training.run_data import label_indices, label_provenance, training_split

    config, model, raw = load_trained_model(checkpoint)
    data = dataset or load_dataset(config.dataset, data_root)
    train = training_split(config, data)
    if not train.labelled:
        raise DataError(f"{data.name}'s training images have no labels: scoring assigns each output neuron a class "
                        "from labelled training images (give the data set y_train)")
    if label_fraction is None:
        label_idx = label_indices(config, train)
        provenance = label_provenance(config, len(label_idx), n_train=len(train))
    else:
        seed = config.seed if seed is None else seed
        label_idx = stratified_indices(train.y, fraction=label_fraction, seed=seed)
        provenance = label_provenance(config, len(label_idx), label_fraction, seed)
        if config.semi_labels is not None and len(label_idx) > config.semi_labels:
            provenance["warning"] = (f"the run was trained with {config.semi_labels} labels; this evaluation "
                                     f"assigns neurons with {len(label_idx)}")
    change = changed_since(raw.get("data_source"), raw.get("data_fingerprint"), data)
    if change is not None:  # e.g. trained on the bundled sample, scored on MNIST
        provenance["data_warning"] = (f"the run {change}; its training split and labelled subset are drawn "
                                      "from the data loaded now")
        print(f"note: {provenance['data_warning']}", file=sys.stderr)
    labelled = train.subset(label_idx)
    return LabelledReference(config, model, data, ann_activity(config, model, labelled.x), labelled.y.numpy(),
                             provenance)


PROBE_PROTOCOL = ("dropout(0.2) + linear, trained on the ANN outputs of the labelled training images (the "
                  "set that assigns the neurons), standardised with their statistics, tested on this "
                  "backend's test activity")


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    backend: str = "ann",
    label_fraction: float | None = None,
    samples: int | None = None,
    probe: bool = False,
    data_root: str | os.PathLike | None = None,
    dataset: Dataset | None = None,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    split: str = "test",
    **backend_options: Any,
) -> dict[str, Any]:
    """Evaluate ``checkpoint`` on ``backend`` over the first ``samples`` test images (or, with
    ``split="validation"``, of the validation images the run carved from its training set).

    Neurons are assigned with the ANN's outputs (the same weights) on the labelled training
    images the run itself used (its semi-supervised subset, or its ``label_fraction`` of its own
    training split, drawn with its seed); ``label_fraction`` (with ``seed``, default the run's)
    chooses another stratified fraction of that split instead. The result's ``labels`` says which.
    Every backend is read out by that one assignment; non-ANN backends are also compared with the
    ANN's predictions. The linear probe follows one protocol on every backend (``PROBE_PROTOCOL``).
    Backend settings are keyword arguments (``steps=32, fixed_point=True``; see
    :data:`BACKEND_OPTIONS`) or an ``options`` dict; unknown ones are refused by name. The result
    records the data set, split and the settings that ran.
    A semi-supervised checkpoint also gets ``output_accuracy``, its output read as a classifier.
    """
    from sdt_neuro.training.run_data import validation_split

    runner = _backend_runner(backend)
    options = _merge_options(backend, options, backend_options)
    if split not in SPLITS:
        raise ConfigError(f"split={split!r} is not one of {SPLITS}")
    ref = labelled_reference(checkpoint, data_root, dataset, label_fraction, seed)
    config, model, data = ref.config, ref.model, ref.data
    rule = config.wta_rule
    pool = data.test if split == "test" else validation_split(config, data)
    if pool is None:
        raise ConfigError(f"{checkpoint} was trained without a validation split (val_samples); use split='test'")
    n = len(pool) if samples is None else int(samples)
    if not 1 <= n <= len(pool):
        raise ConfigError(f"samples={samples} must be in [1, {len(pool)}]")
    test = pool.subset(np.arange(n))
    labels_used, label_act, label_y = ref.provenance, ref.label_activity, ref.label_y
    t0 = time.perf_counter()
    ann_test = ann_activity(config, model, test.x)
    reference = None
    if backend != "ann":
        t0 = time.perf_counter()
    if backend == "ann":
        test_act = ann_test
    else:
        run_options = dict(options or {})
        test_act = runner(config, model, test.x, run_options)  # a backend may report what ran
        ann_scores = score_activity(label_act, label_y, ann_test, test.y.numpy(), rule.n_classes, rule.k,
                                    signed=config.signed_output)
        reference = ann_scores["predictions"]
    seconds = time.perf_counter() - t0
    # spiking backends convert MLPs only (hard-sigmoid outputs): a signed output is the ANN's
    result = score_activity(label_act, label_y, test_act, test.y.numpy(), rule.n_classes, rule.k, reference,
                            signed=config.signed_output and backend == "ann")
    if backend != "ann":
        result.update(steps=int(evaluation_steps(config, options.get("steps"))),
                      encoding=options.get("encoding") or "current",
                      fixed_point=bool(options.get("fixed_point", False)) if backend == "lava" else False,
                      v_init=float(options.get("v_init") or 0.0), output_scale=options.get("output_scale") or "none",
                      reset=options.get("reset") or "subtract", readout=options.get("readout") or "count")
        result.update(run_options.get("report", {}))
    result.update(dataset=data.name, data_source=data.source, backend=backend, split=split, seconds=seconds,
                  label_fraction=labels_used["fraction"], labels=labels_used, checkpoint=str(checkpoint),
                  preset=config.preset, options=dict(options or {}))
    if config.semi_labels is not None:  # trained with labels: its output is a classifier
        result["output_accuracy"] = output_accuracy(test_act, test.y.numpy(), rule.n_classes,
                                                    signed=config.signed_output and backend == "ann")
    if backend != "ann":
        result["ann_da_average"] = float((reference == test.y.numpy()).mean()) if reference is not None else None
    if probe:
        result["linear_probe"] = linear_probe(label_act, label_y, test_act, test.y.numpy(),
                                              n_classes=rule.n_classes, seed=labels_used["seed"])
        result["linear_probe_protocol"] = PROBE_PROTOCOL
    return result
