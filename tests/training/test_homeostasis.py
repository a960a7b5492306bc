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


def test_module_buffers_move_save_and_load() -> None:
    from sdt_neuro.training.homeostasis import SelfDefinedTarget

    rule = WTARule(n_outputs=20, k=2, gamma=0.5, n_classes=10)
    module = SelfDefinedTarget(rule)
    module(torch.rand(8, 20))
    assert set(module.state_dict()) == {"offsets", "average"} and module.offsets.abs().sum() > 0
    copy = SelfDefinedTarget(rule).to(torch.float64)
    copy.load_state_dict(module.state_dict())
    torch.testing.assert_close(copy.offsets, module.offsets.double())
    frozen = module.offsets.clone()
    module.eval()
    module(torch.rand(8, 20))  # eval mode reads the state, never writes it
    torch.testing.assert_close(module.offsets, frozen)


def _two_ranks(rank: int, world: int, port: int, folder: str) -> None:
    import os

    import torch.distributed as dist

    from sdt_neuro.training.homeostasis import SelfDefinedTarget

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        batches = [torch.rand(8, 30) for _ in range(300)]
        rule = WTARule(n_outputs=30, k=3, gamma=0.4, n_classes=10)
        module = SelfDefinedTarget(rule)
        ddp = torch.nn.parallel.DistributedDataParallel(torch.nn.Sequential(torch.nn.Linear(30, 30), module))
        for y in batches:
            module(y[rank::world])
        ddp.eval()
        ddp(batches[0][rank::world])  # a DDP forward broadcasts rank 0's buffers: they must already agree
        torch.save(module.state_dict(), f"{folder}/rank{rank}.pt")
        dist.barrier()  # leave together (a rank torn down under the other's last message can crash)
    finally:
        dist.destroy_process_group()


def test_two_processes_hold_the_offsets_of_one_process_with_the_global_batch(tmp_path) -> None:
    import socket

    import torch.multiprocessing as mp

    from sdt_neuro.training.homeostasis import SelfDefinedTarget

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_two_ranks, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    torch.testing.assert_close(ranks[0]["offsets"], ranks[1]["offsets"], rtol=0, atol=0)
    torch.manual_seed(0)
    batches = [torch.rand(8, 30) for _ in range(300)]
    single = SelfDefinedTarget(WTARule(n_outputs=30, k=3, gamma=0.4, n_classes=10))
    for y in batches:
        single(y)
    torch.testing.assert_close(ranks[0]["offsets"], single.offsets, rtol=0, atol=1e-6)
    assert single.offsets.abs().sum() > 0
