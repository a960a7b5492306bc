import json

import numpy as np
import pytest
import torch

from sdt_neuro.errors import ConfigError
from sdt_neuro.training import TrainConfig, train
from sdt_neuro.training.checkpoint import load_checkpoint
from sdt_neuro.training.loop import make_learner
from sdt_neuro.training.phases import Phase, phase_factor, plan, total_epochs
from tests.conftest import synthetic_dataset

RULE = {"n_outputs": 4, "k": 1, "gamma": 0.05, "n_classes": 4, "label_mapping": "one_per_class"}


def two_stage(rounds=3, pre=2, readout="sigmoid"):
    """Pre-training on labels (Adam slot 'lab', exponential), then rounds of unlabelled (slot 'unl',
    ramp up) and labelled (slot 'lab', ramp down) epochs, cross-entropy throughout."""
    lab = {"pool": "labelled", "labels": True, "optimizer": "lab", "optimizer_kind": "adam", "batch_size": 8,
           "loss": "cross-entropy"}
    return [
        {"repeat": pre, "phases": [{**lab, "name": "pretrain", "lrs": [1e-3, 3e-3], "evaluate": False,
                                    "schedule": {"kind": "exponential", "gamma": 0.5}}]},
        {"repeat": rounds, "phases": [
            {"name": "unlabelled", "pool": "unlabelled", "optimizer": "unl", "optimizer_kind": "adam",
             "batch_size": 32, "lrs": [2e-4, 1e-3], "loss": "cross-entropy", "evaluate": False,
             "schedule": {"kind": "linear", "start": 0.01, "end": 0.2}},
            {**lab, "name": "labelled", "lrs": [2e-4, 1e-3], "schedule": {"kind": "linear", "start": 0.7, "end": 0.1}},
        ]},
    ]


def config(**kw):
    procedure = kw.pop("procedure", two_stage())
    base = dict(rule=RULE, sizes=(784, 40, 4), input_dropout=0.1, hidden_dropout=0.2, readout="sigmoid",
                optimizer="adam", lrs=(1e-3, 3e-3), batch_size=8, threads=1, seed=1, semi_labels=20,
                procedure=procedure, epochs=total_epochs(procedure))
    base.update(kw)
    return TrainConfig(**base)


def test_plan_runs_stages_in_order_and_counts_each_phase_within_its_stage():
    epochs = plan(config())
    assert [p.phase.name for p in epochs] == ["pretrain"] * 2 + ["unlabelled", "labelled"] * 3
    assert [p.occurrence for p in epochs] == [0, 1, 0, 0, 1, 1, 2, 2]
    assert [p.stage_end for p in epochs] == [False, True, False, False, False, False, False, True]
    assert len(plan(config(epochs=3))) == 3  # cut short: the stage keeps its horizon
    assert plan(config(epochs=3))[2].occurrences == 3


def test_schedules_give_the_published_factors():
    epochs = plan(config())
    assert [phase_factor(config(), p, 0.0) for p in epochs[:2]] == [1.0, 0.5]  # ExponentialLR, 0.5 per epoch
    unl = [phase_factor(config(), p, 0.0) for p in epochs if p.phase.name == "unlabelled"]
    lab = [phase_factor(config(), p, 0.0) for p in epochs if p.phase.name == "labelled"]
    assert unl == pytest.approx([0.01, 0.105, 0.2]) and lab == pytest.approx([0.7, 0.4, 0.1])
    legacy = TrainConfig(rule=RULE, sizes=(784, 4), epochs=4, schedule="linear", final_lr_factor=0.5)
    first = plan(legacy)[0]
    assert phase_factor(legacy, first, 0.5) == pytest.approx(0.75)


def test_a_linear_schedule_with_a_span_ramps_over_it_and_then_holds():
    rounds = two_stage(rounds=5)
    rounds[1]["phases"][1]["schedule"] = {"kind": "linear", "start": 0.7, "end": 0.1, "span": 3}
    cfg = config(procedure=rounds)
    lab = [phase_factor(cfg, p, 0.0) for p in plan(cfg) if p.phase.name == "labelled"]
    assert lab == pytest.approx([0.7, 0.5, 0.3, 0.1, 0.1])  # as LinearLR(total_iters=3) steps once a round


def test_procedure_survives_json_and_a_checkpoint_round_trip():
    cfg = config()
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and plan(again)[3].phase.lrs == (2e-4, 1e-3)


@pytest.mark.parametrize(("change", "message"), [
    ({"procedure": [{"repeat": 1, "phases": [{"name": "x", "pool": "some"}]}]}, "pool='some'"),
    ({"procedure": [{"repeat": 1, "phases": [{"name": "x", "pool": "unlabelled", "labels": True}]}]}, "no labels"),
    ({"procedure": [{"repeat": 1, "phases": [{"name": "x", "schedule": {"kind": "linear", "start": 1}}]}]},
     r"needs \['end'\]"),
    ({"procedure": [{"repeat": 0, "phases": [{"name": "x"}]}]}, "repeat >= 1"),
    ({"procedure": [{"repeat": 1, "phases": [{"name": "x", "schedule": {"kind": "exponential", "gamma": 0.9,
                                                                         "span": 3}}]}]}, "span=3"),
    ({"procedure": [{"repeat": 1, "phases": [{"name": "x", "schedule": {"kind": "linear", "start": 1, "end": 0.5,
                                                                         "span": 0}}]}]}, "span=0"),
    ({"procedure": [{"repeat": 1, "phases": [{"name": "x", "colour": 1}]}]}, "bad phase"),
    ({"procedure": [{"repeat": 1, "phases": [{"name": "x", "optimizer_kind": "sgd"}]}]}, "'main' optimiser"),
    ({"procedure": [{"repeat": 1, "phases": [
        {"name": "a", "pool": "labelled", "labels": True, "optimizer": "s", "optimizer_kind": "adam",
         "loss": "cross-entropy"},
        {"name": "b", "pool": "labelled", "labels": True, "optimizer": "s", "optimizer_kind": "sgd",
         "loss": "cross-entropy"}]}], "epochs": 2}, "slot 's' is a 'adam' optimiser in an earlier phase"),
    ({"procedure": [{"phases": [{"name": "x"}]}]}, "whole-number 'repeat'"),
    ({"mode": "sequential", "batch_size": 1, "readout": "hard-sigmoid", "optimizer": "sgd", "lrs": (0.1,),
      "procedure": [{"repeat": 1, "phases": [{"name": "x", "batch_size": 8}]}], "epochs": 1},
     "mode='sequential' needs batches of 1"),
    ({"procedure": [{"repeat": 2.9, "phases": [{"name": "x"}]}]}, "whole-number 'repeat'"),
    ({"procedure": [{"repeat": 1, "phases": [{"name": "x", "labels": "false"}]}]}, "labels='false' must be true"),
    ({"procedure": [{"repeat": 1, "phases": [{"name": "x", "batch_size": 2.5}]}]}, "batch_size=2.5 must be a whole"),
    ({"procedure": [{"repeat": 1, "phases": [{"name": "x", "schedule": {"kind": "run", "gamma": 0.9}}]}]},
     r"not \['gamma'\]"),
    ({"procedure": [{"repeat": 1, "phases": [{"name": "x", "schedule": {"kind": "exponential", "gamma": "abc"}}]}]},
     "needs numbers"),
    ({"procedure": [{"repeat": 1, "phases": [{"name": "x", "lrs": [float("nan")]}]}]}, "positive, finite"),
    ({"procedure": [{"repeat": 1, "phases": [{"name": "x", "lrs": [float("inf")]}]}]}, "positive, finite"),
    ({"procedure": [{"repeat": 1, "phases": [{"name": "x", "schedule": {"kind": "exponential",
                                                                         "gamma": float("nan")}}]}]},
     "positive, finite factors"),
    ({"procedure": [{"repeat": 1, "phases": [{"name": "x", "schedule": "run"}]}]}, "must be an object"),
    ({"epochs": 99}, "procedure holds 8 epochs"),
    ({"semi_labels": None}, "set semi_labels"),
    ({"readout": "hard-sigmoid"}, "needs readout='sigmoid' or 'softmax'"),
    ({"readout": "tanh"}, "readout='tanh'"),
    ({"ce_label_smoothing": 1.0}, "ce_label_smoothing"),
    ({"rule": {**RULE, "dropout": 0.2}}, "no output dropout"),
    ({"readout": "softmax", "procedure": [{"repeat": 1, "phases": [
        {"name": "x", "loss": "output-cross-entropy"}]}], "epochs": 1}, "needs BP with readout='sigmoid'"),
])
def test_bad_procedures_are_refused_with_the_reason(change, message):
    with pytest.raises(ConfigError, match=message):
        config(**change)


def test_ep_phases_must_fit_the_learner():
    ep = {"algorithm": "ep", "sizes": (784, 40, 4), "ep_free_steps": 5, "ep_nudge_steps": 3}
    with pytest.raises(ConfigError, match="plain SGD"):
        config(**ep, readout="hard-sigmoid", optimizer="sgd", procedure=[
            {"repeat": 1, "phases": [{"name": "a", "optimizer": "x", "optimizer_kind": "adam"}]}], epochs=1)
    with pytest.raises(ConfigError, match="learns with loss='cross-entropy'"):
        config(**ep, readout="softmax", procedure=[{"repeat": 1, "phases": [{"name": "a", "optimizer": "x"}]}],
               epochs=1)
    with pytest.raises(ConfigError, match="one hidden layer"):
        config(**{**ep, "sizes": (784, 20, 20, 4)}, readout="softmax")
    assert config(**ep, readout="softmax").algorithm == "ep"


class Spy:
    """Records, per step: batch size, labels or not, the loss asked for, the optimiser and its rates."""

    def __init__(self, inner):
        self.inner, self.steps = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __setattr__(self, name, value):
        if name in ("inner", "steps"):
            object.__setattr__(self, name, value)
        else:
            setattr(self.inner, name, value)

    def train_step(self, x, labels=None, loss="mse"):
        opt = self.inner.optimizer
        self.steps.append((x.shape[0], labels is not None, loss, id(opt), [g["lr"] for g in opt.param_groups]))
        return self.inner.train_step(x, labels, loss=loss)


def spied_run(cfg, data, **kw):
    spies = []

    def factory(c, device):
        spies.append(Spy(make_learner(c, device)))
        return spies[-1]

    return train(cfg, dataset=data, progress=False, plots=False, learner_factory=factory, **kw), spies[0]


def test_each_phase_trains_its_pool_with_its_optimiser_batch_rates_and_loss(tmp_path):
    data = synthetic_dataset()
    cfg = config()
    res, spy = spied_run(cfg, data, out_dir=tmp_path)
    steps = spy.steps
    pre, rounds = steps[: 2 * 3], steps[2 * 3:]  # 20 labels at batch 8: 3 steps per labelled epoch
    assert all(lab and b <= 8 and loss == "cross-entropy" for b, lab, loss, _, _ in pre)
    assert pre[0][4] == [1e-3, 3e-3] and pre[-1][4] == pytest.approx([5e-4, 1.5e-3])
    unlabelled = [s for s in rounds if not s[1]]
    assert sum(s[0] for s in unlabelled) == 3 * 180 and max(s[0] for s in unlabelled) == 32
    assert unlabelled[0][4] == pytest.approx([2e-6, 1e-5])  # 0.01 x the phase's base rates
    lab_ids, unl_ids = {s[3] for s in steps if s[1]}, {s[3] for s in unlabelled}
    assert len(lab_ids) == 1 and len(unl_ids) == 1 and lab_ids != unl_ids  # two optimisers, each kept
    scored = [m for m in res.metrics if "evaluation" not in m]
    assert [m["epoch"] for m in scored] == [2, 4, 6, 8]  # end of pre-training, then each labelled epoch
    assert [m["phase"] for m in res.metrics] == [p.phase.name for p in plan(cfg)]
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert set(ckpt["optimizers"]) == {"lab", "unl"}
    assert ckpt["optimizers"]["unl"]["state"]  # Adam moments of the unlabelled phase were saved


def test_a_phase_can_begin_each_epoch_with_a_new_optimiser():
    procedure = two_stage()
    procedure[1]["phases"][1]["reset_optimizer"] = True  # the labelled rounds, not the pre-training
    data = synthetic_dataset()
    seen = []

    class Watch(Spy):
        def train_step(self, x, labels=None, loss="mse"):
            state = self.inner.optimizer.state
            seen.append(int(next(iter(state.values()))["step"]) if state else 0)
            return super().train_step(x, labels, loss)

    cfg = config(procedure=procedure)
    train(cfg, dataset=data, progress=False, plots=False, learner_factory=lambda c, d: Watch(make_learner(c, d)))
    pre, rounds = seen[:6], seen[6:]  # 3 steps per labelled epoch, 6 per unlabelled (180 images at 32)
    assert pre == [0, 1, 2, 3, 4, 5]  # one Adam through the pre-training
    assert rounds[6:9] == [0, 1, 2] and rounds[15:18] == [0, 1, 2]  # each labelled round starts afresh
    assert rounds[9:15] == [6, 7, 8, 9, 10, 11]  # the unlabelled slot keeps its state across rounds
    default = two_stage()
    assert Phase(**{**default[1]["phases"][1], "lrs": None}).reset_optimizer is False


def test_resume_between_phases_continues_exactly(tmp_path):
    data = synthetic_dataset()
    whole = train(config(), dataset=data, progress=False, plots=False)
    cut = tmp_path / "cut"
    train(config(epochs=5), out_dir=cut, dataset=data, progress=False, plots=False)
    resumed = train(config(), out_dir=cut, resume=True, dataset=data, progress=False, plots=False)
    for a, b in zip(whole.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert resumed.metrics[-1]["test_accuracy"] == whole.metrics[-1]["test_accuracy"]


def test_published_style_semi_supervised_run_learns_the_blobs():
    res = train(config(procedure=two_stage(rounds=4, pre=6), epochs=14), dataset=synthetic_dataset(),
                progress=False, plots=False)
    assert res.metrics[-1]["test_accuracy"] > 0.9


def test_a_run_with_the_released_bp_loss_learns_the_blobs():
    """``output-cross-entropy`` in every phase (the ``semi-bp-N-release`` presets) trains end to end."""
    procedure = two_stage(rounds=4, pre=6)
    for stage in procedure:
        for phase in stage["phases"]:
            phase["loss"] = "output-cross-entropy"
    res = train(config(procedure=procedure, epochs=14), dataset=synthetic_dataset(), progress=False, plots=False)
    assert res.metrics[-1]["test_accuracy"] > 0.9


def test_phase_defaults_take_the_config_values():
    phase = Phase("train")
    assert (phase.pool, phase.labels, phase.optimizer, phase.loss, phase.schedule) == (
        "all", False, "main", "mse", {"kind": "run"})


def test_an_empty_pool_is_refused_before_training():
    data = synthetic_dataset()
    with pytest.raises(ConfigError, match="'unlabelled' trains on the unlabelled pool, which is empty"):
        train(config(semi_labels=len(data.train)), dataset=data, progress=False, plots=False)


def test_batches_too_small_for_every_process_are_refused_before_training():
    from sdt_neuro.training.loop import check_pools

    cfg = config()
    check_pools(plan(cfg), 200, np.arange(20), cfg.batch_size, world=8)
    with pytest.raises(ConfigError, match="batches of 8 cannot give each of 9 processes a sample"):
        check_pools(plan(cfg), 200, np.arange(20), cfg.batch_size, world=9)


def test_an_sgd_fast_path_learner_steps_the_adam_a_phase_hands_it():
    """BP's hand-written SGD step is for SGD only: a phase's Adam is stepped as Adam."""
    procedure = [{"repeat": 1, "phases": [{"name": "a", "optimizer": "adam-slot", "optimizer_kind": "adam",
                                           "lrs": [1e-3]}]}]
    cfg = TrainConfig(rule={"n_outputs": 20, "k": 2, "gamma": 0.3, "n_classes": 4}, sizes=(784, 20),
                      optimizer="sgd", lrs=(0.5,), batch_size=16, threads=1, seed=1, procedure=procedure, epochs=1)
    seen = []

    def factory(c, device):
        learner = make_learner(c, device)
        assert learner.fast  # the run's own optimiser is SGD
        seen.append(learner)
        return learner

    train(cfg, dataset=synthetic_dataset(), progress=False, plots=False, learner_factory=factory)
    adam = seen[0].optimizer
    assert isinstance(adam, torch.optim.Adam) and adam.state  # Adam took the steps, with its moments
