"""An independent check of the semi-supervised EP pre-training: written from METHOD.md's facts, not
from ``sdt_neuro.training``, on the labelled subset the library draws for a seed.

784-5000-10, hard-sigmoid hidden layer relaxed T = 60 steps (dt 0.2), softmax read-out, Kmax = 10
nudged steps at beta = +-0.45 (sign drawn per batch), plain 0/1 dropout masks (input 0.3, hidden
0.5) drawn once per batch, labels smoothed to 0.7 y + 0.03, Xavier(0.5) weights and zero biases,
Adam at [1e-3, 3.5e-3] with ExponentialLR(0.96) per epoch. Prints, per epoch, the test accuracy
and the training error counted during the epoch (the free phase's read-out on the masked batch, as
the released result files' ``Train_Error`` does), and writes them as JSON with ``--out``.

    python benchmarks/ep_pretrain_reference.py --labels 600 --seed 0 --epochs 20 --batch 32

A diagnostic on the test set: nothing is chosen on its figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch.nn.functional import one_hot
from torchvision.datasets import MNIST

from sdt_neuro.data import ALLOCATIONS
from sdt_neuro.presets import preset_config
from sdt_neuro.training.semi import labelled_indices


def load(root: str, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    data = MNIST(root, train=train)
    return data.data.reshape(-1, 784).float() / 255, data.targets


def run(args: argparse.Namespace) -> list[dict[str, float]]:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_all, y_all = load(args.data_root, True)
    x_test, y_test = load(args.data_root, False)
    config = preset_config(f"semi-ep-{args.labels}").replace(seed=args.seed, semi_label_split=args.split)
    idx = torch.as_tensor(labelled_indices(config, y_all.numpy()))
    xl, yl = x_all[idx], y_all[idx]
    w1 = torch.nn.init.xavier_uniform_(torch.empty(5000, 784), gain=0.5)
    b1 = torch.zeros(5000)
    w2 = torch.nn.init.xavier_uniform_(torch.empty(10, 5000), gain=0.5)
    b2 = torch.zeros(10)
    opt = torch.optim.Adam([{"params": [w1, b1], "lr": args.rates[0]}, {"params": [w2, b2], "lr": args.rates[1]}])
    schedule = torch.optim.lr_scheduler.ExponentialLR(opt, 0.96)
    curve = []
    for epoch in range(1, args.epochs + 1):
        start, wrong = time.perf_counter(), 0
        order = torch.randperm(len(xl))
        for i in range(0, len(xl), args.batch):
            b = order[i:i + args.batch]
            x, n = xl[b], len(b)
            d = one_hot(yl[b], 10).float() * 0.7 + 0.03
            x = x * torch.bernoulli(torch.full_like(x, 0.7))
            keep = torch.bernoulli(torch.full((n, 5000), 0.5))
            u = x @ w1.T + b1
            h = torch.zeros(n, 5000)
            for _ in range(60):
                h = (keep * (h + 0.2 * (u - h))).clamp(0, 1)
            free = h
            wrong += int((torch.softmax(h @ w2.T + b2, 1).argmax(1) != yl[b]).sum())
            beta = 0.45 if torch.randn(()) > 0 else -0.45
            for _ in range(10):
                y = torch.softmax(h @ w2.T + b2, 1)
                h = (keep * (h + 0.2 * (u - h + beta * (d - y) @ w2))).clamp(0, 1)
            diff = (h - free) / (-beta * n)
            w1.grad, b1.grad = diff.T @ x, diff.sum(0)
            err = (y - d) / n
            w2.grad, b2.grad = err.T @ h, err.sum(0)
            opt.step()
        schedule.step()
        test = float(((x_test @ w1.T + b1).clamp(0, 1) @ w2.T + b2).argmax(1).eq(y_test).float().mean())
        curve.append({"epoch": epoch, "test_accuracy": round(test, 4), "train_error": round(wrong / len(xl), 4),
                      "seconds": round(time.perf_counter() - start, 2)})
        print(curve[-1], flush=True)
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rates", type=float, nargs=2, default=(1e-3, 3.5e-3))
    parser.add_argument("--split", choices=ALLOCATIONS, default="balanced")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-root", default="/work/shared/datasets")
    parser.add_argument("--out", type=Path, help="write the curve and the settings as JSON")
    args = parser.parse_args()
    curve = run(args)
    if args.out:
        settings = {k: v for k, v in vars(args).items() if k != "out"}
        args.out.write_text(json.dumps({"settings": settings, "curve": curve}, indent=1) + "\n")


if __name__ == "__main__":
    main()
