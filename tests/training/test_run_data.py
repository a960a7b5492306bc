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
        config(val_samples=3)
    with pytest.raises(ConfigError, match="smaller than the 200 training images"):
        train(config(val_samples=200), dataset=synthetic_dataset(), progress=False, plots=False)
    train(config(val_samples=None, epochs=1), out_dir=tmp_path, dataset=synthetic_dataset(),
          progress=False, plots=False)
    with pytest.raises(ConfigError, match="without a validation split"):
        evaluate_checkpoint(tmp_path, dataset=synthetic_dataset(), split="validation")
