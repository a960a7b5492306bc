"""HomeostasisState: which target it builds and when it moves the offsets."""

import torch

from sdt_neuro.rule import WTARule
from sdt_neuro.training.homeostasis import HomeostasisState


def _state() -> HomeostasisState:
    return HomeostasisState(WTARule(n_outputs=20, k=2, gamma=0.5, n_classes=10))


def test_target_with_labels_is_the_label_block_and_leaves_offsets() -> None:
    state = _state()
    y = torch.rand(4, 20)
    d = state.target(y, None, torch.tensor([0, 3, 9, 3]))
    # block mapping: 2 neurons per class, class c -> neurons 2c and 2c + 1
    assert d.sum(1).tolist() == [2, 2, 2, 2]
    assert d[1, 6] == 1 and d[1, 7] == 1 and d[2, 18] == 1
    assert torch.equal(state.offsets, torch.zeros(20))


def test_target_without_labels_is_k_winners_and_moves_offsets() -> None:
    state = _state()
    mask = torch.ones(8, 20)
    mask[:, 0] = 0
    y = torch.rand(8, 20) * mask  # the learners pass the masked output
    d = state.target(y, mask, None)
    top = y.topk(2, dim=1).indices
    assert torch.equal(d, torch.zeros_like(d).scatter(1, top, 1.0))
    assert d[:, 0].sum() == 0
    assert not torch.equal(state.offsets, torch.zeros(20))


def test_sequential_target_updates_the_win_average() -> None:
    state = _state()
    state.target(torch.rand(1, 20), None, None, sequential=True)
    assert state.average.sum() > 0
