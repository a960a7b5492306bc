import numpy as np
import pytest
import torch

from sdt_neuro.data import load_dataset
from sdt_neuro.errors import ConfigError, DataError


def _arrays(n_train=20, n_test=10, shape=(8, 8), seed=0):
    rng = np.random.default_rng(seed)
    return {"x_train": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
            "y_train": np.arange(n_train) % 3,
            "x_test": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
            "y_test": np.arange(n_test) % 3}


def test_npz_loads_as_a_dataset(tmp_path):
    arrays = _arrays()
    np.savez(tmp_path / "mine.npz", **arrays)
    ds = load_dataset(str(tmp_path / "mine.npz"))
    assert ds.name == ds.source == str(tmp_path / "mine.npz")
    assert ds.n_classes == 3 and ds.input_shape == (1, 8, 8)
    assert torch.equal(ds.train.x[:, 0], torch.from_numpy(arrays["x_train"]).float() / 255)
    assert ds.train.y.tolist() == arrays["y_train"].tolist() and ds.train.labelled


def test_npz_suffix_in_capitals_and_test_classes_without_training_images(tmp_path, capsys):
    arrays = _arrays()
    arrays["y_test"] = np.arange(10) % 4  # class 3 is only in the test split
    np.savez(tmp_path / "MINE.npz", **arrays)
    (tmp_path / "MINE.npz").rename(tmp_path / "MINE.NPZ")
    ds = load_dataset(str(tmp_path / "MINE.NPZ"))
    assert ds.n_classes == 4
    assert "test classes [3] have no training image" in capsys.readouterr().err


def test_npz_relative_to_the_data_root_and_without_training_labels(tmp_path):
    arrays = _arrays(shape=(6, 6, 3))
    del arrays["y_train"]
    np.savez(tmp_path / "nolabels.npz", **arrays)
    ds = load_dataset("nolabels.npz", data_root=tmp_path)
    assert ds.input_shape == (3, 6, 6) and not ds.train.labelled and ds.test.labelled


@pytest.mark.parametrize("change, message", [
    ({"x_test": None}, r"lacks \['x_test'\]"),
    ({"y_test": None}, r"lacks \['y_test'\]"),
    ({"y_train": np.arange(5)}, r"y_train has shape \(5,\); expected \[20\]"),
    ({"x_test": np.zeros((10, 9, 9))}, "must match"),
    ({"x_train": np.full((20, 8, 8), np.nan)}, "x_train holds 1280 NaN"),
    ({"y_test": -np.ones(10, int)}, "negative labels"),
])
def test_bad_npz_files_are_refused_with_the_reason(tmp_path, change, message):
    arrays = {k: v for k, v in {**_arrays(), **change}.items() if v is not None}
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_dataset(str(tmp_path / "bad.npz"))


def test_corrupt_npz_and_unknown_names(tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="cannot be read as an .npz"):
        load_dataset(str(tmp_path / "broken.npz"))
    np.save(tmp_path / "single.npy", np.zeros((4, 8, 8)))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")  # one array, not a data set
    with pytest.raises(DataError, match="cannot be read as an .npz.*single ndarray"):
        load_dataset(str(tmp_path / "single.npz"))
    np.savez_compressed(tmp_path / "good.npz", **_arrays())
    raw = bytearray((tmp_path / "good.npz").read_bytes())
    refused = 0
    for i in range(60, len(raw) - 200, max(1, (len(raw) - 260) // 150)):  # a byte flipped in the members
        damaged = raw.copy()
        damaged[i] ^= 0xFF
        (tmp_path / "damaged.npz").write_bytes(bytes(damaged))
        try:
            load_dataset(str(tmp_path / "damaged.npz"))
        except DataError:
            refused += 1  # a DataError or a clean load; never another exception
    assert refused > 0
    (tmp_path / "data.csv").write_text("1,2\n")
    with pytest.raises(ConfigError, match="neither an .npz file nor a folder"):
        load_dataset(str(tmp_path / "data.csv"))
    with pytest.raises(ConfigError, match="neither one of"):
        load_dataset("no-such-set")


def _write_images(root, split, classes, size=(8, 6), mode="L", n=3):
    from PIL import Image

    for c, name in enumerate(classes):
        folder = root / split / name
        folder.mkdir(parents=True)
        for i in range(n):
            value = 40 * c + i
            img = Image.new(mode, size, value if mode == "L" else (value, 0, 255 - value))
            img.save(folder / f"{i}.png")


def test_image_folder(tmp_path, capsys):
    _write_images(tmp_path, "train", ["cat", "dog", "eel"])
    _write_images(tmp_path, "test", ["cat", "eel"])
    ds = load_dataset(str(tmp_path))
    assert "divided by 255" not in capsys.readouterr().err  # images are 8-bit: nothing to announce
    assert ds.n_classes == 3 and ds.input_shape == (1, 6, 8)  # (C, H, W) of 8x6 images
    assert sorted(set(ds.test.y.tolist())) == [0, 2]  # "eel" keeps the index it has in train
    assert float(ds.train.x[3, 0, 0, 0]) == pytest.approx(40 / 255)  # first "dog" image


def test_image_folder_in_colour_and_its_errors(tmp_path):
    _write_images(tmp_path / "a", "train", ["x", "y"], mode="RGB")
    _write_images(tmp_path / "a", "test", ["x", "y"])
    assert load_dataset(str(tmp_path / "a")).input_shape == (3, 6, 8)  # any colour image: RGB for all
    _write_images(tmp_path / "b", "train", ["x", "y"])
    _write_images(tmp_path / "b", "test", ["x", "z"])
    with pytest.raises(DataError, match=r"classes \['z'\]"):
        load_dataset(str(tmp_path / "b"))
    _write_images(tmp_path / "c", "train", ["x", "y"])
    _write_images(tmp_path / "c", "test", ["x"], size=(9, 9))
    with pytest.raises(DataError, match="resize the images"):
        load_dataset(str(tmp_path / "c"))
    (tmp_path / "d" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="test is missing"):
        load_dataset(str(tmp_path / "d"))


def test_an_npz_of_a_named_set_trains_exactly_like_the_named_set(tmp_path):
    """The same images through torchvision's reader and through an .npz file: the same run."""
    from sdt_neuro.data import load_bundled_sample
    from sdt_neuro.training import TrainConfig, train

    sample = load_bundled_sample()
    np.savez(tmp_path / "sample.npz", x_train=(sample.train.x[:, 0] * 255).round().numpy().astype(np.uint8),
             y_train=sample.train.y.numpy(), x_test=(sample.test.x[:, 0] * 255).round().numpy().astype(np.uint8),
             y_test=sample.test.y.numpy())
    from_npz = load_dataset(str(tmp_path / "sample.npz"))
    assert torch.equal(from_npz.train.x, sample.train.x) and torch.equal(from_npz.test.y, sample.test.y)
    cfg = TrainConfig(rule={"n_outputs": 50, "k": 2, "gamma": 0.3}, sizes=(784, 50), lrs=(2.0,), epochs=1, threads=1,
                      max_train_samples=500, max_test_samples=200)
    a = train(cfg, dataset=sample, progress=False).metrics[-1]
    b = train(cfg.replace(dataset=str(tmp_path / "sample.npz")), progress=False).metrics[-1]
    for key in ("train_loss", "test_da_average", "test_da_max", "unassigned_neurons"):
        assert a[key] == b[key]


def test_image_folder_reads_16_bit_and_float_greyscale_on_the_scale_their_values_imply(tmp_path, capsys):
    from PIL import Image

    def folder(name, a, b, suffix):
        for split in ("train", "test"):
            for cls, array in (("a", a), ("b", b)):
                (tmp_path / name / split / cls).mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(tmp_path / name / split / cls / f"0{suffix}")
        return load_dataset(str(tmp_path / name))

    def grey(ds):
        return [round(float(ds.train.x[i].max()) * 255) for i in range(2)]

    full = folder("16bit", np.full((4, 4), 32896, np.uint16), np.full((4, 4), 65535, np.uint16), ".png")
    assert grey(full) == [128, 255] and "read as values in 0-65535" in capsys.readouterr().err  # not clipped
    narrow = folder("8in16", np.full((4, 4), 128, np.uint16), np.full((4, 4), 255, np.uint16), ".png")
    assert grey(narrow) == [128, 255]  # 8-bit values stored in 16 bits are not divided by 65535
    unit = folder("float", np.full((4, 4), 0.25, np.float32), np.full((4, 4), 1.0, np.float32), ".tiff")
    assert grey(unit) == [64, 255]  # floats in [0, 1], not rounded to 0 or 1
    with pytest.raises(DataError, match=r"values in \[-1.0, 1.0\].*\[0, 1\], 0-255 or 0-65535"):
        folder("negative", np.full((4, 4), -1.0, np.float32), np.full((4, 4), 1.0, np.float32), ".tiff")


def test_image_folder_colour_is_what_the_pixels_hold_and_bad_images_are_refused(tmp_path):
    from PIL import Image

    _write_images(tmp_path / "la", "train", ["x", "y"])
    _write_images(tmp_path / "la", "test", ["x", "y"])
    Image.new("LA", (8, 6), (90, 255)).save(tmp_path / "la" / "train" / "x" / "alpha.png")  # grey with alpha
    Image.new("L", (8, 6), 70).convert("P").save(tmp_path / "la" / "test" / "y" / "palette.png")  # grey palette
    assert load_dataset(str(tmp_path / "la")).input_shape == (1, 6, 8)
    _write_images(tmp_path / "mixed", "train", ["x", "y"], mode="RGB")
    _write_images(tmp_path / "mixed", "test", ["x", "y"])
    Image.fromarray(np.full((6, 8), 1000, np.uint16)).save(tmp_path / "mixed" / "test" / "y" / "wide.png")
    Image.fromarray(np.full((6, 8), 65535, np.uint16)).save(tmp_path / "mixed" / "test" / "y" / "wider.png")
    mixed = load_dataset(str(tmp_path / "mixed"))  # 16-bit grey among colour images: scaled, not clipped
    assert mixed.input_shape == (3, 6, 8)
    assert sorted(round(float(x.max()) * 255) for x in mixed.test.x[-2:]) == [round(1000 / 65535 * 255), 255]
    _write_images(tmp_path / "junk", "train", ["x", "y"])
    _write_images(tmp_path / "junk", "test", ["x", "y"])
    (tmp_path / "junk" / "train" / "x" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png cannot be read as an image"):
        load_dataset(str(tmp_path / "junk"))


def test_image_folder_with_one_class_is_refused(tmp_path):
    _write_images(tmp_path, "train", ["only"])
    _write_images(tmp_path, "test", ["only"])
    with pytest.raises(DataError, match="1 class folder"):
        load_dataset(str(tmp_path))
