"""On-chip learning in Lava: the weight change equals the reference's sequential-mode update."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("lava")

from sdt_neuro.backends.lava.learning import (  # noqa: E402
    LavaLearner,
    LavaLearningSession,
    build_learning_graph,
    check_config,
    reference_window,
)
from sdt_neuro.backends.lava.local_wta import LocalWTA  # noqa: E402
from sdt_neuro.errors import ConfigError, ShapeError  # noqa: E402
from sdt_neuro.models import build_model  # noqa: E402
from sdt_neuro.rule import WTARule  # noqa: E402
from sdt_neuro.training.bp import BPLearner  # noqa: E402
from sdt_neuro.training.config import TrainConfig  # noqa: E402
from tests.backends.lava.nets import live_children  # noqa: E402
from tests.backends.lava.test_runtime import _assert_no_new_children, _FailAfter  # noqa: E402
from tests.conftest import synthetic_dataset  # noqa: E402

RULE = WTARule(n_outputs=10, k=2, gamma=0.3, eta=0.1)


def _layer(n_in: int = 30, n_out: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.2, (n_out, n_in)), rng.normal(0.2, 0.1, n_out)


def test_lava_update_equals_the_numpy_oracle_exactly() -> None:
    """Tolerance 1e-12: Lava's float learning engine and the oracle do the same float64 operations
    (the synapse multiplies x1 = x / 2 by 2 and undoes a 2**16-step trace decay)."""
    w, b = _layer()
    x = np.random.default_rng(1).random((6, 30))
    lrs = np.linspace(0.8, 0.3, 6)
    with LavaLearningSession(w, b, RULE, steps=5, windows=len(x)) as session:
        stats = session.learn(x, lrs)
        w_lava, b_lava = session.weights, session.bias
    h, a, w_ref, b_ref = np.zeros(10), np.zeros(10), w.copy(), b.copy()
    for i in range(len(x)):
        r = reference_window(w_ref, b_ref, x[i], h, a, RULE, 5, lrs[i])
        np.testing.assert_array_equal(stats[i, 0], r.rate)
        np.testing.assert_array_equal(stats[i, 1], r.target)
        np.testing.assert_allclose(stats[i, 5], np.abs(w_ref @ x[i]), rtol=1e-12)  # the window's peak a_in
        w_ref, b_ref, h, a = r.weights, r.bias, r.offsets, r.average
    assert np.abs(w_lava - w).max() > 1e-3  # it did learn
    np.testing.assert_allclose(w_lava, w_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b_lava, b_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(session.offsets, h, rtol=0, atol=1e-12)
    np.testing.assert_allclose(session.average, a, rtol=0, atol=1e-12)


def test_lava_update_matches_the_ann_reference_learner_within_one_over_t() -> None:
    """Against ``BPLearner`` in sequential mode (hard-sigmoid output, float32): the spike rate is
    within 1/T of clamp(W x + b), so per sample and weight |dW_lava - dW_ann| <= lr 2/N x_j / T
    (same winners), plus float32 rounding."""
    steps, lr, n = 64, 0.5, 4
    config = TrainConfig(rule=RULE.to_dict(), sizes=(30, 10), input_dropout=0.0, mode="sequential",
                         batch_size=1, lrs=(lr,), schedule="constant", device="cpu")
    w, b = _layer(seed=3)
    x = np.random.default_rng(4).random((n, 30))
    model = build_model("mlp", (30, 10), 0.0, 0.0, 0.0)
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.from_numpy(w))
        model.layers[0].bias.copy_(torch.from_numpy(b))
    ann = BPLearner(model, config, torch.device("cpu"))
    for i in range(n):
        ann.train_step(torch.from_numpy(x[i : i + 1]).float())
    with LavaLearningSession(w, b, RULE, steps=steps, windows=n) as session:
        session.learn(x, lr)
    dw_lava = session.weights - w
    dw_ann = model.layers[0].weight.detach().double().numpy() - w
    assert np.abs(dw_ann).max() > 1e-2
    bound = n * lr * 2 / RULE.n_outputs / steps + 1e-5
    assert np.abs(dw_lava - dw_ann).max() <= bound
    np.testing.assert_allclose(session.offsets, ann.state.offsets.numpy(), atol=1e-6)  # same winners


def test_learner_in_the_shared_loop_writes_a_reference_checkpoint(tmp_path) -> None:
    from sdt_neuro.training.checkpoint import load_trained_model
    from sdt_neuro.training.loop import train

    config = TrainConfig(rule={"n_outputs": 12, "k": 2, "gamma": 0.3, "eta": 0.1}, sizes=(784, 12),
                         input_dropout=0.0, mode="sequential", batch_size=1, lrs=(0.5,), device="cpu",
                         max_test_samples=20, extra={"steps": 4})
    data = synthetic_dataset(n_train=24, n_test=20)
    learners = []

    def factory(cfg, device):
        learners.append(LavaLearner(cfg, device, epoch_samples=24))
        return learners[-1]

    before = live_children()
    result = train(config, out_dir=tmp_path, dataset=data, progress=False, plots=False, learner_factory=factory)
    _assert_no_new_children(before)
    assert learners[0].session is None and len(result.metrics) == 1
    _, model, raw = load_trained_model(tmp_path)
    assert raw["backend"] == "lava" and (tmp_path / "metrics.json").is_file()
    torch.manual_seed(0)
    initial = build_model("mlp", (784, 12), 0.0, 0.0, 0.0)
    assert not torch.equal(model.layers[0].weight, initial.layers[0].weight)  # learned in Lava
    np.testing.assert_allclose(raw["homeostasis"]["offsets"].numpy(), learners[0].state.offsets.numpy())


def test_error_mid_run_stops_the_runtime() -> None:
    before = live_children()
    w, b = _layer()
    session = LavaLearningSession(w, b, RULE, steps=3, windows=8)
    with pytest.raises(KeyboardInterrupt), session:
        session.learn(np.random.default_rng(0).random((8, 30)), 0.1, progress=_FailAfter(KeyboardInterrupt()))
    _assert_no_new_children(before)
    with LavaLearningSession(w, b, RULE, steps=3, windows=2):  # compiled, never run
        pass
    _assert_no_new_children(before)


def test_an_epoch_the_loop_abandons_is_aborted_not_drained(monkeypatch) -> None:
    config = TrainConfig(rule={"n_outputs": 12, "k": 2, "gamma": 0.3, "eta": 0.1}, sizes=(784, 12),
                         input_dropout=0.0, mode="sequential", batch_size=1, lrs=(0.5,), device="cpu",
                         extra={"steps": 3})
    before = live_children()
    learner = LavaLearner(config, torch.device("cpu"), epoch_samples=500)
    learner.train_step(torch.rand(1, 784))  # one of 500 windows sent: the loop then fails
    closed = []
    real_close = LavaLearningSession.close
    monkeypatch.setattr(LavaLearningSession, "close",
                        lambda self, **kw: closed.append(kw) or real_close(self, **kw))
    learner.close()
    assert closed == [{"quiet": True, "abort": True}] and learner.session is None
    _assert_no_new_children(before)


def test_bad_inputs_raise_clear_errors() -> None:
    w, b = _layer()
    with pytest.raises(ConfigError, match="dropout"):
        build_learning_graph(w, b, RULE.replace(dropout=0.2), steps=4, windows=1)
    with pytest.raises(ConfigError, match="steps=0"):
        build_learning_graph(w, b, RULE, steps=0, windows=1)
    with pytest.raises(ShapeError, match="n_outputs"):
        build_learning_graph(w[:5], b[:5], RULE, steps=4, windows=1)
    with pytest.raises(ConfigError, match="finite"):
        build_learning_graph(np.full_like(w, np.nan), b, RULE, steps=4, windows=1)
    with LavaLearningSession(w, b, RULE, steps=2, windows=2) as session:
        with pytest.raises(ConfigError, match=r"\[0, 1\]"):
            session.learn(np.full((2, 30), 2.0), 0.1)
        with pytest.raises(ShapeError, match="30"):
            session.learn(np.zeros((2, 7)), 0.1)
        with pytest.raises(ShapeError, match="expects 2 more"):
            session.learn(np.zeros((3, 30)), 0.1)
        with pytest.raises(ConfigError, match=r"\[0, 1\]"):  # one sample at a time is checked too
            session.step(np.full(30, np.nan), 0.1)
        with pytest.raises(ConfigError, match="lr must hold finite learning rates >= 0"):
            session.learn(np.zeros((2, 30)), np.array([0.1, -0.1]))  # refused before the first is sent
        assert session.sent == 0
        with pytest.raises(ConfigError, match="lr=-0.1 must be a finite learning rate"):
            session.step(np.zeros(30), -0.1)
    batch = TrainConfig(rule=RULE.to_dict(), sizes=(30, 10), input_dropout=0.0, batch_size=16)
    with pytest.raises(ConfigError, match="sequential"):
        check_config(batch)
    with pytest.raises(ConfigError, match="readout='sigmoid'"):
        check_config(batch.replace(readout="sigmoid", mode="sequential", batch_size=1))


def test_local_race_in_lava_equals_the_numpy_oracle() -> None:
    """Winners chosen by the race with lateral inhibition (a stock Dense) inside Lava: the same
    targets, offsets and weights as ``reference_window`` with the race oracle."""
    wta = LocalWTA(steps=6)
    w, b = _layer(seed=5)
    x = np.random.default_rng(6).random((6, 30))
    with LavaLearningSession(w, b, RULE, steps=4, windows=len(x), wta=wta) as session:
        stats = session.learn(x, 0.5)
        w_lava = session.weights
    h, a, w_ref, b_ref = np.zeros(10), np.zeros(10), w.copy(), b.copy()
    for i in range(len(x)):
        r = reference_window(w_ref, b_ref, x[i], h, a, RULE, 4, 0.5, wta)
        np.testing.assert_array_equal(stats[i, 1], r.target)
        w_ref, b_ref, h, a = r.weights, r.bias, r.offsets, r.average
    np.testing.assert_allclose(w_lava, w_ref, rtol=0, atol=1e-12)
    assert np.abs(w_lava - w).max() > 1e-3


def test_an_epoch_in_lava_is_sized_to_the_training_split_without_the_validation_images() -> None:
    from sdt_neuro.backends.lava.learning import epoch_samples
    from sdt_neuro.presets import preset_config

    data = synthetic_dataset()  # 200 training images
    assert epoch_samples(preset_config("lava-100", dataset="mnist"), data) == 200
    assert epoch_samples(preset_config("lava-100", val_samples=40), data) == 160
    assert epoch_samples(preset_config("lava-100", val_samples=40, max_train_samples=100), data) == 100
    assert epoch_samples(preset_config("lava-100", val_samples=40, max_train_samples=180), data) == 160
