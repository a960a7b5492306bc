import pytest

from sdt_neuro.errors import ConfigError
from sdt_neuro.scoring import ann_activity, evaluate_checkpoint, labelled_reference
from sdt_neuro.training import TrainConfig, train
from tests.conftest import synthetic_dataset


def test_ann_evaluation_of_a_checkpoint(tmp_path):
    data = synthetic_dataset()
    cfg = TrainConfig(rule={"n_outputs": 20, "k": 2, "gamma": 0.3, "n_classes": 4}, sizes=(784, 20),
                      lrs=(2.0,), epochs=2, threads=1)
    res = train(cfg, out_dir=tmp_path, dataset=data, progress=False, plots=False)
    out = evaluate_checkpoint(tmp_path / "checkpoint.pt", dataset=data, probe=True)
    assert out["backend"] == "ann" and out["samples"] == 100
    assert out["da_average"] == pytest.approx(res.metrics[-1]["test_da_average"])
    assert len(out["confusion_matrix"]) == 4 and out["silent_samples"] == 0
    assert "ANN outputs of the labelled training images" in out["linear_probe_protocol"]
    assert "output_accuracy" not in out  # unsupervised: only DA reads its output
    assert evaluate_checkpoint(tmp_path, dataset=data, samples=10)["samples"] == 10
    ref = labelled_reference(tmp_path, dataset=data)  # what benchmarks score other backends' activity with
    test_act = ann_activity(ref.config, ref.model, data.test.x)
    assert ref.score(test_act, data.test.y.numpy())["da_average"] == out["da_average"]
    with pytest.raises(ConfigError, match="samples"):
        evaluate_checkpoint(tmp_path, dataset=data, samples=1000)
    with pytest.raises(ConfigError, match="backend"):
        evaluate_checkpoint(tmp_path, dataset=data, backend="loihi")


def test_scoring_on_images_from_elsewhere_than_training_says_so(tmp_path, capsys):
    import dataclasses

    data = synthetic_dataset()
    cfg = TrainConfig(rule={"n_outputs": 20, "k": 2, "gamma": 0.3, "n_classes": 4}, sizes=(784, 20),
                      lrs=(2.0,), epochs=1, threads=1)
    train(cfg, out_dir=tmp_path, dataset=data, progress=False, plots=False)
    assert "data_warning" not in evaluate_checkpoint(tmp_path, dataset=data)["labels"]
    moved = dataclasses.replace(data, source="/elsewhere")  # the same data in another place: nothing to say
    assert "data_warning" not in evaluate_checkpoint(tmp_path, dataset=moved)["labels"]
    other = dataclasses.replace(synthetic_dataset(n_train=240), source="/elsewhere")  # e.g. the bundled sample
    labels = evaluate_checkpoint(tmp_path, dataset=other)["labels"]
    assert labels["data_warning"].startswith("the run trained on synthetic, not on /elsewhere loaded now")
    assert "note: the run trained on synthetic" in capsys.readouterr().err
    changed = synthetic_dataset(n_train=240)  # the same place, other images
    assert evaluate_checkpoint(tmp_path, dataset=changed)["labels"]["data_warning"].startswith(
        "the run trained on the data at synthetic, which has changed since")


def test_evaluate_uses_the_labels_the_run_used(tmp_path):
    """A semi-supervised run is scored with its labelled subset, a subset run with its own
    training images: the figures equal the training loop's, and the JSON says where labels came from."""
    data = synthetic_dataset()
    semi = TrainConfig(rule={"n_outputs": 4, "k": 1, "gamma": 0.05, "n_classes": 4, "label_mapping": "one_per_class"},
                       sizes=(784, 12, 4), lrs=(0.5,), epochs=3, semi_labels=8, semi_pretrain_epochs=1, threads=1)
    res = train(semi, out_dir=tmp_path / "semi", dataset=data, progress=False, plots=False)
    out = evaluate_checkpoint(tmp_path / "semi", dataset=data)
    assert out["labels"]["count"] == 8 and out["labels"]["source"].startswith("as in training")
    assert out["da_average"] == pytest.approx(res.metrics[-1]["test_da_average"])
    more = evaluate_checkpoint(tmp_path / "semi", dataset=data, label_fraction=1.0)
    assert more["labels"]["count"] == 200 and "8 labels" in more["labels"]["warning"]

    subset = TrainConfig(rule={"n_outputs": 20, "k": 2, "gamma": 0.3, "n_classes": 4}, sizes=(784, 20),
                         lrs=(2.0,), epochs=1, max_train_samples=40, label_fraction=0.5, seed=3, threads=1)
    res = train(subset, out_dir=tmp_path / "subset", dataset=data, progress=False, plots=False)
    out = evaluate_checkpoint(tmp_path / "subset", dataset=data)
    assert out["labels"]["count"] == 20 and out["labels"]["seed"] == 3
    assert out["da_average"] == pytest.approx(res.metrics[-1]["test_da_average"])


def test_the_probe_follows_one_protocol(tmp_path):
    """Trained on the ANN outputs of the labelled set, tested on the backend's activity: for the
    ANN, exactly ``linear_probe`` on those arrays."""
    from sdt_neuro.probe import linear_probe
    from sdt_neuro.scoring import ann_activity
    from sdt_neuro.training.checkpoint import load_trained_model

    data = synthetic_dataset()
    cfg = TrainConfig(rule={"n_outputs": 20, "k": 2, "gamma": 0.3, "n_classes": 4}, sizes=(784, 20),
                      lrs=(2.0,), epochs=1, label_fraction=0.25, threads=1)
    train(cfg, out_dir=tmp_path, dataset=data, progress=False, plots=False)
    out = evaluate_checkpoint(tmp_path, dataset=data, probe=True)
    config, model, _ = load_trained_model(tmp_path)
    from sdt_neuro.data import stratified_indices

    labelled = data.train.subset(stratified_indices(data.train.y, fraction=0.25, seed=0))
    expected = linear_probe(ann_activity(config, model, labelled.x), labelled.y.numpy(),
                            ann_activity(config, model, data.test.x), data.test.y.numpy(), n_classes=4, seed=0)
    assert out["linear_probe"] == expected and out["labels"]["count"] == 50


def test_backend_settings_as_keywords_and_the_json_records_what_ran(tmp_path):
    pytest.importorskip("snntorch")
    data = synthetic_dataset()
    cfg = TrainConfig(rule={"n_outputs": 20, "k": 2, "gamma": 0.3, "n_classes": 4}, sizes=(784, 20),
                      lrs=(2.0,), epochs=1, threads=1)
    train(cfg, out_dir=tmp_path, dataset=data, progress=False, plots=False)
    out = evaluate_checkpoint(tmp_path, backend="snntorch", dataset=data, steps=8, progress=False)
    assert out["steps"] == 8 and out["encoding"] == "current" and out["fixed_point"] is False
    assert out["dataset"] == "synthetic" and out["split"] == "test"  # the data actually scored
    with pytest.raises(ConfigError, match=r"does not take \['fixed_point'\]"):
        evaluate_checkpoint(tmp_path, backend="snntorch", dataset=data, fixed_point=True)
    with pytest.raises(ConfigError, match="stepz"):
        evaluate_checkpoint(tmp_path, backend="snntorch", dataset=data, stepz=8)


def test_a_linear_cnn_checkpoint_is_scored_as_signed_activity(tmp_path):
    from sdt_neuro.scoring import score_activity

    data = synthetic_dataset()
    cfg = TrainConfig(arch="cnn", readout="linear", sizes=(784, 40), cnn_channels=(4, 8), prune=0.0, epochs=1,
                      optimizer="adam", lrs=(1e-3,) * 3, batch_size=16, threads=1, seed=1,
                      rule={"n_outputs": 40, "k": 1, "gamma": 0.3, "n_classes": 4})
    train(cfg, out_dir=tmp_path, dataset=data, progress=False, plots=False)
    ref = labelled_reference(tmp_path, dataset=data)
    test_act = ann_activity(ref.config, ref.model, data.test.x)
    as_counts = score_activity(ref.label_activity, ref.label_y, test_act, data.test.y.numpy(), 4, 1)
    assert as_counts["neuron_usage"]["unassigned"] > 0  # outputs below zero: read as counts, they are "silent"
    for out in (evaluate_checkpoint(tmp_path, dataset=data), ref.score(test_act, data.test.y.numpy())):
        assert out["silent_samples"] == 0 and out["neuron_usage"]["unassigned"] == 0
        assert not any("unassigned" in r for r in out.get("collapse_reasons", []))


def test_a_run_trained_without_labels_cannot_be_scored_and_says_why(tmp_path):
    import torch

    from sdt_neuro.data import Dataset, Split
    from sdt_neuro.errors import DataError

    data = synthetic_dataset()
    unlabelled = Dataset("mine", Split(data.train.x, torch.full_like(data.train.y, -1)), data.test,
                         source="mine", n_classes=4)
    cfg = TrainConfig(rule={"n_outputs": 20, "k": 2, "gamma": 0.3, "n_classes": 4}, sizes=(784, 20),
                      lrs=(2.0,), epochs=1, threads=1)
    train(cfg, out_dir=tmp_path, dataset=unlabelled, progress=False, plots=False)
    with pytest.raises(DataError, match="mine's training images have no labels"):
        evaluate_checkpoint(tmp_path, dataset=unlabelled)
