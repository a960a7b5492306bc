"""Diagnostics of the semi-supervised EP rounds (issue 18, session 34; test set, nothing chosen on them).

    python benchmarks/semi_ep_rounds_diag.py phases RUN/metrics.json       # gain per epoch kind vs the released runs
    python benchmarks/semi_ep_rounds_diag.py phases RELEASE_RUN/           # the same for a run of the released code
    python benchmarks/semi_ep_rounds_diag.py pretraining RELEASE_RUN/ ...  # its pre-training vs the released files
    python benchmarks/semi_ep_rounds_diag.py calibrate CKPT 0.001 0.01 0.1 1  # one unlabelled epoch at rate factors
    python benchmarks/semi_ep_rounds_diag.py confidence CKPT [CKPT ...]    # top softmax probability, clean and dropout

``phases`` reads a run whose unlabelled phase was scored too (``"evaluate": true``), or the folder of CSV files
that the authors' released code writes (run on this machine as a reference; that code is not part of this
repository); ``calibrate`` and
``confidence`` read a pre-trained checkpoint (a run of the preset's pre-training stage only).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import statistics
from pathlib import Path

import released_runs
import torch

BASE_RATES = (0.00018, 0.001)  # the 600-label unlabelled Adam's base rates (METHOD.md)


def _released(labels: str, results: Path | None = None) -> list[dict]:
    """The authors' released EP runs at ``labels`` labels, as transcribed (:mod:`released_runs`)."""
    return list(released_runs.read(released_runs.RUNS["ep"], results)[labels].values())


def _pretrain_end(run: dict) -> float:
    value = run["pretrain_test_accuracy"]
    return value[-1] if isinstance(value, list) else value


def _our_rounds(metrics: Path) -> tuple[float, list[float], list[float]]:
    """Pre-training's last test accuracy and the test accuracy after each unlabelled / labelled epoch."""
    records = json.loads(metrics.read_text())
    pre = max((r for r in records if r["phase"] == "pretrain"), key=lambda r: r["epoch"])["test_accuracy"]
    scored = [r for r in records if r["phase"] != "pretrain" and "test_accuracy" in r]
    return (pre, [r["test_accuracy"] for r in scored if r["phase"] == "unlabelled"],
            [r["test_accuracy"] for r in scored if r["phase"] == "labelled"])


def _csv_columns(path: Path, *columns: str) -> list[list[float]]:
    """The named columns of a CSV file with a header row, as floats, read in one pass."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [[float(row[column]) for row in rows] for column in columns]


def _release_code_rounds(folder: Path) -> tuple[float, list[float], list[float]]:
    """The same from the CSV files that the authors' released code writes (``pre_supervised.csv`` and
    ``semi-supervised.csv``, test errors), for a run of that code on this machine."""
    (pre_errors,) = _csv_columns(folder / "pre_supervised.csv", "Test_Error")
    unlabelled, labelled = _csv_columns(folder / "semi-supervised.csv", "Unsupervised_Test_Error",
                                        "Supervised_Test_Error")
    return 1 - pre_errors[-1], [1 - e for e in unlabelled], [1 - e for e in labelled]


def phases(source: Path, labels: str = "600", results: Path | None = None) -> None:
    """Test accuracy gained per round by the unlabelled and by the labelled epoch, beside the released mean.

    ``source`` is one of our runs' ``metrics.json`` or the output folder of a run of the released code."""
    released = _released(labels, results)
    pre, u, lab = _release_code_rounds(source) if source.is_dir() else _our_rounds(source)
    n = min(len(u), len(lab))
    print(f"{source}: pre-training {pre:.4f}, {n} rounds")
    for lo, hi in ((1, 1), (2, 10), (11, 20), (21, 34), (35, n)):
        if lo > n:
            continue
        hi = min(hi, n)
        run_u = statistics.mean(u[i] - (lab[i - 1] if i else pre) for i in range(lo - 1, hi))
        run_l = statistics.mean(lab[i] - u[i] for i in range(lo - 1, hi))
        rel_u = statistics.mean(statistics.mean(
            v["unsupervised_accuracy"][i] - (v["supervised_accuracy"][i - 1] if i else _pretrain_end(v))
            for i in range(lo - 1, hi)) for v in released)
        rel_l = statistics.mean(statistics.mean(v["supervised_accuracy"][i] - v["unsupervised_accuracy"][i]
                                                for i in range(lo - 1, hi)) for v in released)
        print(f"rounds {lo}-{hi}: unlabelled epoch this run {run_u:+.4f} released {rel_u:+.4f}; "
              f"labelled epoch this run {run_l:+.4f} released {rel_l:+.4f}")
    for r in sorted({1, 5, 10, 20, 50, 100, 200, n}):
        if r <= n:
            ends = [v["supervised_accuracy"][r - 1] for v in released]
            print(f"after round {r}: this run {lab[r - 1]:.4f}; released mean {statistics.mean(ends):.4f} "
                  f"(min {min(ends):.4f}, max {max(ends):.4f})")


def pretraining(folders: list[Path], labels: str = "600", results: Path | None = None) -> None:
    """Pre-training curves of runs of the released code here beside the released result files' mean and range."""
    released = _released(labels, results)
    epochs = (1, 2, 3, 5, 10, 20, 50, 100)
    print("after pre-training epoch " + " ".join(f"{e:>7d}" for e in epochs))
    for name, pick in (("mean", statistics.mean), ("min", min), ("max", max)):
        row = [pick(v["pretrain_test_accuracy"][e - 1] for v in released) for e in epochs]
        print(f"test, released files {name:<5}" + " ".join(f"{m:7.4f}" for m in row))
    for folder in folders:
        errors, train = _csv_columns(folder / "pre_supervised.csv", "Test_Error", "Train_Error")
        test = [1 - e for e in errors]
        print(folder)
        print("  test                   " + " ".join(f"{test[e - 1]:7.4f}" if e <= len(test) else "      -"
                                                for e in epochs))
        print("  train error            " + " ".join(f"{train[e - 1]:7.4f}" if e <= len(train) else "      -"
                                                for e in epochs))


def _load(path: Path, data_root: str = "../shared/datasets"):
    from sdt_neuro.data import load_dataset
    from sdt_neuro.training.checkpoint import load_trained_model

    config, model, checkpoint = load_trained_model(path)
    data = load_dataset(config.dataset, data_root)
    keep = torch.ones(len(data.train), dtype=torch.bool)
    keep[torch.as_tensor(checkpoint["labelled_indices"], dtype=torch.long)] = False
    return config, model, data.train.flat()[keep], data.test


def calibrate(path: Path, factors: list[float]) -> None:
    """One unlabelled epoch from the checkpoint as in a round 1 (a fresh Adam, H = 0), per rate factor."""
    from sdt_neuro.training.ep_readout import EPReadoutLearner, readout_logits

    config, start, unlabelled, test = _load(path)

    def accuracy(model) -> float:
        with torch.no_grad():
            return float((readout_logits(config, model, test.flat()).argmax(1) == test.y).float().mean())

    print(f"before: test {accuracy(start):.4f}")
    for factor in factors:
        torch.manual_seed(1)
        model = copy.deepcopy(start)
        learner = EPReadoutLearner(model, config, torch.device("cpu"))
        for group, rate in zip(learner.optimizer.param_groups, BASE_RATES):
            group["lr"] = rate * factor
        order = torch.randperm(len(unlabelled))
        for i in range(0, len(unlabelled), 128):
            learner.train_step(unlabelled[order[i:i + 128]].reshape(-1, 1, 28, 28), None)
        print(f"factor {factor}: test {accuracy(model):.4f} after one unlabelled epoch")


def confidence(paths: list[Path], images: int = 20000) -> None:
    """Top softmax probability on the first ``images`` unlabelled training images, clean and under the
    training pass's input and hidden dropout masks."""
    from sdt_neuro.training.ep_readout import free_hidden, readout_logits
    from sdt_neuro.training.masks import output_dropout_mask

    for path in paths:
        torch.manual_seed(0)
        config, model, unlabelled, _ = _load(path)
        x = unlabelled[:images]
        hid, out = model.layers
        with torch.no_grad():
            clean = torch.softmax(readout_logits(config, model, x), 1)
            x_drop = x * output_dropout_mask(x.shape, model.input_dropout.p, x.device)
            s = free_hidden(config, torch.addmm(hid.bias, x_drop, hid.weight.t()))
            s = s * output_dropout_mask(s.shape, model.hidden_dropout.p, s.device)
            dropped = torch.softmax(torch.addmm(out.bias, s, out.weight.t()), 1)
        for name, p in (("clean", clean), ("dropout pass", dropped)):
            top = p.max(1).values
            print(f"{path} {name}: median top probability {top.median():.3f}, "
                  f"under 0.73: {(top < 0.73).float().mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("phases").add_argument("source", type=Path)
    sub.add_parser("pretraining").add_argument("folders", type=Path, nargs="+")
    cal = sub.add_parser("calibrate")
    cal.add_argument("checkpoint", type=Path)
    cal.add_argument("factors", type=float, nargs="+")
    sub.add_parser("confidence").add_argument("checkpoints", type=Path, nargs="+")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.what == "phases":
        phases(args.source)
    elif args.what == "pretraining":
        pretraining(args.folders)
    elif args.what == "calibrate":
        calibrate(args.checkpoint, args.factors)
    else:
        confidence(args.checkpoints)


if __name__ == "__main__":
    main()
