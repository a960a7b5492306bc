"""The project's exceptions: every message names the bad value and what is allowed."""

from __future__ import annotations


class SdtError(Exception):
    """Base class of every error raised on purpose by sdt-neuro."""


class ConfigError(SdtError, ValueError):
    """A rule, model or training setting is outside its allowed range."""


class ShapeError(SdtError, ValueError):
    """An array or tensor has the wrong shape for the operation."""


class NonFiniteError(SdtError, ValueError):
    """An array holds NaN or infinite values where finite numbers are needed; the message says
    which array and how many entries."""


class TrainingDiverged(SdtError, RuntimeError):
    """Training produced non-finite numbers; the message names the epoch and batch, and what to
    lower. The last checkpoint on disk is the last good one."""


class DataError(SdtError, FileNotFoundError):
    """A data set cannot be found or read."""


class CheckpointError(SdtError, ValueError):
    """A checkpoint is missing, corrupt, or does not match what it is loaded into."""


class MissingBackendError(SdtError, ImportError):
    """An optional framework is not installed; the message names the pip extra."""

    def __init__(self, framework: str, extra: str, reason: str | None = None) -> None:
        super().__init__(
            reason or f"{framework} is not installed. Install the extra: pip install 'sdt-neuro[{extra}]'"
        )
        self.framework = framework
        self.extra = extra
