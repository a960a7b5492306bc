"""The one training loop every learner shares: epochs, schedule, evaluation, checkpoints, plots."""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from sdt_neuro.atomic import write_text
from sdt_neuro.data import SAMPLE_SOURCE, Dataset, changed_since, iterate_batches, load_dataset
from sdt_neuro.errors import CheckpointError, ConfigError, NonFiniteError
from sdt_neuro.evaluate import direct_association, neuron_usage
from sdt_neuro.gallery import PROTOTYPES_PNG, WEIGHTS_PNG
from sdt_neuro.probe import linear_probe
from sdt_neuro.records import headline, scored
from sdt_neuro.report import REPORT_NAME
from sdt_neuro.rule import WTARule
from sdt_neuro.training.bp import BPLearner
from sdt_neuro.training.checkpoint import (
    load_resumable,
    load_state_strict,
    restore_rng_states,
    rng_states,
    save_checkpoint,
)
from sdt_neuro.training.config import TrainConfig
from sdt_neuro.training.distributed import Ranks, SyncedSteps, device_for_rank, setup, teardown
from sdt_neuro.training.ep import EPLearner
from sdt_neuro.training.ep_readout import EPReadoutLearner
from sdt_neuro.training.guards import check_loss, check_weights, flag_collapse, step_error
from sdt_neuro.training.homeostasis import HomeostasisState
from sdt_neuro.training.phases import (
    Phase,
    PlannedEpoch,
    build_optimizer,
    phase_factor,
    phase_rates,
    plan,
    run_phases,
)
from sdt_neuro.training.run_data import (
    evaluation_split,
    fit_to_data,
    label_indices,
    labelled_fraction,
    training_split,
    validation_split,
)
from sdt_neuro.training.semi import labelled_indices, output_accuracy

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.json"
ACCURACY_PNG = "accuracy.png"
CONFUSION_PNG = "confusion_matrix.png"
RUN_FILES = (CHECKPOINT_NAME, METRICS_NAME, REPORT_NAME, ACCURACY_PNG, PROTOTYPES_PNG, WEIGHTS_PNG,
             CONFUSION_PNG)  # what a run writes; config.json is rewritten at its start
EVAL_CHUNK = 2000


class Learner(Protocol):
    """What the loop needs from a learner (``BPLearner``, the snnTorch backend's learner, ...).

    ``model`` holds the weights that are checkpointed; ``backend`` (optional attribute, default
    ``"ann"``) is written into the checkpoint.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    state: HomeostasisState
    device: torch.device
    rule: WTARule

    def train_step(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor: ...
    # a learner that trains phases with another loss also takes ``loss=`` ("cross-entropy")

    def activity(self, x: torch.Tensor) -> torch.Tensor: ...


LearnerFactory = Callable[[TrainConfig, torch.device], Learner]


@dataclass
class TrainResult:
    """What a run leaves behind: the trained learner, its data and one metrics record per epoch."""

    config: TrainConfig
    learner: Learner
    dataset: Dataset
    metrics: list[dict[str, Any]] = field(default_factory=list)
    out_dir: Path | None = None
    rank: int = 0  # under torchrun: this process's rank (only rank 0 wrote files)

    @property
    def model(self) -> torch.nn.Module:
        return self.learner.model


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' requested but torch sees no CUDA device (use auto or cpu)")
    return torch.device(name)


def make_learner(config: TrainConfig, device: torch.device) -> Learner:
    """Model plus learner for ``config.algorithm`` (seeded: same config, same initial weights)."""
    torch.manual_seed(config.seed)
    model = config.build_model().to(device)
    if config.algorithm == "bp":
        return BPLearner(model, config, device)
    if config.algorithm == "ep" and config.readout == "softmax":
        return EPReadoutLearner(model, config, device)
    if config.algorithm == "ep":
        return EPLearner(model, config, device)
    raise ConfigError(f"algorithm={config.algorithm!r} is not implemented")


def model_inputs(config: TrainConfig, x: torch.Tensor) -> torch.Tensor:
    """Images as the model wants them: flat for the MLP, [n, C, H, W] for the CNN."""
    return x.reshape(x.shape[0], -1) if config.arch == "mlp" else x


def compute_activity(learner: Learner, config: TrainConfig, x: torch.Tensor,
                     ranks: Ranks | None = None) -> np.ndarray:
    """Eval-mode output activity of all of ``x`` as a float32 array, in chunks (sharded over the
    ranks and gathered when ``ranks`` has more than one)."""
    def chunks(part: torch.Tensor) -> np.ndarray:
        outs = [learner.activity(model_inputs(config, part[i : i + EVAL_CHUNK]).to(learner.device)).cpu()
                for i in range(0, part.shape[0], EVAL_CHUNK)]
        return torch.cat(outs).numpy() if outs else np.zeros((0, config.sizes[-1]), np.float32)

    return (ranks or Ranks()).gather_rows(chunks, x)


def train(
    config: TrainConfig,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    data_root: str | os.PathLike | None = None,
    dataset: Dataset | None = None,
    progress: bool | None = None,
    plots: bool = True,
    learner_factory: LearnerFactory | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """Train ``config`` from scratch, or continue the checkpoint in ``out_dir`` when ``resume``.
    An ``out_dir`` holding a run is refused unless ``resume`` or ``overwrite`` (its run's files go
    once the data and settings have passed their checks; other files there are named in a warning).

    Each epoch: train (a non-finite loss, output or weight stops the run with
    :class:`~sdt_neuro.errors.TrainingDiverged` before anything is written), evaluate DA on the
    test set (neurons assigned on the run's labelled training images), append a metrics record
    (``collapsed: true`` and a :class:`~sdt_neuro.evaluate.CollapseWarning` when the outputs
    collapsed), write ``metrics.json`` and ``checkpoint.pt`` atomically. At the end: plots and,
    if asked, the linear probe. ``learner_factory(config, device)`` replaces :func:`make_learner` (spiking
    backends plug in here and share everything else).
    """
    out = Path(out_dir) if out_dir is not None else None
    if resume and out is None:
        raise ConfigError("resume needs an output directory holding checkpoint.pt")
    if out is not None and not (resume or overwrite) and (out / CHECKPOINT_NAME).is_file():
        raise ConfigError(f"{out} holds a run ({CHECKPOINT_NAME}): continue it with resume=True, or replace it with "
                          "overwrite=True")
    show = sys.stderr.isatty() if progress is None else progress
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = device_for_rank(resolve_device(config.device))
    ranks = setup(device)
    try:
        write = out if ranks.main else None  # every rank reads a checkpoint; only rank 0 writes

        ckpt = None
        if resume:  # the checkpoint first: a missing or damaged one is refused before any data loads
            assert out is not None
            saved, ckpt = load_resumable(out / CHECKPOINT_NAME)
        data = dataset or ranks.main_first(lambda: load_dataset(config.dataset, data_root))
        config = fit_to_data(config, data)
        if ckpt is not None:  # the settings first: a changed --dataset is named as such
            config = resumed_config(saved, config, int(ckpt["epoch"]), out, warn=ranks.main)
            check_same_data(ckpt, data, out)
        val_split = validation_split(config, data)
        train_split, test_split = training_split(config, data), evaluation_split(config, data)
        scored = train_split.labelled  # DA assigns neurons with training labels: none, no per-epoch figures
        label_idx = label_indices(config, train_split) if scored else np.zeros(0, np.int64)
        labelled = labelled_indices(config, train_split.y)  # semi-supervised runs only
        if ckpt is not None and "labelled_indices" in ckpt and (
                labelled is None or not np.array_equal(ckpt["labelled_indices"].numpy(), labelled)):
            raise CheckpointError(f"--resume: the labelled subset drawn now differs from the one the run in {out} "
                                  "began with (a different data set, or another numpy version's sampling)")
        train_x, train_y = train_split.x.to(device), train_split.y.to(device)

        learner = (learner_factory or make_learner)(config, device)
        step = SyncedSteps(learner, ranks)
        if ranks.rank > 0:
            torch.manual_seed(config.seed + ranks.rank)  # each rank its own dropout masks; rank 0 draws as one process
        shuffle = torch.Generator().manual_seed(config.seed)
        metrics: list[dict[str, Any]] = []
        start_epoch = 0
        if ckpt is not None:
            load_state_strict(learner.model, ckpt["model"], "model weights")
            learner.optimizer.load_state_dict(ckpt["optimizer"])
            learner.state.load_state_dict(ckpt["homeostasis"])
            restore_rng_states(ckpt["rng"], shuffle)
            if ranks.rank > 0:  # the checkpoint holds rank 0's generator; the others derive theirs
                torch.manual_seed(int(torch.randint(2**31, (1,))) + ranks.rank)
            metrics = list(ckpt["metrics"])
            start_epoch = int(ckpt["epoch"])

        rule = learner.rule
        horizon = config.schedule_epochs or config.epochs
        epochs_plan = plan(config)
        check_pools(epochs_plan[start_epoch:], len(train_split), labelled, config.batch_size, ranks.world)
        optimizers = phase_optimizers(learner, config)
        if ckpt is not None:
            for slot, state in ckpt.get("optimizers", {}).items():
                optimizers[slot].load_state_dict(state)
        if write is not None:
            if ckpt is None:  # a fresh run replaces the folder's run, once everything before has been checked
                _clear_run(write)
            else:  # the records as the checkpoint holds them (a crash between the two writes left them behind)
                _write_json(write / METRICS_NAME, metrics)
            _write_json(write / "config.json", config.to_dict())  # a file train --config starts from
        epochs_bar = tqdm(range(start_epoch, config.epochs), desc="epochs", disable=not show,
                          initial=start_epoch, total=config.epochs)
        # whether an epoch so far trained on the self-defined target (only then can it collapse)
        self_defined = any(not p.phase.labels for p in epochs_plan[:start_epoch])
        for epoch in epochs_bar:
            t0 = time.perf_counter()
            if rule.homeostasis_reset == "epoch":
                learner.state.reset()
            planned = epochs_plan[epoch]
            phase = planned.phase
            learner.optimizer = optimizers[phase.optimizer]
            if phase.reset_optimizer:  # a new optimiser for this epoch: no moments, step count 0
                learner.optimizer.state.clear()
            step.watch(learner.optimizer)
            rates = phase_rates(config, phase, len(learner.optimizer.param_groups))
            losses, shares = [], []  # this rank's loss and share of each global batch
            pool = phase_pool(phase, len(train_split), labelled)
            size = len(train_split) if pool is None else len(pool)
            pool_idx = None if pool is None else torch.from_numpy(pool)
            batch_size = phase.batch_size or config.batch_size
            n_batches = -(-size // batch_size)
            batches = tqdm(iterate_batches(size, batch_size, shuffle),
                           total=n_batches, desc=f"epoch {epoch + 1} ({phase.name})", leave=False,
                           disable=not show, mininterval=0.5)
            for b, idx in enumerate(batches):
                factor = phase_factor(config, planned, (epoch + b / n_batches) / horizon)
                for group, rate in zip(learner.optimizer.param_groups, rates):
                    group["lr"] = rate * factor
                if pool_idx is not None:
                    idx = pool_idx[idx]
                global_count, idx = len(idx), ranks.shard(idx)
                if global_count < ranks.world:  # a last batch too small to give every rank a sample
                    continue
                x = model_inputs(config, train_x[idx])
                try:
                    loss = step(x, train_y[idx] if phase.labels else None, global_count, phase.loss)
                except NonFiniteError as exc:
                    raise step_error(exc, config, epoch, b) from exc
                check_loss(loss, config, epoch, b)
                losses.append(loss)
                shares.append(step.share / step.total)
            check_weights(learner.model, config, epoch)
            train_seconds = time.perf_counter() - t0
            last = epoch + 1 == config.epochs
            if not scored:
                record = {"evaluation": "skipped: the training images have no labels to assign the neurons"}
            elif not (phase.evaluate or planned.stage_end or last):
                record = {"evaluation": f"skipped: the {phase.name!r} phase is scored at its stage's end"}
            elif val_split is None:
                record = _evaluate_epoch(learner, config, train_split, test_split, label_idx, "test", ranks)
            else:  # every epoch on validation; the test set once, after the last epoch
                record = _evaluate_epoch(learner, config, train_split, val_split, label_idx, "val", ranks)
                record["val_samples"] = config.val_samples
                if last:
                    final = _evaluate_epoch(learner, config, train_split, test_split, label_idx, "test", ranks)
                    record.update({k: v for k, v in final.items() if k.startswith("test_")})
            record.update(
                epoch=epoch + 1,
                phase=phase.name,
                train_loss=step.mean_loss(losses, shares),  # over the whole batches, every rank's share
                lr_factor=phase_factor(config, planned, (epoch + 1) / horizon),
                train_seconds=train_seconds,
                epoch_seconds=time.perf_counter() - t0,
                threads=torch.get_num_threads(),  # what the seconds were measured on
            )
            metrics.append(record)
            self_defined = self_defined or not phase.labels
            # a collapse of the self-defined target (label-only epochs cannot have one), when scored
            if "evaluation" not in record and self_defined:
                flag_collapse(record, config, warn=ranks.main)
                epochs_bar.set_postfix(da=f"{headline(record)['da_average']:.4f}", loss=f"{record['train_loss']:.4f}")
            if write is not None:  # the checkpoint first: metrics.json never lists an epoch it does not hold
                save_checkpoint(write / CHECKPOINT_NAME,
                                _payload(learner, config, epoch + 1, metrics, shuffle, labelled, optimizers, data))
                _write_json(write / METRICS_NAME, metrics)

        result = TrainResult(config, learner, data, metrics, out, ranks.rank)
        if config.probe and metrics and scored:
            metrics[-1].update(probe_accuracies(learner, config, train_split, test_split, ranks))
            if write is not None:
                save_checkpoint(write / CHECKPOINT_NAME,
                                _payload(learner, config, config.epochs, metrics, shuffle, labelled, optimizers, data))
                _write_json(write / METRICS_NAME, metrics)
        if write is not None and plots and metrics and scored:
            _pictures(write, learner, config, metrics, train_split.subset(label_idx), test_split)
    except BaseException:
        teardown(ranks, together=False)  # leave the group; the other ranks may never arrive
        raise
    teardown(ranks)
    return result


def _clear_run(out: Path) -> None:
    """Remove the run in ``out`` (:data:`RUN_FILES`); where there was one, warn about what else of
    its time stays beside the new one (a conversion, an evaluation)."""
    replaced = [name for name in RUN_FILES if (out / name).is_file()]
    for name in replaced:
        (out / name).unlink()
    stale = sorted(p.name for p in out.iterdir() if p.is_file() and p.name != "config.json") if replaced else []
    if stale:
        warnings.warn(f"{out}: {stale} stay from what was there before; they do not describe the new run",
                      stacklevel=3)


def _pictures(out: Path, learner: Learner, config: TrainConfig, metrics: list[dict[str, Any]], labelled: Any,
              test: Any) -> None:
    """The accuracy curve, what the neurons learned and the confusion matrix (on at most 10,000
    test images), and ``index.html`` putting them beside the epochs' figures."""
    from sdt_neuro.evaluate import confusion_matrix, direct_association
    from sdt_neuro.gallery import neuron_gallery
    from sdt_neuro.plots import plot_accuracy_curve, plot_confusion_matrix
    from sdt_neuro.report import table_html, write_report

    plot_accuracy_curve(metrics, out / ACCURACY_PNG)
    shown = test.subset(np.arange(min(len(test), 10000)))
    act = compute_activity(learner, config, shown.x)
    label_act = compute_activity(learner, config, labelled.x)
    n_classes = config.wta_rule.n_classes
    weights = learned_change(learner.model, config) if config.arch == "mlp" else None
    da = direct_association(label_act, labelled.y.numpy(), act, shown.y.numpy(), n_classes,
                            signed=config.signed_output)
    neuron_gallery(out, shown.x.numpy(), act, da.assignment, weights, signed=config.signed_output)
    plot_confusion_matrix(confusion_matrix(shown.y.numpy(), da.pred_average, n_classes), out / CONFUSION_PNG,
                          title=f"ANN, {len(shown)} test images, DA average {da.average:.3f}")
    metrics = scored(metrics)
    columns = ["epoch", *(k for k in ("phase", "val_da_average", "val_accuracy", "test_da_average", "test_da_max",
                                      "test_accuracy", "unassigned_neurons", "epoch_seconds") if k in metrics[-1])]
    write_report(out, f"{config.preset or 'run'}: {'-'.join(map(str, config.sizes))} on {config.dataset}",
                 [("Epochs", table_html(metrics, columns))],
                 [(out / ACCURACY_PNG, "DA against epoch"),
                  (out / PROTOTYPES_PNG, "mean image of the test images each output neuron wins, with its class"),
                  (out / WEIGHTS_PNG, "what training changed in those neurons' input weights"),
                  (out / CONFUSION_PNG, "confusion matrix (DA average)")],
                 [f"{len(labelled)} labelled training images assign the neurons; figures on {len(shown)} test images."])


def learned_change(model: torch.nn.Module, config: TrainConfig) -> np.ndarray:
    """First-layer weights minus the seeded initial ones: what training wrote into them (the
    initial noise hides it in the weights themselves; pixels no image ever lights keep it)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        initial = config.build_model()
    return first_layer_weights(model) - first_layer_weights(initial)


def first_layer_weights(model: torch.nn.Module) -> np.ndarray:
    """Input weights of the first layer as [units, inputs]."""
    return model.layers[0].weight.detach().cpu().numpy()


def probe_accuracies(learner: Learner, config: TrainConfig, train_split: Any, test_split: Any,
                     ranks: Ranks | None = None) -> dict[str, float]:
    """Linear-probe test accuracy on the frozen network's outputs, one per protocol in
    ``config.probe_protocols`` (trained on every image of the run's training split):
    ``test_linear_probe`` for ours, ``test_linear_probe_<protocol>`` for the others; the probes train
    on the run's device, and ``probe_seconds`` says what they took."""
    t0 = time.perf_counter()
    train_act = compute_activity(learner, config, train_split.x, ranks)
    test_act = compute_activity(learner, config, test_split.x, ranks)
    out = {}
    for name in config.probe_protocols:
        key = "test_linear_probe" if name == "ours" else f"test_linear_probe_{name}"
        out[key] = linear_probe(train_act, train_split.y.numpy(), test_act, test_split.y.numpy(),
                                n_classes=config.wta_rule.n_classes, seed=config.seed, protocol=name,
                                device=learner.device)
    out["probe_seconds"] = time.perf_counter() - t0
    return out


def _evaluate_epoch(learner: Learner, config: TrainConfig, train_split: Any, eval_split: Any,
                    label_idx: np.ndarray, prefix: str, ranks: Ranks | None = None) -> dict[str, Any]:
    """DA of ``eval_split`` (keys ``{prefix}_da_average`` ...), neurons assigned on the run's labels."""
    t0 = time.perf_counter()
    rule = learner.rule
    labelled = train_split.subset(label_idx)
    label_act = compute_activity(learner, config, labelled.x, ranks)
    act = compute_activity(learner, config, eval_split.x, ranks)
    signed = config.signed_output
    da = direct_association(label_act, labelled.y.numpy(), act, eval_split.y.numpy(), rule.n_classes, signed=signed)
    usage = neuron_usage(act, da.assignment, k=rule.k, signed=signed)
    extra: dict[str, Any] = {"signed_activity": True} if signed else {}
    if config.semi_labels is not None:
        extra[f"{prefix}_accuracy"] = output_accuracy(act, eval_split.y.numpy(), rule.n_classes, signed)
    return {
        **extra,
        f"{prefix}_da_average": da.average,
        f"{prefix}_da_max": da.max,
        "eval_split": "validation" if prefix == "val" else "test",
        "unassigned_neurons": usage.unassigned,
        "win_entropy_ratio": usage.win_entropy_ratio,
        "label_fraction": labelled_fraction(config, len(label_idx), len(train_split)),
        "eval_seconds": time.perf_counter() - t0,
    }


def _payload(learner: Learner, config: TrainConfig, epoch: int, metrics: list, shuffle: torch.Generator,
             labelled: np.ndarray | None = None,
             optimizers: dict[str, torch.optim.Optimizer] | None = None, data: Dataset | None = None) -> dict:
    extra: dict[str, Any] = {} if labelled is None else {
        "labelled_indices": torch.as_tensor(labelled, dtype=torch.long)}
    if data is not None:  # where the images came from (a folder, a file, the bundled sample), and what they are
        extra.update(data_source=str(data.source), data_fingerprint=data.fingerprint)
    optimizers = dict(optimizers or {"main": learner.optimizer})
    main = optimizers.pop("main")
    if optimizers:  # the phases' other optimisers ("optimizer" stays the main one's: older readers)
        extra["optimizers"] = {slot: opt.state_dict() for slot, opt in optimizers.items()}
    return {
        **extra,
        "backend": getattr(learner, "backend", "ann"),
        "config": config.to_dict(),
        "rule": config.rule,
        "epoch": epoch,
        "model": learner.model.state_dict(),
        "optimizer": main.state_dict(),
        "homeostasis": learner.state.state_dict(),
        "rng": rng_states(shuffle),
        "metrics": metrics,
    }


def phase_optimizers(learner: Learner, config: TrainConfig) -> dict[str, torch.optim.Optimizer]:
    """One optimiser per slot the run's phases name: ``"main"`` is the learner's own, the others
    are built fresh over the same per-layer parameter groups."""
    groups = [g["params"] for g in learner.optimizer.param_groups]
    out: dict[str, torch.optim.Optimizer] = {"main": learner.optimizer}
    for phase in run_phases(config):
        if phase.optimizer not in out:
            out[phase.optimizer] = build_optimizer(phase.optimizer_kind or config.optimizer, groups)
    return out


def check_same_data(ckpt: dict[str, Any], data: Dataset, out: Path | None) -> None:
    """Refuse to continue the run in ``out`` on other data than it began with (:func:`changed_since`;
    where the files lie may change)."""
    change = changed_since(ckpt.get("data_source"), ckpt.get("data_fingerprint"), data)
    if change is not None:
        advice = "; start a new run on these data" if ckpt.get("data_source") == SAMPLE_SOURCE else ""
        raise CheckpointError(f"--resume: the run in {out} {change}{advice}")


def resumed_config(saved: TrainConfig, config: TrainConfig, trained: int, out: Path, warn: bool = True) -> TrainConfig:
    """The configuration a run in ``out`` continues with: ``config``, which may change only ``epochs``
    (not below the ``trained`` epochs), ``threads`` and ``device``. The rate schedule keeps the horizon the
    run began with, so the resumed run equals an uninterrupted one."""
    horizon = saved.schedule_epochs or saved.epochs
    pinned = config.schedule_epochs is None and config.epochs != horizon
    if pinned:
        config = config.replace(schedule_epochs=horizon)
    same = saved.replace(epochs=config.epochs, threads=config.threads, device=config.device,
                         schedule_epochs=config.schedule_epochs)
    if same != config or (config.schedule_epochs or config.epochs) != horizon:
        before, now = same.to_dict(), config.to_dict()
        changed = {k: (before[k], now[k]) for k in now if before.get(k) != now[k]}
        if (config.schedule_epochs or config.epochs) != horizon:
            changed["schedule_epochs"] = (horizon, config.schedule_epochs or config.epochs)
        listed = "; ".join(f"{k}: {a!r} in the run, {b!r} now" for k, (a, b) in changed.items())
        raise CheckpointError(
            f"--resume: the run in {out} was made with a different configuration ({listed}); only epochs, "
            "threads and device may change (without --preset or --config, --resume continues the run's own)")
    if trained > config.epochs:
        raise CheckpointError(f"--resume: the run in {out} has trained {trained} epochs, more than --epochs "
                              f"{config.epochs}; resume with --epochs {trained} or more")
    if pinned and warn and config.schedule != "constant":
        print(f"note: the run in {out} now has {config.epochs} epochs; its rate schedule keeps the {horizon}-epoch "
              "horizon it began with (epochs past it train at its last factor)", file=sys.stderr)
    return config


def check_pools(epochs: list[PlannedEpoch], n: int, labelled: np.ndarray | None, batch_size: int,
                world: int) -> None:
    """Refuse, before training, a phase whose pool is empty or whose batches are too small to give each of
    ``world`` processes a sample."""
    for phase in {id(planned.phase): planned.phase for planned in epochs}.values():
        size = n if (pool := phase_pool(phase, n, labelled)) is None else len(pool)
        if size == 0:
            raise ConfigError(f"phase {phase.name!r} trains on the {phase.pool} pool, which is empty "
                              f"({n} training images, {0 if labelled is None else len(labelled)} labelled)")
        if min(phase.batch_size or batch_size, size) < world:
            raise ConfigError(f"phase {phase.name!r}: batches of {min(phase.batch_size or batch_size, size)} "
                              f"cannot give each of {world} processes a sample")


def phase_pool(phase: Phase, n: int, labelled: np.ndarray | None) -> np.ndarray | None:
    """Sample indices a phase trains on (``None``: all ``n``)."""
    if phase.pool == "all":
        return None
    if labelled is None:
        raise ConfigError(f"phase {phase.name!r} trains on the {phase.pool} pool, but the run has no labelled "
                          "subset (set semi_labels)")
    return labelled if phase.pool == "labelled" else np.setdiff1d(np.arange(n), labelled)


def _write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2))
