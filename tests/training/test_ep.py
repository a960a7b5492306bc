import copy

import pytest
import torch

from sdt_neuro.cli import main
from sdt_neuro.errors import ConfigError
from sdt_neuro.models import MLP
from sdt_neuro.presets import preset_config
from sdt_neuro.scoring import evaluate_checkpoint
from sdt_neuro.training import TrainConfig, train
from sdt_neuro.training.bp import BPLearner
from sdt_neuro.training.ep import EPLearner, _single_layer_phase, relax
from tests.conftest import real_mnist, record_target_sources, synthetic_dataset

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def ep_config(sizes=(784, 30), **kw):
    rule = {"n_outputs": sizes[-1], "k": 3, "gamma": 0.3, "dropout": 0.0, "n_classes": 3}
    base = dict(rule=rule, sizes=sizes, algorithm="ep", input_dropout=0.0, hidden_dropout=0.0,
                lrs=(0.05,), batch_size=8, ep_free_steps=40, ep_nudge_steps=10, ep_dt=0.2, ep_beta=0.2)
    base.update(kw)
    return TrainConfig(**base)


def learner(sizes=(784, 30), seed=0, **kw):
    torch.manual_seed(seed)
    cfg = ep_config(sizes, **kw)
    return EPLearner(MLP(cfg.sizes, cfg.input_dropout, cfg.hidden_dropout), cfg, CPU)


def weight_change(lrn, x, labels=None, seed=0):
    """Flattened change of every parameter after one step (``seed`` fixes the sign draw)."""
    before = [p.detach().clone() for p in lrn.model.parameters()]
    torch.manual_seed(seed)
    lrn.train_step(x, labels)
    return torch.cat([(p.detach() - b).flatten() for p, b in zip(lrn.model.parameters(), before)])


def seed_with_sign(negative: bool) -> int:
    """A seed whose first draw picks the wanted sign of beta (no other random draw without dropout)."""
    for s in range(100):
        torch.manual_seed(s)
        if bool(torch.rand(()) < 0.5) == negative:
            return s
    raise AssertionError("no seed found")


def cosine(a, b):
    return float(torch.dot(a, b) / (a.norm() * b.norm()))


@pytest.mark.parametrize("beta", [0.2, -0.2, 0.6])
def test_single_layer_closed_form_matches_iterated_dynamics(beta):
    torch.manual_seed(0)
    model = MLP((784, 50))
    u = 3 * model.layers[0](torch.rand(8, 784)).detach()  # many drives outside [0, 1]
    d = (torch.rand(8, 50) < 0.2).float()
    free = relax(model.layers, u, [torch.zeros(8, 50)], 40, 0.2)[0]
    torch.testing.assert_close(_single_layer_phase(u, None, 40, 0.2), free, atol=1e-6, rtol=0)
    nudged = relax(model.layers, u, [free.clone()], 10, 0.2, beta=beta, target=d)[0]
    torch.testing.assert_close(_single_layer_phase(u, free, 10, 0.2, beta, d), nudged, atol=1e-6, rtol=0)
    assert not torch.allclose(nudged, free)
    assert _single_layer_phase(u, free, 10, 0.9, 0.5, d) is None  # oscillating: no closed form


def test_free_phase_fixed_point_satisfies_the_state_equation():
    lrn = learner((784, 60, 30), ep_free_steps=400)
    x = torch.rand(16, 784)
    w1, b1, w2, b2 = (p.detach() for p in lrn.model.parameters())
    _, (s1, s2) = lrn.free_phase(x)
    torch.testing.assert_close(s1, (x @ w1.t() + b1 + s2 @ w2).clamp(0, 1), atol=1e-5, rtol=0)
    torch.testing.assert_close(s2, (s1 @ w2.t() + b2).clamp(0, 1), atol=1e-5, rtol=0)
    assert s1.mean() > 0.05 and s2.mean() > 0.01
    # the feedback matters: the equilibrium is not the feed-forward pass
    assert (lrn.activity(x) - lrn.model(x)).abs().max() > 1e-3
    # one layer: the free phase converges to the feed-forward hard-sigmoid output
    one = learner((784, 30), ep_free_steps=100)
    torch.testing.assert_close(one.activity(x), one.model(x).detach(), atol=1e-6, rtol=0)


def test_one_relaxation_step_follows_the_state_equation():
    """Three layers (a middle layer gets input from below and feedback from above), dropout
    masks and a nudge: one step of ``relax`` is the written equation, layer by layer."""
    model = MLP((784, 40, 30, 20), 0.0, 0.0)
    w1, b1, w2, b2, w3, b3 = (p.detach() for p in model.parameters())
    x = torch.rand(6, 784)
    states = [torch.rand(6, n) for n in (40, 30, 20)]
    masks = [(torch.rand(6, n) > 0.3).float() for n in (40, 30, 20)]
    d, beta, dt = (torch.rand(6, 20) > 0.5).float(), 0.4, 0.2
    r1, r2, r3 = (s * m for s, m in zip(states, masks))
    want = [
        states[0] + dt * (-states[0] + x @ w1.t() + b1 + r2 @ w2),
        states[1] + dt * (-states[1] + r1 @ w2.t() + b2 + r3 @ w3),
        states[2] + dt * (-states[2] + r2 @ w3.t() + b3 + beta * (d - states[2])),
    ]
    want = [w.clamp(0, 1) for w in want]
    want[2] = want[2] * masks[2]
    got = relax(model.layers, x @ w1.t() + b1, [s.clone() for s in states], 1, dt, masks, beta, d)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=1e-5, rtol=0)


def test_zero_nudge_leaves_the_equilibrium_and_the_weights_unchanged():
    lrn = learner((784, 60, 30), ep_free_steps=400)
    x = torch.rand(8, 784)
    masks = [None, None]
    drive, free = lrn.free_phase(x, masks)
    nudged = lrn.nudged_phase(drive, free, 0.0, torch.ones(8, 30), masks)
    for a, b in zip(nudged, free):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    before = [p.clone() for p in lrn.model.parameters()]
    lrn._apply_update(x, nudged, free, scale=1.0 / (0.2 * 8))
    for a, b in zip(before, lrn.model.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    # a non-zero nudge does move every layer
    lrn._apply_update(x, lrn.nudged_phase(drive, free, 0.2, torch.ones(8, 30), masks), free, 1.0 / 1.6)
    assert all(not torch.allclose(a, b) for a, b in zip(before, lrn.model.parameters()))


def test_small_beta_update_follows_the_bp_gradient():
    x = torch.rand(16, 784)
    ep = learner(ep_beta=0.001, ep_free_steps=200, ep_nudge_steps=300, ep_random_sign=False)
    bp = BPLearner(copy.deepcopy(ep.model), ep.config.replace(algorithm="bp"), CPU)
    ep_step, bp_step = weight_change(ep, x), weight_change(bp, x)
    assert cosine(ep_step, bp_step) > 0.99  # EP descends the same MSE to the self-defined target


def test_symmetric_estimate_is_the_mean_of_both_one_sided_signs():
    x, labels = torch.rand(8, 784), torch.arange(8) % 3
    up = learner(ep_beta=0.1)
    down, sym = copy.deepcopy(up), learner(ep_beta=0.1, ep_estimate="symmetric")
    sym_again = copy.deepcopy(sym)
    d_up = weight_change(up, x, labels, seed_with_sign(False))
    d_down = weight_change(down, x, labels, seed_with_sign(True))
    assert up.last_beta == 0.1 and down.last_beta == -0.1
    d_sym = weight_change(sym, x, labels, seed_with_sign(True))
    torch.testing.assert_close(d_sym, (d_up + d_down) / 2, atol=1e-6, rtol=1e-4)
    # the symmetric estimate does not depend on the sign draw
    torch.testing.assert_close(weight_change(sym_again, x, labels, seed_with_sign(False)), d_sym, atol=0, rtol=0)
    # the two one-sided estimates differ (clamping and finite Kmax) but agree in direction
    assert not torch.allclose(d_up, d_down, atol=1e-6)
    assert cosine(d_up, d_down) > 0.8


def test_sign_of_beta_is_random_per_batch_unless_disabled():
    lrn = learner()
    signs = []
    for _ in range(60):
        lrn.train_step(torch.rand(4, 784))
        signs.append(lrn.last_beta)
    assert set(signs) == {0.2, -0.2} and 15 < signs.count(-0.2) < 45
    fixed = learner(ep_random_sign=False)
    for _ in range(10):
        fixed.train_step(torch.rand(4, 784))
        assert fixed.last_beta == 0.2


def test_dropped_output_neurons_stay_silent_and_keep_their_weights():
    lrn = learner(rule={"n_outputs": 30, "k": 3, "gamma": 0.3, "dropout": 0.5, "n_classes": 3},
                  sizes=(784, 40, 30))
    mask = (torch.rand(1, 30) < 0.5).float()
    drive, free = lrn.free_phase(torch.rand(1, 784), [None, mask])
    nudged = lrn.nudged_phase(drive, free, 0.2, torch.ones(1, 30), [None, mask])
    assert (free[-1][mask == 0] == 0).all() and (nudged[-1][mask == 0] == 0).all()
    assert (nudged[-1][mask == 1] > free[-1][mask == 1]).any()


def test_config_validation():
    with pytest.raises(ConfigError, match="arch='mlp'"):
        ep_config(arch="cnn")
    with pytest.raises(ConfigError, match="optimizer='sgd'"):
        ep_config(optimizer="adam")
    for field, value in (("ep_dt", 0.0), ("ep_dt", 1.5), ("ep_beta", 0.0), ("ep_beta", 1.0),
                         ("ep_free_steps", 0), ("ep_nudge_steps", 0)):
        with pytest.raises(ConfigError, match=field):
            ep_config(**{field: value})
    with pytest.raises(ConfigError, match="ep_estimate"):
        ep_config(ep_estimate="two-sided")
    with pytest.raises(ConfigError, match="straight_through"):
        ep_config(straight_through=True)


def test_clean_target_is_built_from_the_free_phase_without_dropout():
    lrn = learner(sizes=(784, 40, 30), input_dropout=0.5, hidden_dropout=0.5, clean_target=True)
    x = torch.rand(8, 784)
    clean = lrn.activity(x)
    seen = record_target_sources(lrn)
    lrn.train_step(x)
    lrn.config = lrn.config.replace(clean_target=False)
    clean_now = lrn.activity(x)
    lrn.train_step(x)
    torch.testing.assert_close(seen[0], clean)
    assert not torch.allclose(seen[1], clean_now)


def test_presets_hold_the_published_settings():
    one, two = preset_config("ep-1layer"), preset_config("ep-2layer")
    assert one.algorithm == two.algorithm == "ep"
    assert (one.sizes, one.batch_size, one.epochs, one.input_dropout) == ((784, 2000), 16, 100, 0.3)
    assert one.lrs == (0.015,)  # ours (see presets.py); published 0.03
    assert (one.ep_free_steps, one.ep_nudge_steps, one.ep_dt, one.ep_beta) == (40, 10, 0.2, 0.2)
    assert (one.wta_rule.k, one.wta_rule.gamma, one.wta_rule.dropout) == (5, 0.3, 0.2)
    assert (two.sizes, two.lrs, two.batch_size, two.hidden_dropout) == ((784, 2000, 2000), (0.01, 0.015), 32, 0.0)
    assert (two.ep_free_steps, two.ep_nudge_steps) == (60, 20)
    assert (two.wta_rule.k, two.wta_rule.gamma) == (4, 0.65)


def test_ep_run_shares_the_loop_checkpoint_and_scoring(tmp_path):
    data = synthetic_dataset()
    cfg = ep_config((784, 40, 20), rule={"n_outputs": 20, "k": 2, "gamma": 0.3, "dropout": 0.1, "n_classes": 4},
                    input_dropout=0.1, lrs=(0.05, 0.05), epochs=2, batch_size=16, seed=3, threads=1)
    res = train(cfg, out_dir=tmp_path, dataset=data, progress=False, plots=False)
    assert isinstance(res.learner, EPLearner) and [m["epoch"] for m in res.metrics] == [1, 2]
    scored = evaluate_checkpoint(tmp_path, dataset=data, label_fraction=1.0, seed=cfg.seed)
    assert scored["da_average"] == pytest.approx(res.metrics[-1]["test_da_average"], abs=1e-9)
    assert res.metrics[-1]["test_da_average"] > 0.5  # four blob classes


def test_short_real_training_beats_chance_widely():
    cfg = ep_config((784, 300), rule={"n_outputs": 300, "k": 5, "gamma": 0.3, "dropout": 0.2},
                    input_dropout=0.3, lrs=(0.015,), batch_size=16, epochs=3, max_train_samples=3000,
                    max_test_samples=1000, threads=1, seed=0)
    res = train(cfg, dataset=real_mnist(), progress=False, plots=False)
    das = [m["test_da_average"] for m in res.metrics]
    assert das[-1] > 0.65  # chance is 0.1 (0.75 measured on the bundled 3000-digit sample)
    assert das[-1] >= das[0] - 0.02


def test_cli_trains_an_ep_preset(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--preset", "ep-1layer", "--epochs", "1", "--train-samples", "200", "--test-samples",
                 "50", "--threads", "1", "--out", str(out), "--no-progress"]) == 0
    assert (out / "checkpoint.pt").exists() and (out / "metrics.json").exists()


def test_smooth_target_mixes_uniform_before_the_mask():
    from sdt_neuro.training.ep import smooth_target

    d = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    out = smooth_target(d, mask, 0.3, k=2)
    # 0.7 * d + 0.3 * 2/4, then the masked neuron is 0
    assert torch.allclose(out, torch.tensor([[0.85, 0.15, 0.85, 0.0]]))


def test_mask_dropout_scales_the_input_drive_by_keep_not_by_one_over_keep():
    x = torch.ones(64, 784)
    inverted = learner(input_dropout=0.5, ep_dropout="inverted")
    plain = learner(input_dropout=0.5, ep_dropout="mask")
    seen = {}
    for name, lrn in (("inverted", inverted), ("mask", plain)):
        original = lrn.free_phase

        def spy(xd, masks=None, _orig=original, _name=name):
            seen[_name] = xd.clone()
            return _orig(xd, masks)

        lrn.free_phase = spy
        torch.manual_seed(3)
        lrn.train_step(x)
    assert set(seen["inverted"].unique().tolist()) == {0.0, 2.0}
    assert set(seen["mask"].unique().tolist()) == {0.0, 1.0}


def test_target_smoothing_changes_the_unsupervised_update_only():
    x = torch.rand(8, 784)
    labels = torch.arange(8) % 3
    plain, smooth = learner(), learner(ep_target_smoothing=0.3)
    assert not torch.allclose(weight_change(plain, x), weight_change(smooth, x))
    plain, smooth = learner(), learner(ep_target_smoothing=0.3)
    assert torch.allclose(weight_change(plain, x, labels), weight_change(smooth, x, labels))


def test_ep_dropout_and_smoothing_are_validated():
    with pytest.raises(ConfigError, match="ep_dropout"):
        ep_config(ep_dropout="scaled")
    with pytest.raises(ConfigError, match="ep_target_smoothing"):
        ep_config(ep_target_smoothing=1.0)
