from pathlib import Path

import numpy as np
import pytest
import torch

from sdt_neuro.data import iterate_batches, load_bundled_sample, load_dataset, resolve_data_root, stratified_indices
from sdt_neuro.errors import ConfigError, DataError


def test_bundled_sample_is_real_mnist_and_announced(capsys):
    ds = load_bundled_sample()
    assert "bundled MNIST sample" in capsys.readouterr().err
    assert ds.train.x.shape == (3000, 1, 28, 28) and ds.test.x.shape == (1000, 1, 28, 28)
    assert ds.train.x.dtype == torch.float32
    assert 0.0 == ds.train.x.min() and ds.train.x.max() == 1.0
    assert torch.bincount(ds.train.y).tolist() == [300] * 10


def test_missing_explicit_root_says_how_to_supply_data(tmp_path):
    with pytest.raises(DataError, match="--data-root") as info:
        load_dataset("mnist", tmp_path / "nowhere")
    assert "MNIST/raw" in str(info.value) and "SDT_DATA_ROOT" in str(info.value)
    with pytest.raises(DataError, match="FashionMNIST"):
        load_dataset("fashion-mnist", tmp_path)


def test_unknown_dataset():
    with pytest.raises(ConfigError, match="cifar"):
        load_dataset("cifar")


def test_root_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("SDT_DATA_ROOT", str(tmp_path))
    assert resolve_data_root(None) == (tmp_path, False)
    assert resolve_data_root("/x") == (Path("/x"), False)
    monkeypatch.delenv("SDT_DATA_ROOT")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert resolve_data_root(None) == (tmp_path / "sdt-neuro", False)  # SDT_OFFLINE=1 in tests
    monkeypatch.setenv("SDT_OFFLINE", "0")
    assert resolve_data_root(None) == (tmp_path / "sdt-neuro", True)


def test_offline_without_root_falls_back_to_the_sample(monkeypatch, capsys):
    monkeypatch.delenv("SDT_DATA_ROOT", raising=False)
    ds = load_dataset("mnist")
    assert ds.source == "bundled-sample" and "bundled MNIST sample" in capsys.readouterr().err


def test_a_failed_download_falls_back_to_the_sample_not_to_a_corrupt_data_error(monkeypatch, tmp_path, capsys):
    from torchvision import datasets as tvd

    def no_network(root, download, train):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.delenv("SDT_DATA_ROOT", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("SDT_OFFLINE", "0")
    monkeypatch.setattr(tvd, "MNIST", no_network)
    ds = load_dataset("mnist")
    assert ds.source == "bundled-sample" and "Error downloading" in capsys.readouterr().err


def test_stratified_subsets_are_balanced_and_seeded():
    labels = np.repeat(np.arange(10), 100)
    idx = stratified_indices(labels, count=50, seed=3)
    assert np.bincount(labels[idx]).tolist() == [5] * 10
    np.testing.assert_array_equal(idx, stratified_indices(labels, count=50, seed=3))
    assert not np.array_equal(idx, stratified_indices(labels, count=50, seed=4))
    assert len(stratified_indices(labels, fraction=0.1, seed=0)) == 100
    assert len(stratified_indices(labels, fraction=1.0)) == 1000
    with pytest.raises(ConfigError, match="exactly one"):
        stratified_indices(labels)
    with pytest.raises(ConfigError, match="fraction"):
        stratified_indices(labels, fraction=1.5)


def test_proportional_subsets_follow_the_class_frequencies():
    labels = np.repeat(np.arange(3), [600, 300, 100])
    idx = stratified_indices(labels, count=10, seed=0, allocation="proportional")
    assert np.bincount(labels[idx]).tolist() == [6, 3, 1]
    # 7 = 4.2 + 2.1 + 0.7: the unit left over goes to the largest remainder (class 2)
    seven = stratified_indices(labels, count=7, seed=0, allocation="proportional")
    assert np.bincount(labels[seven]).tolist() == [4, 2, 1]
    # equal remainders: the seed decides which classes get the units left, the total is exact
    even = np.repeat(np.arange(4), 25)
    drawn = {tuple(np.bincount(even[stratified_indices(even, count=6, seed=s, allocation="proportional")], minlength=4))
             for s in range(20)}
    assert all(sum(c) == 6 and sorted(c) == [1, 1, 2, 2] for c in drawn) and len(drawn) > 1
    with pytest.raises(ConfigError, match="allocation"):
        stratified_indices(labels, count=10, allocation="uneven")
    with pytest.raises(ConfigError, match="without a sample"):  # 900 / 50 / 50 with 3: the small classes get 0
        stratified_indices(np.repeat(np.arange(3), [900, 50, 50]), count=3, allocation="proportional")
    # remainders exactly equal (12 of 10 + 40 + 40: 4/3, 16/3, 16/3) but not in floating point: the seed decides
    small = np.repeat(np.arange(3), [10, 40, 40])
    assert {tuple(np.bincount(small[stratified_indices(small, count=12, seed=s, allocation="proportional")]))
            for s in range(30)} == {(2, 5, 5), (1, 6, 5), (1, 5, 6)}


def test_batches_cover_every_index_once():
    seen = torch.cat(list(iterate_batches(103, 16, torch.Generator().manual_seed(0))))
    assert sorted(seen.tolist()) == list(range(103))
    with pytest.raises(ConfigError, match="batch_size"):
        next(iterate_batches(10, 0))


def _copy_mnist(tmp_path: Path) -> Path:
    import os
    import shutil

    source = Path(os.environ.get("SDT_DATA_ROOT", "")) / "MNIST" / "raw"
    if not (source / "train-images-idx3-ubyte").is_file():
        pytest.skip("needs the MNIST IDX files under SDT_DATA_ROOT")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in source.iterdir():
        if f.name.endswith("-ubyte"):
            shutil.copyfile(f, raw / f.name)
    return raw


@pytest.mark.parametrize("damage, message", [
    ("truncate", "cannot be read"),
    ("swap", "cannot be read"),            # an image file where the labels should be
    ("short-labels", "60000 images but 10000 labels"),
    ("label-12", "outside \\[0, 10\\)"),
])
def test_corrupt_idx_files_give_a_clear_data_error(tmp_path, damage, message):
    raw = _copy_mnist(tmp_path)
    labels = raw / "train-labels-idx1-ubyte"
    if damage == "truncate":
        images = raw / "train-images-idx3-ubyte"
        images.write_bytes(images.read_bytes()[: 1_000_000])
    elif damage == "swap":
        labels.write_bytes((raw / "t10k-images-idx3-ubyte").read_bytes())
    elif damage == "short-labels":
        labels.write_bytes((raw / "t10k-labels-idx1-ubyte").read_bytes())
    else:
        data = bytearray(labels.read_bytes())
        data[8] = 12
        labels.write_bytes(bytes(data))
    with pytest.raises(DataError, match=message) as info:
        load_dataset("mnist", tmp_path)
    assert "corrupt" in str(info.value) and "MNIST/raw" in str(info.value)


def test_changed_since_tells_other_data_from_the_same_data_moved():
    import dataclasses

    from sdt_neuro.data import SAMPLE_SOURCE, changed_since
    from tests.conftest import synthetic_dataset

    data = synthetic_dataset()
    then = data.fingerprint
    assert changed_since("synthetic", then, data) is None
    assert changed_since("/old/place", then, dataclasses.replace(data, source="/new/place")) is None
    other = synthetic_dataset(n_train=240)
    assert other.fingerprint != then
    assert changed_since("synthetic", then, other).startswith("trained on the data at synthetic, which has changed")
    assert changed_since("/old", then, dataclasses.replace(other, name="mnist", source="/new")) == (
        "trained on /old, not on /new loaded now (--data-root /old reads it)")
    assert "other data than" in changed_since(None, then, other)
    # checkpoints from before fingerprints: only the bundled sample against real data is other data
    assert changed_since("/old", None, dataclasses.replace(other, source="/new")) is None
    sample = dataclasses.replace(other, name="mnist", source=SAMPLE_SOURCE)
    assert changed_since(SAMPLE_SOURCE, None, sample) is None
    assert changed_since(SAMPLE_SOURCE, None, data).startswith("trained on the bundled MNIST sample, not on synthetic")
    assert changed_since("/old", None, sample) == (
        "trained on /old, not on the bundled MNIST sample loaded now (--data-root /old reads it)")
    assert changed_since(SAMPLE_SOURCE, "another", sample) == (
        "trained on another version of the bundled MNIST sample than this one")
    own = dataclasses.replace(other, name="digits.npz", source="/new/digits.npz")  # the user's own file
    assert changed_since("/old/digits.npz", then, own).endswith("(--dataset /old/digits.npz reads it)")
