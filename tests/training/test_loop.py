import json

import pytest
import torch

from sdt_neuro.errors import CheckpointError, ConfigError
from sdt_neuro.training import TrainConfig, train
from sdt_neuro.training.checkpoint import load_checkpoint, load_trained_model
from tests.conftest import real_mnist, synthetic_dataset


def small_config(**kw):
    base = dict(rule={"n_outputs": 20, "k": 2, "gamma": 0.3, "dropout": 0.1, "n_classes": 4},
                sizes=(784, 20), input_dropout=0.1, lrs=(2.0,), batch_size=16, epochs=2, threads=1, seed=5)
    base.update(kw)
    return TrainConfig(**base)


def test_a_folder_holding_a_run_is_refused_unless_resumed_or_overwritten(tmp_path):
    data = synthetic_dataset()
    train(small_config(epochs=1), out_dir=tmp_path, dataset=data, progress=False)
    assert (tmp_path / "index.html").is_file()
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(ConfigError, match="holds a run.*overwrite=True"):
        train(small_config(epochs=1, seed=6), out_dir=tmp_path, dataset=data, progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before

    def refused(config, device):
        raise ConfigError("this learner refuses the configuration")

    with pytest.raises(ConfigError, match="refuses"):  # a new run refused late still leaves the old one whole
        train(small_config(epochs=1, seed=6), out_dir=tmp_path, dataset=data, progress=False, overwrite=True,
              learner_factory=refused)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before and (tmp_path / "index.html").is_file()
    (tmp_path / "net.nir").write_bytes(b"the old run's")
    with pytest.warns(UserWarning, match=r"\['net.nir'\] stay from what was there before"):
        train(small_config(epochs=1, seed=6), out_dir=tmp_path, dataset=data, progress=False, plots=False,
              overwrite=True)
    assert (tmp_path / "checkpoint.pt").read_bytes() != before
    assert not (tmp_path / "index.html").exists() and not (tmp_path / "accuracy.png").exists()  # the old run's page


def test_run_writes_metrics_checkpoint_and_plots(tmp_path):
    res = train(small_config(), out_dir=tmp_path, dataset=synthetic_dataset(), progress=False)
    records = json.loads((tmp_path / "metrics.json").read_text())
    assert [r["epoch"] for r in records] == [1, 2]
    for key in ("epoch", "train_loss", "test_da_average", "test_da_max", "epoch_seconds"):
        assert key in records[-1]
    assert records[-1]["test_da_average"] >= 0.9  # four blobs: learnt in two epochs
    assert (tmp_path / "accuracy.png").stat().st_size > 1000
    assert (tmp_path / "receptive_fields.png").stat().st_size > 1000
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["epoch"] == 2 and ckpt["rule"]["k"] == 2 and "offsets" in ckpt["homeostasis"]
    config, model, _ = load_trained_model(tmp_path)
    assert config == res.config
    torch.testing.assert_close(model.layers[0].weight, res.model.layers[0].weight)


def test_resume_continues_exactly(tmp_path):
    data = synthetic_dataset()
    full = train(small_config(epochs=3), out_dir=tmp_path / "full", dataset=data, progress=False, plots=False)
    train(small_config(epochs=1).replace(schedule_epochs=3), out_dir=tmp_path / "part", dataset=data,
          progress=False, plots=False)
    with pytest.raises(CheckpointError, match="different configuration"):
        train(small_config(epochs=3, lrs=(1.0,)), out_dir=tmp_path / "part",
              resume=True, dataset=data, progress=False)
    resumed = train(small_config(epochs=3).replace(schedule_epochs=3), out_dir=tmp_path / "part", resume=True,
                    dataset=data, progress=False, plots=False)
    assert [m["epoch"] for m in resumed.metrics] == [1, 2, 3]
    for a, b in zip(full.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert full.metrics[-1]["test_da_average"] == resumed.metrics[-1]["test_da_average"]


def test_each_record_says_how_many_threads_its_seconds_were_measured_on(tmp_path):
    data, before = synthetic_dataset(), torch.get_num_threads()
    try:
        train(small_config(epochs=1).replace(schedule_epochs=2), out_dir=tmp_path, dataset=data, progress=False,
              plots=False)
        resumed = train(small_config(epochs=2, threads=2).replace(schedule_epochs=2), out_dir=tmp_path,
                        resume=True, dataset=data, progress=False, plots=False)
    finally:
        torch.set_num_threads(before)
    assert [m["threads"] for m in resumed.metrics] == [1, 2]


def test_resume_after_a_probe_continues_exactly(tmp_path):
    """The probe at the end of a run must not move the generator the next epochs draw from."""
    data = synthetic_dataset()
    full = train(small_config(epochs=2, probe=True), out_dir=tmp_path / "full", dataset=data, progress=False,
                 plots=False)
    train(small_config(epochs=1, probe=True, schedule_epochs=2), out_dir=tmp_path / "part", dataset=data,
          progress=False, plots=False)
    resumed = train(small_config(epochs=2, probe=True, schedule_epochs=2), out_dir=tmp_path / "part",
                    resume=True, dataset=data, progress=False, plots=False)
    for a, b in zip(full.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_probes_train_on_the_runs_device_and_report_their_time(monkeypatch):
    """A GPU run's probes run on the GPU (on one CPU thread a CNN run's probes take minutes)."""
    from sdt_neuro.training import loop

    seen = []
    real = loop.linear_probe
    monkeypatch.setattr(loop, "linear_probe", lambda *a, **kw: seen.append(kw["device"]) or real(*a, **kw))
    result = train(small_config(epochs=1, probe=True), dataset=synthetic_dataset(), progress=False, plots=False)
    assert seen == [result.learner.device] * len(result.config.probe_protocols)
    assert result.metrics[-1]["probe_seconds"] > 0


def test_checkpoints_save_and_restore_every_cuda_generator(monkeypatch):
    """CUDA dropout masks must replay after --resume: the CUDA states travel with the checkpoint."""
    from sdt_neuro.training import checkpoint as ck

    restored = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all",
                        lambda: [torch.tensor([1, 2], dtype=torch.uint8), torch.tensor([3, 4], dtype=torch.uint8)])
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: restored.__setitem__(device, state))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    gen = torch.Generator().manual_seed(1)
    states = ck.rng_states(gen)
    assert [s.tolist() for s in states["cuda"]] == [[1, 2], [3, 4]]
    ck.restore_rng_states(states, gen)
    assert {d: s.tolist() for d, s in restored.items()} == {0: [1, 2], 1: [3, 4]}
    restored.clear()
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # resumed where fewer GPUs are visible
    ck.restore_rng_states(states, gen)
    assert {d: s.tolist() for d, s in restored.items()} == {0: [1, 2]}


def test_seeded_runs_are_deterministic():
    data = synthetic_dataset()
    a = train(small_config(epochs=1), dataset=data, progress=False)
    b = train(small_config(epochs=1), dataset=data, progress=False)
    torch.testing.assert_close(a.model.layers[0].weight, b.model.layers[0].weight, rtol=0, atol=0)


def test_corrupt_and_mismatched_checkpoints_are_rejected(tmp_path):
    train(small_config(epochs=1), out_dir=tmp_path, dataset=synthetic_dataset(), progress=False, plots=False)
    good = (tmp_path / "checkpoint.pt").read_bytes()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    ckpt["config"]["sizes"] = [784, 30]
    ckpt["config"]["rule"]["n_outputs"] = 30
    torch.save(ckpt, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="does not match"):
        load_trained_model(tmp_path / "mismatch.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an sdt-neuro checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_checkpoint_refuses_pickled_objects(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": "sdt-neuro-checkpoint", "payload": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="corrupt or not"):
        load_checkpoint(tmp_path / "evil.pt")


def test_config_validation():
    with pytest.raises(ConfigError, match="sequential"):
        small_config(mode="sequential")
    with pytest.raises(ConfigError, match="outputs"):
        small_config(sizes=(784, 30))
    with pytest.raises(ConfigError, match="init_gain"):
        small_config(init_gain=-1.0)
    for bad in ({"lrs": (float("nan"),)}, {"lrs": (float("inf"),)}, {"ep_beta": float("nan")},
                {"final_lr_factor": float("nan")}):
        with pytest.raises(ConfigError, match=f"{next(iter(bad))}=.*finite"):
            small_config(**bad)
    with pytest.raises(ConfigError, match="resume"):
        train(small_config(), resume=True, dataset=synthetic_dataset())
    assert TrainConfig.from_dict(small_config().to_dict()) == small_config()


def test_sequential_mode_runs():
    cfg = small_config(epochs=1, mode="sequential", batch_size=1, lrs=(0.2,), max_train_samples=40,
                       rule={"n_outputs": 20, "k": 2, "gamma": 0.05, "dropout": 0.0, "eta": 0.1, "n_classes": 4})
    res = train(cfg, dataset=synthetic_dataset(), progress=False)
    assert res.learner.state.average.sum() > 0


def test_short_real_training_beats_chance_by_far():
    """3,000 real MNIST digits, three epochs of the rule: far above chance (0.10) and above the
    same network untrained (about 0.55 here)."""
    data = real_mnist()
    cfg = TrainConfig(rule={"n_outputs": 400, "k": 6, "gamma": 0.4, "dropout": 0.2}, sizes=(784, 400),
                      input_dropout=0.3, lrs=(8.0,), batch_size=16, epochs=3, threads=1,
                      max_train_samples=3000, max_test_samples=1000)
    untrained = train(cfg.replace(lrs=(1e-9,), epochs=1), dataset=data, progress=False)
    res = train(cfg, dataset=data, progress=False)
    assert res.metrics[-1]["test_da_average"] > 0.75
    assert res.metrics[-1]["test_da_average"] > untrained.metrics[-1]["test_da_average"] + 0.1


def test_an_epoch_is_in_the_checkpoint_before_metrics_json_lists_it(tmp_path, monkeypatch):
    from sdt_neuro.training import loop

    events = []
    save, write = loop.save_checkpoint, loop._write_json
    monkeypatch.setattr(loop, "save_checkpoint", lambda path, payload: events.append(("checkpoint", payload["epoch"]))
                        or save(path, payload))
    monkeypatch.setattr(loop, "_write_json", lambda path, obj: events.append((path.name, len(obj))) or write(path, obj))
    train(small_config(epochs=2), out_dir=tmp_path, dataset=synthetic_dataset(), progress=False, plots=False)
    epochs = [e for e in events if e[0] != "config.json"]
    assert epochs == [("checkpoint", 1), ("metrics.json", 1), ("checkpoint", 2), ("metrics.json", 2)]


def test_checkpoint_and_metrics_are_fsynced_before_the_rename(tmp_path, monkeypatch):
    import os

    from sdt_neuro.training import checkpoint as ck
    from sdt_neuro.training import loop

    order = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: order.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: order.append("replace") or real_replace(a, b))
    ck.save_checkpoint(tmp_path / "c.pt", {"x": 1})
    assert order[:2] == ["fsync", "replace"]
    order.clear()
    loop._write_json(tmp_path / "m.json", [1])
    assert order[:2] == ["fsync", "replace"]


def test_a_run_that_turns_nan_stops_and_leaves_the_last_good_checkpoint(tmp_path):
    from sdt_neuro.errors import TrainingDiverged
    from sdt_neuro.training.loop import make_learner

    data = synthetic_dataset()
    train(small_config(epochs=1, schedule_epochs=2), out_dir=tmp_path, dataset=data, progress=False, plots=False)
    checkpoint, metrics = (tmp_path / "checkpoint.pt").read_bytes(), (tmp_path / "metrics.json").read_bytes()

    def poisoned(config, device):
        learner = make_learner(config, device)
        step = learner.train_step

        def train_step(x, labels=None):
            if learner.steps_taken == 3:
                with torch.no_grad():
                    learner.model.layers[0].weight[0, 0] = float("nan")
            learner.steps_taken += 1
            return step(x, labels)

        learner.steps_taken = 0
        learner.train_step = train_step
        return learner

    with pytest.raises(TrainingDiverged, match=r"epoch 2, batch 4: .*activity y.*NaN.*Lower the learning rate"):
        train(small_config(epochs=2, schedule_epochs=2), out_dir=tmp_path, resume=True, dataset=data,
              progress=False, plots=False, learner_factory=poisoned)
    assert (tmp_path / "checkpoint.pt").read_bytes() == checkpoint
    assert (tmp_path / "metrics.json").read_bytes() == metrics
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1


def test_weights_gone_non_finite_without_a_nan_loss_still_stop_the_run(tmp_path):
    from sdt_neuro.errors import TrainingDiverged
    from sdt_neuro.training.loop import make_learner

    def poisoned(config, device):
        learner = make_learner(config, device)
        with torch.no_grad():
            learner.model.layers[0].bias[0] = float("inf")  # a unit that never reaches the loss finitely
        learner.model.layers[0].bias.requires_grad_(False)
        return learner

    with pytest.raises(TrainingDiverged, match="non-finite|inf"):
        train(small_config(epochs=1), out_dir=tmp_path, dataset=synthetic_dataset(), progress=False, plots=False,
              learner_factory=poisoned)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_a_collapsed_epoch_is_flagged_and_warned_about(tmp_path):
    from sdt_neuro.evaluate import CollapseWarning

    with pytest.warns(CollapseWarning, match="collapsed.*win_entropy_ratio.*--lr"):
        res = train(small_config(epochs=1, lrs=(1e9,)), out_dir=tmp_path, dataset=synthetic_dataset(),
                    progress=False, plots=False)
    record = json.loads((tmp_path / "metrics.json").read_text())[0]
    assert record["collapsed"] is True and res.metrics[0]["collapse_reasons"]
    import warnings

    from sdt_neuro.training.guards import flag_collapse

    healthy = {"epoch": 1, "unassigned_neurons": 3, "win_entropy_ratio": 0.9, "test_da_average": 0.95,
               "test_da_max": 0.9}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for a healthy epoch
        flag_collapse(healthy, small_config())
    assert healthy["collapsed"] is False and "collapse_reasons" not in healthy


def test_a_linear_cnn_output_is_scored_as_signed_activity():
    cfg = small_config(arch="cnn", readout="linear", optimizer="adam", lrs=(1e-3,) * 3, epochs=1,
                       cnn_channels=(4, 8), prune=0.0, input_dropout=0.0)
    res = train(cfg, dataset=synthetic_dataset(), progress=False, plots=False)
    record = res.metrics[-1]
    # below-zero outputs still vote: every neuron is assigned; an MLP's record does not carry the flag
    assert record["signed_activity"] is True and record["unassigned_neurons"] == 0
    assert "signed_activity" not in train(small_config(epochs=1), dataset=synthetic_dataset(), progress=False,
                                          plots=False).metrics[-1]


def test_resume_with_more_epochs_keeps_the_schedule_the_run_began_with(tmp_path, capsys):
    data = synthetic_dataset()
    whole = train(small_config(epochs=3, schedule_epochs=2), dataset=data, progress=False, plots=False)
    train(small_config(epochs=2), out_dir=tmp_path, dataset=data, progress=False, plots=False)
    resumed = train(small_config(epochs=3), out_dir=tmp_path, resume=True, dataset=data, progress=False, plots=False)
    assert "keeps the 2-epoch horizon" in capsys.readouterr().err
    assert [m["lr_factor"] for m in resumed.metrics] == [m["lr_factor"] for m in whole.metrics]
    for a, b in zip(whole.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    again = train(small_config(epochs=3), out_dir=tmp_path, resume=True, dataset=data, progress=False, plots=False)
    assert again.config.schedule_epochs == 2  # a second resume reads the horizon from the checkpoint
    with pytest.raises(CheckpointError, match="different configuration"):
        train(small_config(epochs=4, schedule_epochs=4), out_dir=tmp_path, resume=True, dataset=data, progress=False)


def test_resume_refuses_fewer_epochs_than_the_run_trained(tmp_path):
    data = synthetic_dataset()
    train(small_config(epochs=2), out_dir=tmp_path, dataset=data, progress=False, plots=False)
    with pytest.raises(CheckpointError, match="has trained 2 epochs, more than --epochs 1"):
        train(small_config(epochs=1, schedule_epochs=2), out_dir=tmp_path, resume=True, dataset=data,
              progress=False)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2  # left as it was


def test_resume_refuses_a_checkpoint_without_the_training_state(tmp_path):
    data = synthetic_dataset()
    train(small_config(epochs=1), out_dir=tmp_path, dataset=data, progress=False, plots=False)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    del ckpt["rng"]
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match=r"cannot be resumed: it lacks the training state \['rng'\]"):
        train(small_config(epochs=2), out_dir=tmp_path, resume=True, dataset=data, progress=False)
    ckpt["rng"], ckpt["config"]["colour"] = {}, "red"
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="invalid configuration"):
        train(small_config(epochs=2), out_dir=tmp_path, resume=True, dataset=data, progress=False)


def test_resume_refuses_a_labelled_subset_other_than_the_one_the_run_began_with(tmp_path):
    data = synthetic_dataset()
    cfg = small_config(epochs=1, semi_labels=20, schedule_epochs=2)
    train(cfg, out_dir=tmp_path, dataset=data, progress=False, plots=False)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    ckpt["labelled_indices"] = ckpt["labelled_indices"] + 1
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="labelled subset drawn now differs"):
        train(cfg.replace(epochs=2), out_dir=tmp_path, resume=True, dataset=data, progress=False)


def test_a_run_that_fails_leaves_its_process_group_without_waiting_for_the_others(monkeypatch):
    from sdt_neuro.training import loop

    calls = []
    monkeypatch.setattr(loop, "teardown", lambda ranks, together=True: calls.append(together))
    with pytest.raises(ConfigError, match="pool, which is empty"):
        train(small_config(semi_labels=200), dataset=synthetic_dataset(), progress=False, plots=False)
    assert calls == [False]
    train(small_config(epochs=1), dataset=synthetic_dataset(), progress=False, plots=False)
    assert calls == [False, True]


def test_resume_refuses_other_data_but_not_the_same_data_moved(tmp_path):
    import dataclasses

    data = synthetic_dataset()
    train(small_config(epochs=1), out_dir=tmp_path, dataset=data, progress=False, plots=False)
    other = dataclasses.replace(synthetic_dataset(n_train=240), source="bundled-sample")  # e.g. a fallback
    with pytest.raises(CheckpointError, match="trained on synthetic, not on the bundled MNIST sample loaded now"):
        train(small_config(epochs=2, schedule_epochs=1), out_dir=tmp_path, resume=True, dataset=other, progress=False)
    changed = synthetic_dataset(n_train=240)  # the same place, other images
    with pytest.raises(CheckpointError, match="trained on the data at synthetic, which has changed since"):
        train(small_config(epochs=2, schedule_epochs=1), out_dir=tmp_path, resume=True, dataset=changed, progress=False)
    with pytest.raises(CheckpointError, match="dataset: 'mnist' in the run, 'fashion-mnist' now"):  # named as such
        train(small_config(epochs=2, schedule_epochs=1, dataset="fashion-mnist"), out_dir=tmp_path, resume=True,
              dataset=changed, progress=False)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1
    moved = dataclasses.replace(data, source="/elsewhere")  # the same images read from another folder
    res = train(small_config(epochs=2, schedule_epochs=1), out_dir=tmp_path, resume=True, dataset=moved,
                progress=False, plots=False)
    assert [m["epoch"] for m in res.metrics] == [1, 2]


def test_resume_of_a_checkpoint_without_a_fingerprint_refuses_the_bundled_sample_for_real_data(tmp_path):
    import dataclasses

    data = synthetic_dataset()
    train(small_config(epochs=1), out_dir=tmp_path, dataset=data, progress=False, plots=False)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    del ckpt["data_fingerprint"]  # as written before fingerprints
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    sample = dataclasses.replace(data, source="bundled-sample")
    with pytest.raises(CheckpointError, match="trained on synthetic, not on the bundled MNIST sample"):
        train(small_config(epochs=2, schedule_epochs=1), out_dir=tmp_path, resume=True, dataset=sample,
              progress=False)
    ckpt["data_source"] = "bundled-sample"  # a run on the sample, resumed where real data is found
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="trained on the bundled MNIST sample, not on synthetic loaded now "
                                              r"\(the sample loads only where no MNIST is found\); start a new run"):
        train(small_config(epochs=2, schedule_epochs=1), out_dir=tmp_path, resume=True, dataset=data,
              progress=False)


def test_resume_reads_the_checkpoint_before_any_data(tmp_path, monkeypatch):
    from sdt_neuro.training import loop

    monkeypatch.setattr(loop, "load_dataset", lambda *a, **k: pytest.fail("data loaded before the checkpoint"))
    with pytest.raises(CheckpointError, match="does not exist"):
        train(small_config(), out_dir=tmp_path, resume=True, progress=False)


def test_resume_of_a_finished_run_repairs_records_a_crash_left_behind(tmp_path):
    data = synthetic_dataset()
    train(small_config(epochs=2), out_dir=tmp_path, dataset=data, progress=False, plots=False)
    records = json.loads((tmp_path / "metrics.json").read_text())
    (tmp_path / "metrics.json").write_text(json.dumps(records[:1]))  # killed between the two writes
    train(small_config(epochs=2), out_dir=tmp_path, resume=True, dataset=data, progress=False, plots=False)
    assert json.loads((tmp_path / "metrics.json").read_text()) == records
