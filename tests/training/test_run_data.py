"""The validation split: carved from the training images, scored every epoch, test scored once."""

import json

import numpy as np
import pytest

from sdt_neuro.errors import ConfigError
from sdt_neuro.scoring import evaluate_checkpoint
from sdt_neuro.training import TrainConfig, train
from sdt_neuro.training.checkpoint import load_checkpoint
from sdt_neuro.training.run_data import training_split, validation_split
from tests.conftest import synthetic_dataset


def config(**kw):
    base = dict(rule={"n_outputs": 20, "k": 2, "gamma": 0.3, "n_classes": 4}, sizes=(784, 20), lrs=(2.0,),
                epochs=3, threads=1, val_samples=40)
    base.update(kw)
    return TrainConfig(**base)


def test_validation_images_are_stratified_seeded_and_never_trained_on():
    data = synthetic_dataset()
    cfg = config()
    val, train_part = validation_split(cfg, data), training_split(cfg, data)
    assert len(val) == 40 and len(train_part) == 160
    assert np.bincount(val.y.numpy()).tolist() == [10, 10, 10, 10]
    flat_val = {tuple(row) for row in val.flat().numpy().round(6)}
    assert not flat_val & {tuple(row) for row in train_part.flat().numpy().round(6)}
    again = validation_split(config(seed=9), data)  # the run's seed does not move the split
    assert np.array_equal(again.x.numpy(), val.x.numpy())
    other = validation_split(config(val_seed=1), data)
    assert not np.array_equal(other.x.numpy(), val.x.numpy())


def test_epochs_are_scored_on_validation_and_the_test_set_once(tmp_path):
    data = synthetic_dataset()
    res = train(config(), out_dir=tmp_path, dataset=data, progress=False, plots=True)
    records = json.loads((tmp_path / "metrics.json").read_text())
    assert all(r["eval_split"] == "validation" and r["val_samples"] == 40 and "val_da_average" in r
               for r in records)
    assert ["test_da_average" in r for r in records] == [False, False, True]
    assert load_checkpoint(tmp_path / "checkpoint.pt")["config"]["val_samples"] == 40
    scored = evaluate_checkpoint(tmp_path, dataset=data, split="validation")
    assert scored["samples"] == 40 and scored["split"] == "validation"
    assert scored["da_average"] == pytest.approx(res.metrics[-1]["val_da_average"])
    assert evaluate_checkpoint(tmp_path, dataset=data)["da_average"] == pytest.approx(
        res.metrics[-1]["test_da_average"])


def test_bad_validation_sizes_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="at least one validation image per class"):
        config(val_samples=0)
    with pytest.raises(ConfigError, match=r"val_samples=3 \(--val-samples\) must be >= the 4 classes of synthetic"):
        validation_split(config(val_samples=3), synthetic_dataset())
    # a preset's config still says 10 classes before it meets the data: 6 fits four classes
    ten = config(val_samples=6, rule={"n_outputs": 20, "k": 2, "gamma": 0.3, "n_classes": 10})
    assert np.bincount(validation_split(ten, synthetic_dataset()).y.numpy()).tolist() == [2, 2, 1, 1]
    with pytest.raises(ConfigError, match="smaller than the 200 training images"):
        train(config(val_samples=200), dataset=synthetic_dataset(), progress=False, plots=False)
    train(config(val_samples=None, epochs=1), out_dir=tmp_path, dataset=synthetic_dataset(),
          progress=False, plots=False)
    with pytest.raises(ConfigError, match="without a validation split"):
        evaluate_checkpoint(tmp_path, dataset=synthetic_dataset(), split="validation")


def test_a_validation_split_of_unbalanced_classes_takes_what_a_small_class_has_and_never_all_of_it():
    import torch

    from sdt_neuro.data import Dataset, Split

    data = synthetic_dataset()
    keep = torch.cat([torch.nonzero(data.train.y != 3)[:, 0], torch.nonzero(data.train.y == 3)[:5, 0]])
    small = Dataset("small", Split(data.train.x[keep], data.train.y[keep]), data.test, source="x", n_classes=4)
    val = validation_split(config(val_samples=40), small)  # 10 a class asked; class 3 has 5 images
    assert np.bincount(val.y.numpy()).tolist() == [12, 12, 12, 4]  # class 3 keeps one; the others share
    assert np.bincount(training_split(config(val_samples=40), small).y.numpy()).tolist() == [38, 38, 38, 1]
    with pytest.raises(ConfigError, match=r"val_samples=152 \(--val-samples\) does not fit small: count=152 must be "
                                          r"in \[4, 151\] \(1 image\(s\) of each class left out"):
        validation_split(config(val_samples=152), small)


def _colour_npz(path, labels=True, n_classes=3, side=8):
    rng = np.random.default_rng(0)
    protos = rng.random((n_classes, side, side, 3))
    y_train, y_test = np.arange(90) % n_classes, np.arange(30) % n_classes
    arrays = {"x_train": np.clip(protos[y_train] + 0.1 * rng.random((90, side, side, 3)), 0, 1),
              "x_test": np.clip(protos[y_test] + 0.1 * rng.random((30, side, side, 3)), 0, 1), "y_test": y_test}
    if labels:
        arrays["y_train"] = y_train
    np.savez(path, **arrays)
    return path


def test_a_run_fits_itself_to_the_data_set_and_finds_it_again(tmp_path):
    from sdt_neuro.data import load_dataset

    path = _colour_npz(tmp_path / "colour.npz")
    cfg = TrainConfig(rule={"n_outputs": 12, "k": 2, "gamma": 0.3}, sizes=(784, 12), lrs=(0.1,), epochs=2,
                      threads=1, dataset=str(path))
    res = train(cfg, out_dir=tmp_path / "run", progress=False, plots=True)
    assert res.config.input_shape == (3, 8, 8) and res.config.sizes == (192, 12)
    assert res.config.wta_rule.n_classes == 3 and res.config.dataset == str(path.resolve())
    assert res.metrics[-1]["test_da_average"] > 0.9  # three colour prototypes: easy
    assert {"receptive_fields.png", "neurons.png", "accuracy.png"} <= {p.name for p in (tmp_path / "run").iterdir()}
    again = evaluate_checkpoint(tmp_path / "run")  # the checkpoint names its data
    assert again["da_average"] == pytest.approx(res.metrics[-1]["test_da_average"])
    cnn = TrainConfig(rule={"n_outputs": 12, "k": 2, "gamma": 0.3}, arch="cnn", sizes=(784, 12), lrs=(1e-3,),
                      optimizer="adam", epochs=1, threads=1, input_dropout=0.0)
    assert train(cnn, dataset=load_dataset(str(path)), progress=False).config.input_shape == (3, 8, 8)


def test_training_without_labels_runs_and_skips_the_scores(tmp_path):
    path = _colour_npz(tmp_path / "nolabels.npz", labels=False)
    cfg = TrainConfig(rule={"n_outputs": 12, "k": 2, "gamma": 0.3}, sizes=(784, 12), lrs=(2.0,), epochs=2,
                      threads=1, dataset=str(path))
    res = train(cfg, out_dir=tmp_path / "run", progress=False)
    assert [m["epoch"] for m in res.metrics] == [1, 2] and "test_da_average" not in res.metrics[-1]
    assert "no labels" in res.metrics[-1]["evaluation"]
    with pytest.raises(ConfigError, match="no training labels"):
        train(cfg.replace(val_samples=10), progress=False)
    labelled_phase = {"repeat": 1, "phases": [{"name": "fit", "labels": True}]}  # no semi_labels: pool "all"
    with pytest.raises(ConfigError, match="no training labels.*phase 'fit' \\(labels: true\\) need"):
        train(cfg.replace(procedure=(labelled_phase,), epochs=1), out_dir=tmp_path / "labelled", progress=False)
    assert not (tmp_path / "labelled" / "config.json").exists()  # refused before anything is written


def test_a_semi_supervised_run_records_the_fraction_of_labels_that_assigned_its_neurons(tmp_path):
    from sdt_neuro.presets import preset_config

    data = synthetic_dataset(n_train=200, n_classes=4)
    cfg = preset_config("semi-bp-100-ours", epochs=1, threads=1).replace(
        semi_labels=8, sizes=(784, 4), rule={"n_outputs": 4, "k": 1, "gamma": 0.0, "n_classes": 4})
    res = train(cfg, out_dir=tmp_path, dataset=data, progress=False, plots=False)
    assert res.metrics[-1]["label_fraction"] == pytest.approx(8 / 200)  # not label_fraction's 1.0
    assert evaluate_checkpoint(tmp_path, dataset=data)["labels"]["fraction"] == pytest.approx(8 / 200)


def test_a_preset_that_cannot_fit_the_data_says_why(tmp_path):
    from sdt_neuro.presets import preset_config

    path = _colour_npz(tmp_path / "three.npz")  # 3 classes; semi-bp-100 has one output per class of 10
    with pytest.raises(ConfigError, match="semi-bp-100-ours does not fit .*3 classes"):
        train(preset_config("semi-bp-100-ours", dataset=str(path), epochs=1), progress=False)
