"""Learning in Loihi 2 fixed point: Lava's bit-approximate engine against the integer oracle."""

from __future__ import annotations

import numpy as np
import pytest

from sdt_neuro.backends.lava.learning_fixed import (
    WEIGHT_MAX,
    WEIGHT_MIN,
    check_initial_weights,
    engine_update,
    fixed_reference_window,
    input_current,
    lava_random_streams,
    make_scale,
)
from sdt_neuro.errors import ConfigError
from sdt_neuro.rule import WTARule

RULE = WTARule(n_outputs=10, k=2, gamma=0.3, eta=1.0)


def _layer(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((8, 30))
    x[:, :5] = 0  # inputs that never spike: x0 = 0, their weights must not move
    return rng.normal(0, 0.02, (10, 30)), rng.normal(0.05, 0.02, 10), x


def test_lava_fixed_point_learning_equals_the_integer_oracle_exactly() -> None:
    """Counts, targets, signed third factors, offsets and every 8-bit weight after 8 windows,
    with a rate large enough that weights saturate, and the engine's trace decay and rounding."""
    pytest.importorskip("lava")
    from sdt_neuro.backends.lava.learning import LavaLearningSession

    steps, w, b, x = 5, *_layer()
    scale = make_scale(RULE, steps, lr_max=2.0, weight_max=0.08)
    levels = np.array([scale.rate_levels] * 4 + [scale.rate_levels // 2] * 4)
    lrs = levels / scale.rate_levels * scale.lr_max  # exact levels: no rounding of the rate
    with LavaLearningSession(w, b, RULE, steps=steps, windows=len(x), fixed=scale) as session:
        stats = session.learn(x, lrs)
        w_lava, offsets_lava = session.weights_int, session.offsets
    rand, rand_x, rand_y = lava_random_streams(len(x), steps + 1)
    w_ref, h_ref = scale.quantize_layer(w, b), np.zeros(10, np.int64)
    thirds = []
    for i in range(len(x)):
        r = fixed_reference_window(scale, w_ref, scale.payload(x[i]), h_ref, int(levels[i]), rand[i],
                                   (rand_x[i], rand_y[i]))
        np.testing.assert_array_equal(stats[i, 0] * steps, r.counts)
        np.testing.assert_array_equal(stats[i, 1], r.target)
        np.testing.assert_array_equal(stats[i, 2], r.third)
        np.testing.assert_array_equal(stats[i, 5], np.abs(input_current(scale, w_ref, scale.payload(x[i]))))
        thirds.append(r.third)
        w_ref, h_ref = r.weights, r.offsets
    assert (np.array(thirds) < 0).any() and (np.array(thirds) > 0).any()  # a signed factor reached the synapse
    np.testing.assert_array_equal(w_lava, w_ref)
    assert (w_lava == WEIGHT_MAX).any()  # saturated
    np.testing.assert_array_equal(w_lava[:, :5], scale.quantize_layer(w, b)[:, :5])  # silent inputs kept
    np.testing.assert_allclose(offsets_lava, scale.offsets_to_real(h_ref))
    assert np.abs(session.bias - w_lava[:, -1] * scale.weight_scale).max() < 1e-15  # bias: the always-on weight


def test_lava_refuses_a_window_whose_input_leaves_the_16_bit_a_in_as_the_oracle_does() -> None:
    """Weights near a wide range's top on bright inputs: about 54 thresholds per step, > 2**15 - 1."""
    pytest.importorskip("lava")
    from sdt_neuro.backends.lava.learning import LavaLearningSession

    scale = make_scale(RULE, 5, lr_max=0.5, weight_max=2.0)
    w, b, x = np.full((10, 30), 1.8), np.full(10, 0.1), np.ones((2, 30))
    with pytest.raises(ConfigError, match="16-bit a_in"):
        fixed_reference_window(scale, scale.quantize_layer(w, b), scale.payload(x[0]), np.zeros(10, np.int64), 1, 0.5)
    with pytest.raises(ConfigError, match="16-bit a_in"):  # noqa: PT012 - the session must stop on the way out
        with LavaLearningSession(w, b, RULE, steps=5, windows=len(x), fixed=scale) as session:
            session.learn(x, 0.5)


def test_engine_rounds_stochastically_without_bias_and_saturates() -> None:
    scale = make_scale(RULE, 5, lr_max=0.2, weight_max=0.08)
    w = np.zeros((10, 3), np.int64)
    payload = np.array([2 * 3, 2 * 127, 0])
    third = np.full(10, 5)
    exact = (3 * 5 >> 3) * 2.0 ** (scale.s_exp - 7), (127 * 5 >> 3) * 2.0 ** (scale.s_exp - 7)
    assert 0 < exact[0] < 1  # below one weight unit
    mean = np.mean([engine_update(scale, w, payload, third, r) for r in np.linspace(0, 1, 2001)[:-1]], axis=0)
    np.testing.assert_allclose(mean[:, :2], np.broadcast_to(exact, (10, 2)), atol=1e-3)
    assert (mean[:, 2] == 0).all()  # x0 = 0: no update
    full = engine_update(scale, np.full((10, 3), 250), np.array([254, 254, 254]), np.full(10, 127), 0.5)
    assert (full == WEIGHT_MAX).all()
    low = engine_update(scale, np.full((10, 3), -250), np.array([254, 254, 254]), np.full(10, -128), 0.5)
    assert (low == WEIGHT_MIN).all()


def test_the_oracle_window_learns_the_rule_in_integers() -> None:
    """A winner that fires below its target gets a positive factor; homeostasis moves by up/down."""
    scale = make_scale(RULE, 8, lr_max=0.5, weight_max=2.0)
    w_int = np.zeros((10, 4), np.int64)
    w_int[3] = [0, 0, 0, 40]  # neuron 3: bias only (about 0.3), fires at a low rate
    w_int[7] = [0, 0, 0, 60]
    r = fixed_reference_window(scale, w_int, np.array([0, 0, 0, 254]), np.zeros(10, np.int64), 4, 0.5)
    assert r.target.sum() == 2 and r.target[3] == r.target[7] == 1
    assert r.third[3] == (8 - r.counts[3]) * 4 > 0
    assert (r.offsets[r.target == 1] == scale.h_up).all() and (r.offsets[r.target == 0] == -scale.h_down).all()
    assert r.weights[3, 3] > 40 and (r.weights[:, :3] == 0).all()


def test_scale_maps_the_engine_update_to_the_rule() -> None:
    """One level of rate, one unit of y2 and one unit of x1 move a weight by lr/Q 2/N / (T 127) in real units."""
    rule = WTARule(n_outputs=100, k=2, gamma=0.1, eta=1.0)
    scale = make_scale(rule, 8, lr_max=0.15, weight_max=0.08)
    assert scale.weight_scale * WEIGHT_MAX <= 0.08 < scale.weight_scale * WEIGHT_MAX * 1.2
    assert scale.rate_levels * scale.steps <= 127
    engine = 2.0 ** (scale.s_exp - 10) * scale.weight_scale  # real dw per x1 * y2
    rule_dw = scale.lr_max / scale.rate_levels * 2 / 100 / (scale.steps * 127)
    assert engine == pytest.approx(rule_dw, rel=1e-12)
    assert 2**10 < scale.vth <= 2**11
    assert scale.h_up + scale.h_down == round(0.1 * scale.h_unit)


def test_unrepresentable_settings_are_refused_naming_the_value() -> None:
    with pytest.raises(ConfigError, match="eta=0.5"):
        make_scale(RULE.replace(eta=0.5), 8, 0.1)
    with pytest.raises(ConfigError, match="steps=200"):
        make_scale(RULE, 200, 0.1)
    with pytest.raises(ConfigError, match=r"lr=50.0 is too large.*lr <=") as refused:
        make_scale(RULE, 8, 50.0, weight_max=0.08)
    allowed = float(str(refused.value).rsplit("lr <= ", 1)[1].rstrip(")"))  # the limit the message names
    make_scale(RULE, 8, allowed * 0.99, weight_max=0.08)  # is the limit: just under it works
    with pytest.raises(ConfigError, match="too large"):
        make_scale(RULE, 8, allowed * 1.01, weight_max=0.08)
    with pytest.raises(ConfigError, match="gamma=1e-07 rounds to a zero"):
        make_scale(RULE.replace(gamma=1e-7), 8, 0.1)
    with pytest.warns(UserWarning, match="lr=1e-06 is small"):
        make_scale(RULE, 8, 1e-6, weight_max=0.08)
    scale = make_scale(RULE, 8, 0.5)
    with pytest.warns(UserWarning, match="3 of 40 initial weights"):
        check_initial_weights(scale, np.r_[np.zeros(27), [1.0, -1.0, 0.5]].reshape(10, 3), np.zeros(10))
    with pytest.raises(ConfigError, match=r"outside \[0, 0.5\]"):
        scale.rate_level(0.6, np.random.default_rng(0))


def test_rate_levels_are_rounded_without_bias() -> None:
    scale = make_scale(RULE, 8, 0.5)
    rng = np.random.default_rng(0)
    lr = 0.5 * 2.3 / scale.rate_levels
    levels = [scale.rate_level(lr, rng) for _ in range(4000)]
    assert set(levels) == {2, 3}
    assert np.mean(levels) == pytest.approx(2.3, abs=0.03)
    assert scale.rate_level(0.5, rng) == scale.rate_levels and scale.rate_level(0.0, rng) == 0


def test_learner_in_the_shared_loop_learns_in_fixed_point(tmp_path) -> None:
    pytest.importorskip("lava")
    import torch

    from sdt_neuro.backends.lava.learning import LavaLearner
    from sdt_neuro.training.checkpoint import load_trained_model
    from sdt_neuro.training.config import TrainConfig
    from sdt_neuro.training.loop import train
    from tests.conftest import synthetic_dataset

    config = TrainConfig(rule={"n_outputs": 12, "k": 2, "gamma": 0.3, "eta": 1.0}, sizes=(784, 12),
                         input_dropout=0.0, mode="sequential", batch_size=1, lrs=(0.5,), device="cpu",
                         init_gain=0.02, max_test_samples=20, epochs=2, extra={"steps": 4, "fixed_point": True})
    data = synthetic_dataset(n_train=16, n_test=20)
    learners: list[LavaLearner] = []

    def factory(cfg, device):
        learners.append(LavaLearner(cfg, device, epoch_samples=16))
        return learners[-1]

    train(config, out_dir=tmp_path, dataset=data, progress=False, plots=False, learner_factory=factory)
    _, model, _ = load_trained_model(tmp_path)
    unit = learners[0].fixed.weight_scale
    w = model.layers[0].weight.detach().double().numpy() / unit
    np.testing.assert_allclose(w, np.round(w), atol=1e-3)  # the weights are the engine's integers
    torch.manual_seed(0)
    assert np.abs(np.round(w)).max() <= 256 and np.abs(np.round(w)).sum() > 0


def test_lava_learning_options_are_checked_before_any_data_is_read(tmp_path) -> None:
    pytest.importorskip("lava")
    from types import SimpleNamespace

    from sdt_neuro.backends.lava.learning import train_command
    from sdt_neuro.presets import preset_config

    args = SimpleNamespace(resume=False, samples=None, steps=None, fixed_point=False, race_steps=None,
                           race_range=None, weight_max=0.1, data_root=None, out=str(tmp_path), no_progress=True)
    with pytest.raises(ConfigError, match="--weight-max sets the fixed-point weight range: add --fixed-point"):
        train_command(preset_config("lava-100"), args)
    args.weight_max, args.race_range = None, [-3.75, 1.25]
    with pytest.raises(ConfigError, match="--race-range sets the local race's scores: add --race-steps"):
        train_command(preset_config("lava-100"), args)
    args.race_steps, args.race_range = 12, [2.0, 1.0]
    with pytest.raises(ConfigError, match="floor=2.0 must lie below ceiling=1.0"):
        train_command(preset_config("lava-100"), args)
    args.race_steps, args.race_range = 0, None
    with pytest.raises(ConfigError, match="--race-steps 0: a race needs R >= 1"):
        train_command(preset_config("lava-100"), args)
    args.race_steps = None
    for change, message in (({"algorithm": "ep", "ep_dropout": "mask"}, "algorithm='bp'"),
                            ({"semi_labels": 100}, "semi_labels=100")):
        with pytest.raises(ConfigError, match=message):
            train_command(preset_config("lava-100").replace(**change), args)


def test_local_race_in_fixed_point_equals_the_integer_oracle() -> None:
    """The race on integer scores, with the lateral inhibition on Lava's bit-accurate Dense: the same
    winners, offsets and 8-bit weights as ``fixed_reference_window(race=...)``."""
    pytest.importorskip("lava")
    from sdt_neuro.backends.lava.learning import LavaLearningSession
    from sdt_neuro.backends.lava.local_wta import LocalWTA

    steps, w, b, x = 5, *_layer(seed=2)
    race = LocalWTA(steps=6)
    scale = make_scale(RULE, steps, lr_max=2.0, weight_max=0.08)
    lrs = np.full(len(x), scale.lr_max)
    with LavaLearningSession(w, b, RULE, steps=steps, windows=len(x), fixed=scale, wta=race) as session:
        stats = session.learn(x, lrs)
        w_lava = session.weights_int
    rand, rand_x, rand_y = lava_random_streams(len(x), steps + 1 + race.steps)
    w_ref, h_ref = scale.quantize_layer(w, b), np.zeros(10, np.int64)
    for i in range(len(x)):
        r = fixed_reference_window(scale, w_ref, scale.payload(x[i]), h_ref, scale.rate_levels, rand[i],
                                   (rand_x[i], rand_y[i]), race=race)
        np.testing.assert_array_equal(stats[i, 1], r.target)
        w_ref, h_ref = r.weights, r.offsets
    np.testing.assert_array_equal(w_lava, w_ref)
    assert np.abs(w_lava - scale.quantize_layer(w, b)).max() > 0
