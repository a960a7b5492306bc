import numpy as np
import pytest

from sdt_neuro import plots


def test_silent_rows_are_won_by_no_neuron_unless_the_activity_is_signed():
    act = np.array([[0.0, 0.0, 0.0], [0.1, 0.5, 0.0], [0.0, 0.0, 0.0], [0.9, 0.2, 0.0]])
    np.testing.assert_array_equal(plots.winners(act), [-1, 1, -1, 0])
    np.testing.assert_array_equal(plots.winners(act, signed=True), [0, 1, 0, 0])
    np.testing.assert_array_equal(plots.win_counts(act), [1, 1, 0])


def test_a_neurons_mean_image_leaves_the_silent_images_out(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(plots, "_image", lambda vector, shape, signed: seen.append(vector) or vector)
    monkeypatch.setattr(plots, "_grid", lambda images, titles, path, title: None)
    x = np.array([[1.0, 1.0], [0.2, 0.4], [5.0, 5.0]])  # rows 0 and 2 silent: their images must not count
    act = np.array([[0.0, 0.0], [0.7, 0.1], [0.0, 0.0]])
    plots.plot_neuron_prototypes(x, act, [0], tmp_path / "n.png", ["#0"], input_shape=(1, 1, 2))
    np.testing.assert_allclose(seen[0], [0.2, 0.4])


def test_an_accuracy_curve_without_a_scored_epoch_says_so(tmp_path):
    with pytest.raises(ValueError, match="no scored epoch to plot"):
        plots.plot_accuracy_curve([{"epoch": 1, "evaluation": "skipped: no labels"}], tmp_path / "a.png")
