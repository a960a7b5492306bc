import copy

import pytest
import torch

from sdt_neuro.models import MLP
from sdt_neuro.rule import WTARule
from sdt_neuro.training.bp import BPLearner
from sdt_neuro.training.config import TrainConfig
from sdt_neuro.training.homeostasis import HomeostasisState
from sdt_neuro.training.masks import output_dropout_mask
from tests.conftest import record_target_sources


def config(**kw):
    rule = {"n_outputs": 30, "k": 3, "gamma": 0.3, "dropout": 0.0}
    base = dict(rule=rule, sizes=(784, 40, 30), input_dropout=0.0, hidden_dropout=0.0, lrs=(0.5, 1.0), batch_size=8)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("sizes", [(784, 30), (784, 40, 30)])
def test_fast_path_matches_autograd(sizes):
    torch.manual_seed(0)
    cfg = config(sizes=sizes)
    model = MLP(sizes)
    initial = model.layers[-1].weight.clone()
    fast = BPLearner(model, cfg, torch.device("cpu"))
    slow = BPLearner(copy.deepcopy(model), cfg, torch.device("cpu"))
    slow.fast = False
    assert fast.fast
    x = torch.rand(8, 784)
    for _ in range(3):
        loss_fast = fast.train_step(x)
        loss_slow = slow.train_step(x)
        torch.testing.assert_close(loss_fast, loss_slow)
    for a, b in zip(fast.model.parameters(), slow.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast.state.offsets, slow.state.offsets)
    assert not torch.equal(fast.model.layers[-1].weight, initial)


def test_fast_path_matches_autograd_with_every_dropout_on(monkeypatch):
    """Input, hidden and output dropout on: the fast path's update equals autograd's on the same
    masks and target (recorded from the fast path, replayed by hand)."""
    from sdt_neuro.training import bp

    torch.manual_seed(0)
    cfg = config(input_dropout=0.3, hidden_dropout=0.2,
                 rule={"n_outputs": 30, "k": 3, "gamma": 0.3, "dropout": 0.2})
    model = MLP(cfg.sizes, 0.3, 0.2)
    ref = copy.deepcopy(model)
    masks, targets = [], []
    keep, out_mask = bp.dropout_keep, bp.output_dropout_mask
    monkeypatch.setattr(bp, "dropout_keep", lambda *a: masks.append(keep(*a)) or masks[-1])
    monkeypatch.setattr(bp, "output_dropout_mask", lambda *a: masks.append(out_mask(*a)) or masks[-1])
    learner = BPLearner(model, cfg, torch.device("cpu"))
    assert learner.fast
    target = learner.target
    learner.target = lambda *a: targets.append(target(*a)) or targets[-1]
    x = torch.rand(8, 784)
    loss = learner.train_step(x)
    keep_in, keep_hidden, m_out = masks
    assert keep_in.unique().tolist() == pytest.approx([0.0, 1.0 / 0.7]) and (m_out == 0).any()
    y = ref.layers[1](torch.relu(ref.layers[0](x * keep_in)) * keep_hidden).clamp(0, 1) * m_out
    ref_loss = torch.nn.functional.mse_loss(y, targets[0])
    ref_loss.backward()
    torch.testing.assert_close(loss, ref_loss.detach())
    with torch.no_grad():
        for layer, lr in zip(ref.layers, cfg.lrs):
            for p in layer.parameters():
                p -= lr * p.grad
    for a, b in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_dropout_masks_both_output_and_target():
    torch.manual_seed(1)
    rule = WTARule(n_outputs=50, k=5, gamma=0.1, dropout=0.5)
    state = HomeostasisState(rule)
    y = torch.rand(64, 50)
    mask = output_dropout_mask(y.shape, rule.dropout, y.device)
    assert 0.4 < mask.mean() < 0.6 and set(mask.unique().tolist()) == {0.0, 1.0}
    d = state.self_defined_target(y * mask, mask)
    assert (d[mask == 0] == 0).all()
    assert (d.sum(1) <= 5).all() and d.sum() > 0


def test_training_step_moves_weights_and_updates_homeostasis():
    torch.manual_seed(2)
    cfg = config(sizes=(784, 30), rule={"n_outputs": 30, "k": 3, "gamma": 0.3, "dropout": 0.2})
    learner = BPLearner(MLP((784, 30), input_dropout=0.3), cfg, torch.device("cpu"))
    before = learner.model.layers[0].weight.clone()
    learner.train_step(torch.rand(8, 784))
    assert not torch.equal(before, learner.model.layers[0].weight)
    assert learner.state.offsets.abs().sum() > 0


def test_label_target_drives_the_labelled_block():
    torch.manual_seed(3)
    cfg = config(sizes=(784, 30), rule={"n_outputs": 30, "k": 3, "n_classes": 3})
    learner = BPLearner(MLP((784, 30)), cfg, torch.device("cpu"))
    x = torch.rand(16, 784)
    labels = torch.zeros(16, dtype=torch.long)
    for _ in range(50):
        learner.train_step(x, labels)
    y = learner.activity(x)
    assert y[:, :10].mean() > 0.7 and y[:, 10:].mean() < 0.1


def test_adam_steps_match_the_reference_adam():
    """The learner's (fused) Adam follows torch's reference implementation step by step."""
    torch.manual_seed(4)
    cfg = config(optimizer="adam", lrs=(1e-2, 2e-2))
    model = MLP((784, 40, 30))
    initial = model.layers[1].weight.clone()
    learner = BPLearner(model, cfg, torch.device("cpu"))
    assert not learner.fast
    ref = copy.deepcopy(model)
    ref_state = HomeostasisState(cfg.wta_rule)
    ref_opt = torch.optim.Adam([{"params": list(m.parameters()), "lr": lr}
                                for m, lr in zip(ref.layers, (1e-2, 2e-2))], foreach=False)
    x = torch.rand(8, 784)
    for _ in range(5):
        learner.train_step(x)
        y = ref(x)
        loss = torch.nn.functional.mse_loss(y, ref_state.self_defined_target(y, None))
        ref_opt.zero_grad()
        loss.backward()
        ref_opt.step()
    for a, b in zip(learner.model.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert not torch.equal(learner.model.layers[1].weight, initial)


def test_straight_through_fast_path_matches_autograd_and_revives_a_dead_output():
    """A winner whose pre-activation is below zero learns only with the straight-through gradient."""
    torch.manual_seed(5)
    x = torch.rand(8, 784)
    labels = torch.zeros(8, dtype=torch.long)
    rule = {"n_outputs": 30, "k": 3, "n_classes": 3}
    weights = {}
    for st in (False, True):
        model = MLP((784, 40, 30), straight_through=st)
        torch.manual_seed(6)
        model.load_state_dict(MLP((784, 40, 30)).state_dict())
        with torch.no_grad():
            model.layers[-1].bias[0] = -50.0  # output 0 (class 0's block) is dead
        cfg = config(rule=rule, straight_through=st)
        fast = BPLearner(model, cfg, torch.device("cpu"))
        slow = BPLearner(copy.deepcopy(model), cfg, torch.device("cpu"))
        slow.fast = False
        for _ in range(3):
            torch.testing.assert_close(fast.train_step(x, labels), slow.train_step(x, labels))
        for a, b in zip(fast.model.parameters(), slow.model.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        weights[st] = fast.model.layers[-1].bias[0].item()
    assert weights[False] == -50.0
    assert weights[True] > -50.0


@pytest.mark.parametrize("fast", [True, False])
def test_clean_target_is_built_from_a_pass_without_dropout(fast):
    torch.manual_seed(7)
    cfg = config(input_dropout=0.5, hidden_dropout=0.5, clean_target=True)
    learner = BPLearner(MLP((784, 40, 30), input_dropout=0.5, hidden_dropout=0.5), cfg, torch.device("cpu"))
    learner.fast = fast
    x = torch.rand(8, 784)
    clean = learner.activity(x)
    seen = record_target_sources(learner)
    learner.train_step(x)
    torch.testing.assert_close(seen[0], clean)
    assert learner.model.training
    learner.config = cfg.replace(clean_target=False)
    clean_now = learner.activity(x)
    learner.train_step(x)
    assert not torch.allclose(seen[1], clean_now)
    learner.config = cfg  # labelled batches keep the training pass even with clean_target
    labels = torch.zeros(8, dtype=torch.long)
    torch.testing.assert_close(learner.target_source(x, clean * 0, None, labels), clean * 0)


def test_rate_steps_trains_on_the_quantised_rates_with_an_identity_gradient():
    from sdt_neuro.errors import ConfigError
    from sdt_neuro.training.bp import quantize_rates

    y = torch.tensor([0.0, 0.01, 0.02, 0.5, 0.99, 1.0], requires_grad=True)
    q = quantize_rates(y, 32)
    torch.testing.assert_close(q.detach(), torch.tensor([0.0, 0.0, 1 / 32, 16 / 32, 1.0, 1.0]))
    q.sum().backward()
    torch.testing.assert_close(y.grad, torch.ones(6))
    torch.manual_seed(0)
    model = MLP((784, 30))
    plain, quantised = (BPLearner(copy.deepcopy(model), config(sizes=(784, 30), rate_steps=r), torch.device("cpu"))
                        for r in (None, 4))
    slow = BPLearner(copy.deepcopy(model), config(sizes=(784, 30), rate_steps=4), torch.device("cpu"))
    slow.fast = False
    x = torch.rand(8, 784)
    losses = [learner.train_step(x) for learner in (plain, quantised, slow)]
    assert not torch.equal(losses[0], losses[1])  # the quantised pass is what the loss sees
    torch.testing.assert_close(losses[1], losses[2])  # fast path and autograd agree
    for a, b in zip(quantised.model.parameters(), slow.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="rate_steps"):
        config(rate_steps=0)


def test_cross_entropy_matches_torch_for_both_readouts():
    from sdt_neuro.training.bp import cross_entropy

    logits, d = torch.randn(6, 4), torch.eye(4)[torch.tensor([0, 1, 2, 3, 0, 1])]
    bce = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), d, reduction="sum") / 6
    torch.testing.assert_close(cross_entropy(logits, d, "sigmoid"), bce)
    smooth = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), d * 0.8 + 0.1, reduction="sum") / 6
    torch.testing.assert_close(cross_entropy(logits, d, "sigmoid", 0.2), smooth)
    ce = torch.nn.functional.cross_entropy(logits, d.argmax(1), label_smoothing=0.1)
    torch.testing.assert_close(cross_entropy(logits, d, "softmax", 0.1), ce)


def test_a_sigmoid_readout_learns_its_self_defined_target_with_cross_entropy():
    cfg = TrainConfig(rule={"n_outputs": 4, "k": 1, "gamma": 0.0, "dropout": 0.0, "n_classes": 4}, sizes=(20, 16, 4),
                      readout="sigmoid", optimizer="adam", lrs=(1e-2,), input_dropout=0.0, threads=1)
    torch.manual_seed(0)
    learner = BPLearner(cfg.build_model(), cfg, torch.device("cpu"))
    assert not learner.fast
    x = torch.rand(32, 20)
    first = float(learner.train_step(x, loss="cross-entropy"))
    for _ in range(40):
        last = float(learner.train_step(x, loss="cross-entropy"))
    assert last < 0.5 * first
    out = learner.activity(x)
    assert ((out > 0) & (out < 1)).all()  # a sigmoid, not the hard-sigmoid


def test_output_cross_entropy_takes_the_softmax_over_the_sigmoid_outputs():
    """The released BP code's loss: softmax cross-entropy with the sigmoid outputs as its logits. Its
    gradient differs from the per-output binary cross-entropy's, so the two steps move the weights apart."""
    cfg = TrainConfig(rule={"n_outputs": 4, "k": 1, "gamma": 0.0, "dropout": 0.0, "n_classes": 4}, sizes=(20, 16, 4),
                      readout="sigmoid", optimizer="adam", lrs=(1e-2,), input_dropout=0.0, threads=1)
    torch.manual_seed(0)
    model = cfg.build_model()
    x, labels = torch.rand(8, 20), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(torch.sigmoid(model.logits(x)), labels)
    over_outputs = BPLearner(model, cfg, torch.device("cpu"))
    binary = BPLearner(copy.deepcopy(model), cfg, torch.device("cpu"))
    torch.testing.assert_close(over_outputs.train_step(x, labels, loss="output-cross-entropy"), expected)
    binary.train_step(x, labels, loss="cross-entropy")
    assert not torch.allclose(over_outputs.model.layers[0].weight, binary.model.layers[0].weight)
