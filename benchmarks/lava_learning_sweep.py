"""Sweep the on-chip learning settings with the NumPy oracle of one Lava sample window.

The Lava learner (``sdt-neuro train --backend lava``) takes minutes per pass; its NumPy oracle
(:func:`sdt_neuro.backends.lava.learning.reference_window`, equal to the Lava run within 1e-12 in
``tests/backends/lava/test_learning.py``) takes seconds. This script runs one pass over ``--samples``
MNIST training images for every combination of the swept settings and several sample orders, and
scores each result by DA-average on a validation set carved from the training set
(``--val-samples``, stratified, seeded; neurons assigned on the images of the pass, as ``evaluate``
does for a Lava run). ``--val-samples 0`` scores the test set instead (how the sweeps before
2026-12-03 were scored: test-set tuning, not a result).

Example (the sweep quoted in BENCHMARKS.md and presets.py)::

    python benchmarks/lava_learning_sweep.py --k 2 3 --init-gain 0.02 0.5 --orders 3 \
        --data-root /work/shared/datasets
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from sdt_neuro.backends.lava.learning import reference_window
from sdt_neuro.data import load_dataset
from sdt_neuro.evaluate import direct_association
from sdt_neuro.presets import preset_config
from sdt_neuro.training.loop import lr_factor
from sdt_neuro.training.run_data import training_split, validation_split


def one_pass(config, x: np.ndarray, order: np.ndarray, steps: int, passes: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Weights and biases after a sequential pass over ``x[order]`` with the preset's rate schedule
    (``order`` holds ``passes`` epochs; homeostasis restarts at each, as the training loop does)."""
    torch.manual_seed(config.seed)
    layer = config.build_model().layers[0]
    w, b = layer.weight.detach().double().numpy(), layer.bias.detach().double().numpy()
    rule, n = config.wta_rule, len(order)
    per_pass = n // passes
    for i, j in enumerate(order):
        if i % per_pass == 0 and (i == 0 or rule.homeostasis_reset == "epoch"):
            offsets, average = np.zeros(rule.n_outputs), np.zeros(rule.n_outputs)
        lr = config.lrs[0] * lr_factor(config, (i + 1) / n)
        r = reference_window(w, b, x[j], offsets, average, rule, steps, lr)
        w, b, offsets, average = r.weights, r.bias, r.offsets, r.average
    return w, b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="lava-100")
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--steps", type=int, nargs="+", default=[8])
    parser.add_argument("--k", type=int, nargs="+")
    parser.add_argument("--gamma", type=float, nargs="+")
    parser.add_argument("--lr", type=float, nargs="+")
    parser.add_argument("--init-gain", type=float, nargs="+")
    parser.add_argument("--orders", type=int, default=3, help="sample orders (seeds 1..N) per setting")
    parser.add_argument("--passes", type=int, default=1, help="passes over the same --samples images")
    parser.add_argument("--val-samples", type=int, default=10000,
                        help="validation images carved from the training set (0: score the test set)")
    parser.add_argument("--data-root", default=os.environ.get("SDT_DATA_ROOT"))
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "lava_learning" / "sweep.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    base = preset_config(args.preset, val_samples=args.val_samples or None, max_train_samples=None)
    data = load_dataset(base.dataset, args.data_root, allow_sample=False)
    train = training_split(base, data)
    scored = validation_split(base, data) if args.val_samples else data.test
    x_train, x_test = train.flat().double().numpy(), scored.flat().double().numpy()
    y_train, y_test = train.y.numpy(), scored.y.numpy()
    grid = {"k": args.k or [base.wta_rule.k], "gamma": args.gamma or [base.wta_rule.gamma],
            "lr": args.lr or [base.lrs[0]], "init_gain": args.init_gain or [base.init_gain], "steps": args.steps}
    runs = []
    combos = list(itertools.product(*grid.values()))
    for values in tqdm(combos, desc="settings"):
        setting = dict(zip(grid, values))
        config = preset_config(args.preset, k=setting["k"], gamma=setting["gamma"], lr=setting["lr"],
                               init_gain=setting["init_gain"])
        scores = []
        for seed in range(1, args.orders + 1):
            rng = np.random.default_rng(seed)
            images = rng.permutation(len(x_train))[: args.samples]
            order = np.concatenate([rng.permutation(images) for _ in range(args.passes)])
            t0 = time.perf_counter()
            w, b = one_pass(config, x_train, order, setting["steps"], args.passes)
            act = [np.clip(x @ w.T + b, 0.0, 1.0) for x in (x_train[images], x_test)]
            da = direct_association(act[0], y_train[images], act[1], y_test).average
            scores.append(da)
            runs.append({**setting, "order_seed": seed, "da_average": da, "seconds": time.perf_counter() - t0})
        tqdm.write(f"{setting}: DA-average {np.mean(scores):.4f} (min {min(scores):.4f}, max {max(scores):.4f})")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    split = f"validation ({args.val_samples} training images)" if args.val_samples else "test"
    Path(args.json).write_text(json.dumps({"preset": args.preset, "samples": args.samples, "passes": args.passes,
                                           "split": split,
                                           "runs": runs}, indent=1))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
