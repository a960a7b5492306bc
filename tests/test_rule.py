import json

import pytest

from sdt_neuro.errors import ConfigError
from sdt_neuro.rule import WTARule


def test_defaults_and_set_point():
    rule = WTARule(n_outputs=2000, k=6, gamma=0.4, dropout=0.2)
    assert rule.set_point == pytest.approx(0.8 * 6 / 2000)
    assert rule.replace(target_activity=0.01).set_point == 0.01


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"k": 0}, "k"),
        ({"k": 10}, "k=10"),
        ({"k": 11}, "k=11"),
        ({"gamma": -0.1}, "gamma"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.01}, "dropout"),
        ({"eta": 0.0}, "eta"),
        ({"target_activity": 1.5}, "target_activity"),
        ({"homeostasis_reset": "sometimes"}, "homeostasis_reset"),
        ({"label_mapping": "random"}, "label_mapping"),
        ({"k": 1.5}, "k"),
        ({"gamma": float("nan")}, "gamma"),
    ],
)
def test_bad_values_name_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        WTARule(**{"n_outputs": 10, "k": 2, **changes})


def test_one_per_class_needs_matching_outputs():
    with pytest.raises(ConfigError, match="n_outputs == n_classes"):
        WTARule(n_outputs=20, k=1, label_mapping="one_per_class")
    assert WTARule(n_outputs=10, k=1, label_mapping="one_per_class").class_block(3) == (3, 4)


def test_block_mapping():
    rule = WTARule(n_outputs=100, k=5)
    assert rule.class_block(0) == (0, 10)
    assert rule.class_block(9) == (90, 100)
    with pytest.raises(ConfigError, match="label=10"):
        rule.class_block(10)


def test_json_round_trip_is_exact():
    rule = WTARule(n_outputs=500, k=3, gamma=0.25, dropout=0.1, eta=0.05, target_activity=0.002,
                   homeostasis_reset="never", n_classes=10, label_mapping="block")
    assert WTARule.from_json(rule.to_json()) == rule
    assert json.loads(rule.to_json())["k"] == 3


def test_unknown_and_missing_fields_rejected():
    with pytest.raises(ConfigError, match="unknown rule field"):
        WTARule.from_dict({"n_outputs": 10, "k": 2, "temperature": 1})
    with pytest.raises(ConfigError, match="n_outputs"):
        WTARule.from_dict({"k": 2})
    with pytest.raises(ConfigError, match="not valid JSON"):
        WTARule.from_json("{k: 2")


def test_frozen():
    rule = WTARule(n_outputs=10, k=2)
    with pytest.raises(AttributeError):
        rule.k = 3
