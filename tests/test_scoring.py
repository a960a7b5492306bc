import pytest

from sdt_neuro.errors import ConfigError
from sdt_neuro.scoring import evaluate_checkpoint
from sdt_neuro.training import TrainConfig, train
from tests.conftest import synthetic_dataset


def test_ann_evaluation_of_a_checkpoint(tmp_path):
    data = synthetic_dataset()
    cfg = TrainConfig(rule={"n_outputs": 20, "k": 2, "gamma": 0.3, "n_classes": 4}, sizes=(784, 20),
                      lrs=(2.0,), epochs=2, threads=1)
    res = train(cfg, out_dir=tmp_path, dataset=data, progress=False, plots=False)
    out = evaluate_checkpoint(tmp_path / "checkpoint.pt", dataset=data, probe=True)
    assert out["backend"] == "ann" and out["samples"] == 100
    assert out["da_average"] == pytest.approx(res.metrics[-1]["test_da_average"])
    assert 0 <= out["linear_probe"] <= 1 and len(out["confusion_matrix"]) == 4
    assert "output_accuracy" not in out  # unsupervised: only DA reads its output
    assert evaluate_checkpoint(tmp_path, dataset=data, samples=10)["samples"] == 10
    with pytest.raises(ConfigError, match="samples"):
        evaluate_checkpoint(tmp_path, dataset=data, samples=1000)
    with pytest.raises(ConfigError, match="backend"):
        evaluate_checkpoint(tmp_path, dataset=data, backend="loihi")
