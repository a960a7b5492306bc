"""Reference networks in PyTorch: the paper's MLP and CNN.

The MLP ends in a hard-sigmoid ``clamp(a, 0, 1)`` output layer, the quantity the rule's target is
built on (and the firing rate of an integrate-and-fire neuron with threshold 1 and subtractive
reset, which is what makes conversion to spiking backends exact in the limit of long windows). The
published CNN runs end in a linear output instead (``readout="linear"``: the released
configurations' output function ``"x"``).
Output dropout is not part of the model: the trainer applies it, because the same mask must also
hit the target.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sdt_neuro.errors import ConfigError, ShapeError

INIT_GAIN = 0.5
INITS = ("xavier", "torch")  # Xavier-uniform at INIT_GAIN (the paper), or PyTorch's default


def hard_sigmoid(a: torch.Tensor, straight_through: bool = False) -> torch.Tensor:
    """``clamp(a, 0, 1)``: the paper's output non-linearity.

    ``straight_through=True`` keeps the value but passes the gradient through unchanged outside
    [0, 1] (straight-through estimator), so an output whose pre-activation sank below zero still
    learns when the target asks it to fire; with the plain clamp such a unit gets no gradient
    again (a "dead" output).
    """
    if straight_through and a.requires_grad:
        return _StraightThroughClamp.apply(a)
    return torch.clamp(a, 0.0, 1.0)


class _StraightThroughClamp(torch.autograd.Function):
    """``clamp(a, 0, 1)`` forward, identity backward."""

    @staticmethod
    def forward(ctx: object, a: torch.Tensor) -> torch.Tensor:  # noqa: ARG004
        return torch.clamp(a, 0.0, 1.0)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:  # noqa: ARG004
        return grad


#: output functions each architecture offers
MLP_READOUTS = ("hard-sigmoid", "sigmoid", "softmax")
CNN_READOUTS = ("hard-sigmoid", "linear")
READOUTS = (*MLP_READOUTS, "linear")
#: read-outs trained with the rule's MSE (the others with cross-entropy)
MSE_READOUTS = ("hard-sigmoid", "linear")
#: outputs that take negative values: the shared evaluation reads them as signed (no silent samples)
SIGNED_READOUTS = ("linear",)


class MLP(nn.Module):
    """``sizes[0] -> ... -> sizes[-1]``: ReLU hidden layers, hard-sigmoid output.

    ``input_dropout`` is applied to the input, ``hidden_dropout`` after each hidden ReLU (both
    the usual inverted dropout, active in ``train()`` mode only). ``straight_through``: see
    :func:`hard_sigmoid`. ``readout`` is the output function: ``"hard-sigmoid"`` (the paper's), or
    ``"sigmoid"`` / ``"softmax"`` for the published semi-supervised networks trained with
    cross-entropy (:meth:`logits` gives the pre-activation the loss needs).
    """

    def __init__(self, sizes: Sequence[int], input_dropout: float = 0.0, hidden_dropout: float = 0.0,
                 init_gain: float | None = INIT_GAIN, straight_through: bool = False,
                 readout: str = "hard-sigmoid"):
        super().__init__()
        if readout not in MLP_READOUTS:
            raise ConfigError(f"readout={readout!r}: the MLP's output is one of {MLP_READOUTS}")
        self.readout = readout
        if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
            raise ConfigError(f"sizes={list(sizes)} needs >= 2 positive layer widths")
        for name, p in (("input_dropout", input_dropout), ("hidden_dropout", hidden_dropout)):
            if not 0 <= p < 1:
                raise ConfigError(f"{name}={p} must be in [0, 1)")
        self.sizes = [int(s) for s in sizes]
        self.input_dropout = nn.Dropout(input_dropout)
        self.hidden_dropout = nn.Dropout(hidden_dropout)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:]))
        self.straight_through = straight_through
        if init_gain is not None:  # None: PyTorch's default initialisation
            init_weights(self, init_gain)

    @property
    def n_outputs(self) -> int:
        return self.sizes[-1]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The output layer's pre-activation (dropout as in the current mode)."""
        x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.sizes[0]:
            raise ShapeError(f"MLP expects {self.sizes[0]} input features, got shape {tuple(x.shape)}")
        h = self.input_dropout(x)
        for layer in self.layers[:-1]:
            h = self.hidden_dropout(torch.relu(layer(h)))
        return self.layers[-1](h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.read_out(self.logits(x))

    def read_out(self, a: torch.Tensor) -> torch.Tensor:
        """The output function applied to the pre-activation ``a``."""
        if self.readout == "sigmoid":
            return torch.sigmoid(a)
        if self.readout == "softmax":
            return torch.softmax(a, dim=1)
        return hard_sigmoid(a, self.straight_through)

    def pre_activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Pre-activation of every layer in eval semantics (no dropout); used by conversion."""
        h = x.reshape(x.shape[0], -1)
        out = []
        for i, layer in enumerate(self.layers):
            a = layer(h)
            out.append(a)
            h = torch.relu(a) if i < len(self.layers) - 1 else hard_sigmoid(a)
        return out


class ChannelCompetition(nn.Module):
    """The published CIFAR-10 network's "WTA" activation on ``[B, C, H, W]`` feature maps:
    subtract each channel's spatial mean, ReLU, subtract the mean across channels, ReLU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(x - x.mean(dim=(2, 3), keepdim=True))
        return torch.relu(x - x.mean(dim=1, keepdim=True))


ACTIVATIONS = ("relu", "wta")


class CNN(nn.Module):
    """The paper's 32f5-128f3-N network: conv5(pad 2), ReLU, pool(4, 2, 1), conv3(pad 1),
    ReLU, pool(4, 2, 1), flatten, dropout, linear to ``n_outputs`` with a hard-sigmoid output, or
    none with ``readout="linear"`` (the published CNN runs' output function; a linear output
    cannot die the way a clamped one does) (``pool`` "max" or "avg"; ``init_gain=None`` keeps
    PyTorch's default initialisation).
    ``channels`` sets the two conv widths (CIFAR-10: 96, 384) and ``activation`` "wta" replaces
    the ReLUs by :class:`ChannelCompetition`.

    ``prune`` removes that fraction of each conv layer's weights once, at random, with
    ``torch.nn.utils.prune.random_unstructured`` (the mask is kept in the state dict).
    ``straight_through``: see :func:`hard_sigmoid`.
    """

    def __init__(self, n_outputs: int = 3000, in_channels: int = 1, image_size: int = 28, prune: float = 0.5,
                 init_gain: float | None = INIT_GAIN, straight_through: bool = False, pool: str = "max",
                 flat_dropout: float = 0.0, channels: Sequence[int] = (32, 128), activation: str = "relu",
                 readout: str = "hard-sigmoid"):
        super().__init__()
        if readout not in CNN_READOUTS:
            raise ConfigError(f"readout={readout!r}: the CNN's output is one of {CNN_READOUTS}")
        if not 0 <= prune < 1:
            raise ConfigError(f"prune={prune} must be in [0, 1)")
        if pool not in ("max", "avg"):
            raise ConfigError(f"pool={pool!r} is not one of ('max', 'avg')")
        if not 0 <= flat_dropout < 1:
            raise ConfigError(f"flat_dropout={flat_dropout} must be in [0, 1)")

        if activation not in ACTIVATIONS:
            raise ConfigError(f"activation={activation!r} is not one of {ACTIVATIONS}")
        if len(channels) != 2 or min(channels) < 1:
            raise ConfigError(f"channels={list(channels)} must be two positive conv widths")
        c1, c2 = (int(c) for c in channels)

        def pooling() -> nn.Module:
            return nn.MaxPool2d(4, 2, 1) if pool == "max" else nn.AvgPool2d(4, 2, 1)

        def act() -> nn.Module:
            return nn.ReLU() if activation == "relu" else ChannelCompetition()

        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, padding=2), act(), pooling(),
            nn.Conv2d(c1, c2, 3, padding=1), act(), pooling(),
        )
        side = _pooled(_pooled(image_size))
        self.flat_dropout = nn.Dropout(flat_dropout)
        self.head = nn.Linear(c2 * side * side, n_outputs)
        self.in_channels, self.image_size, self.n_outputs = in_channels, image_size, n_outputs
        self.straight_through = straight_through
        self.readout = readout
        if init_gain is not None:  # None: PyTorch's default initialisation
            init_weights(self, init_gain)
        if prune > 0:
            from torch.nn.utils import prune as torch_prune

            for conv in (self.features[0], self.features[3]):
                torch_prune.random_unstructured(conv, name="weight", amount=prune)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (self.in_channels, self.image_size, self.image_size):
            raise ShapeError(
                f"CNN expects [batch, {self.in_channels}, {self.image_size}, {self.image_size}], "
                f"got {tuple(x.shape)}"
            )
        a = self.head(self.flat_dropout(self.features(x).flatten(1)))
        return a if self.readout == "linear" else hard_sigmoid(a, self.straight_through)


def _pooled(side: int) -> int:
    return (side + 2 - 4) // 2 + 1


def init_weights(module: nn.Module, gain: float = INIT_GAIN) -> None:
    """Xavier-uniform weights (the paper's gain 0.5 by default), zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight, gain=gain)
            nn.init.zeros_(m.bias)


def build_model(arch: str, sizes: Sequence[int], input_dropout: float, hidden_dropout: float,
                prune: float = 0.5, init_gain: float = INIT_GAIN, straight_through: bool = False,
                pool: str = "max", init: str = "xavier",
                input_shape: Sequence[int] = (1, 28, 28), cnn_channels: Sequence[int] = (32, 128),
                cnn_activation: str = "relu", readout: str = "hard-sigmoid") -> nn.Module:
    """Model from config fields: ``arch`` is ``"mlp"`` (uses ``sizes``) or ``"cnn"`` (takes
    ``input_shape`` (C, H, H) images; its ``hidden_dropout`` acts on the flattened features)."""
    if not init_gain > 0:
        raise ConfigError(f"init_gain={init_gain} must be > 0")
    if init not in INITS:
        raise ConfigError(f"init={init!r} is not one of {INITS}")
    gain = None if init == "torch" else init_gain  # None: PyTorch's default initialisation
    if arch == "mlp":
        return MLP(sizes, input_dropout, hidden_dropout, gain, straight_through, readout)
    if arch == "cnn":
        return CNN(n_outputs=int(sizes[-1]), in_channels=int(input_shape[0]), image_size=int(input_shape[1]),
                   prune=prune, init_gain=gain,
                   straight_through=straight_through, pool=pool, flat_dropout=hidden_dropout,
                   channels=cnn_channels, activation=cnn_activation, readout=readout)
    raise ConfigError(f"arch={arch!r} is not one of ('mlp', 'cnn')")
