"""Property-based tests of the rule and the evaluation (hypothesis): for any finite outputs,
offsets, k and ties, the invariants the docs promise hold."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sdt_neuro.evaluate import direct_association
from sdt_neuro.rule import WTARule
from sdt_neuro.targets import homeostasis_step, kwta_target, kwta_target_torch, label_target

# outputs drawn from a few values (many ties, the hard-sigmoid's 0 and 1 among them) or any float32
LEVELS = st.sampled_from([0.0, 0.25, 0.5, 1.0])
FLOATS = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@st.composite
def outputs_offsets_k(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    n = draw(st.integers(2, 24))
    rows = draw(st.integers(1, 12))
    elements = draw(st.sampled_from([LEVELS, FLOATS]))
    y = draw(arrays(np.float32, (rows, n), elements=elements))
    h = draw(arrays(np.float32, (n,), elements=st.one_of(LEVELS, st.floats(-2, 2, width=32))))
    return y, h, draw(st.integers(1, n - 1))


@settings(max_examples=300, deadline=None)
@given(outputs_offsets_k())
def test_exactly_k_winners_that_beat_every_loser_and_numpy_equals_torch(case):
    y, h, k = case
    d = kwta_target(y, h, k)
    assert (d.sum(axis=1) == k).all()
    v = y - h
    for row, won in zip(v, d.astype(bool)):
        assert row[won].min() >= row[~won].max()
        tied_losers = np.flatnonzero(~won & (row == row[won].min()))
        assert (tied_losers > np.flatnonzero(won & (row == row[won].min())).max()).all()  # ties: lower index
    np.testing.assert_array_equal(kwta_target_torch(torch.from_numpy(y), torch.from_numpy(h), k).numpy(), d)


@settings(max_examples=200, deadline=None)
@given(outputs_offsets_k(), st.data())
def test_with_a_dropout_mask_at_most_k_winners_all_kept(case, data):
    """The documented masked behaviour: winners of ``m * y``, masked again."""
    y, h, k = case
    m = data.draw(arrays(np.float32, y.shape, elements=st.sampled_from([0.0, 1.0])))
    d = kwta_target(m * y, h, k) * m
    assert (d.sum(axis=1) <= k).all() and (d <= m).all()
    full = kwta_target(m * y, h, k)
    assert ((d.sum(axis=1) == k) == (full * m).sum(axis=1).__eq__(k)).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 40), st.integers(0, 2**31 - 1), st.floats(0.05, 2.0), st.sampled_from([1, 4, 32]))
def test_homeostasis_offsets_stay_bounded_over_long_random_runs(n, seed, gamma, batch):
    """With y in [0, 1] a neuron whose offset exceeds another's by more than 1 can never beat it,
    so the spread of H stays within 1 + gamma; without dropout the mean of H never moves."""
    rule = WTARule(n_outputs=n, k=max(1, n // 5), gamma=gamma, dropout=0.0, n_classes=2)
    rng = np.random.default_rng(seed)
    bias = rng.random(n)  # some neurons are favoured all along
    h = np.zeros(n)
    for _ in range(1000):
        y = np.clip(bias + 0.3 * rng.standard_normal((batch, n)), 0, 1)
        h = homeostasis_step(h, kwta_target(y, h, rule.k), rule)
        assert h.max() - h.min() <= 1 + gamma + 1e-9
    assert abs(h.mean()) < 1e-9


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 12), st.integers(0, 30), st.booleans())
def test_label_targets_light_exactly_their_class_block(n_classes, extra, one_per_class):
    n = n_classes if one_per_class else n_classes + extra
    rule = WTARule(n_outputs=n, k=1, n_classes=n_classes,
                   label_mapping="one_per_class" if one_per_class else "block")
    d = label_target(np.arange(n_classes), rule)
    blocks = [rule.class_block(c) for c in range(n_classes)]
    for c, (lo, hi) in enumerate(blocks):
        assert hi > lo and d[c, lo:hi].all() and d[c].sum() == hi - lo
    assert all(a[1] <= b[0] for a, b in zip(blocks, blocks[1:]))  # blocks do not overlap


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([0.25, 2.0, 8.0]), st.booleans())
def test_direct_association_ignores_neuron_order_and_positive_scale(seed, scale, quantised):
    """Powers of two keep every float exact, so ties and their random breaking stay the same."""
    rng = np.random.default_rng(seed)
    n, classes = 30, 5
    label_act = rng.random((200, n)).astype(np.float32)
    test_act = rng.random((100, n)).astype(np.float32)
    if quantised:  # spike rates at T=4: many ties
        label_act, test_act = np.floor(label_act * 4) / 4, np.floor(test_act * 4) / 4
    labels, test_labels = rng.integers(0, classes, 200), rng.integers(0, classes, 100)
    base = direct_association(label_act, labels, test_act, test_labels, classes)
    perm = rng.permutation(n)
    moved = direct_association(scale * label_act[:, perm], labels, scale * test_act[:, perm], test_labels, classes)
    np.testing.assert_array_equal(moved.pred_average, base.pred_average)
    np.testing.assert_array_equal(moved.pred_max, base.pred_max)
    assert (moved.average, moved.max) == (base.average, base.max)
