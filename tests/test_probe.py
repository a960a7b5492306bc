"""Linear-probe protocols: the schedules they name, and overrides."""

import numpy as np
import pytest
import torch

from sdt_neuro.errors import ConfigError
from sdt_neuro.probe import PROBE_PROTOCOLS, ProbeProtocol, _scheduler, linear_probe, probe_protocol


def rates(proto: ProbeProtocol) -> list[float]:
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=proto.lr)
    sched = _scheduler(opt, proto)
    out = []
    for _ in range(proto.epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_published_cnn_protocol_halves_the_rate_at_its_milestones():
    r = rates(PROBE_PROTOCOLS["published-cnn"])
    assert len(r) == 50 and r[0] == 0.1 and r[9] == 0.1
    assert r[10] == pytest.approx(0.05) and r[17] == pytest.approx(0.05)
    assert r[18] == pytest.approx(0.025) and r[45] == pytest.approx(0.1 / 2**7)


def test_other_protocol_schedules():
    assert rates(PROBE_PROTOCOLS["published-bp-mlp"])[2] == pytest.approx(0.1 * 0.81)
    assert set(rates(PROBE_PROTOCOLS["published-ep-mlp-1"])) == {0.0022}
    cosine = rates(PROBE_PROTOCOLS["ours"])
    assert cosine[0] == 1e-3 and cosine[-1] < 1e-5


def test_protocols_train_and_overrides_apply():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    x = np.eye(3)[y] + 0.1 * rng.random((600, 3))
    args = (x[:400], y[:400], x[400:], y[400:])
    assert linear_probe(*args, n_classes=3, protocol="published-cnn", epochs=5) > 0.95
    with pytest.raises(ConfigError, match="nowhere"):
        probe_protocol("nowhere")
    with pytest.raises(ConfigError, match="schedule"):
        ProbeProtocol(schedule="linear")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_probe_on_cuda_keeps_every_generator_and_learns_like_the_cpu_one():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    x = np.eye(3)[y] + 0.3 * rng.random((300, 3))
    args = (x[:200], y[:200], x[200:], y[200:])
    cpu_state, cuda_state = torch.get_rng_state(), torch.cuda.get_rng_state_all()
    on_gpu = linear_probe(*args, n_classes=3, epochs=3, lr=0.05, device="cuda")
    assert torch.equal(torch.get_rng_state(), cpu_state)
    assert all(torch.equal(a, b) for a, b in zip(torch.cuda.get_rng_state_all(), cuda_state))
    assert abs(on_gpu - linear_probe(*args, n_classes=3, epochs=3, lr=0.05)) <= 0.05


def test_bad_protocols_and_labels_are_refused():
    from sdt_neuro.errors import DataError

    for bad, message in (({"dropout": 1.0}, "dropout=1.0"), ({"decay": -3.0}, "decay=-3.0"),
                         ({"milestones": (20, 35)}, "fractions"), ({"lr": float("nan")}, "lr=nan")):
        with pytest.raises(ConfigError, match=message):
            ProbeProtocol(**bad)
    x = np.random.default_rng(0).random((20, 5))
    labels = np.arange(20) % 4
    with pytest.raises(DataError, match=r"class indices in \[0, 4\)"):
        linear_probe(x, labels, x, np.r_[labels[:-1], -1], n_classes=4, epochs=1)  # an unlabelled test image
    with pytest.raises(DataError, match=r"class indices in \[0, 3\)"):
        linear_probe(x, labels, x, labels, n_classes=3, epochs=1)
