"""More than one process (torch.distributed, gloo on CPU): two ranks train what one process trains."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.multiprocessing as mp

from sdt_neuro.training import TrainConfig, train
from sdt_neuro.training.distributed import Ranks
from sdt_neuro.training.loop import make_learner
from tests.conftest import synthetic_dataset


def config(**kw) -> TrainConfig:
    base = dict(rule={"n_outputs": 20, "k": 2, "gamma": 0.3, "dropout": 0.0, "n_classes": 4}, sizes=(784, 30, 20),
                input_dropout=0.0, hidden_dropout=0.0, lrs=(0.5, 1.0), batch_size=16, epochs=20, threads=1, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, world: int, port: int, folder: str, overrides: dict) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        resume = overrides.pop("_resume", False)
        base = _snntorch_learner if overrides.pop("_snntorch", False) else make_learner
        snapshots = []

        def factory(cfg, device):
            learner = base(cfg, device)
            reset = learner.state.reset

            def snapshot_then_reset():
                snapshots.append(learner.state.offsets.clone())  # the offsets at the end of an epoch
                reset()

            learner.state.reset = snapshot_then_reset
            return learner

        res = train(config(**overrides), out_dir=f"{folder}/out", dataset=synthetic_dataset(), progress=False,
                    plots=False, learner_factory=factory, resume=resume)
        torch.save({"model": res.model.state_dict(), "offsets": res.learner.state.offsets,
                    "snapshots": snapshots, "metrics": res.metrics}, f"{folder}/rank{rank}.pt")
        dist.barrier()  # leave together (a rank torn down under the other's last message can crash)
    finally:
        dist.destroy_process_group()


def _snntorch_learner(cfg, device):
    from sdt_neuro.backends.snntorch_head import learner_for_config

    return learner_for_config(cfg.replace(extra={"steps": 4}), device)


def run_two(tmp_path, **overrides) -> list[dict]:
    mp.spawn(_rank, args=(2, _free_port(), str(tmp_path), overrides), nprocs=2, join=True)
    return [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]


@pytest.mark.parametrize("overrides", [{}, {"algorithm": "ep", "ep_random_sign": False, "lrs": (0.05,),
                                            "ep_free_steps": 20, "ep_nudge_steps": 5},
                                       {"optimizer": "adam", "lrs": (1e-3,), "epochs": 5}],
                         ids=["bp-fast-path", "ep", "bp-adam-autograd"])
def test_two_ranks_equal_one_process_with_dropout_off(tmp_path, overrides):
    ranks = run_two(tmp_path, **overrides)
    single = train(config(**overrides), dataset=synthetic_dataset(), progress=False, plots=False)
    assert len(single.metrics) == config(**overrides).epochs  # 13 batches an epoch, the last one of 8
    for name, value in single.model.state_dict().items():
        torch.testing.assert_close(ranks[0]["model"][name], value, rtol=0, atol=1e-6)
        torch.testing.assert_close(ranks[1]["model"][name], ranks[0]["model"][name], rtol=0, atol=0)
    torch.testing.assert_close(ranks[0]["offsets"], single.learner.state.offsets, rtol=0, atol=1e-6)
    assert ranks[0]["metrics"][-1]["test_da_average"] == ranks[1]["metrics"][-1]["test_da_average"]
    assert (tmp_path / "out" / "metrics.json").exists()  # rank 0 wrote it
    for r in range(2):  # the loss over whole batches, not rank r's half of them
        assert ranks[r]["metrics"][-1]["train_loss"] == pytest.approx(single.metrics[-1]["train_loss"], rel=1e-5)


def test_the_snntorch_learner_trains_alike_on_two_ranks(tmp_path):
    pytest.importorskip("snntorch")
    ranks = run_two(tmp_path, epochs=2, lrs=(0.5,), _snntorch=True)
    single = train(config(epochs=2, lrs=(0.5,)), dataset=synthetic_dataset(), progress=False, plots=False,
                   learner_factory=_snntorch_learner)
    for name, value in single.model.state_dict().items():
        torch.testing.assert_close(ranks[0]["model"][name], value, rtol=0, atol=1e-5)
        torch.testing.assert_close(ranks[1]["model"][name], ranks[0]["model"][name], rtol=0, atol=0)


def test_with_dropout_the_ranks_hold_identical_offsets_at_every_epoch_end(tmp_path):
    ranks = run_two(tmp_path, input_dropout=0.3, hidden_dropout=0.2, epochs=4,
                    rule={"n_outputs": 20, "k": 2, "gamma": 0.3, "dropout": 0.2, "n_classes": 4})
    assert len(ranks[0]["snapshots"]) == 4  # reset at the start of every epoch (the first: zeros)
    for a, b in zip(ranks[0]["snapshots"], ranks[1]["snapshots"]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert ranks[0]["snapshots"][-1].abs().sum() > 0
    for name, value in ranks[0]["model"].items():
        torch.testing.assert_close(ranks[1]["model"][name], value, rtol=0, atol=0)


def test_a_last_batch_smaller_than_the_world_is_skipped(tmp_path):
    ranks = run_two(tmp_path, batch_size=199, epochs=1)  # batches of 199 and 1 sample
    assert len(ranks[0]["metrics"]) == 1
    for name, value in ranks[0]["model"].items():
        torch.testing.assert_close(ranks[1]["model"][name], value, rtol=0, atol=0)


def test_a_global_batch_is_shared_contiguously():
    idx = torch.arange(33)
    parts = [Ranks(r, 3).shard(idx) for r in range(3)]
    assert [len(p) for p in parts] == [11, 11, 11] and torch.equal(torch.cat(parts), idx)
    assert torch.equal(Ranks().shard(idx), idx)


def test_torchrun_cli_trains_with_two_ranks_and_rank_zero_writes(tmp_path):
    import json
    import subprocess

    out = tmp_path / "run"
    cmd = torchrun_train(out, "--epochs", "1", "--test-samples", "200")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("epoch    1") == 1  # printed by rank 0 only
    records = json.loads((out / "metrics.json").read_text())
    assert len(records) == 1 and records[0]["test_da_average"] > 0.3


def torchrun_train(out, *flags: str) -> list[str]:
    """``torchrun --nproc-per-node 2 -m sdt_neuro train --preset bp-fast`` on 600 images, 1 thread a rank."""
    import shutil
    import sys
    from pathlib import Path

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    return [torchrun, "--nproc-per-node", "2", "--master-port", str(_free_port()), "-m", "sdt_neuro", "train",
            "--preset", "bp-fast", "--train-samples", "600", "--threads", "1", "--out", str(out), "--no-progress",
            *flags]


def _children(pid: int) -> set[int]:
    from pathlib import Path

    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    from pathlib import Path

    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("how", ["a rank is killed", "ctrl-c"])
def test_a_failing_rank_or_ctrl_c_ends_every_rank_and_keeps_the_checkpoint(tmp_path, how):
    import signal
    import subprocess
    import time

    from sdt_neuro.training.checkpoint import load_checkpoint

    out = tmp_path / "run"
    cmd = torchrun_train(out, "--epochs", "200", "--test-samples", "100")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300  # two ranks' first epoch takes seconds; minutes on a loaded machine
        while not (out / "checkpoint.pt").exists() and time.time() < deadline:
            time.sleep(0.2)
        assert (out / "checkpoint.pt").exists()
        workers = _children(proc.pid)
        assert len(workers) == 2
        if how == "ctrl-c":
            proc.send_signal(signal.SIGINT)
        else:
            import os

            os.kill(max(workers), signal.SIGKILL)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code != 0
    deadline = time.time() + 30  # the ranks' exit is asynchronous and slow under load
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)]
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] >= 1  # intact and loadable


def test_resume_with_another_world_size(tmp_path):
    """One process trains epoch 1; two ranks continue from its checkpoint (dropout off: the same
    weights as one process all along)."""
    train(config(epochs=1, schedule_epochs=3), out_dir=tmp_path / "out", dataset=synthetic_dataset(), progress=False,
          plots=False)
    ranks = run_two(tmp_path, epochs=3, schedule_epochs=3, _resume=True)
    single = train(config(epochs=3, schedule_epochs=3), dataset=synthetic_dataset(), progress=False, plots=False)
    assert [m["epoch"] for m in ranks[0]["metrics"]] == [1, 2, 3]
    for name, value in single.model.state_dict().items():
        torch.testing.assert_close(ranks[0]["model"][name], value, rtol=0, atol=1e-6)


def test_a_gpu_rank_takes_its_device_before_it_joins_the_nccl_group(monkeypatch):
    import torch.distributed as dist

    from sdt_neuro.training.distributed import setup

    calls = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: calls.append(("set_device", index)))
    monkeypatch.setattr(dist, "init_process_group", lambda backend: calls.append(("group", backend)))
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    ranks = setup(torch.device("cuda", 1))
    assert calls == [("set_device", 1), ("group", "nccl")] and (ranks.rank, ranks.world) == (1, 2)


@pytest.mark.parametrize("rank", [0, 1])
def test_rank_zero_loads_the_data_before_the_others(monkeypatch, rank):
    import torch.distributed as dist

    calls = []
    monkeypatch.setattr(dist, "barrier", lambda: calls.append("barrier"))
    assert Ranks(rank, 2).main_first(lambda: calls.append("load") or "data") == "data"
    assert calls == (["load", "barrier"] if rank == 0 else ["barrier", "load"])
    assert Ranks().main_first(lambda: "alone") == "alone"
