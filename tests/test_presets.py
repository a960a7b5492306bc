import pytest

from sdt_neuro.errors import ConfigError
from sdt_neuro.presets import PRESETS, preset_config


def test_published_settings():
    c = preset_config("bp-1layer")
    assert c.sizes == (784, 2000) and c.lrs == (8.0,) and c.batch_size == 16 and c.epochs == 200
    assert c.wta_rule.k == 6 and c.wta_rule.gamma == 0.4 and c.wta_rule.dropout == 0.2 and c.input_dropout == 0.3
    c2 = preset_config("bp-2layer")
    assert c2.sizes == (784, 2000, 2000) and c2.lrs == (2.5, 5.0) and c2.hidden_dropout == 0.2
    assert c2.wta_rule.k == 5 and c2.wta_rule.gamma == 0.5


def test_overrides_keep_layer_ratio_and_schedule_horizon():
    c = preset_config("bp-2layer", lr=5.0, epochs=1, k=4, gamma=None)
    assert c.lrs == (5.0, 10.0) and c.epochs == 1 and c.schedule_epochs == 200
    assert c.wta_rule.k == 4 and c.wta_rule.gamma == 0.5


def test_every_preset_builds_and_unknown_is_rejected():
    for name in PRESETS:
        assert preset_config(name).preset == name
    with pytest.raises(ConfigError, match="unknown preset"):
        preset_config("bp-9layer")
    with pytest.raises(ValueError, match="k=2000"):
        preset_config("bp-1layer", k=2000)
