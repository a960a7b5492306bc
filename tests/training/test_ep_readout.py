import pytest
import torch

from sdt_neuro.errors import ConfigError
from sdt_neuro.training import TrainConfig
from sdt_neuro.training.ep_readout import EPReadoutLearner, readout_activity
from sdt_neuro.training.phases import build_optimizer

RULE = {"n_outputs": 4, "k": 1, "gamma": 0.0, "n_classes": 4, "label_mapping": "one_per_class"}


def learner(**kw):
    base = dict(rule=RULE, algorithm="ep", sizes=(12, 9, 4), readout="softmax", optimizer="sgd", lrs=(1.0,),
                input_dropout=0.0, hidden_dropout=0.0, ep_free_steps=60, ep_nudge_steps=400, ep_dt=0.5,
                ep_beta=1e-4, ep_random_sign=False, threads=1)
    base.update(kw)
    cfg = TrainConfig(**base)
    torch.manual_seed(0)
    model = cfg.build_model()
    with torch.no_grad():  # drives inside (0, 1) for most hidden units, so the gradient is not all zero
        model.layers[0].weight.mul_(3.0)
    return EPReadoutLearner(model, cfg, torch.device("cpu"))


def test_ep_estimate_matches_the_cross_entropy_gradient_for_small_beta():
    """For beta -> 0 the nudged minus free hidden state over beta is -dL/ds at the fixed point, so
    the hidden weights' EP gradient is the true gradient of the read-out's cross-entropy through
    ``s* = clamp(W_1 x + b_1, 0, 1)``; the read-out's gradient is exact."""
    lr = learner()
    x, labels = torch.rand(16, 12), torch.arange(16) % 4
    model = lr.model
    w1, b1, w2, b2 = (p.detach().clone().requires_grad_(True) for p in (
        model.layers[0].weight, model.layers[0].bias, model.layers[1].weight, model.layers[1].bias))
    s = torch.clamp(x @ w1.t() + b1, 0.0, 1.0)
    loss = torch.nn.functional.cross_entropy(s @ w2.t() + b2, labels)
    loss.backward()
    lr.optimizer = build_optimizer("sgd", [list(m.parameters()) for m in model.layers])  # rate 0: grads only
    value = lr.train_step(x, labels)
    assert float(value) == pytest.approx(float(loss.detach()), rel=1e-5)
    torch.testing.assert_close(model.layers[1].weight.grad, w2.grad, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(model.layers[1].bias.grad, b2.grad, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(model.layers[0].weight.grad, w1.grad, rtol=2e-2, atol=2e-4)
    torch.testing.assert_close(model.layers[0].bias.grad, b1.grad, rtol=2e-2, atol=2e-4)
    assert w1.grad.abs().max() > 1e-3  # the comparison is not between two zeros


def test_label_smoothing_and_self_defined_targets_are_distributions():
    lr = learner(ce_label_smoothing=0.1, rule={**RULE, "gamma": 0.1})
    y = torch.softmax(torch.randn(5, 4), dim=1)
    d = lr.target(y, None)
    torch.testing.assert_close(d.sum(1), torch.ones(5))
    assert sorted(torch.unique(d).tolist()) == pytest.approx([0.025, 0.925])
    assert lr.state.offsets.abs().sum() > 0  # the self-defined target took a homeostasis step
    labelled = lr.target(y, torch.tensor([0, 1, 2, 3, 0]))
    assert labelled[1].argmax() == 1


def test_training_steps_reduce_the_loss_and_inference_is_the_free_softmax():
    lr = learner(ep_beta=0.45, ep_nudge_steps=10, ep_random_sign=True, optimizer="adam", lrs=(1e-2,))
    labels = torch.arange(32) % 4
    x = (torch.rand(4, 12)[labels] + 0.05 * torch.rand(32, 12)).clamp(0, 1)  # four noisy prototypes
    first = float(lr.train_step(x, labels))
    for _ in range(60):
        last = float(lr.train_step(x, labels))
    assert last < 0.5 * first
    out = lr.activity(x)
    torch.testing.assert_close(out.sum(1), torch.ones(32))
    torch.testing.assert_close(out, readout_activity(lr.config, lr.model, x))


def test_only_cross_entropy_is_learned():
    with pytest.raises(ConfigError, match="cross-entropy"):
        learner().train_step(torch.rand(2, 12), loss="mse")


@pytest.mark.parametrize("ranks, winner", [("softmax", 1), ("logits", 0)])
def test_the_target_ranks_probabilities_or_logits_minus_the_offsets(ranks, winner):
    """Logits [2, 1.8, 0, 0] with H = [0.1, 0, 0, 0]: the probabilities minus H put neuron 1 first
    (0.379 < 0.392), the logits minus H neuron 0 (1.9 > 1.8), as the authors' release ranks them."""
    lr = learner(ep_readout_target=ranks, rule={**RULE, "gamma": 0.1}, ce_label_smoothing=0.3)
    with torch.no_grad():
        for layer in lr.model.layers:
            layer.weight.zero_()
        lr.model.layers[1].bias.copy_(torch.tensor([2.0, 1.8, 0.0, 0.0]))
    lr.state.offsets.copy_(torch.tensor([0.1, 0.0, 0.0, 0.0]))
    lr.train_step(torch.rand(8, 12))  # unlabelled: every sample wins the same neuron
    wins = torch.zeros(4)
    wins[winner] = 1.0
    gamma = 0.1 * (0.7 if ranks == "logits" else 1.0)
    torch.testing.assert_close(lr.state.offsets, torch.tensor([0.1, 0.0, 0.0, 0.0]) + gamma * (wins - 0.25))


def test_the_release_steps_homeostasis_with_the_smoothed_target():
    """H <- H + gamma (mean_batch((1 - s) d + s k / N) - k / N), written out, for k = 2 of 4."""
    rule = {**RULE, "k": 2, "gamma": 0.2}
    lr = learner(ep_readout_target="logits", rule=rule, ce_label_smoothing=0.3)
    z = torch.tensor([[3.0, 2.0, 0.0, 1.0], [0.0, 1.0, 3.0, 2.0], [3.0, 0.0, 2.0, 1.0]])
    lr.target(z, None)
    d = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 1.0, 0.0]])
    smoothed = 0.7 * d + 0.3 * 2 / 4
    torch.testing.assert_close(lr.state.offsets, 0.2 * (smoothed.mean(0) - 2 / 4))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_the_release_takes_the_readouts_gradient_at_the_nudged_state(sign, monkeypatch):
    """``(o - d)^T (m s) / B`` with ``s`` after Kmax nudged steps and ``o`` the softmax that drove the
    last of them, written out step by step, with a fixed hidden 0/1 mask ``m`` and either sign of beta."""
    from sdt_neuro.training import ep_readout

    lr = learner(ep_readout_grad="nudged", ep_beta=0.45, ep_nudge_steps=3, ep_dt=0.2, ep_random_sign=True,
                 hidden_dropout=0.5, ep_dropout="mask")
    x, labels = torch.rand(6, 12), torch.arange(6) % 4
    m = (torch.arange(54).reshape(6, 9) % 3 != 0).float()
    monkeypatch.setattr(ep_readout, "output_dropout_mask", lambda shape, p, device: m if p > 0 else None)
    monkeypatch.setattr(torch, "rand", lambda *a, **k: torch.tensor(0.0 if sign < 0 else 1.0))  # beta's sign
    w1, b1, w2, b2 = (p.detach().clone() for p in lr.model.parameters())
    lr.optimizer = build_optimizer("sgd", [list(mod.parameters()) for mod in lr.model.layers])  # rate 0
    lr.train_step(x, labels)
    assert lr.last_beta == 0.45 * sign
    d = torch.nn.functional.one_hot(labels, 4).float()
    u = x @ w1.t() + b1
    s = (u * (1 - 0.8**60)).clamp(0, 1)  # the free phase: 60 steps of dt 0.2 from zero
    free_grad = (torch.softmax((m * s) @ w2.t() + b2, dim=1) - d).t() @ (m * s) / 6
    for _ in range(3):
        o = torch.softmax((m * s) @ w2.t() + b2, dim=1)
        s = (0.8 * s + 0.2 * (u + 0.45 * sign * m * ((d - o) @ w2))).clamp(0, 1)
    torch.testing.assert_close(lr.model.layers[1].weight.grad, (o - d).t() @ (m * s) / 6)
    torch.testing.assert_close(lr.model.layers[1].bias.grad, (o - d).sum(0) / 6)
    assert not torch.allclose(lr.model.layers[1].weight.grad, free_grad, atol=1e-4)  # not the free state's


def test_with_a_clean_target_the_release_ranks_the_logits_of_a_pass_without_dropout(monkeypatch):
    from sdt_neuro.training import ep_readout

    lr = learner(ep_readout_target="logits", clean_target=True, hidden_dropout=0.5, ep_dropout="mask")
    x = torch.rand(5, 12)
    clean = ep_readout.readout_logits(lr.config, lr.model, x)
    seen = []
    monkeypatch.setattr(lr.state, "target", lambda y, *a, **k: seen.append(y) or torch.eye(4)[y.argmax(1)])
    lr.train_step(x)
    torch.testing.assert_close(seen[0], clean)  # the dropout pass's logits would differ


def test_the_read_out_fields_are_refused_where_they_mean_nothing():
    with pytest.raises(ConfigError, match="readout='softmax' only"):
        TrainConfig(rule=RULE, algorithm="bp", sizes=(12, 4), ep_readout_grad="nudged")
    with pytest.raises(ConfigError, match="set point"):
        learner(ep_readout_target="logits", rule={**RULE, "target_activity": 0.5})
    assert learner(ep_readout_target="logits", ep_readout_grad="nudged").on_logits
