"""Training configuration: a frozen, validated, JSON-serialisable record of a run."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from torch import nn

from sdt_neuro.data import ALLOCATIONS
from sdt_neuro.errors import ConfigError
from sdt_neuro.models import CNN_READOUTS, INITS, MLP_READOUTS, MSE_READOUTS, READOUTS, SIGNED_READOUTS, build_model
from sdt_neuro.rule import WTARule

ALGORITHMS = ("bp", "ep")
EP_ESTIMATES = ("one-sided", "symmetric")
EP_DROPOUTS = ("inverted", "mask")
EP_READOUT_TARGETS = ("softmax", "logits")
EP_READOUT_GRADS = ("free", "nudged")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("linear", "constant")
DEVICES = ("auto", "cpu", "cuda")
MODES = ("batch", "sequential")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (the rule is stored as a dict inside).

    ``lrs`` holds one learning rate per trainable layer (the last one is reused for extra
    layers). ``schedule="linear"`` decays every rate linearly, batch by batch, from 1x to
    ``final_lr_factor`` x over ``schedule_epochs`` epochs (default: ``epochs``), as in the
    paper. A preset that sets ``schedule_epochs`` keeps that horizon when ``epochs`` is cut short,
    so ``--epochs 1`` runs the first epoch of the published schedule; without it (``bp-fast``,
    ``bp-quick``, ``bp-sample``: ours) the decay spans the epochs given. ``init_gain`` is the Xavier-uniform gain of
    the initial weights (the paper's 0.5 unless a preset says otherwise).

    CNN: ``pool`` ("max" | "avg") is the pooling after each conv layer, ``hidden_dropout`` the
    dropout on the flattened features before the fc layer; ``init="torch"`` keeps PyTorch's default
    initialisation (the published CNN runs), ``"xavier"`` is Xavier-uniform with ``init_gain``;
    ``cnn_channels`` are the two conv widths and ``cnn_activation`` "relu" or "wta" (the published
    CIFAR-10 network's channel competition).
    ``probe_protocols`` names the linear-probe protocols run at the end (``sdt_neuro.probe``).

    Two departures from the paper, off by default: ``clean_target`` builds the self-defined target
    from a second forward pass without dropout (the loss still uses the dropout pass, as in
    noisy-student self-training; the paper builds both from one pass). It helps semi-supervised
    runs and collapsed the unsupervised ``bp-fast``. ``straight_through`` passes the output
    gradient through the hard-sigmoid outside [0, 1] (BP only), so an output whose
    pre-activation sank below zero can still learn when it wins. ``rate_steps`` (BP only, off by
    default) trains with the rate quantisation of a T-step spiking network: the outputs are
    rounded to multiples of ``1 / rate_steps`` in the training forward pass (identity gradient),
    what the converted network with a half-threshold start computes; evaluation stays float.

    ``ep_*`` fields set equilibrium propagation (``algorithm="ep"``): free steps T, nudged steps
    Kmax, step size dt, nudging strength beta, the estimate, and whether the sign of beta is drawn
    at random per batch (one-sided estimate). ``ep_dropout`` is ``"inverted"`` (ours: input and
    hidden dropout scaled by 1/(1-p), as in BP) or ``"mask"`` (published: a plain 0/1 mask on the
    input and every state, no rescaling); ``ep_target_smoothing`` s makes the unsupervised target
    ``(1 - s) d + s k / N`` before the output mask (published: 0.3; labels are never smoothed).
    ``ep_readout_target`` says where an EP softmax read-out takes its self-defined target:
    ``"softmax"`` (ours, the first semi-supervised EP runs: k-WTA on the probabilities minus H,
    H stepped with the hard target) or ``"logits"`` (the authors' released code: k-WTA on the
    logits minus H, H stepped with the smoothed target, i.e. at gamma (1 - s)). ``ep_readout_grad``
    says where the read-out's own gradient is taken: ``"free"`` (ours: the exact cross-entropy
    gradient at the free state) or ``"nudged"`` (the release: at the nudged hidden state, with the
    softmax of the step before the last).

    ``input_shape`` (C, H, W) of one image is set from the data when training starts (the MLP's
    ``sizes[0]`` follows it, and the rule's ``n_classes`` follows the data's classes); ``None``
    until then (an MLP then takes any ``sizes[0]`` features, a CNN 1x28x28 images).

    ``val_samples`` carves a seeded (``val_seed``), stratified validation set of that many images
    out of the training set before anything else is drawn from it: the run never trains on them,
    every epoch is scored on them (``val_*`` metrics) and the test set is scored once, after the
    last epoch. Settings are chosen on ``val_*`` figures.

    ``semi_*`` fields make the run semi-supervised (see ``training/semi.py``): ``semi_labels``
    labelled samples drawn with ``semi_split_seed`` (``None``: the run's ``seed``, so each seed
    draws its own labelled subset, as the published runs do) and shared among the classes by
    ``semi_label_split`` (``"balanced"``, or ``"proportional"`` to the classes' frequencies as the
    published runs' stratified split does), ``semi_pretrain_epochs`` supervised
    epochs, then unlabelled and labelled epochs alternate; ``semi_supervised_only`` is the ablation.
    ``semi_unlabelled_lr_factor`` scales the rates in unlabelled epochs (each holds hundreds of
    times more steps than a labelled one; full-rate self-training drifts away from the labels).

    ``procedure`` (stages of phases, as dicts; see ``training/phases.py``) replaces the epoch plan the
    fields above describe: each phase names its samples, labels, optimiser, batch size, rates,
    schedule and loss. ``readout`` is the MLP's output function: ``"hard-sigmoid"`` (the paper's
    unsupervised networks), ``"sigmoid"`` or ``"softmax"`` (the published semi-supervised BP and EP
    read-outs, trained with ``loss="cross-entropy"``; with EP the softmax layer is a read-out outside
    the relaxing network); the CNN's is ``"hard-sigmoid"`` or ``"linear"`` (no output function: the
    published CNN runs', trained with the MSE). ``ce_label_smoothing`` smooths cross-entropy targets (labels and
    self-defined alike) as ``torch.nn.functional.cross_entropy`` does.
    """

    rule: dict[str, Any]
    dataset: str = "mnist"
    input_shape: tuple[int, ...] | None = None
    arch: str = "mlp"
    sizes: tuple[int, ...] = (784, 2000)
    input_dropout: float = 0.3
    hidden_dropout: float = 0.0
    prune: float = 0.5
    init_gain: float = 0.5
    clean_target: bool = False
    straight_through: bool = False
    rate_steps: int | None = None
    algorithm: str = "bp"
    mode: str = "batch"
    optimizer: str = "sgd"
    lrs: tuple[float, ...] = (8.0,)
    batch_size: int = 16
    epochs: int = 1
    schedule: str = "linear"
    schedule_epochs: int | None = None
    final_lr_factor: float = 5e-4
    seed: int = 0
    threads: int | None = None
    device: str = "auto"
    label_fraction: float = 1.0
    probe: bool = False
    probe_protocols: tuple[str, ...] = ("ours",)
    pool: str = "max"
    cnn_channels: tuple[int, ...] = (32, 128)
    cnn_activation: str = "relu"
    init: str = "xavier"
    max_train_samples: int | None = None
    max_test_samples: int | None = None
    val_samples: int | None = None
    val_seed: int = 0
    preset: str | None = None
    ep_free_steps: int = 40
    ep_nudge_steps: int = 10
    ep_dt: float = 0.2
    ep_beta: float = 0.2
    ep_estimate: str = "one-sided"
    ep_random_sign: bool = True
    ep_dropout: str = "inverted"
    ep_target_smoothing: float = 0.0
    ep_readout_target: str = "softmax"
    ep_readout_grad: str = "free"
    semi_labels: int | None = None
    semi_split_seed: int | None = None
    semi_label_split: str = "balanced"
    semi_pretrain_epochs: int = 0
    semi_supervised_only: bool = False
    semi_unlabelled_lr_factor: float = 1.0
    procedure: tuple[dict[str, Any], ...] = ()
    readout: str = "hard-sigmoid"
    ce_label_smoothing: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))
        if self.input_shape is not None:
            object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        object.__setattr__(self, "lrs", tuple(float(v) for v in self.lrs))
        object.__setattr__(self, "probe_protocols", tuple(self.probe_protocols))
        object.__setattr__(self, "cnn_channels", tuple(int(c) for c in self.cnn_channels))
        from sdt_neuro.training.phases import Stage

        object.__setattr__(self, "procedure", tuple(Stage.from_dict(dict(st)).to_dict() for st in self.procedure))
        rule = self.wta_rule  # validates the rule
        self._check_finite()
        for name, value, allowed in (
            ("algorithm", self.algorithm, ALGORITHMS),
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("schedule", self.schedule, SCHEDULES),
            ("device", self.device, DEVICES),
            ("mode", self.mode, MODES),
            ("arch", self.arch, ("mlp", "cnn")),
            ("ep_estimate", self.ep_estimate, EP_ESTIMATES),
            ("ep_dropout", self.ep_dropout, EP_DROPOUTS),
            ("ep_readout_target", self.ep_readout_target, EP_READOUT_TARGETS),
            ("ep_readout_grad", self.ep_readout_grad, EP_READOUT_GRADS),
            ("pool", self.pool, ("max", "avg")),
            ("cnn_activation", self.cnn_activation, ("relu", "wta")),
            ("init", self.init, INITS),
            ("readout", self.readout, READOUTS),
        ):
            if value not in allowed:
                raise ConfigError(f"{name}={value!r} is not one of {allowed}")
        self._check_input_shape()
        if self.sizes[-1] != rule.n_outputs:
            raise ConfigError(
                f"the network has {self.sizes[-1]} outputs but rule.n_outputs={rule.n_outputs}"
            )
        if not self.init_gain > 0:
            raise ConfigError(f"init_gain={self.init_gain} must be > 0 (Xavier-uniform gain of the weights)")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size={self.batch_size} must be >= 1")
        if self.mode == "sequential" and self.batch_size != 1:
            raise ConfigError(f"mode='sequential' needs batch_size=1, got {self.batch_size}")
        if self.epochs < 1:
            raise ConfigError(f"epochs={self.epochs} must be >= 1")
        if self.schedule_epochs is not None and self.schedule_epochs < 1:
            raise ConfigError(f"schedule_epochs={self.schedule_epochs} must be >= 1")
        if not self.lrs or any(v <= 0 for v in self.lrs):
            raise ConfigError(f"lrs={self.lrs} must hold positive learning rates")
        if not 0 < self.final_lr_factor <= 1:
            raise ConfigError(f"final_lr_factor={self.final_lr_factor} must be in (0, 1]")
        if not 0 < self.label_fraction <= 1:
            raise ConfigError(f"label_fraction={self.label_fraction} must be in (0, 1]")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads={self.threads} must be >= 1")
        if self.algorithm == "ep":
            self._check_ep()
        self._check_readout_fields()
        from sdt_neuro.probe import probe_protocol

        for name in self.probe_protocols:
            probe_protocol(name)  # refuses unknown names
        if self.straight_through and self.algorithm != "bp":
            raise ConfigError("straight_through=True needs algorithm='bp' (EP has no output gradient)")
        if self.rate_steps is not None and (self.algorithm != "bp" or int(self.rate_steps) != self.rate_steps
                                            or self.rate_steps < 1):
            raise ConfigError(f"rate_steps={self.rate_steps} must be an integer >= 1 and needs algorithm='bp'")
        if self.semi_labels is not None and self.semi_labels < 1:  # one a class: checked against the data
            raise ConfigError(f"semi_labels={self.semi_labels} must be >= 1 (one labelled image a class at least)")
        if self.semi_labels is not None and self.label_fraction != 1.0:
            raise ConfigError(f"label_fraction={self.label_fraction} has no effect on a semi-supervised run: its "
                              f"semi_labels={self.semi_labels} labelled images assign the neurons (change "
                              f"semi_labels instead, or score another fraction with sdt-neuro evaluate "
                              f"--label-fraction)")
        if self.semi_label_split not in ALLOCATIONS:
            raise ConfigError(f"semi_label_split={self.semi_label_split!r} must be one of {ALLOCATIONS}")
        if self.semi_pretrain_epochs < 0:
            raise ConfigError(f"semi_pretrain_epochs={self.semi_pretrain_epochs} must be >= 0")
        if not 0 < self.semi_unlabelled_lr_factor <= 1:
            raise ConfigError(
                f"semi_unlabelled_lr_factor={self.semi_unlabelled_lr_factor} must be in (0, 1]")
        if self.val_samples is not None and self.val_samples < 1:  # one a class: checked against the data
            raise ConfigError(f"val_samples={self.val_samples} must be >= 1 (at least one validation image per "
                              "class), or unset for no validation split")
        for name in ("max_train_samples", "max_test_samples"):
            value = getattr(self, name)
            if value is not None and value < 10:
                raise ConfigError(f"{name}={value} must be >= 10 (or unset for the whole split)")
        self._check_procedure()

    def _check_finite(self) -> None:
        """Refuse NaN and inf in any number field (``v <= 0`` and the like let NaN through; a NaN rate
        would only show later as a diverged run)."""
        for f in fields(self):
            value = getattr(self, f.name)
            numbers = value if isinstance(value, tuple) else (value,)
            if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
                raise ConfigError(f"{f.name}={value} must be finite (got NaN or inf)")

    def _check_input_shape(self) -> None:
        shape = self.input_shape
        if shape is None:  # set from the data when training starts
            return
        if len(shape) != 3 or min(shape) < 1:
            raise ConfigError(f"input_shape={list(shape)} must be (channels, height, width), all >= 1")
        if self.arch == "mlp" and self.sizes[0] != shape[0] * shape[1] * shape[2]:
            raise ConfigError(f"sizes[0]={self.sizes[0]} must equal the {shape[0]}x{shape[1]}x{shape[2]} = "
                              f"{shape[0] * shape[1] * shape[2]} input values of input_shape={list(shape)}")
        if self.arch == "cnn" and shape[1] != shape[2]:
            raise ConfigError(f"arch='cnn' needs square images, got input_shape={list(shape)}")

    def _check_procedure(self) -> None:
        """Phases, read-out and losses that fit together and with the learner."""
        from sdt_neuro.training.phases import run_phases, total_epochs

        if self.procedure and self.epochs > total_epochs(self.procedure):
            raise ConfigError(f"epochs={self.epochs} but the procedure holds {total_epochs(self.procedure)} epochs")
        offered = MLP_READOUTS if self.arch == "mlp" else CNN_READOUTS
        if self.readout not in offered:
            raise ConfigError(f"readout={self.readout!r} is not an output of arch={self.arch!r} "
                              f"(its read-outs: {offered})")
        if self.readout == "linear" and (self.straight_through or self.rate_steps is not None):
            raise ConfigError("straight_through and rate_steps act on a clamped output (rates in [0, 1]); "
                              "readout='linear' has none")
        if not 0 <= self.ce_label_smoothing < 1:
            raise ConfigError(f"ce_label_smoothing={self.ce_label_smoothing} must be in [0, 1)")
        slots: dict[str, str] = {}  # optimiser slot -> its kind: one optimiser per slot
        for phase in run_phases(self):
            where = f"phase {phase.name!r}"
            kind = phase.optimizer_kind or self.optimizer
            if self.mode == "sequential" and phase.batch_size not in (None, 1):
                raise ConfigError(f"{where}: mode='sequential' needs batches of 1, got "
                                  f"batch_size={phase.batch_size}")
            if slots.setdefault(phase.optimizer, kind) != kind:
                raise ConfigError(f"{where}: optimiser slot {phase.optimizer!r} is a {slots[phase.optimizer]!r} "
                                  f"optimiser in an earlier phase, here {kind!r}; name another slot")
            if phase.optimizer == "main" and kind != self.optimizer:
                raise ConfigError(f"{where}: the 'main' optimiser is the run's {self.optimizer!r}; name "
                                  f"another slot for a {kind!r} optimiser")
            if phase.pool != "all" and self.semi_labels is None:
                raise ConfigError(f"{where} trains on the {phase.pool} pool: set semi_labels")
            if phase.loss == "cross-entropy" and self.readout in MSE_READOUTS:
                raise ConfigError(f"{where}: loss='cross-entropy' needs readout='sigmoid' or 'softmax'")
            if phase.loss == "output-cross-entropy" and (self.readout != "sigmoid" or self.algorithm != "bp"):
                raise ConfigError(f"{where}: loss='output-cross-entropy' needs BP with readout='sigmoid', got "
                                  f"algorithm={self.algorithm!r}, readout={self.readout!r}")
            if phase.loss != "mse" and self.wta_rule.dropout > 0:
                raise ConfigError(f"{where}: loss={phase.loss!r} takes no output dropout (the published "
                                  f"read-outs have none), got rule dropout={self.wta_rule.dropout}")
            if self.algorithm == "ep" and self.readout == "softmax" and phase.loss != "cross-entropy":
                raise ConfigError(f"{where}: EP with a softmax read-out learns with loss='cross-entropy'")
            if self.algorithm == "ep" and self.readout != "softmax" and kind != "sgd":
                raise ConfigError(f"{where}: EP updates its weights itself (plain SGD) unless it has a "
                                  f"softmax read-out; got optimizer {kind!r}")

    def _check_ep(self) -> None:
        if self.readout == "sigmoid":
            raise ConfigError("algorithm='ep' takes readout='hard-sigmoid' (the output relaxes with the "
                              "network) or 'softmax' (a read-out outside it)")
        if self.readout == "softmax" and len(self.sizes) != 3:
            raise ConfigError(f"EP with a softmax read-out needs one hidden layer (sizes [in, hidden, "
                              f"classes]), got sizes={list(self.sizes)}")
        if self.arch != "mlp" or (self.optimizer != "sgd" and self.readout != "softmax"):
            raise ConfigError(f"algorithm='ep' needs arch='mlp' and optimizer='sgd' (Adam only with "
                              f"readout='softmax'), got arch={self.arch!r}, optimizer={self.optimizer!r}")
        for name in ("ep_free_steps", "ep_nudge_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 1")
        if not 0 < self.ep_dt <= 1:
            raise ConfigError(f"ep_dt={self.ep_dt} must be in (0, 1]")
        if not 0 < self.ep_beta < 1:
            raise ConfigError(f"ep_beta={self.ep_beta} must be in (0, 1)")
        if not 0 <= self.ep_target_smoothing < 1:
            raise ConfigError(f"ep_target_smoothing={self.ep_target_smoothing} must be in [0, 1)")

    def _check_readout_fields(self) -> None:
        """The EP read-out's fields mean something only there; the release's H step needs T = k / N."""
        changed = [f"{name}={getattr(self, name)!r}" for name, default in
                   (("ep_readout_target", "softmax"), ("ep_readout_grad", "free")) if getattr(self, name) != default]
        if not changed:
            return
        if self.algorithm != "ep" or self.readout != "softmax":
            raise ConfigError(f"{', '.join(changed)} applies to algorithm='ep' with readout='softmax' only")
        rule = self.wta_rule
        if self.ep_readout_target == "logits" and abs(rule.set_point - rule.k / rule.n_outputs) > 1e-12:
            raise ConfigError("ep_readout_target='logits' steps H with the smoothed target as the release does, "
                              f"which needs the set point k / N = {rule.k / rule.n_outputs:g}; got "
                              f"target_activity={rule.target_activity}")

    @property
    def wta_rule(self) -> WTARule:
        return WTARule.from_dict(self.rule)

    @property
    def signed_output(self) -> bool:
        """Whether the network's output takes negative values (the evaluation then has no silence)."""
        return self.readout in SIGNED_READOUTS

    def build_model(self) -> nn.Module:
        """The untrained network these fields describe (seed torch first for repeatable weights)."""
        return build_model(self.arch, self.sizes, self.input_dropout, self.hidden_dropout, self.prune,
                           self.init_gain, self.straight_through, self.pool, self.init,
                           self.input_shape or (1, 28, 28), self.cnn_channels, self.cnn_activation,
                           self.readout)

    def lr_for_layer(self, i: int) -> float:
        return self.lrs[min(i, len(self.lrs) - 1)]

    def replace(self, **changes: Any) -> TrainConfig:
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sizes"], d["lrs"], d["probe_protocols"] = list(self.sizes), list(self.lrs), list(self.probe_protocols)
        d["input_shape"] = None if self.input_shape is None else list(self.input_shape)
        d["cnn_channels"] = list(self.cnn_channels)
        d["procedure"] = [dict(st) for st in self.procedure]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s) {unknown}; allowed: {sorted(known)}")
        return cls(**data)
