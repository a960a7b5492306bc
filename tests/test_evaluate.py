import numpy as np
import pytest

from sdt_neuro.errors import DataError, ShapeError
from sdt_neuro.evaluate import (
    agreement,
    argmax_random_ties,
    assign_neurons,
    confusion_matrix,
    direct_association,
    neuron_usage,
)
from sdt_neuro.probe import linear_probe


def hand_built():
    # 6 neurons: 0,1 -> class 0; 2,3 -> class 1; 4 -> class 2; 5 never active
    label_act = np.array([
        [1.0, 0.8, 0.0, 0.1, 0.0, 0.0],
        [0.9, 0.7, 0.1, 0.0, 0.0, 0.0],
        [0.0, 0.1, 1.0, 0.9, 0.0, 0.0],
        [0.1, 0.0, 0.8, 1.0, 0.2, 0.0],
        [0.0, 0.0, 0.1, 0.0, 1.0, 0.0],
    ])
    labels = np.array([0, 0, 1, 1, 2])
    return label_act, labels


def test_assignment_with_unassigned_neuron():
    act, labels = hand_built()
    np.testing.assert_array_equal(assign_neurons(act, labels, 3), [0, 0, 1, 1, 2, -1])


def test_average_and_max_differ_where_they_should():
    act, labels = hand_built()
    test = np.array([
        [0.6, 0.6, 0.0, 0.0, 0.0, 0.0],  # class 0 both ways
        [0.0, 0.0, 0.5, 0.5, 0.1, 0.0],  # class 1 both ways
        [0.9, 0.0, 0.5, 0.5, 0.0, 1.0],  # average: class 1 (0.5 vs 0.45); max: class 0 (0.9)
    ])
    res = direct_association(act, labels, test, np.array([0, 1, 1]), n_classes=3)
    np.testing.assert_array_equal(res.pred_average, [0, 1, 1])
    np.testing.assert_array_equal(res.pred_max, [0, 1, 0])
    assert res.average == 1.0 and res.max == pytest.approx(2 / 3)


def test_agreement_confusion_and_usage():
    assert agreement(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4])) == 0.75
    cm = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])
    even = np.eye(4)[np.arange(100) % 4]
    u = neuron_usage(even, k=1)
    assert u.never_win == 0 and u.win_cv == pytest.approx(0) and u.win_entropy_ratio == pytest.approx(1)
    skewed = np.eye(4)[np.zeros(100, int)]
    u2 = neuron_usage(skewed, k=1)
    assert u2.never_win == 3 and u2.win_entropy_ratio == pytest.approx(0) and u2.unassigned == 3


def test_shape_errors():
    with pytest.raises(ShapeError, match="labels"):
        assign_neurons(np.zeros((3, 2)), np.zeros(4), 2)
    with pytest.raises(ShapeError, match="2-D"):
        direct_association(np.zeros(3), np.zeros(3), np.zeros((1, 3)), np.zeros(1))
    with pytest.raises(ShapeError, match="equal length"):
        agreement(np.zeros(3), np.zeros(4))


def test_linear_probe_learns_separable_features():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = np.eye(3)[y] + 0.1 * rng.random((300, 3))
    acc = linear_probe(x[:200], y[:200], x[200:], y[200:], n_classes=3, epochs=20, lr=0.05)
    assert acc > 0.95


def test_linear_probe_standardizes_tiny_features():
    """Features of scale 1e-4 (like an untrained CNN's outputs) plus one constant feature: learnt
    after standardisation, near chance without it."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    x = np.hstack([1e-4 * (np.eye(3)[y] + 0.3 * rng.random((600, 3))), np.ones((600, 1))])
    args = (x[:400], y[:400], x[400:], y[400:])
    assert linear_probe(*args, n_classes=3, epochs=20, lr=0.05) > 0.95
    assert linear_probe(*args, n_classes=3, epochs=20, lr=0.05, standardize=False) < 0.6


def test_a_silent_sample_is_wrong_not_class_zero():
    act, labels = hand_built()
    test = np.array([[0.0] * 6, [0.0, 0.0, 0.0, 0.0, 0.0, 0.7]])  # no activity / only an unassigned neuron
    res = direct_association(act, labels, test, np.array([0, 0]), n_classes=3)
    np.testing.assert_array_equal(res.pred_average, [-1, -1])
    np.testing.assert_array_equal(res.pred_max, [-1, -1])
    assert res.average == 0.0 and res.max == 0.0 and res.silent == 2
    cm = confusion_matrix(np.array([0, 0]), res.pred_average, 3)
    assert cm.sum() == 0  # silent predictions are not counted as any class


def test_ties_are_broken_at_random_not_towards_the_lowest_index():
    act, labels = hand_built()
    tied = np.tile([[0.5, 0.5, 0.5, 0.5, 0.0, 0.0]], (400, 1))  # classes 0 and 1 tie (average and max)
    res = direct_association(act, labels, tied, np.zeros(400, int), n_classes=3)
    for pred in (res.pred_average, res.pred_max):
        assert set(pred.tolist()) == {0, 1}
        assert 0.4 < (pred == 0).mean() < 0.6
    again = direct_association(act, labels, tied, np.zeros(400, int), n_classes=3)
    np.testing.assert_array_equal(again.pred_average, res.pred_average)  # seeded: repeatable
    other = direct_association(act, labels, tied, np.zeros(400, int), n_classes=3, seed=1)
    assert (other.pred_average != res.pred_average).any()


def test_a_class_without_neurons_is_never_predicted():
    act = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    assignment = assign_neurons(act, np.array([0, 1, 2]), 3)
    np.testing.assert_array_equal(assignment, [0, 1])  # class 2 owns no neuron
    res = direct_association(act, np.array([0, 1, 2]), np.array([[0.2, 0.9], [0.3, 0.3]]), np.array([1, 2]), 3)
    assert 2 not in res.pred_average.tolist() and 2 not in res.pred_max.tolist()
    assert res.pred_average[0] == 1


def test_argmax_random_ties_only_randomises_tied_rows():
    scores = np.array([[0.1, 0.9, 0.2], [0.5, 0.5, -np.inf]] * 50)
    pred = argmax_random_ties(scores)
    assert (pred[0::2] == 1).all()
    assert set(pred[1::2].tolist()) == {0, 1}


def test_usage_counts_winners_like_the_rule_and_silent_rows_win_nothing():
    act = np.array([[0.5, 0.5, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    u = neuron_usage(act, k=2)
    # the rule's ties go to the lower index: neurons 0 and 1 win the first row; silent rows credit nobody
    assert u.win_fraction_max == pytest.approx(1 / 3) and u.never_win == 2


def test_a_sample_with_fewer_active_neurons_than_k_credits_only_those():
    counts = np.zeros((1000, 100))
    counts[np.arange(1000), np.random.default_rng(0).integers(0, 100, 1000)] = 3  # one neuron spikes a sample
    u = neuron_usage(counts, k=5)
    assert u.win_fraction_max < 0.03 and u.win_entropy_ratio > 0.98  # spread evenly: no false collapse
    assert neuron_usage(np.array([[0.2, 0.0, 0.0, 0.0]]), k=2).never_win == 3  # not neuron 1 for its zero


def test_signed_activity_has_no_silence_a_linear_output_below_zero_still_votes():
    # a linear read-out: each neuron is least negative for its class, and below zero for every sample
    label_act = np.array([[-0.1, -0.9, -0.8], [-0.9, -0.2, -0.7], [-0.8, -0.9, -0.3]])
    labels = np.array([0, 1, 2])
    assert (assign_neurons(label_act, labels, 3) == -1).all()  # read as counts, nobody ever responds
    np.testing.assert_array_equal(assign_neurons(label_act, labels, 3, signed=True), [0, 1, 2])
    test = np.array([[-0.7, -0.3, -0.9], [-0.5, -0.6, -0.2]])
    as_counts = direct_association(label_act, labels, test, np.array([1, 2]), 3)
    assert as_counts.silent == 2 and as_counts.average == 0.0
    signed = direct_association(label_act, labels, test, np.array([1, 2]), 3, signed=True)
    assert signed.silent == 0 and signed.average == 1.0 and signed.max == 1.0
    np.testing.assert_array_equal(signed.pred_average, [1, 2])
    usage = neuron_usage(test, signed.assignment, k=1, signed=True)
    assert (usage.unassigned, usage.never_win, usage.win_fraction_max) == (0, 1, 0.5)
    assert neuron_usage(test, k=1).never_win == 3  # read as counts: every row is silent
    assert neuron_usage(test, k=1, signed=True).unassigned == 0  # no assignment given: nobody is silent


def test_a_class_without_labelled_samples_owns_no_neuron_even_for_signed_activity():
    label_act = np.array([[-0.1, -0.9], [-0.9, -0.2]])  # class 2 has no labelled sample: its mean is no 0
    np.testing.assert_array_equal(assign_neurons(label_act, np.array([0, 1]), 3, signed=True), [0, 1])


def test_signed_output_accuracy_and_win_counts_have_no_silent_rows():
    from sdt_neuro.plots import win_counts
    from sdt_neuro.training.semi import output_accuracy

    act = np.array([[-0.2, -0.5], [-0.6, -0.1]])
    assert output_accuracy(act, np.array([0, 1]), 2) == 0.0
    assert output_accuracy(act, np.array([0, 1]), 2, signed=True) == 1.0
    np.testing.assert_array_equal(win_counts(act), [0, 0])
    np.testing.assert_array_equal(win_counts(act, signed=True), [1, 1])


def test_non_finite_activity_is_refused_not_scored():
    from sdt_neuro.errors import NonFiniteError

    act, labels = hand_built()
    with pytest.raises(NonFiniteError, match="test_activity.*6 NaN"):
        direct_association(act, labels, np.full((1, 6), np.nan), np.array([0]), n_classes=3)
    with pytest.raises(NonFiniteError, match="labelled activity"):
        direct_association(np.full_like(act, np.nan), labels, act, labels, n_classes=3)
    with pytest.raises(NonFiniteError, match="train_features"):
        linear_probe(np.full((4, 2), np.inf), np.zeros(4), np.zeros((2, 2)), np.zeros(2), n_classes=2)


def test_collapse_reasons_name_the_figure():
    from sdt_neuro.evaluate import collapse_reasons

    assert collapse_reasons(10, 2000, 0.95, 0.9, 10) == []
    assert "unassigned_neurons=1831 of 3000" in collapse_reasons(1831, 3000, 0.9, 0.9, 10)[0]
    assert "win_entropy_ratio=0.200" in collapse_reasons(0, 2000, 0.2, 0.9, 10)[0]
    assert "near chance" in collapse_reasons(0, 2000, 0.9, 0.1135, 10)[0]


def test_a_silent_spiking_evaluation_is_told_apart_from_a_collapsed_training():
    from sdt_neuro.evaluate import collapse_message, collapse_reasons
    from sdt_neuro.scoring import score_activity

    act, labels = hand_built()
    out = score_activity(act, labels, np.zeros((40, act.shape[1])), np.zeros(40, int), n_classes=3, k=1)
    assert out["neuron_usage"]["win_entropy_ratio"] == 0.0 and str(out["neuron_usage"]["win_entropy_ratio"]) == "0.0"
    reasons = out["collapse_reasons"]
    assert "silent_samples=40 of 40" in reasons[0] and not any("win_entropy" in r for r in reasons)
    assert "--steps" in collapse_message(reasons, "run", spiking=True)  # the network's time, not its training
    assert "--lr" in collapse_message(reasons, "run") and "--steps" not in collapse_message(reasons, "run")
    assert collapse_reasons(0, 2000, 0.2, 0.9, 10, silent=10, samples=100)[0].startswith("win_entropy_ratio")


def test_da_max_ties_favour_the_class_holding_more_tied_neurons():
    act, labels = hand_built()  # neurons 0, 1 -> class 0; 2, 3 -> class 1; 4 -> class 2
    tied = np.tile([[0.5, 0.5, 0.0, 0.0, 0.5, 0.0]], (3000, 1))  # two tied neurons of class 0, one of class 2
    pred = direct_association(act, labels, tied, np.zeros(3000, int), n_classes=3).pred_max
    assert set(pred.tolist()) == {0, 2}
    assert 0.63 < (pred == 0).mean() < 0.70  # 2 / 3


def test_labels_outside_the_classes_are_refused_by_name():
    from sdt_neuro.errors import DataError

    act = np.eye(3)
    with pytest.raises(DataError, match=r"class indices in \[0, 3\), got values from -1 to 2"):
        assign_neurons(act, np.array([-1, 1, 2]), 3)
    with pytest.raises(DataError, match=r"got values from 0 to 5"):
        direct_association(act, np.array([0, 1, 2]), act, np.array([0, 1, 5]), n_classes=3)
    with pytest.raises(DataError, match="class indices"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), n_classes=3)


def test_fractional_labels_and_empty_sets_are_refused_not_scored():
    act = np.eye(3)
    with pytest.raises(DataError, match="whole class indices"):
        assign_neurons(act, np.array([0.9, 1.5, 2.2]), 3)
    np.testing.assert_array_equal(assign_neurons(act, np.array([0.0, 1.0, 2.0]), 3), [0, 1, 2])  # whole floats
    with pytest.raises(ShapeError, match="no labelled samples"):
        assign_neurons(np.zeros((0, 3)), np.zeros(0, np.int64), 3, signed=True)
    with pytest.raises(ShapeError, match="no test samples"):
        direct_association(act, np.arange(3), np.zeros((0, 3)), np.zeros(0, np.int64), 3)
