import pytest
import torch

from sdt_neuro.errors import ConfigError, ShapeError
from sdt_neuro.models import CNN, MLP, build_model


def test_mlp_output_is_hard_sigmoid_and_init_is_xavier_half():
    torch.manual_seed(0)
    m = MLP((784, 300, 50), input_dropout=0.3, hidden_dropout=0.2).eval()
    y = m(torch.rand(8, 1, 28, 28) * 10)
    assert y.shape == (8, 50) and y.min() >= 0 and y.max() <= 1
    bound = 0.5 * (6 / (784 + 300)) ** 0.5
    assert m.layers[0].weight.abs().max() <= bound and m.layers[0].bias.abs().max() == 0
    pre = m.pre_activations(torch.rand(4, 784))
    assert [p.shape[1] for p in pre] == [300, 50]


def test_mlp_errors():
    with pytest.raises(ShapeError, match="784 input features"):
        MLP((784, 10))(torch.rand(2, 100))
    with pytest.raises(ConfigError, match="input_dropout"):
        MLP((784, 10), input_dropout=1.0)
    with pytest.raises(ConfigError, match="sizes"):
        MLP((784,))


def test_cnn_shapes_and_pruning():
    torch.manual_seed(0)
    m = CNN(n_outputs=100, prune=0.5)
    assert m(torch.rand(2, 1, 28, 28)).shape == (2, 100)
    mask = m.features[0].weight_mask
    assert mask.mean().item() == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ShapeError, match="CNN expects"):
        m(torch.rand(2, 784))


def test_cnn_linear_readout_is_the_head_itself_and_learns_below_zero():
    torch.manual_seed(0)
    clamped = CNN(n_outputs=30, prune=0.0, init_gain=None)
    linear = CNN(n_outputs=30, prune=0.0, init_gain=None, readout="linear")
    linear.load_state_dict(clamped.state_dict())
    x = torch.rand(4, 1, 28, 28)
    a = linear.head(linear.features(x).flatten(1))
    assert torch.equal(linear(x), a) and (a < 0).any()
    assert torch.equal(clamped(x), a.clamp(0, 1))
    # an output below zero still gets a gradient (a clamped one does not: it is dead)
    dead = a < 0
    for model, alive in ((linear, True), (clamped, False)):
        model.zero_grad()
        (model(x)[dead]).sum().backward()
        assert bool(model.head.weight.grad.abs().sum() > 0) is alive
    with pytest.raises(ConfigError, match="CNN's output"):
        CNN(n_outputs=10, readout="softmax")


def test_linear_readout_is_for_the_cnn_and_trains_with_the_mse():
    from sdt_neuro.training.config import TrainConfig
    from sdt_neuro.training.phases import stages

    cfg = TrainConfig(arch="cnn", sizes=(784, 30), readout="linear", optimizer="adam", lrs=(1e-3,) * 3,
                      rule={"n_outputs": 30, "k": 1})
    assert stages(cfg)[0].phases[0].loss == "mse"
    torch.manual_seed(0)
    assert (cfg.build_model().eval()(torch.rand(8, 1, 28, 28)) < 0).any()  # the config reaches the model
    with pytest.raises(ConfigError, match="not an output of arch='mlp'"):
        TrainConfig(sizes=(784, 30), readout="linear", rule={"n_outputs": 30, "k": 1})
    with pytest.raises(ConfigError, match="not an output of arch='cnn'"):
        cfg.replace(readout="softmax")
    with pytest.raises(ConfigError, match="MLP's output"):
        MLP((784, 10), readout="linear")
    for clamp_only in ({"straight_through": True}, {"rate_steps": 4}):
        with pytest.raises(ConfigError, match="readout='linear' has none"):
            cfg.replace(**clamp_only)


def test_build_model_rejects_unknown_arch():
    with pytest.raises(ConfigError, match="arch"):
        build_model("rnn", (784, 10), 0, 0)
    with pytest.raises(ConfigError, match="init_gain"):
        build_model("mlp", (784, 10), 0, 0, init_gain=0.0)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_init_gain_scales_the_initial_weights(arch):
    torch.manual_seed(0)
    half = build_model(arch, (784, 100), 0, 0, prune=0.0)
    torch.manual_seed(0)
    small = build_model(arch, (784, 100), 0, 0, prune=0.0, init_gain=0.02)
    for (name, a), (_, b) in zip(half.named_parameters(), small.named_parameters()):
        if name.endswith("weight"):
            torch.testing.assert_close(b, a * 0.04)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_torch_init_keeps_pytorchs_default_initialisation(arch):
    torch.manual_seed(0)
    model = build_model(arch, (784, 100), 0, 0, prune=0.0, init="torch")
    bias = (model.layers[-1] if arch == "mlp" else model.head).bias
    assert bias.abs().sum() > 0  # Xavier zeroes the biases; PyTorch's default does not
    weight = (model.layers[0] if arch == "mlp" else model.head).weight
    bound = 1 / weight.shape[1] ** 0.5  # nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert weight.abs().max() <= bound and weight.abs().max() > 0.9 * bound


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_straight_through_keeps_the_clamp_but_passes_the_gradient(arch):
    torch.manual_seed(0)
    plain = build_model(arch, (784, 100), 0, 0, prune=0.0)
    torch.manual_seed(0)
    st = build_model(arch, (784, 100), 0, 0, prune=0.0, straight_through=True)
    x = torch.rand(4, 1, 28, 28) * 3
    y_plain, y_st = plain(x), st(x)
    torch.testing.assert_close(y_st, y_plain)
    outside = (y_plain.detach() == 0) | (y_plain.detach() == 1)
    assert outside.any() and (~outside).any()
    y_plain.sum().backward()
    y_st.sum().backward()
    bias_plain, bias_st = ((m.layers[-1] if arch == "mlp" else m.head).bias for m in (plain, st))
    torch.testing.assert_close(bias_st.grad, torch.full_like(bias_st.grad, 4.0))
    torch.testing.assert_close(bias_plain.grad, (~outside).float().sum(0))


def test_cnn_pooling_flat_dropout_and_torch_init():
    x = torch.rand(3, 1, 28, 28)
    avg = CNN(n_outputs=20, prune=0.0, pool="avg")
    assert isinstance(avg.features[2], torch.nn.AvgPool2d) and isinstance(avg.features[5], torch.nn.AvgPool2d)
    feats = avg.features(x)
    expected = torch.nn.functional.avg_pool2d(
        torch.relu(avg.features[3](torch.nn.functional.avg_pool2d(torch.relu(avg.features[0](x)), 4, 2, 1))),
        4, 2, 1)
    torch.testing.assert_close(feats, expected)
    dropped = CNN(n_outputs=20, prune=0.0, flat_dropout=0.5).train()
    torch.manual_seed(0)
    a = dropped(x)
    torch.manual_seed(1)
    assert not torch.equal(a, dropped(x))  # dropout acts in training mode
    dropped.eval()
    assert torch.equal(dropped(x), dropped(x))
    torch.manual_seed(0)
    default = CNN(n_outputs=20, prune=0.0, init_gain=None)
    assert default.head.bias.abs().sum() > 0  # PyTorch's default init: biases are not zeroed
    with pytest.raises(ConfigError, match="pool"):
        CNN(n_outputs=20, pool="min")


def test_published_cnn_presets_build_what_they_say():
    from sdt_neuro.presets import preset_config
    from sdt_neuro.training.loop import make_learner

    cfg = preset_config("cnn-fmnist", device="cpu")
    learner = make_learner(cfg, torch.device("cpu"))
    model = learner.model
    assert isinstance(model.features[2], torch.nn.MaxPool2d) and model.flat_dropout.p == 0.2
    assert [g["lr"] for g in learner.optimizer.param_groups] == [5e-7, 2.5e-8, 2.5e-6]
    assert cfg.rule["dropout"] == 0.8 and cfg.final_lr_factor == 0.01 and cfg.schedule_epochs == 100
    mnist = preset_config("cnn-mnist")
    assert mnist.pool == "avg" and mnist.epochs == 50 and mnist.probe_protocols == ("ours", "published-cnn")
    assert {preset_config(f"cnn-{d}").readout for d in ("mnist", "fmnist", "svhn", "cifar10")} == {"linear"}
    ours = preset_config("cnn-mnist-lowfc")  # the published recipe but for the output, fc rate and pooling
    assert ours.pool == "max" and ours.lrs == (2e-6, 2e-6, 1e-6) and ours.readout == "hard-sigmoid"
    same = ours.replace(pool="avg", lrs=mnist.lrs, readout="linear", preset="cnn-mnist")
    assert same.to_dict() == mnist.to_dict()


def test_channel_competition_known_answer():
    from sdt_neuro.models import ChannelCompetition

    x = torch.tensor([[[[1.0, 3.0]], [[4.0, 4.0]]]])  # [1, 2 channels, 1, 2]
    # channel means 2 and 4: relu([-1, 1]) = [0, 1] and [0, 0]; cross-channel mean [0, 0.5]
    out = ChannelCompetition()(x)
    assert out.tolist() == [[[[0.0, 0.5]], [[0.0, 0.0]]]]


def test_cnn_channels_and_activation_from_config():
    from sdt_neuro.models import ChannelCompetition

    net = CNN(n_outputs=7, in_channels=3, image_size=32, channels=(6, 10), activation="wta", prune=0.0)
    assert net.features[0].out_channels == 6 and net.features[3].out_channels == 10
    assert isinstance(net.features[1], ChannelCompetition) and net(torch.rand(2, 3, 32, 32)).shape == (2, 7)
    assert net.head.in_features == 10 * 8 * 8  # 32 -> 16 -> 8 after the two pools
    with pytest.raises(ConfigError, match="activation"):
        CNN(activation="gelu")
    with pytest.raises(ConfigError, match="channels"):
        CNN(channels=(32,))


def test_build_model_refuses_an_unknown_initialisation():
    from sdt_neuro.errors import ConfigError
    from sdt_neuro.models import build_model

    with pytest.raises(ConfigError, match="init='kaiming'"):
        build_model("mlp", (784, 10), 0.0, 0.0, init="kaiming")
