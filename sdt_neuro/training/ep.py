"""Equilibrium propagation (EP) learner for MLPs, driven by the same rule as BP.

The layered Hopfield-like network has states ``s_1 .. s_L`` in [0, 1] (``rho = clamp(., 0, 1)``,
so ``rho(s) = s`` and ``rho' = 1`` on the states) and relaxes, all layers at once, by::

    s_l <- clamp(s_l + dt * (-s_l + W_l rho(s_{l-1}) + b_l + W_{l+1}^T rho(s_{l+1})), 0, 1)

(torch ``Linear`` convention: ``W_l`` is [n_l, n_{l-1}], ``s_0`` the input). The free phase runs
``T`` steps from zero states; the nudged phase continues ``Kmax`` steps from the free state with the
extra output force ``beta * (d - s_L)``, where ``d`` is the self-defined k-WTA target built from the
free-phase output (or the label target). The contrastive update, for both weights and biases::

    dW_l = (rho(s_l^b)^T rho(s_{l-1}^b) - rho(s_l^0)^T rho(s_{l-1}^0)) / (beta * B)    (one-sided)
    dW_l = (rho(s_l^+)^T rho(s_{l-1}^+) - rho(s_l^-)^T rho(s_{l-1}^-)) / (2 * beta * B) (symmetric)

is added to the weights with the per-layer (scheduled) rate of the optimiser's param groups. The
sign of ``beta`` is drawn at random per batch (one-sided estimate, as published).

Dropout masks are drawn once per batch and held fixed through both phases: on the input (so the
first layer's drive ``W_1 x + b_1`` is computed once per batch) and on hidden activities either
inverted dropout (``ep_dropout="inverted"``, ours) or a plain 0/1 mask (``"mask"``, published), and
a 0/1 mask on the output state (the masked output neurons stay at 0, and the target
is masked the same way, as in BP). Inference (``activity``) is the free phase without dropout.

With one layer the output sees a constant drive ``u`` and each neuron follows a clamped linear
recursion, whose value after ``n`` steps is known exactly (:func:`_single_layer_phase`); the
learner uses it instead of iterating. ``tests/training/test_ep.py`` checks it against the
iterated dynamics.
"""

from __future__ import annotations

import torch
from torch import nn

from sdt_neuro.errors import ConfigError
from sdt_neuro.models import MLP
from sdt_neuro.training.config import TrainConfig
from sdt_neuro.training.homeostasis import HomeostasisState
from sdt_neuro.training.masks import dropout_keep, output_dropout_mask, target_source
from sdt_neuro.training.phases import layer_optimizer

Masks = list[torch.Tensor | None]


def relax(
    layers: nn.ModuleList,
    drive: torch.Tensor,
    states: list[torch.Tensor],
    steps: int,
    dt: float,
    masks: Masks | None = None,
    beta: float = 0.0,
    target: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """Run ``steps`` synchronous steps of the dynamics from ``states`` (updated in place).

    ``drive`` is the first layer's input drive ``W_1 x + b_1``; ``masks[l]`` multiplies the
    activity of layer ``l + 1`` (``None``: no dropout); ``beta * (target - s_L)`` nudges the output.
    """
    n = len(layers)
    masks = masks or [None] * n
    nudge = beta * target if beta != 0.0 and target is not None else None
    decay = [1.0 - dt] * (n - 1) + [1.0 - dt * (1.0 + beta)]
    # One buffer per layer for the total input, filled in place each step: fresh [B, N] tensors
    # every step cost more in page faults than the arithmetic on them (1.8-3x on 784-5000-10).
    totals = [torch.empty_like(s) for s in states]
    with torch.no_grad():
        for _ in range(steps):
            acts = _activities(states, masks)
            for i, total in enumerate(totals):
                # input from below: the first layer's precomputed drive, else W_l rho(s_{l-1}) + b_l
                if i > 0:
                    torch.addmm(layers[i].bias, acts[i - 1], layers[i].weight.t(), out=total)
                below = drive if i == 0 else total
                # plus feedback from the layer above, or the output's nudge (no copy of the drive)
                if i < n - 1:
                    torch.addmm(below, acts[i + 1], layers[i + 1].weight, out=total)
                elif nudge is not None:
                    torch.add(below, nudge, out=total)
                elif i == 0:  # a lone output layer, free phase: the drive alone
                    total.copy_(drive)
            for s, total, a in zip(states, totals, decay):
                s.mul_(a).add_(total, alpha=dt).clamp_(0.0, 1.0)
            if masks[-1] is not None:
                states[-1].mul_(masks[-1])
    return states


def _activities(states: list[torch.Tensor], masks: Masks) -> list[torch.Tensor]:
    """``rho(s_l)`` times each layer's dropout multiplier (the states already lie in [0, 1])."""
    return [s if m is None else s * m for s, m in zip(states, masks)]


def _single_layer_phase(u: torch.Tensor, start: torch.Tensor | None, steps: int, dt: float,
                        beta: float = 0.0, target: torch.Tensor | None = None) -> torch.Tensor | None:
    """Exact state after ``steps`` steps of ``s <- clamp(a s + dt (u + beta d), 0, 1)`` with
    ``a = 1 - dt (1 + beta)``, from ``start`` in [0, 1] (``None``: zeros); ``None`` if ``a < 0``.

    The unclamped recursion moves monotonically from ``start`` towards its fixed point
    ``v = (u + beta d) / (1 + beta)``; once it leaves [0, 1] it stays clamped, so the clamped
    state is ``clamp(v + a^n (start - v), 0, 1)``.
    """
    a = 1.0 - dt * (1.0 + beta)
    if a < 0:
        return None
    v = u if beta == 0.0 else (u + beta * target) / (1.0 + beta)
    if start is None:
        return (v * (1.0 - a**steps)).clamp_(0.0, 1.0)
    return torch.lerp(v, start, a**steps).clamp_(0.0, 1.0)


class EPLearner:
    """One EP step per batch: free phase, target from the free output, nudged phase(s),
    contrastive update with the optimiser's per-layer rates (plain SGD, no momentum)."""

    def __init__(self, model: nn.Module, config: TrainConfig, device: torch.device) -> None:
        if not isinstance(model, MLP):
            raise ConfigError("algorithm='ep' needs arch='mlp'")
        self.model = model
        self.config = config
        self.rule = config.wta_rule
        self.device = device
        self.state = HomeostasisState(self.rule, device)
        self.optimizer = layer_optimizer(model, config)  # plain SGD (checked by the config)
        self.steps, self.nudge_steps = config.ep_free_steps, config.ep_nudge_steps
        self.dt, self.beta = config.ep_dt, config.ep_beta
        self.symmetric = config.ep_estimate == "symmetric"
        self.last_beta = 0.0  # signed beta of the last one-sided step (diagnostics)

    @property
    def layers(self) -> nn.ModuleList:
        return self.model.layers  # type: ignore[return-value]

    def free_phase(self, x: torch.Tensor, masks: Masks | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(drive, states)`` after ``T`` steps from zero; ``x`` already dropped out."""
        return free_phase(self.layers, x, self.steps, self.dt, masks)

    def nudged_phase(self, drive: torch.Tensor, free: list[torch.Tensor], beta: float, target: torch.Tensor,
                     masks: Masks) -> list[torch.Tensor]:
        """States after ``Kmax`` nudged steps, starting from (copies of) the free states."""
        if len(self.layers) == 1:
            s = _single_layer_phase(drive, free[0], self.nudge_steps, self.dt, beta, target)
            if s is not None:
                return [s if masks[0] is None else s.mul_(masks[0])]
        return relax(self.layers, drive, [s.clone() for s in free], self.nudge_steps, self.dt, masks,
                     beta, target)

    def target(self, y: torch.Tensor, mask: torch.Tensor | None, labels: torch.Tensor | None) -> torch.Tensor:
        """Self-defined target (or the label target when ``labels`` are given)."""
        return self.state.target(y, mask, labels, sequential=self.config.mode == "sequential")

    @torch.no_grad()
    def train_step(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """One batch; returns ``mean((s_L^0 - d)^2)`` (a 0-d tensor)."""
        model: MLP = self.model  # type: ignore[assignment]
        x = x_raw = x.reshape(x.shape[0], -1)
        keep = output_dropout_mask if self.config.ep_dropout == "mask" else dropout_keep
        keep_in = keep(x.shape, model.input_dropout.p, x.device)
        if keep_in is not None:
            x = x * keep_in
        masks: Masks = [keep((x.shape[0], layer.out_features), model.hidden_dropout.p, x.device)
                        for layer in self.layers[:-1]]
        masks.append(output_dropout_mask((x.shape[0], model.n_outputs), self.rule.dropout, x.device))
        drive, free = self.free_phase(x, masks)
        y = free[-1]
        d = self.target(target_source(self, x_raw, y, masks[-1], labels), masks[-1], labels)
        if labels is None and self.config.ep_target_smoothing > 0:
            d = smooth_target(d, masks[-1], self.config.ep_target_smoothing, self.rule.k)
        loss = (y - d).pow(2).mean()
        beta = self.beta
        if self.symmetric:
            first = self.nudged_phase(drive, free, beta, d, masks)
            second = self.nudged_phase(drive, free, -beta, d, masks)
            scale = 1.0 / (2.0 * beta * x.shape[0])
        else:
            if self.config.ep_random_sign and torch.rand(()) < 0.5:
                beta = -beta
            first, second = self.nudged_phase(drive, free, beta, d, masks), free
            self.last_beta = beta
            scale = 1.0 / (beta * x.shape[0])
        self._apply_update(x, _activities(first, masks), _activities(second, masks), scale)
        return loss

    @torch.no_grad()
    def _apply_update(self, x: torch.Tensor, first: list[torch.Tensor], second: list[torch.Tensor],
                      scale: float) -> None:
        """``W_l += lr_l * scale * (post1^T pre1 - post2^T pre2)``, same for biases."""
        groups = self.optimizer.param_groups
        for i, layer in enumerate(self.layers):
            alpha = groups[i]["lr"] * scale
            diff = first[i] - second[i]
            if i == 0:  # the input is clamped: same presynaptic activity in both phases
                layer.weight.addmm_(diff.t(), x, alpha=alpha)
            else:
                post = torch.cat([first[i], -second[i]])
                layer.weight.addmm_(post.t(), torch.cat([first[i - 1], second[i - 1]]), alpha=alpha)
            layer.bias.add_(diff.sum(0), alpha=alpha)

    @torch.no_grad()
    def activity(self, x: torch.Tensor) -> torch.Tensor:
        """Output of the free phase without dropout (EP inference)."""
        return self.free_phase(x.reshape(x.shape[0], -1))[1][-1]


def smooth_target(d: torch.Tensor, mask: torch.Tensor | None, s: float, k: int) -> torch.Tensor:
    """``m * ((1 - s) d + s k / N)`` for a masked k-hot ``d`` (published EP label smoothing)."""
    uniform = torch.full_like(d, s * k / d.shape[1])
    if mask is not None:
        uniform.mul_(mask)
    return d.mul(1.0 - s).add_(uniform)


def free_phase(layers: nn.ModuleList, x: torch.Tensor, steps: int, dt: float,
               masks: Masks | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``(drive, states)`` of the free phase: ``T`` steps from zero states on flat input ``x``."""
    with torch.no_grad():
        drive = torch.addmm(layers[0].bias[:, None], layers[0].weight, x.t()).t()
        out_mask = masks[-1] if masks else None
        if len(layers) == 1:
            s = _single_layer_phase(drive, None, steps, dt)
            if s is not None:
                return drive, [s if out_mask is None else s.mul_(out_mask)]
        states = [torch.zeros(x.shape[0], layer.out_features, device=x.device) for layer in layers]
        return drive, relax(layers, drive, states, steps, dt, masks)


def free_phase_activity(config: TrainConfig, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """EP inference for a checkpointed model: the free-phase output on ``x`` (no dropout)."""
    return free_phase(model.layers, x.reshape(x.shape[0], -1), config.ep_free_steps, config.ep_dt)[1][-1]
