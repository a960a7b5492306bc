"""snnTorch backend: rate-coded spiking networks trained with the rule, and converted ANNs.

``from sdt_neuro.backends import snntorch_head`` is the entry point. It follows snnTorch's
conventions: ``snn.Leaky`` integrate-and-fire neurons (``beta=1``, subtractive reset) in
``init_hidden`` style inside an ``nn.Sequential`` called once per time step, time-first tensors
``[T, batch, ...]`` (the primitives live in :mod:`~sdt_neuro.backends.snntorch_sim`).

The rule acts on the output population's rates ``y = counts / T``: the k-WTA target ``d`` is built
on ``y - H``, homeostasis updates ``H``, and ``mean((m y - d)^2)`` is minimised by backpropagation
through time with a surrogate gradient. Driven by a constant current ``a``, an IF rate equals
``clamp(a, 0, 1)`` within 1/T, the ANN reference's hard-sigmoid, so a checkpoint trained either
way runs on either, and a trained ANN converts to snnTorch (and NIR) directly.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sdt_neuro.backends.snntorch_sim import (
    DEFAULT_SLOPE,
    EVAL_BATCH,
    SpikeFunction,
    batched_rates,
    check_steps_encoding,
    counts_and_membrane,
    encode,
    from_mlp,
    from_spec,
    if_neuron,
    reset_states,
    spike_counts,
    spike_train,
)
from sdt_neuro.convert import (
    SpikingLayer,
    SpikingNetwork,
    check_rates,
    checkpoint_network,
    evaluation_steps,
    network_from_options,
)
from sdt_neuro.errors import CheckpointError, ConfigError, ShapeError
from sdt_neuro.models import MLP, init_weights
from sdt_neuro.rule import WTARule
from sdt_neuro.training.config import TrainConfig
from sdt_neuro.training.homeostasis import HomeostasisState
from sdt_neuro.training.masks import output_dropout_mask

__all__ = [
    "ConvertedNetwork", "SpikeFunction", "SpikingLearner", "batched_rates", "convert_checkpoint", "counts_and_membrane",
    "encode",
    "evaluation_activity", "from_mlp", "from_spec", "if_neuron", "learner_for_config", "load_converted",
    "reset_states", "save_converted", "spec_for_model", "spike_counts", "spike_train", "wta_head",
]

DEFAULT_TRAIN_STEPS = 16
FILE_FORMAT = "sdt-neuro-snntorch"


def wta_head(in_features: int, rule: WTARule | int, slope: float = DEFAULT_SLOPE) -> nn.Sequential:
    """The rule's output population for any feature extractor: ``Linear(in, N)`` + IF neurons.

    Weights start Xavier-uniform (gain 0.5), biases at zero, as in the paper. Append it to a
    user's ``nn.Sequential`` of snnTorch layers and train the whole thing with
    :class:`SpikingLearner`.
    """
    n_outputs = rule.n_outputs if isinstance(rule, WTARule) else int(rule)
    if in_features < 1 or n_outputs < 2:
        raise ConfigError(f"wta_head needs in_features >= 1 and >= 2 outputs, got {in_features}, {n_outputs}")
    linear = nn.Linear(in_features, n_outputs)
    init_weights(linear)
    return nn.Sequential(linear, if_neuron(1.0, slope))



# ----------------------------------------------------------------------------- training with the rule


class SpikingLearner:
    """Trains a spiking network end to end with the rule by BPTT on its output spike rates.

    One step (batch of B, N outputs): ``y = counts / T``; ``m ~ Bernoulli(1 - p)``; ``y <- m y``;
    ``d = m * k_hot(top_k(y - H))``; ``H <- H + gamma (mean_batch(d) - T_set)``;
    ``loss = mean((y - d)^2)``; backward through the T steps; optimiser step.

    ``network`` is any module called once per time step that returns output spikes (an
    ``nn.Sequential`` of snnTorch layers ending in :func:`wta_head`, for instance). ``model``
    is what a checkpoint stores (the network itself unless given, e.g. the MLP that
    :func:`from_mlp` shares its layers with). The attributes match ``training.loop.Learner``.
    """

    backend = "snntorch"

    def __init__(self, network: nn.Module, rule: WTARule, steps: int, optimizer: torch.optim.Optimizer,
                 encoding: str = "current", device: torch.device | str = "cpu", sequential: bool = False,
                 model: nn.Module | None = None) -> None:
        check_steps_encoding(steps, encoding)
        self.network = network
        self.model = model if model is not None else network
        self.rule = rule
        self.steps = steps
        self.encoding = encoding
        self.optimizer = optimizer
        self.device = torch.device(device)
        self.sequential = sequential
        self.state = HomeostasisState(rule, self.device)

    def rates(self, x: torch.Tensor) -> torch.Tensor:
        """Output spike rates ``counts / T`` [batch, N] (differentiable) of inputs in [0, 1]."""
        if x.numel():
            low, high = torch.stack(torch.aminmax(x.detach())).tolist()  # one pass, one device sync
            if not (low >= 0 and high <= 1):  # NaN fails both (its gradients would be NaN)
                check_rates(x.detach().float().cpu().numpy())  # names what is wrong
        rates = spike_counts(self.network, x, self.steps, self.encoding) / self.steps
        if rates.dim() != 2 or rates.shape[1] != self.rule.n_outputs:
            raise ShapeError(f"the network's output is {tuple(rates.shape)}, the rule expects "
                             f"[batch, {self.rule.n_outputs}]")
        return rates

    def target(self, y: torch.Tensor, mask: torch.Tensor | None, labels: torch.Tensor | None) -> torch.Tensor:
        """Self-defined target (label target when ``labels`` are given)."""
        return self.state.target(y, mask, labels, sequential=self.sequential)

    def train_step(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """One batch; returns the loss (0-d tensor)."""
        self.network.train()
        y = self.rates(x.to(self.device))
        mask = output_dropout_mask(y.shape, self.rule.dropout, y.device)
        if mask is not None:
            y = y * mask
        loss = nn.functional.mse_loss(y, self.target(y, mask, labels))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    @torch.no_grad()
    def activity(self, x: torch.Tensor) -> torch.Tensor:
        """Output rates in eval mode (no dropout)."""
        self.network.eval()
        return self.rates(x.to(self.device))


def learner_for_config(config: TrainConfig, device: torch.device) -> SpikingLearner:
    """The loop's learner factory: seeded MLP (same initial weights as the ANN run), its
    spiking twin and the ANN's per-layer SGD/Adam optimiser; T and encoding from ``config.extra``."""
    from sdt_neuro.training.phases import layer_optimizer

    if config.arch != "mlp":
        raise ConfigError(f"the snnTorch backend trains arch='mlp' only, got arch={config.arch!r}")
    if config.readout != "hard-sigmoid":
        raise ConfigError(f"the snnTorch backend's spiking output is a rate (the hard-sigmoid read-out); "
                          f"readout={config.readout!r} with cross-entropy trains with the ANN backend "
                          "(or use a semi-*-ours preset)")
    extra = config.extra
    torch.manual_seed(config.seed)
    model = config.build_model().to(device)
    network = from_mlp(model, extra.get("slope", DEFAULT_SLOPE)).to(device)
    return SpikingLearner(network, config.wta_rule, int(extra.get("steps", DEFAULT_TRAIN_STEPS)),
                          layer_optimizer(model, config), extra.get("encoding", "current"), device,
                          sequential=config.mode == "sequential", model=model)


# ----------------------------------------------------------------------------- conversion


@dataclass
class ConvertedNetwork:
    """A rate-coded snnTorch network built from a checkpoint (or NIR file), ready to run."""

    network: nn.Sequential
    spec: SpikingNetwork
    steps: int
    encoding: str = "current"

    def rates(self, x: torch.Tensor, batch: int = EVAL_BATCH, seed: int | None = 0,
              progress: bool = False) -> torch.Tensor:
        """Read-out rates [n, N] (``counts / T``, or the membrane read-out of ``spec.readout``) for
        images ``x`` [n, ...], batched, without gradient.

        Bernoulli input draws from torch's generator seeded with ``seed`` (global state untouched).
        """
        return batched_rates(self.network, x, self.steps, self.encoding, batch, seed, progress, self.spec)

    def to(self, device: torch.device | str) -> ConvertedNetwork:
        self.network.to(device)
        return self


def spec_for_model(config: TrainConfig, model: MLP, calibration: torch.Tensor | None = None,
                   percentile: float = 99.9, data_root: str | os.PathLike | None = None) -> SpikingNetwork:
    """NumPy description of a checkpoint's network: :func:`sdt_neuro.convert.checkpoint_network`
    (the same network Lava and NIR export use)."""
    return checkpoint_network(config, model, calibration, percentile, data_root)


def convert_checkpoint(path: str | os.PathLike, steps: int | None = None, encoding: str | None = None,
                       data_root: str | os.PathLike | None = None, percentile: float = 99.9,
                       calibration: torch.Tensor | None = None,
                       device: torch.device | str = "cpu", reset: str = "subtract",
                       readout: str = "count") -> ConvertedNetwork:
    """Rate-coded snnTorch network from a checkpoint (file or run directory) or a NIR file.

    Hidden ReLU layers of an ANN are scaled by the ``percentile`` of their activations on
    ``calibration`` images (default: the first 1000 training images, from ``data_root`` or the
    usual data-root route); see :func:`sdt_neuro.convert.checkpoint_network`. ``reset``
    (``"subtract"`` or ``"zero"``) is the neurons' reset and ``readout`` (``"count"`` or
    ``"membrane"``) how the output is read; a NIR file brings its own, and its ``time_steps`` and
    ``encoding`` where ``steps`` and ``encoding`` are not given (else 32 steps of current input).
    """
    from sdt_neuro.training.checkpoint import load_trained_model

    nir_file, meta = str(path).endswith(".nir"), {}
    if nir_file:
        from sdt_neuro.backends import nir_io

        spec, meta = nir_io.read_nir(path)
    if steps is None:
        saved = np.asarray(meta.get("time_steps", 32))
        if saved.ndim or saved.dtype.kind not in "iu":
            raise ConfigError(f"{path}: the metadata's time_steps={meta['time_steps']!r} is not a whole number; "
                              "give steps")
        steps = int(saved)
    encoding = meta.get("encoding", "current") if encoding is None else encoding
    try:
        check_steps_encoding(steps, encoding)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if nir_file else str(exc)) from exc
    if not nir_file:
        config, model, _ = load_trained_model(path)
        spec = checkpoint_network(config, model, calibration, percentile, data_root, reset=reset, readout=readout)
    return ConvertedNetwork(from_spec(spec, device=device), spec, steps, encoding)


def save_converted(conv: ConvertedNetwork, path: str | os.PathLike) -> Path:
    """Write a converted network (plain tensors and data; ``torch.load(weights_only=True)``)."""
    from sdt_neuro.training.checkpoint import save_checkpoint

    spec = conv.spec
    payload = {
        "format": FILE_FORMAT, "steps": conv.steps, "encoding": conv.encoding,
        "weights": [torch.as_tensor(np.asarray(lay.weight)) for lay in spec.layers],
        "biases": [torch.as_tensor(np.asarray(lay.bias)) for lay in spec.layers],
        "thresholds": [float(lay.threshold) for lay in spec.layers],
        "scales": list(spec.scales), "rule_json": json.dumps(spec.rule), "meta_json": json.dumps(spec.meta),
        "v_init": float(spec.v_init), "reset": spec.reset, "readout": spec.readout,
    }
    path = save_checkpoint(path, payload)
    return path


def load_converted(path: str | os.PathLike, device: torch.device | str = "cpu") -> ConvertedNetwork:
    """Read a file written by :func:`save_converted` / ``sdt-neuro convert --to snntorch``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"converted network {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged files
        raise CheckpointError(f"{path} is corrupt or not a converted network ({type(exc).__name__})") from exc
    if not isinstance(data, dict) or data.get("format") != FILE_FORMAT:
        raise CheckpointError(f"{path} is not a converted snnTorch network (format {FILE_FORMAT!r} expected)")
    layers = tuple(SpikingLayer(w.numpy(), b.numpy(), t)
                   for w, b, t in zip(data["weights"], data["biases"], data["thresholds"]))
    spec = SpikingNetwork(layers, json.loads(data["rule_json"]), tuple(data["scales"]), json.loads(data["meta_json"]),
                          float(data.get("v_init", 0.0)), str(data.get("reset", "subtract")),
                          str(data.get("readout", "count")))
    return ConvertedNetwork(from_spec(spec, device=device), spec, int(data["steps"]), data["encoding"])


# ----------------------------------------------------------------------------- shared evaluation


def evaluation_activity(config: TrainConfig, model: nn.Module, x: torch.Tensor,
                        options: dict[str, Any]) -> np.ndarray:
    """Spike rates [n, N_out] (float32, the ANN's scale) of a checkpoint's network on images ``x``.

    ``options``: ``steps`` (T, default the training T or 32), ``encoding`` ("current" |
    "bernoulli"), ``seed``, ``batch``, ``device``, ``data_root`` (calibration images for an
    ANN with hidden layers), ``percentile``, ``v_init`` (membranes start at that fraction of the
    threshold), ``output_scale``, ``reset``, ``readout`` ("count" | "membrane"), ``progress``.
    """
    if not isinstance(model, MLP):
        raise ConfigError(f"the snnTorch backend evaluates arch='mlp' checkpoints, got arch={config.arch!r}")
    steps = evaluation_steps(config, options.get("steps"))
    encoding = options.get("encoding") or "current"
    check_steps_encoding(steps, encoding)
    spec = network_from_options(config, model, options)
    device = options.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    network = from_spec(spec, device=device)
    progress = options.get("progress", sys.stderr.isatty())
    rates = batched_rates(network, x, steps, encoding, int(options.get("batch") or EVAL_BATCH),
                          int(options.get("seed", 0)), progress, spec)
    return (rates.numpy() * spec.scales[-1]).astype(np.float32)  # on the ANN's scale


# ----------------------------------------------------------------------------- CLI


def train_command(config: TrainConfig, args: Any) -> int:
    """``sdt-neuro train --backend snntorch --steps T``: the shared loop with a spiking learner."""
    from sdt_neuro.records import epoch_line, written
    from sdt_neuro.training.loop import train

    out = Path(args.out)
    saved = _saved_extra(out) if getattr(args, "resume", False) else {}
    steps = args.steps if args.steps is not None else saved.get("steps", DEFAULT_TRAIN_STEPS)
    encoding = getattr(args, "encoding", None) or saved.get("encoding", "current")
    check_steps_encoding(steps, encoding)
    extra = {**config.extra, "backend": "snntorch", "steps": int(steps), "encoding": encoding,
             "slope": saved.get("slope", DEFAULT_SLOPE)}
    config = config.replace(extra=extra)
    result = train(config, out_dir=out, resume=args.resume, data_root=args.data_root,
                   progress=False if args.no_progress else None, learner_factory=learner_for_config,
                   overwrite=getattr(args, "overwrite", False))
    for m in result.metrics:
        print(epoch_line(m, f"  (snnTorch, T={steps}, {encoding})"))
    print(f"wrote {written(out)}")
    return 0


def _saved_extra(out: Path) -> dict[str, Any]:
    from sdt_neuro.training.checkpoint import load_checkpoint

    return dict(load_checkpoint(out / "checkpoint.pt")["config"].get("extra") or {})


def convert_command(args: Any) -> int:
    """``sdt-neuro convert CHECKPOINT --to snntorch [PATH] | --to nir FILE --steps T``."""
    t0 = time.perf_counter()
    if args.target == "nir" and getattr(args, "readout", None) == "membrane":
        raise ConfigError("--readout membrane needs subtractive reset, which nir.IF (reset to v_reset) cannot say, "
                          "so other NIR readers would run another network; export the count read-out to NIR, or "
                          "write a file only sdt-neuro reads with nir_io.write_nir(..., subtract_in_metadata=True)")
    if args.target == "nir" and not args.path:  # before any work (conversion may load calibration images)
        raise ConfigError("--to nir needs an output file: sdt-neuro convert CHECKPOINT --to nir FILE.nir")
    conv = convert_checkpoint(args.checkpoint, steps=args.steps, encoding=args.encoding,
                              data_root=args.data_root,
                              reset=getattr(args, "reset", None) or ("zero" if args.target == "nir" else "subtract"),
                              readout=getattr(args, "readout", None) or "count")
    if args.target == "nir":
        from sdt_neuro.backends import nir_io

        path = nir_io.write_nir(conv.spec, args.path, steps=conv.steps, encoding=conv.encoding)
    else:
        default = Path(args.checkpoint)
        default = (default if default.is_dir() else default.parent) / f"snntorch-T{conv.steps}.pt"
        path = save_converted(conv, args.path or default)
    sizes = "-".join(str(s) for s in conv.spec.sizes)
    scales = ", ".join(f"{s:.3g}" for s in conv.spec.scales)
    print(f"converted {sizes} network (T={conv.steps}, {conv.encoding} input, {conv.spec.reset} reset, "
          f"{conv.spec.readout} read-out, "
          f"layer scales {scales}) "
          f"to {args.target}: wrote {path} in {time.perf_counter() - t0:.1f} s")
    return 0
