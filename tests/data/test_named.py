import struct

import numpy as np
import pytest
import torch

from sdt_neuro.data import DATASETS, load_dataset
from sdt_neuro.data.named import NAMED_SETS, named_set
from sdt_neuro.errors import DataError


def _idx(path, array):
    code = 0x08  # unsigned byte
    header = struct.pack(">HBB", 0, code, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_kmnist_reads_idx_files_like_mnist(tmp_path):
    raw = tmp_path / "KMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 28, 28))
    _idx(raw / "train-images-idx3-ubyte", images)
    _idx(raw / "train-labels-idx1-ubyte", np.arange(12) % 10)
    _idx(raw / "t10k-images-idx3-ubyte", images[:4])
    _idx(raw / "t10k-labels-idx1-ubyte", np.arange(4))
    ds = load_dataset("kmnist", tmp_path)
    assert ds.name == "kmnist" and ds.input_shape == (1, 28, 28) and len(ds.train) == 12
    assert torch.equal(ds.train.x[:, 0], torch.from_numpy(images).float() / 255)


class _Fake:
    """Stands in for a torchvision reader (real CIFAR-10 / SVHN / EMNIST files are not on this machine)."""

    def __init__(self, data, labels, attr="targets"):
        self.data = data
        setattr(self, attr, labels)


def test_cifar10_images_become_channels_first(monkeypatch, tmp_path):
    import torchvision.datasets as tvd

    data = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    monkeypatch.setattr(tvd, "CIFAR10", lambda root, download, train: _Fake(data, list(range(6))))
    ds = load_dataset("cifar10", tmp_path)
    assert ds.input_shape == (3, 32, 32)
    assert float(ds.train.x[1, 2, 3, 4]) == pytest.approx(data[1, 3, 4, 2] / 255)


def test_emnist_letters_are_transposed_and_zero_based(monkeypatch, tmp_path):
    import torchvision.datasets as tvd

    data = torch.zeros(3, 28, 28, dtype=torch.uint8)
    data[:, 0, 5] = 255  # row 0, column 5 as stored: row 5, column 0 once transposed
    monkeypatch.setattr(tvd, "EMNIST", lambda root, download, split, train: _Fake(data, torch.tensor([1, 2, 26])))
    ds = load_dataset("emnist-letters", tmp_path)
    assert ds.n_classes == 26 and ds.train.y.tolist() == [0, 1, 25]
    assert float(ds.train.x[0, 0, 5, 0]) == 1.0 and float(ds.train.x[0, 0, 0, 5]) == 0.0
    assert named_set("emnist").name == "emnist-balanced" and named_set("emnist").n_classes == 47


def test_missing_named_set_says_which_files_go_where(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", tmp_path)
    assert "cifar-10-batches-py" in str(info.value) and "--data-root" in str(info.value)
    assert {"mnist", "fashion-mnist", "kmnist", "emnist-balanced", "cifar10", "svhn"} <= set(DATASETS)
    assert NAMED_SETS["emnist-byclass"].n_classes == 62 and NAMED_SETS["svhn"].test_args == {"split": "test"}
