import numpy as np
import pytest
import torch

from sdt_neuro.data.checks import check_images, check_labels, check_same_shape, count_classes, images_nchw
from sdt_neuro.errors import DataError


@pytest.mark.parametrize("shape, expected", [
    ((5, 12), (5, 1, 1, 12)),          # rows of features
    ((5, 8, 6), (5, 1, 8, 6)),         # grey images
    ((5, 8, 6, 3), (5, 3, 8, 6)),      # channels last
    ((5, 3, 8, 6), (5, 3, 8, 6)),      # channels first
    ((5, 1, 8, 6), (5, 1, 8, 6)),
])
def test_images_come_out_as_nchw(shape, expected):
    x = np.arange(np.prod(shape)).reshape(shape)
    out = images_nchw(x, "x")
    assert out.shape == expected
    if len(shape) == 4 and shape[3] == 3:  # the same pixel, moved: channel c of pixel (i, j)
        assert out[2, 1, 4, 5] == x[2, 4, 5, 1]


def test_odd_dimensions_are_refused_by_name():
    with pytest.raises(DataError, match=r"x_train has shape \(5, 4, 8, 6\)"):
        images_nchw(np.zeros((5, 4, 8, 6)), "x_train")
    with pytest.raises(DataError, match="shape"):
        images_nchw(np.zeros(5), "x_train")


def test_0_255_values_are_scaled_and_announced(capsys):
    x = np.array([[[0, 51], [255, 102]]], dtype=np.uint8)
    out = check_images(x, "x_train")
    assert out.dtype == torch.float32 and out.shape == (1, 1, 2, 2)
    assert out.flatten().tolist() == pytest.approx([0.0, 0.2, 1.0, 0.4])
    assert "divided by 255" in capsys.readouterr().err
    floats = check_images(np.array([[[0.0, 127.5]]]), "x", announce=False)  # floats above 1: 0-255 too
    assert floats.flatten().tolist() == pytest.approx([0.0, 0.5])
    unit = check_images(np.array([[[0.0, 0.5]]]), "x")
    assert unit.flatten().tolist() == [0.0, 0.5] and "divided" not in capsys.readouterr().err
    binary = check_images(np.array([[[0, 1], [1, 0]]], dtype=np.uint8), "x_train")  # binarised MNIST, as uint8
    assert binary.flatten().tolist() == [0.0, 1.0, 1.0, 0.0]  # not 1/255: pixels the network could not see
    assert "read as binary pixels in [0, 1] (not divided by 255)" in capsys.readouterr().err


@pytest.mark.parametrize("x, message", [
    (np.array([[[0.1, np.nan], [np.inf, 0.2]]]), "1 NaN and 1 infinite"),
    (np.array([[[-0.5, 0.2]]]), "negative"),
    (np.array([[[300.0, 0.2]]]), "up to 300"),
    (np.zeros((0, 4, 4)), "empty"),
    (np.array([[[True, False]]]), "bool"),
    (np.array([[["a", "b"]]]), "expected numbers"),
    (np.array([[[0.1 + 1j, 0.2]]]), "complex128 values"),
    (np.zeros((3, 0)), "no pixels"),
    (np.zeros((3, 0, 4)), "no pixels"),
])
def test_bad_images_are_refused_naming_the_array(x, message):
    with pytest.raises(DataError, match=message) as info:
        check_images(x, "data.npz: x_test")
    assert "x_test" in str(info.value)


def test_labels():
    assert check_labels(np.array([0, 2, 1]), 3, "y").tolist() == [0, 2, 1]
    assert check_labels(np.array([0.0, 2.0]), 2, "y").dtype == torch.int64
    assert check_labels(None, 3, "y").tolist() == [-1, -1, -1]
    for y, message in ((np.array([0, 1]), r"expected \[3\]"), (np.array([0, -1, 1]), "negative"),
                       (np.array([0, 1.5, 1]), "whole numbers"), (np.array(["a", "b", "c"]), "integer"),
                       (np.array([0, 2**63, 1], np.uint64), "labels up to"), (np.array([0, 1e30, 1]), "labels up to")):
        with pytest.raises(DataError, match=message):
            check_labels(y, 3, "y_train")


def test_class_count_and_shape_match(capsys):
    assert count_classes(torch.tensor([0, 1, 2, 3]), torch.tensor([-1, -1]), name="d") == 4
    assert capsys.readouterr().err == ""
    assert count_classes(torch.tensor([1, 2, 3]), torch.tensor([3, 2]), name="d") == 4  # 1-based labels
    assert "1 of the 4 classes 0 .. 3 have no image (classes [0])" in capsys.readouterr().err
    with pytest.raises(DataError, match="no labels"):
        count_classes(torch.tensor([-1]), name="d")
    with pytest.raises(DataError, match="at least 2 classes"):
        count_classes(torch.tensor([0, 0]), name="d")
    with pytest.raises(DataError, match=r"\(1, 8, 8\) but test images \(1, 9, 9\)"):
        check_same_shape(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 9, 9), "d")
