from dataclasses import replace

import numpy as np
import pytest
import torch

from sdt_neuro.errors import ConfigError
from sdt_neuro.presets import SEMI_LABELS, preset_config
from sdt_neuro.scoring import evaluate_checkpoint
from sdt_neuro.training import TrainConfig, train
from sdt_neuro.training.checkpoint import load_checkpoint
from sdt_neuro.training.loop import make_learner, phase_pool
from sdt_neuro.training.phases import plan
from sdt_neuro.training.semi import labelled_indices, output_accuracy
from tests.conftest import synthetic_dataset


def semi_config(**kw):
    base = dict(rule={"n_outputs": 4, "k": 1, "gamma": 0.05, "n_classes": 4, "label_mapping": "one_per_class"},
                sizes=(784, 40, 4), input_dropout=0.1, hidden_dropout=0.2, lrs=(0.5, 0.5), batch_size=8,
                epochs=4, threads=1, seed=1, semi_labels=20, semi_split_seed=7, semi_pretrain_epochs=1)
    base.update(kw)
    return TrainConfig(**base)


class Spy:
    """Delegates to a real learner and records (batch size, labelled) and the rates of every step."""

    def __init__(self, inner):
        self.inner, self.calls, self.rates = inner, [], []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def train_step(self, x, labels=None, **kw):
        self.calls.append((x.shape[0], labels is not None))
        self.rates.append([g["lr"] for g in self.inner.optimizer.param_groups])
        return self.inner.train_step(x, labels, **kw)


def train_spied(cfg, data, **kw):
    """Train ``cfg`` on ``data`` with the learner wrapped in a :class:`Spy`; ``(result, spy)``."""
    spies = []

    def factory(config, device):
        spies.append(Spy(make_learner(config, device)))
        return spies[-1]

    res = train(cfg, dataset=data, progress=False, plots=False, learner_factory=factory, **kw)
    return res, spies[0]


def test_labelled_subset_is_seeded_and_stratified():
    labels = torch.arange(200) % 4
    cfg = semi_config()
    a, b = labelled_indices(cfg, labels), labelled_indices(cfg, labels)
    np.testing.assert_array_equal(a, b)
    assert len(a) == 20 and np.bincount(labels.numpy()[a]).tolist() == [5, 5, 5, 5]
    assert not np.array_equal(a, labelled_indices(cfg.replace(semi_split_seed=8), labels))
    assert labelled_indices(cfg.replace(semi_labels=None), labels) is None


def test_labelled_subset_can_follow_the_class_frequencies():
    """The published runs' stratified split gives each class its share of the training set."""
    labels = torch.tensor([0] * 120 + [1] * 60 + [2] * 20)
    cfg = semi_config(rule={"n_outputs": 3, "k": 1, "gamma": 0.05, "n_classes": 3, "label_mapping": "one_per_class"},
                      sizes=(784, 40, 3))
    assert np.bincount(labels.numpy()[labelled_indices(cfg, labels)]).tolist() == [7, 7, 6]
    prop = labelled_indices(cfg.replace(semi_label_split="proportional"), labels)
    assert np.bincount(labels.numpy()[prop]).tolist() == [12, 6, 2]
    with pytest.raises(ConfigError, match="semi_label_split"):
        cfg.replace(semi_label_split="random")


def test_labelled_subset_follows_the_seed_unless_pinned():
    """As published, each run draws its own labelled subset: by default the seed decides it."""
    labels = torch.arange(200) % 4
    free = semi_config(semi_split_seed=None)
    a, b = labelled_indices(free, labels), labelled_indices(free.replace(seed=2), labels)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, labelled_indices(free.replace(semi_split_seed=1), labels))
    pinned = semi_config(semi_split_seed=5)
    np.testing.assert_array_equal(labelled_indices(pinned, labels), labelled_indices(pinned.replace(seed=2), labels))


def test_epoch_schedule_pretrains_then_alternates():
    cfg, labelled = semi_config(semi_pretrain_epochs=2, epochs=6), np.array([1, 5, 9])
    epochs = plan(cfg)
    assert [p.phase.labels for p in epochs] == [True, True, False, True, False, True]
    assert [p.phase.name for p in epochs[:3]] == ["pretrain", "pretrain", "unlabelled"]
    np.testing.assert_array_equal(phase_pool(epochs[2].phase, 12, labelled), [0, 2, 3, 4, 6, 7, 8, 10, 11])
    np.testing.assert_array_equal(phase_pool(epochs[3].phase, 12, labelled), labelled)
    only = cfg.replace(semi_supervised_only=True)
    assert all(p.phase.labels for p in plan(only)) and len(plan(only)) == 6
    assert len(plan(cfg.replace(epochs=5))) == 5  # an odd count ends on an unlabelled epoch
    unsupervised = plan(cfg.replace(semi_labels=None))
    assert [p.phase.pool for p in unsupervised] == ["all"] * 6 and not unsupervised[0].phase.labels


@pytest.mark.parametrize("algorithm", ["bp", "ep"])
def test_semi_supervised_run_uses_labels_only_in_labelled_epochs(tmp_path, algorithm):
    data = synthetic_dataset()
    ep = {"algorithm": "ep", "lrs": (0.05, 0.05), "ep_free_steps": 20, "ep_nudge_steps": 8}
    cfg = semi_config(**(ep if algorithm == "ep" else {}))
    res, spy = train_spied(cfg, data, out_dir=tmp_path)
    calls = spy.calls
    labelled_steps = [n for n, lab in calls if lab]
    unlabelled_steps = [n for n, lab in calls if not lab]
    # epochs: pre-training (labelled), unlabelled, labelled, unlabelled
    assert sum(labelled_steps) == 2 * 20 and max(labelled_steps) == cfg.batch_size
    assert sum(unlabelled_steps) == 2 * (len(data.train) - 20)
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    np.testing.assert_array_equal(ckpt["labelled_indices"].numpy(), labelled_indices(cfg, data.train.y))
    assert ckpt["config"]["semi_labels"] == 20 and ckpt["config"]["semi_split_seed"] == 7
    assert len(res.metrics) == cfg.epochs and all("test_accuracy" in m for m in res.metrics)
    scored = evaluate_checkpoint(tmp_path, dataset=data)  # the checkpoint is read as a classifier
    assert scored["output_accuracy"] == pytest.approx(res.metrics[-1]["test_accuracy"])
    if algorithm == "bp":  # EP's learning quality here is not settled (see the report)
        assert res.metrics[-1]["test_accuracy"] > 0.8  # four blob classes, 20 labels


def test_unlabelled_epochs_run_at_the_scaled_rate():
    cfg = semi_config(schedule="constant", lrs=(0.4, 0.2), semi_unlabelled_lr_factor=0.25, epochs=3)
    _, spy = train_spied(cfg, synthetic_dataset())
    seen = list(zip(spy.calls, spy.rates))
    rates = {lab: {tuple(r) for (_, with_labels), r in seen if with_labels == lab} for lab in (True, False)}
    assert rates[True] == {(0.4, 0.2)} and rates[False] == {(0.1, 0.05)}


def test_output_accuracy_reads_class_blocks():
    act = np.array([[0.1, 0.9, 0.0, 0.0], [0.0, 0.0, 0.2, 0.8], [0.7, 0.0, 0.0, 0.1]])
    assert output_accuracy(act, np.array([1, 3, 0]), 4) == 1.0
    assert output_accuracy(act, np.array([0, 1, 0]), 2) == 1.0  # blocks of two neurons
    assert output_accuracy(act, np.array([0, 0, 0]), 4) == pytest.approx(1 / 3)


def test_our_semi_presets_and_ablations():
    for algo in ("bp", "ep"):
        for n in SEMI_LABELS:
            c = preset_config(f"semi-{algo}-{n}-ours")
            assert c.sizes == (784, 5000, 10) and c.semi_labels == n and c.algorithm == algo
            assert (c.input_dropout, c.hidden_dropout, c.wta_rule.k) == (0.3, 0.5, 1)
            assert 0 < c.wta_rule.gamma <= 0.1 and not c.semi_supervised_only
            assert preset_config(f"semi-{algo}-{n}-ours-supervised").semi_supervised_only
            assert preset_config(f"semi-{algo}-{n}-ours-gamma0").wta_rule.gamma == 0.0
        assert preset_config(f"semi-{algo}-100-ours").clean_target
    assert preset_config("semi-bp-600-ours").semi_unlabelled_lr_factor == 1.0
    assert preset_config("semi-bp-100-ours").semi_unlabelled_lr_factor == 0.6


def test_semi_config_validation():
    with pytest.raises(ConfigError, match="semi_labels"):
        semi_config(semi_labels=0)
    with pytest.raises(ConfigError, match="semi_labels=3 must be >= the 4 classes of the training images"):
        labelled_indices(semi_config(semi_labels=3), synthetic_dataset().train.y)
    with pytest.raises(ConfigError, match="semi_pretrain_epochs"):
        semi_config(semi_pretrain_epochs=-1)
    with pytest.raises(ConfigError, match="semi_unlabelled_lr_factor"):
        semi_config(semi_unlabelled_lr_factor=0.0)
    with pytest.raises(ConfigError, match="label_fraction=0.5 has no effect"):  # was silently ignored
        semi_config(label_fraction=0.5)
    assert semi_config(label_fraction=1.0).label_fraction == 1.0


def test_only_epochs_on_the_self_defined_target_are_checked_for_collapse(tmp_path):
    """Label-only epochs (pre-training, the supervised-only ablation) train no self-defined target:
    no collapse warning for them, however poor the epoch; from the first unlabelled epoch on, yes."""
    import warnings

    from sdt_neuro.evaluate import CollapseWarning

    data = synthetic_dataset()
    bad = {"lrs": (1e9, 1e9), "epochs": 2}
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        res = train(semi_config(semi_supervised_only=True, **bad), out_dir=tmp_path / "sup", dataset=data,
                    progress=False, plots=False)
    assert not any(m["collapsed"] for m in res.metrics if "collapsed" in m)
    assert all("collapse_reasons" not in m for m in res.metrics)
    with pytest.warns(CollapseWarning):
        res = train(semi_config(**bad), out_dir=tmp_path / "semi", dataset=data, progress=False, plots=False)
    assert "collapsed" not in res.metrics[0] and res.metrics[1]["collapsed"] is True


@pytest.mark.parametrize("algo", ["bp", "ep"])
def test_published_semi_presets_follow_the_method(algo):
    """The rows of METHOD.md's semi-supervised recipe, read back from the presets' phases."""
    rates = {"bp": {100: (6e-4, 4.4e-3), 600: (1e-4, 2.5e-3), 3000: (6e-4, 8e-4)},
             "ep": {100: (4e-4, 9e-3), 600: (1.8e-4, 1e-3), 3000: (1.3e-4, 6e-3)}}[algo]
    gammas = {"bp": {100: 0.1, 600: 0.003, 3000: 0.0}, "ep": {100: 0.1, 600: 0.01, 3000: 0.001}}[algo]
    rounds, unl_batch = {"bp": (400, 256), "ep": (200, 128)}[algo]
    for n, lrs in rates.items():
        c = preset_config(f"semi-{algo}-{n}")
        pre, alternation = plan(c)[0].phase, {p.phase.name: p.phase for p in plan(c)[-2:]}
        assert c.sizes == (784, 5000, 10) and c.wta_rule.gamma == gammas[n] and c.wta_rule.k == 1
        assert c.readout == {"bp": "sigmoid", "ep": "softmax"}[algo]
        assert pre.batch_size == 32 and pre.labels and pre.schedule["kind"] == "exponential"
        assert alternation["unlabelled"].lrs == lrs == alternation["labelled"].lrs
        assert alternation["unlabelled"].batch_size == unl_batch and alternation["labelled"].batch_size == 32
        assert alternation["unlabelled"].optimizer != alternation["labelled"].optimizer
        assert all(p.phase.loss == "cross-entropy" for p in plan(c))
        assert plan(c)[-1].occurrences == rounds
        assert not any(p.phase.pool == "unlabelled" for p in plan(preset_config(f"semi-{algo}-{n}-supervised")))
        assert preset_config(f"semi-{algo}-{n}-gamma0").wta_rule.gamma == 0.0
        # BP: PyTorch's default weights, the pre-training Adam carried on; EP: the authors' release,
        # Xavier(0.5) and a fresh labelled Adam for the rounds (chosen on validation)
        assert (c.init, c.init_gain) == {"bp": ("torch", 0.5), "ep": ("xavier", 0.5)}[algo]
        assert (alternation["labelled"].optimizer == pre.optimizer) == (algo == "bp")
    if algo == "ep":
        c = preset_config("semi-ep-600")
        assert (c.ep_free_steps, c.ep_nudge_steps, c.ep_beta, c.ce_label_smoothing) == (60, 10, 0.45, 0.3)
        assert (c.ep_dt, c.ep_readout_target, c.ep_readout_grad) == (0.2, "logits", "nudged")
        assert c.ep_dropout == "mask"  # the published EP runs: a plain 0/1 mask, no rescaling
        assert preset_config("semi-ep-300").input_dropout == 0.2
        assert c.semi_label_split == "balanced"


def unbatched(config):
    """The config's planned phases with their batch sizes blanked out."""
    return [replace(p.phase, batch_size=1) for p in plan(config)]


def test_released_batch_presets_change_only_the_labelled_batch_and_split():
    """``semi-ep-N-b128``: the published EP procedure with labelled batches of 128 and the release's
    class-proportional split; every other setting is the published preset's."""
    for n in SEMI_LABELS:
        base, b128 = preset_config(f"semi-ep-{n}"), preset_config(f"semi-ep-{n}-b128")
        assert b128.semi_label_split == "proportional"
        batches = {p.phase.name: p.phase.batch_size for p in plan(b128)}
        assert batches == {"pretrain": 128, "unlabelled": 128, "labelled": 128}
        assert unbatched(b128) == unbatched(base)
        assert b128.replace(procedure=base.procedure, semi_label_split="balanced", preset=base.preset) == base
    with pytest.raises(ConfigError, match="unknown preset"):
        preset_config("semi-bp-600-b128")


def test_release_presets_change_only_the_released_bp_mechanics():
    """``semi-bp-N-release``: the published BP procedure with the released code's loss, fresh labelled Adam
    for the rounds, labelled ramp over the first 350 rounds, Xavier(0.5) weights and, with 600 and 1000
    labels, the result files' 150 pre-training epochs; nothing else."""
    for n in SEMI_LABELS:
        base, release = preset_config(f"semi-bp-{n}"), preset_config(f"semi-bp-{n}-release")
        phases = {p.phase.name: p.phase for p in plan(release)}
        assert {p.loss for p in phases.values()} == {"output-cross-entropy"}
        assert phases["labelled"].optimizer == "labelled-rounds" and phases["pretrain"].optimizer == "labelled"
        assert phases["labelled"].schedule == {"kind": "linear", "start": 0.72, "end": 0.05, "span": 350}
        assert release.init == "xavier" and base.init == "torch"
        pretrain = sum(p.phase.name == "pretrain" for p in plan(release))
        assert pretrain == (150 if n in (600, 1000) else 200) and release.epochs == pretrain + 800
        base = base.replace(procedure=[{**base.procedure[0], "repeat": pretrain}, base.procedure[1]],
                            epochs=release.epochs)
        same = [replace(p.phase, loss="cross-entropy",
                        optimizer="labelled" if p.phase.name == "labelled" else p.phase.optimizer,
                        schedule={k: v for k, v in p.phase.schedule.items() if k != "span"}) for p in plan(release)]
        assert same == [p.phase for p in plan(base)]
        assert release.replace(procedure=base.procedure, init="torch", preset=base.preset) == base
    with pytest.raises(ConfigError, match="unknown preset"):
        preset_config("semi-ep-600-release")
