from sdt_neuro.presets import preset_config
from sdt_neuro.training.guards import diverged


def test_a_diverged_run_names_the_rates_it_trained_with_and_a_way_on_that_works():
    plain = str(diverged(preset_config("bp-1layer"), 1, 3, "the loss is nan"))
    assert "epoch 2, batch 4: the loss is nan" in plain and "--lr; the rates now are [8.0]" in plain
    assert "--resume continues only the same settings" in plain  # resuming with a lower rate is refused
    phased = str(diverged(preset_config("semi-ep-600"), 0, None, "x"))
    assert "--lr" not in phased and "the phases' own" in phased and "'unlabelled': [0.00018, 0.001]" in phased
