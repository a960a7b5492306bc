"""The learning-rule spec: k-WTA self-defined target plus homeostasis, as frozen data.

This module is the one source of truth every trainer and backend consumes. It imports only the
standard library. Construction validates every field; ``to_dict``/``from_dict`` and
``to_json``/``from_json`` round-trip exactly and reject unknown fields.

The rule (Liu et al. 2024, arXiv 2403.12116), for output ``y`` of ``n_outputs`` neurons::

    m ~ Bernoulli(1 - dropout)             # output dropout mask, no 1/(1-p) rescaling
    y <- m * y
    d = k_hot(top_k(y - H)) * m            # self-defined target
    H <- H + gamma * (mean_batch(d) - T)   # batch mode, T = target_activity
    A <- (1 - eta) A + eta d;  H <- H + gamma * (A - T)   # sequential mode (batch 1)
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from sdt_neuro.errors import ConfigError

RESET_POLICIES = ("epoch", "never")
LABEL_MAPPINGS = ("one_per_class", "block")


@dataclass(frozen=True)
class WTARule:
    """Self-defined target by k-Winner-Take-All with homeostasis.

    Attributes:
        n_outputs: number of output neurons N.
        k: winners per sample, 1 <= k < N.
        gamma: homeostasis rate, >= 0 (0 disables homeostasis).
        dropout: output-dropout probability p in [0, 1).
        eta: sequential-mode averaging rate for the win average A, in (0, 1].
        target_activity: homeostasis set point T; ``None`` means (1 - p) k / N.
        homeostasis_reset: ``"epoch"`` (reset H and A at each epoch start, as published) or
            ``"never"``.
        n_classes: number of classes for labelled targets.
        label_mapping: ``"one_per_class"`` (neuron c is class c; needs N == n_classes) or
            ``"block"`` (class c owns neurons [c * N // n_classes, (c + 1) * N // n_classes)).
    """

    n_outputs: int
    k: int = 1
    gamma: float = 0.0
    dropout: float = 0.0
    eta: float = 0.01
    target_activity: float | None = None
    homeostasis_reset: str = "epoch"
    n_classes: int = 10
    label_mapping: str = "block"

    def __post_init__(self) -> None:
        _check_int("n_outputs", self.n_outputs, low=2)
        _check_int("k", self.k, low=1)
        if self.k >= self.n_outputs:
            raise ConfigError(
                f"k={self.k} must be smaller than n_outputs={self.n_outputs} (allowed: 1 <= k < N)"
            )
        _check_float("gamma", self.gamma, "gamma >= 0", lambda v: v >= 0)
        _check_float("dropout", self.dropout, "0 <= dropout < 1", lambda v: 0 <= v < 1)
        _check_float("eta", self.eta, "0 < eta <= 1", lambda v: 0 < v <= 1)
        if self.target_activity is not None:
            _check_float(
                "target_activity", self.target_activity, "0 <= target_activity <= 1",
                lambda v: 0 <= v <= 1,
            )
        if self.homeostasis_reset not in RESET_POLICIES:
            raise ConfigError(
                f"homeostasis_reset={self.homeostasis_reset!r} is not one of {RESET_POLICIES}"
            )
        _check_int("n_classes", self.n_classes, low=2)
        if self.label_mapping not in LABEL_MAPPINGS:
            raise ConfigError(f"label_mapping={self.label_mapping!r} is not one of {LABEL_MAPPINGS}")
        if self.label_mapping == "one_per_class" and self.n_outputs != self.n_classes:
            raise ConfigError(
                f"label_mapping='one_per_class' needs n_outputs == n_classes, got "
                f"n_outputs={self.n_outputs}, n_classes={self.n_classes}"
            )
        if self.label_mapping == "block" and self.n_outputs < self.n_classes:
            raise ConfigError(
                f"label_mapping='block' needs n_outputs >= n_classes, got "
                f"n_outputs={self.n_outputs}, n_classes={self.n_classes}"
            )

    @property
    def set_point(self) -> float:
        """Homeostasis set point T: ``target_activity`` or (1 - p) k / N."""
        if self.target_activity is not None:
            return self.target_activity
        return (1.0 - self.dropout) * self.k / self.n_outputs

    def class_block(self, label: int) -> tuple[int, int]:
        """Half-open range of output neurons that a labelled sample of ``label`` targets."""
        if not 0 <= label < self.n_classes:
            raise ConfigError(f"label={label} outside [0, {self.n_classes})")
        if self.label_mapping == "one_per_class":
            return label, label + 1
        size = self.n_outputs // self.n_classes
        return label * size, (label + 1) * size

    def replace(self, **changes: Any) -> WTARule:
        """A copy with some fields changed (validated again)."""
        return WTARule.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WTARule:
        """Build from a dict; unknown fields raise ConfigError naming them."""
        if not isinstance(data, dict):
            raise ConfigError(f"a rule must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown rule field(s) {unknown}; allowed fields: {sorted(known)}")
        if "n_outputs" not in data:
            raise ConfigError("rule field 'n_outputs' is required")
        return cls(**data)

    def to_json(self) -> str:
        """JSON text of ``to_dict``."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WTARule:
        """Parse JSON text written by ``to_json``."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"rule JSON is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}={value!r} must be an integer >= {low}")
    if value < low:
        raise ConfigError(f"{name}={value} must be >= {low}")


def _check_float(name: str, value: Any, allowed: str, ok: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name}={value!r} must be a number ({allowed})")
    if not math.isfinite(value) or not ok(value):
        raise ConfigError(f"{name}={value} is out of range (allowed: {allowed})")
