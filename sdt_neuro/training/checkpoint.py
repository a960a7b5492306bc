"""Checkpoints: written atomically, loaded without unpickling arbitrary objects.

A checkpoint is a ``torch.save`` dict of tensors and plain data, read back with
``torch.load(weights_only=True)``: weights, optimiser state, rule, config, homeostasis state,
RNG states, the epoch reached and the metrics so far.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from sdt_neuro.atomic import file_mode, fsync_directory
from sdt_neuro.errors import CheckpointError

FORMAT = "sdt-neuro-checkpoint"
VERSION = 1
REQUIRED = ("format", "version", "config", "rule", "epoch", "model")
#: what a training run's checkpoint holds beyond :data:`REQUIRED`, for ``--resume``
RESUME_REQUIRED = ("optimizer", "homeostasis", "rng", "metrics")


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus format tags) to ``path`` atomically: temp file, fsync, rename."""
    path = Path(path)
    data = {"format": FORMAT, "version": VERSION, **payload}
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
        with os.fdopen(fd, "wb") as fh:
            torch.save(data, fh)
            fh.flush()
            os.fsync(fh.fileno())  # on disk before the rename makes it the checkpoint
        try:
            os.chmod(tmp, file_mode())  # readable as the run's other files are, not mkstemp's 0600
        except OSError:  # a file system without modes keeps its own
            pass
        os.replace(tmp, path)
        fsync_directory(path.parent)
    except (OSError, RuntimeError) as exc:  # disk full, no permission, a folder in the way (torch: RuntimeError)
        _remove(tmp)
        kept = " (the previous checkpoint there is kept)" if path.is_file() else ""
        cause = exc.__context__ if isinstance(exc.__context__, OSError) else exc  # the OSError under torch's
        reason = getattr(cause, "strerror", None) or str(cause)
        raise CheckpointError(f"cannot write checkpoint {path}: {reason}{kept}") from exc
    except BaseException:  # Ctrl-C and the like: no half-written file left behind
        _remove(tmp)
        raise
    return path


def _remove(tmp: str | None) -> None:
    """Delete the temporary file a failed write left, if any."""
    if tmp is not None and os.path.exists(tmp):
        os.unlink(tmp)


def rng_states(shuffle: torch.Generator) -> dict[str, Any]:
    """Every generator a run draws from: torch's CPU generator, every CUDA device's (when CUDA is
    available), and the loop's shuffling generator."""
    states: dict[str, Any] = {"torch": torch.get_rng_state(), "shuffle": shuffle.get_state()}
    if torch.cuda.is_available():
        states["cuda"] = list(torch.cuda.get_rng_state_all())
    return states


def restore_rng_states(states: dict[str, Any], shuffle: torch.Generator) -> None:
    """Put back what :func:`rng_states` saved (CUDA states only where CUDA is available, one per device
    this process sees: a run resumed on fewer GPUs restores the first ones)."""
    torch.set_rng_state(states["torch"])
    shuffle.set_state(states["shuffle"])
    if "cuda" in states and torch.cuda.is_available():
        for device, state in enumerate(states["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(state, device)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a checkpoint; any problem raises :class:`CheckpointError`."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged files
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not an sdt-neuro checkpoint ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an sdt-neuro checkpoint (format tag missing)")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {data.get('version')}, expected {VERSION}")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks the field(s) {missing}")
    return data


def load_resumable(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """``(saved TrainConfig, checkpoint)`` for ``--resume``: a checkpoint that holds everything a run
    continues from (see :data:`RESUME_REQUIRED`), each problem a :class:`CheckpointError`."""
    from sdt_neuro.training.config import TrainConfig

    data = load_checkpoint(path)
    missing = [k for k in RESUME_REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"checkpoint {path} cannot be resumed: it lacks the training state {missing} "
                              "(a converted or exported model, not a training run's checkpoint?)")
    try:
        saved = TrainConfig.from_dict(data["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} holds an invalid configuration: {exc}") from exc
    return saved, data


def load_state_strict(module: torch.nn.Module, state: dict[str, Any], what: str) -> None:
    """``load_state_dict`` that turns a shape or key mismatch into :class:`CheckpointError`."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError) as exc:
        first = str(exc).splitlines()
        raise CheckpointError(
            f"{what} in the checkpoint does not match the network: "
            f"{' '.join(line.strip() for line in first[:3])}"
        ) from exc


def load_trained_model(path: str | os.PathLike) -> tuple[Any, torch.nn.Module, dict[str, Any]]:
    """``(TrainConfig, model in eval mode on CPU, raw checkpoint)`` from a checkpoint file or run dir."""
    from sdt_neuro.training.config import TrainConfig

    data = load_checkpoint(path)
    try:
        config = TrainConfig.from_dict(data["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} holds an invalid configuration: {exc}") from exc
    model = config.build_model()
    load_state_strict(model, data["model"], "model weights")
    return config, model.eval(), data
