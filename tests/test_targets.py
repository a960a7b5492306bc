import numpy as np
import pytest
import torch

from sdt_neuro.errors import ShapeError
from sdt_neuro.rule import WTARule
from sdt_neuro.targets import (
    homeostasis_step,
    homeostasis_step_torch,
    kwta_target,
    kwta_target_torch,
    label_target,
    label_target_torch,
    sequential_homeostasis_step,
    sequential_homeostasis_step_torch,
)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_exactly_k_winners_and_they_are_the_largest(k):
    rng = np.random.default_rng(0)
    y = rng.random((50, 20)).astype(np.float32)
    h = rng.random(20).astype(np.float32) * 0.1
    d = kwta_target(y, h, k)
    assert (d.sum(axis=1) == k).all()
    v = y - h
    for row, drow in zip(v, d):
        assert row[drow == 1].min() >= row[drow == 0].max()


def test_ties_go_to_lower_index_and_still_k_winners():
    y = np.array([[1, 1, 1, 1, 0], [0, 0, 0, 0, 0]], dtype=np.float32)
    d = kwta_target(y, np.zeros(5, np.float32), 2)
    np.testing.assert_array_equal(d, [[1, 1, 0, 0, 0], [1, 1, 0, 0, 0]])
    np.testing.assert_array_equal(kwta_target_torch(torch.tensor(y), torch.zeros(5), 2).numpy(), d)


def test_numpy_and_torch_forms_are_identical_with_many_ties():
    rng = np.random.default_rng(1)
    rule = WTARule(n_outputs=300, k=6, gamma=0.4, dropout=0.2, eta=0.1)
    y = np.clip(rng.normal(0.5, 0.8, (64, 300)), 0, 1).astype(np.float32)  # many exact 0s and 1s
    h_np = np.zeros(300, np.float32)
    a_np = np.zeros(300, np.float32)
    h_t, a_t = torch.zeros(300), torch.zeros(300)
    for step in range(5):
        d_np = kwta_target(y, h_np, rule.k)
        d_t = kwta_target_torch(torch.from_numpy(y), h_t, rule.k)
        np.testing.assert_array_equal(d_np, d_t.numpy())
        h_np = homeostasis_step(h_np, d_np, rule).astype(np.float32)
        h_t = homeostasis_step_torch(h_t, d_t, rule)
        np.testing.assert_allclose(h_np, h_t.numpy(), rtol=0, atol=1e-7)
        h_np, a_np = sequential_homeostasis_step(h_np, a_np, d_np[step], rule)
        h_t, a_t = sequential_homeostasis_step_torch(h_t, a_t, d_t[step], rule)
        h_np, a_np = h_np.astype(np.float32), a_np.astype(np.float32)
        np.testing.assert_allclose(a_np, a_t.numpy(), atol=1e-7)
        np.testing.assert_allclose(h_np, h_t.numpy(), atol=1e-6)


def test_homeostasis_equalises_win_frequencies_on_skewed_data():
    rng = np.random.default_rng(2)
    n, k = 20, 2
    rule = WTARule(n_outputs=n, k=k, gamma=0.5)
    bias = np.linspace(0.0, 0.6, n)  # later neurons systematically more active
    h = np.zeros(n)
    wins = np.zeros(n)
    for step in range(3000):
        y = rng.random((16, n)) * 0.5 + bias
        d = kwta_target(y, h, k)
        h = homeostasis_step(h, d, rule)
        if step >= 1000:
            wins += d.sum(axis=0)
    freq = wins / wins.sum()
    assert freq.min() > 0.5 / n and freq.max() < 1.5 / n
    # without homeostasis the same data is dominated by a few neurons
    d0 = kwta_target(rng.random((2000, n)) * 0.5 + bias, np.zeros(n), k)
    assert (d0.sum(axis=0) == 0).sum() >= n // 4
    assert d0.sum(axis=0).max() / d0.sum() > 3 / n


def test_label_target_blocks():
    rule = WTARule(n_outputs=20, k=2, n_classes=10)
    d = label_target(np.array([0, 9, 3]), rule)
    assert d.shape == (3, 20)
    np.testing.assert_array_equal(np.flatnonzero(d[1]), [18, 19])
    np.testing.assert_array_equal(label_target_torch(torch.tensor([0, 9, 3]), rule).numpy(), d)
    with pytest.raises(ShapeError, match="labels must lie"):
        label_target(np.array([10]), rule)


def test_shape_errors():
    with pytest.raises(ShapeError, match="2-D"):
        kwta_target(np.zeros(5), np.zeros(5), 1)
    with pytest.raises(ShapeError, match="offsets"):
        kwta_target(np.zeros((2, 5)), np.zeros(4), 1)
    with pytest.raises(ShapeError, match="k=5"):
        kwta_target_torch(torch.zeros(2, 5), torch.zeros(5), 5)


def test_non_finite_outputs_or_offsets_are_refused_naming_them():
    from sdt_neuro.errors import NonFiniteError
    from sdt_neuro.training.homeostasis import HomeostasisState

    y = np.random.default_rng(0).random((4, 20)).astype(np.float32)
    y[1, 3] = np.nan
    with pytest.raises(NonFiniteError, match="activity y.*1 NaN and 0 inf of 80"):
        kwta_target(y, np.zeros(20, np.float32), 2)
    with pytest.raises(NonFiniteError, match="activity y"):
        HomeostasisState(WTARule(n_outputs=20, k=2)).self_defined_target(torch.from_numpy(y), None)
    with pytest.raises(NonFiniteError, match="offsets H.*1 inf"):
        kwta_target_torch(torch.rand(4, 20), torch.tensor([np.inf] + [0.0] * 19), 2)


def test_half_precision_outputs_keep_the_offsets_differences():
    y = torch.tensor([[0.5, 0.5]], dtype=torch.bfloat16)
    offsets = torch.tensor([0.3001, 0.3])  # neuron 1 is a little less pushed down: it wins
    d = kwta_target_torch(y, offsets, 1)
    assert d.tolist() == [[0.0, 1.0]] and d.dtype == torch.bfloat16
