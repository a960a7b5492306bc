"""Equilibrium propagation with a softmax read-out: the published semi-supervised EP network.

The hidden layer ``s`` (hard-sigmoid states in [0, 1]) relaxes as in :mod:`sdt_neuro.training.ep`;
the read-out ``o = softmax(W_2 (m * s) + b_2)`` (``m`` the hidden dropout multiplier) sits outside
the relaxing network and is trained on the cross-entropy ``L(o, d)`` directly. The free phase has a
constant drive ``u = W_1 x + b_1``, so its state after ``T`` steps is known exactly. The nudged
phase adds the force ``-beta dL/ds = beta m W_2^T (d - o(s))`` for ``Kmax`` steps::

    s <- clamp((1 - dt) s + dt (u + beta m W_2^T (d - o(s))), 0, 1)

and the hidden weights take the one-sided EP estimate of ``-dL/dW_1``::

    grad W_1 = -(s^beta - s^0)^T x / (beta B)        (same for b_1; sign of beta drawn per batch)

while the read-out takes its exact gradient at the free state, ``(o^0 - d)^T (m s^0) / B``, or with
``ep_readout_grad="nudged"`` (the release) ``(o^beta - d)^T (m s^beta) / B`` at the nudged state,
``o^beta`` being the softmax that drove the last nudged step (one step older than ``s^beta``). The
gradients go to the phase's optimiser (Adam in the published runs). ``d`` is the label or the
self-defined k-WTA target, smoothed by ``ce_label_smoothing``. ``ep_readout_target`` says what the
k-WTA ranks: the probabilities ``o^0 - H`` (``"softmax"``, ours) or the logits ``z^0 - H``
(``"logits"``, the authors' released code, which also steps H with the smoothed target: for the
release's smoothing ``(1 - s) d + s k / N`` and set point ``k / N`` that is the hard target's step
at ``gamma (1 - s)``). The loss's target is ``(1 - s) d / k + s / N`` (a distribution), the release's
for k = 1, the only k of the published semi-supervised runs.
"""

from __future__ import annotations

import torch
from torch import nn

from sdt_neuro.errors import ConfigError
from sdt_neuro.models import MLP
from sdt_neuro.training.config import TrainConfig
from sdt_neuro.training.ep import _single_layer_phase
from sdt_neuro.training.homeostasis import HomeostasisState
from sdt_neuro.training.masks import dropout_keep, output_dropout_mask, target_source
from sdt_neuro.training.phases import layer_optimizer


class EPReadoutLearner:
    """One EP step per batch on a 784-H-C network whose last layer is a softmax read-out."""

    def __init__(self, model: nn.Module, config: TrainConfig, device: torch.device) -> None:
        if not isinstance(model, MLP) or len(model.layers) != 2 or model.readout != "softmax":
            raise ConfigError("EP with a read-out needs an MLP [in, hidden, classes] with readout='softmax'")
        self.model = model
        self.config = config
        self.rule = config.wta_rule
        self.device = device
        self.on_logits = config.ep_readout_target == "logits"
        # the release steps H with the smoothed target: the hard target's step at gamma (1 - s)
        homeostasis = self.rule.replace(gamma=self.rule.gamma * (1.0 - config.ce_label_smoothing)) \
            if self.on_logits else self.rule
        self.state = HomeostasisState(homeostasis, device)
        self.optimizer = layer_optimizer(model, config)
        self.last_beta = 0.0

    def nudged(self, drive: torch.Tensor, free: torch.Tensor, beta: float, target: torch.Tensor,
               keep: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden state after ``Kmax`` (>= 1, the config's check) steps from the free state ``free``,
        nudged by the read-out's cross-entropy towards ``target`` (``keep``: the hidden dropout
        multiplier), and the softmax that drove the last step."""
        dt = self.config.ep_dt
        s = free.clone()
        o = free.new_empty(0)
        w, b = self.model.layers[1].weight, self.model.layers[1].bias
        for _ in range(self.config.ep_nudge_steps):
            act = s if keep is None else s * keep
            o = torch.softmax(torch.addmm(b, act, w.t()), dim=1)
            force = (target - o) @ w
            total = torch.add(drive, force if keep is None else force * keep, alpha=beta)
            s.mul_(1.0 - dt).add_(total, alpha=dt).clamp_(0.0, 1.0)
        return s, o

    def ranked(self, x_raw: torch.Tensor, logits: torch.Tensor, o: torch.Tensor,
               labels: torch.Tensor | None) -> torch.Tensor:
        """What the k-WTA ranks (minus H): the training pass's logits or probabilities, or with
        ``clean_target`` on an unlabelled batch the same of a pass without dropout."""
        if not self.on_logits:
            return target_source(self, x_raw, o, None, labels)
        return target_source(self, x_raw, logits, None, labels,
                             clean_pass=lambda x: readout_logits(self.config, self.model, x))

    def target(self, y: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Label or self-defined target, as a distribution smoothed by ``ce_label_smoothing``."""
        d = self.state.target(y, None, labels, sequential=self.config.mode == "sequential")
        d = d / d.sum(dim=1, keepdim=True).clamp_min(1.0)
        s = self.config.ce_label_smoothing
        return d.mul_(1.0 - s).add_(s / d.shape[1]) if s else d

    @torch.no_grad()
    def train_step(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                   loss: str = "cross-entropy") -> torch.Tensor:
        """One batch; returns the free phase's cross-entropy (a 0-d tensor)."""
        if loss != "cross-entropy":
            raise ConfigError(f"EP with a softmax read-out learns with loss='cross-entropy', got {loss!r}")
        model: MLP = self.model  # type: ignore[assignment]
        hid, out = model.layers
        x_raw = x.reshape(x.shape[0], -1)
        drop = output_dropout_mask if self.config.ep_dropout == "mask" else dropout_keep
        keep_in = drop(x_raw.shape, model.input_dropout.p, x.device)
        x = x_raw if keep_in is None else x_raw * keep_in
        keep = drop((x.shape[0], hid.out_features), model.hidden_dropout.p, x.device)
        drive = torch.addmm(hid.bias, x, hid.weight.t())
        free = free_hidden(self.config, drive)
        act = free if keep is None else free * keep
        logits = torch.addmm(out.bias, act, out.weight.t())
        o = torch.softmax(logits, dim=1)
        d = self.target(self.ranked(x_raw, logits, o, labels), labels)
        value = -(d * torch.log_softmax(logits, dim=1)).sum(1).mean()
        beta = self.config.ep_beta
        if self.config.ep_random_sign and torch.rand(()) < 0.5:
            beta = -beta
        self.last_beta = beta
        nudged, o_nudged = self.nudged(drive, free, beta, d, keep)
        n = x.shape[0]
        if self.config.ep_readout_grad == "nudged":
            o, act = o_nudged, nudged if keep is None else nudged * keep
        diff = (nudged - free).div_(-beta * n)
        hid.weight.grad = diff.t() @ x
        hid.bias.grad = diff.sum(0)
        err = (o - d).div_(n)
        out.weight.grad = err.t() @ act
        out.bias.grad = err.sum(0)
        self.optimizer.step()
        return value

    @torch.no_grad()
    def activity(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax read-out of the free phase, without dropout."""
        return readout_activity(self.config, self.model, x)


def free_hidden(config: TrainConfig, drive: torch.Tensor) -> torch.Tensor:
    """The hidden state after the ``T`` free steps from zero under the constant ``drive`` (exact)."""
    s = _single_layer_phase(drive, None, config.ep_free_steps, config.ep_dt)  # exact for every dt <= 1
    assert s is not None
    return s


def readout_logits(config: TrainConfig, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The read-out's logits on the free phase's hidden state, without dropout."""
    hid, out = model.layers  # type: ignore[attr-defined]
    drive = torch.addmm(hid.bias, x.reshape(x.shape[0], -1), hid.weight.t())
    return torch.addmm(out.bias, free_hidden(config, drive), out.weight.t())


def readout_activity(config: TrainConfig, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """EP inference for a read-out network: the softmax of the free phase's hidden state."""
    return torch.softmax(readout_logits(config, model, x), dim=1)
