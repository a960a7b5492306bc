"""snnTorch simulation primitives: integrate-and-fire populations and the time loop.

Every neuron is integrate-and-fire, ``snn.Leaky(beta=1.0, threshold=theta, reset_mechanism="subtract")``
in ``init_hidden`` style, inside an ``nn.Sequential`` called once per time step::

    v[t] = v[t-1] - theta s[t-1] + I[t];   s[t] = 1[v[t] >= theta]

(snnTorch keeps ``v`` before the reset and subtracts it one step later, which gives the same spikes
as resetting at once). With ``reset="zero"`` (``reset_mechanism="zero"``):
``v[t] = (1 - s[t-1]) v[t-1] + I[t]``, ``s[t] = 1[v[t] > theta]``.
Tensors are time-first ``[T, batch, ...]``. Users import these through
:mod:`sdt_neuro.backends.snntorch_head`; snnTorch itself is imported where it is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from sdt_neuro.convert import RESETS, SpikingNetwork, check_rates, check_steps_encoding, output_rates
from sdt_neuro.errors import ConfigError, MissingBackendError, ShapeError
from sdt_neuro.models import MLP

DEFAULT_SLOPE = 3.0
EVAL_BATCH = 1000

def _snntorch() -> Any:
    """The ``snntorch`` module, or :class:`MissingBackendError` naming the pip extra."""
    try:
        import snntorch
        from snntorch import spikegen  # noqa: F401  (submodule used through the package)
    except ImportError as exc:
        raise MissingBackendError("snntorch", "snntorch") from exc
    return snntorch


class _HeavisideGeq(torch.autograd.Function):
    """Forward ``1[x >= 0]`` (``1[x > 0]`` when ``strict``); backward the fast-sigmoid surrogate
    ``1 / (slope |x| + 1)^2``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, slope: float, strict: bool = False) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return ((x > 0) if strict else (x >= 0)).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad / (ctx.slope * x.abs() + 1.0) ** 2, None, None


class SpikeFunction:
    """snnTorch ``spike_grad`` that fires at ``v >= threshold`` (the NumPy oracle's convention for
    subtractive reset; ``strict=True``: at ``v > threshold``, as snnTorch's own surrogates and Lava's
    LIF do) with a fast-sigmoid surrogate gradient."""

    def __init__(self, slope: float = DEFAULT_SLOPE, strict: bool = False) -> None:
        if not slope > 0:
            raise ConfigError(f"surrogate slope={slope} must be > 0")
        self.slope = float(slope)
        self.strict = bool(strict)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _HeavisideGeq.apply(x, self.slope, self.strict)

    def __repr__(self) -> str:
        return f"SpikeFunction(slope={self.slope}{', strict=True' if self.strict else ''})"


def if_neuron(threshold: float = 1.0, slope: float = DEFAULT_SLOPE, v_init: float = 0.0,
              reset: str = "subtract") -> nn.Module:
    """Integrate-and-fire population: ``snn.Leaky(beta=1, init_hidden=True)``.

    ``reset="subtract"``: spike at ``v >= theta``, ``v -= theta``; ``"zero"``: spike at
    ``v > theta``, ``v = 0`` (snnTorch's ``reset_mechanism="zero"``, Lava's LIF). ``v_init`` starts
    the membrane at that fraction of the threshold after every :func:`reset_states` (snnTorch
    zeroes the membrane at a new input shape, so the offset is added to the first step's input
    instead: the same voltage).
    """
    if reset not in RESETS:
        raise ConfigError(f"reset={reset!r} is not one of {RESETS}")
    snn = _snntorch()
    neuron = snn.Leaky(beta=1.0, threshold=float(threshold), spike_grad=SpikeFunction(slope, reset == "zero"),
                       init_hidden=True, reset_mechanism=reset)
    if v_init:
        neuron.v_init_offset = float(v_init) * float(threshold)
        neuron.fresh = True

        def first_step_offset(module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...] | None:
            if not module.fresh:
                return None
            module.fresh = False
            return (args[0] + module.v_init_offset, *args[1:])

        neuron.register_forward_pre_hook(first_step_offset)
    return neuron


def from_mlp(model: MLP, slope: float = DEFAULT_SLOPE) -> nn.Sequential:
    """Spiking twin of a reference :class:`MLP` that shares its ``nn.Linear`` layers (and dropouts).

    Training the twin trains the MLP's weights, so checkpoints keep the ANN format.
    """
    if not isinstance(model, MLP):
        raise ConfigError(f"the snnTorch backend trains the MLP reference network, got {type(model).__name__}")
    mods: list[nn.Module] = [model.input_dropout]
    for i, layer in enumerate(model.layers):
        mods += [layer, if_neuron(1.0, slope)]
        if i < len(model.layers) - 1:
            mods.append(model.hidden_dropout)
    return nn.Sequential(*mods)


def from_spec(spec: SpikingNetwork, dtype: torch.dtype = torch.float32,
              device: torch.device | str = "cpu") -> nn.Sequential:
    """snnTorch network of a converted :class:`SpikingNetwork`: ``Flatten``, then ``Linear`` + IF
    per layer. Biases are constant currents added at every step (``nn.Linear``'s bias).
    """
    mods: list[nn.Module] = [nn.Flatten()]
    for layer in spec.layers:  # built in ``dtype``: float64 weights are not rounded through float32
        linear = nn.Linear(layer.weight.shape[1], layer.weight.shape[0], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(np.asarray(layer.weight)))
            linear.bias.copy_(torch.as_tensor(np.asarray(layer.bias)))
        mods += [linear, if_neuron(layer.threshold, v_init=spec.v_init, reset=spec.reset)]
    network = nn.Sequential(*mods).to(device=device, dtype=dtype).eval()
    neurons = [m for m in network if not isinstance(m, (nn.Flatten, nn.Linear))]
    for neuron, layer in zip(neurons, spec.layers):  # snnTorch keeps the threshold in float32: set it in dtype
        neuron.threshold.fill_(float(layer.threshold))
    return network


def reset_states(network: nn.Module) -> None:
    """Zero the membrane of every snnTorch neuron in ``network`` (and only there).

    ``snntorch.utils.reset`` would reset every neuron of the class in every network (1.0.0).
    """
    snn = _snntorch()
    for module in network.modules():
        if isinstance(module, snn.SpikingNeuron):
            if not hasattr(module, "reset_mem"):
                raise ConfigError(f"cannot reset the state of {type(module).__name__}: it has no reset_mem()")
            module.reset_mem()
            if hasattr(module, "v_init_offset"):
                module.fresh = True


# ----------------------------------------------------------------------------- running in time


def encode(x: torch.Tensor, steps: int, encoding: str = "current") -> torch.Tensor:
    """Inputs per step ``[T, batch, ...]``: ``x`` itself at every step ("current", a view) or
    Bernoulli spikes of probability ``x`` from ``snntorch.spikegen.rate`` ("bernoulli")."""
    check_steps_encoding(steps, encoding)
    if encoding == "current":
        return x.unsqueeze(0).expand(steps, *x.shape)
    return _snntorch().spikegen.rate(x, num_steps=steps)


def spike_train(network: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Output spikes ``[T, batch, N]`` of ``network`` (called once per step) for time-first inputs."""
    reset_states(network)
    return torch.stack([_spikes_of(network(step)) for step in inputs])


def spike_counts(network: nn.Module, x: torch.Tensor, steps: int, encoding: str = "current",
                 reuse_static_prefix: bool = True) -> torch.Tensor:
    """Output spike counts ``[batch, N]`` over ``steps`` for static inputs ``x`` (differentiable).

    With "current" input the leading stateless modules of an ``nn.Sequential`` (the first
    ``Linear``, dropout, ...) see the same input at every step, so they run once
    (``reuse_static_prefix``), and the work is T times smaller. In eval mode the counts are the
    same either way. In training mode a dropout in that prefix then draws **one mask per sample
    window** (as the ANN draws one per sample); with ``reuse_static_prefix=False`` it draws a new
    mask at every step, which gives other counts.
    """
    return _run_window(network, x, steps, encoding, reuse_static_prefix)[0]


def counts_and_membrane(network: nn.Module, x: torch.Tensor, steps: int,
                        encoding: str = "current") -> tuple[torch.Tensor, torch.Tensor]:
    """Output spike counts and the output neurons' final membranes in thresholds (the reset of
    the last step applied), both ``[batch, N]``: what ``readout="membrane"`` reads."""
    snn = _snntorch()
    neuron = [m for m in network.modules() if isinstance(m, snn.SpikingNeuron)][-1]
    if neuron.reset_mechanism != "subtract":
        raise ConfigError(f"the membrane read-out needs subtractive reset, the output neurons use "
                          f"{neuron.reset_mechanism!r}")
    counts, last = _run_window(network, x, steps, encoding, True)
    mem = neuron.mem
    if getattr(neuron, "reset_delay", True):  # snnTorch subtracts a spike's threshold at the next step
        mem = mem - last * neuron.threshold
    return counts, mem / neuron.threshold


def _run_window(network: nn.Module, x: torch.Tensor, steps: int, encoding: str,
                reuse_static_prefix: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(counts, last step's spikes) of one window of ``steps`` (see :func:`spike_counts`)."""
    check_steps_encoding(steps, encoding)
    reset_states(network)
    if encoding == "current":
        prefix, body = _split_static_prefix(network) if reuse_static_prefix else (nn.Identity(), network)
        drive = prefix(x)
        steps_in: Iterator[torch.Tensor] = (drive for _ in range(steps))
    else:
        body = network
        steps_in = iter(encode(x, steps, encoding))
    counts = s = None
    for step in steps_in:
        s = _spikes_of(body(step))
        counts = s if counts is None else counts + s
    assert counts is not None and s is not None
    return counts, s


def _spikes_of(out: Any) -> torch.Tensor:
    """Spikes from a step's output (``output=True`` neurons return ``(spk, mem)``)."""
    return out[0] if isinstance(out, tuple) else out


def _split_static_prefix(network: nn.Module) -> tuple[nn.Module, nn.Module]:
    """``(prefix, rest)`` of an ``nn.Sequential``: prefix = modules before the first spiking neuron."""
    if not isinstance(network, nn.Sequential):
        return nn.Identity(), network
    snn = _snntorch()
    cut = 0
    for module in network:
        if any(isinstance(m, snn.SpikingNeuron) for m in module.modules()):
            break
        cut += 1
    return network[:cut], network[cut:]


def check_rate_inputs(x: torch.Tensor, n_in: int) -> None:
    """Refuse inputs a rate-coded network cannot take: not ``n_in`` values a sample, or not rates
    (:func:`~sdt_neuro.convert.check_rates`)."""
    flat = x.reshape(x.shape[0], -1)
    if flat.shape[1] != n_in:
        raise ShapeError(f"inputs hold {flat.shape[1]} values a sample (shape {tuple(x.shape)}); the network takes "
                         f"{n_in}")
    check_rates(flat.detach().cpu().numpy())


def batched_rates(network: nn.Module, x: torch.Tensor, steps: int, encoding: str,
                  batch: int = EVAL_BATCH, seed: int | None = 0, progress: bool = False,
                  spec: SpikingNetwork | None = None) -> torch.Tensor:
    """Rates of ``network`` for all of ``x`` in batches (eval mode, no gradient), on its device:
    ``counts / T``, or the read-out of the network ``spec`` describes (its ``readout`` and
    ``v_init``: :func:`~sdt_neuro.convert.output_rates`)."""
    from tqdm.auto import tqdm

    if batch < 1:
        raise ConfigError(f"batch={batch} must be >= 1")
    param = next(network.parameters())
    if x.shape[0] == 0:
        n_out = [m for m in network.modules() if isinstance(m, nn.Linear)][-1].out_features
        return torch.zeros(0, n_out)
    check_rate_inputs(x, [m for m in network.modules() if isinstance(m, nn.Linear)][0].in_features)
    membrane = spec is not None and spec.readout == "membrane"
    network.eval()
    outs = []
    with torch.no_grad(), torch.random.fork_rng(devices=[param.device] if param.is_cuda else []):
        if seed is not None:
            torch.manual_seed(seed)
        for i in tqdm(range(0, x.shape[0], batch), desc=f"snnTorch T={steps}", disable=not progress,
                      leave=False):
            xb = x[i : i + batch].to(device=param.device, dtype=param.dtype)
            if membrane:
                counts, mem = counts_and_membrane(network, xb, steps, encoding)
                rates = output_rates(spec, counts.cpu().double().numpy(), steps, mem.cpu().double().numpy())
                outs.append(torch.from_numpy(rates).to(param.dtype))
            else:
                outs.append((spike_counts(network, xb, steps, encoding) / steps).cpu())
    return torch.cat(outs)
