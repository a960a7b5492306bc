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


def test_svhn_and_cifar10_presets_fit_colour_images_and_train():
    """No SVHN or CIFAR-10 on this machine: stand-in 3x32x32 images check the recipes run."""
    import torch

    from sdt_neuro.data import Dataset, Split
    from sdt_neuro.training import train

    gen = torch.Generator().manual_seed(0)

    def split(n):
        return Split(torch.rand(n, 3, 32, 32, generator=gen), torch.arange(n) % 10)

    data = Dataset("stand-in", split(40), split(20), source="stand-in")
    for name, outputs, channels in (("cnn-svhn", 3000, (32, 128)), ("cnn-cifar10", 5000, (96, 384))):
        cfg = preset_config(name, epochs=1, threads=1, probe=False)
        assert cfg.wta_rule.n_outputs == outputs and cfg.cnn_channels == channels
        result = train(cfg, dataset=data, progress=False)
        assert result.config.input_shape == (3, 32, 32) and result.learner.model.features[0].in_channels == 3
    assert preset_config("cnn-cifar10").cnn_activation == "wta" and preset_config("cnn-svhn").prune == 0.11


def test_lr_and_batch_size_are_refused_where_the_phases_set_their_own():
    for given in ({"lr": 1e-6}, {"batch_size": 64}):
        with pytest.raises(ConfigError, match=r"phases \['pretrain', 'unlabelled', 'labelled'\] .*set their own"):
            preset_config("semi-ep-600", **given)
    assert preset_config("semi-ep-600", epochs=3).epochs == 3  # what reaches the phases still goes through
    assert preset_config("bp-1layer", lr=4.0, batch_size=32).batch_size == 32


def test_schedule_epochs_is_refused_where_no_phase_follows_the_run_wide_schedule():
    with pytest.raises(ConfigError, match=r"schedule-epochs.*'unlabelled': 'linear'"):
        preset_config("semi-ep-600", schedule_epochs=10)
    assert preset_config("bp-1layer", schedule_epochs=10).schedule_epochs == 10  # its one phase follows it


def test_gamma_is_refused_where_every_phase_trains_on_labels():
    with pytest.raises(ConfigError, match=r"gamma \(--gamma\): every phase of this run trains on labels"):
        preset_config("semi-ep-600-supervised", gamma=0.5)
    assert preset_config("semi-ep-600", gamma=0.5).wta_rule.gamma == 0.5  # its unlabelled phase reads it
