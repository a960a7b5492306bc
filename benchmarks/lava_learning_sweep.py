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
from sdt_neuro.backends.lava.learning_fixed import fixed_reference_window, make_scale
from sdt_neuro.backends.lava.local_wta import LocalWTA
from sdt_neuro.data import load_dataset
from sdt_neuro.evaluate import direct_association
from sdt_neuro.presets import preset_config
from sdt_neuro.training.phases import lr_factor
from sdt_neuro.training.run_data import training_split, validation_split


def one_pass(config, x: np.ndarray, order: np.ndarray, steps: int, passes: int = 1,
             wta: LocalWTA | None = None, weight_max: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weights and biases after a sequential pass over ``x[order]`` with the preset's rate schedule
    (``order`` holds ``passes`` epochs; homeostasis restarts at each, as the training loop does).
    ``weight_max``: learn in Loihi 2 fixed point (``learning_fixed.fixed_reference_window``)."""
    torch.manual_seed(config.seed)
    layer = config.build_model().layers[0]
    w, b = layer.weight.detach().double().numpy(), layer.bias.detach().double().numpy()
    rule, n = config.wta_rule, len(order)
    per_pass = n // passes
    if weight_max is not None:
        return fixed_pass(config, w, b, x, order, steps, per_pass, weight_max, wta)
    for i, j in enumerate(order):
        if i % per_pass == 0 and (i == 0 or rule.homeostasis_reset == "epoch"):
            offsets, average = np.zeros(rule.n_outputs), np.zeros(rule.n_outputs)
        lr = config.lrs[0] * lr_factor(config, (i + 1) / n)
        r = reference_window(w, b, x[j], offsets, average, rule, steps, lr, wta)
        w, b, offsets, average = r.weights, r.bias, r.offsets, r.average
    return w, b


def fixed_pass(config, w: np.ndarray, b: np.ndarray, x: np.ndarray, order: np.ndarray, steps: int,
               per_pass: int, weight_max: float, wta: LocalWTA | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`one_pass` in Lava's integers: the oracle of ``--fixed-point`` (its own rounding stream)."""
    rule, n = config.wta_rule, len(order)
    scale = make_scale(rule, steps, config.lrs[0], weight_max)
    w_int, rng = scale.quantize_layer(w, b), np.random.default_rng(config.seed)
    for i, j in enumerate(order):
        if i % per_pass == 0:
            offsets = np.zeros(rule.n_outputs, np.int64)
        level = scale.rate_level(config.lrs[0] * lr_factor(config, (i + 1) / n), rng)
        r = fixed_reference_window(scale, w_int, scale.payload(x[j]), offsets, level, rng.random(), race=wta)
        w_int, offsets = r.weights, r.offsets
    return scale.dequantize_layer(w_int)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="lava-100")
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--steps", type=int, nargs="+", default=[8])
    parser.add_argument("--k", type=int, nargs="+")
    parser.add_argument("--gamma", type=float, nargs="+")
    parser.add_argument("--lr", type=float, nargs="+")
    parser.add_argument("--init-gain", type=float, nargs="+")
    parser.add_argument("--race-steps", type=int, nargs="+", default=[0],
                        help="winner-take-all: 0 sorts the rates; R > 0 runs the local race of R steps")
    parser.add_argument("--race-floor", type=float, nargs="+", default=[-1.0], help="the race's lowest score")
    parser.add_argument("--race-ceiling", type=float, nargs="+", default=[2.0], help="the race's finish line")
    parser.add_argument("--race-ramp", nargs="+", default=["linear"], help="linear or quadratic")
    parser.add_argument("--race-fine-steps", type=int, nargs="+", default=[0],
                        help="> 0: that many fine steps from the ceiling to 0, the rest to the floor")
    parser.add_argument("--weight-max", type=float, nargs="+", default=[0.0],
                        help="0: float; w > 0: Loihi 2 fixed point with weights up to w (--fixed-point)")
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
            "lr": args.lr or [base.lrs[0]], "init_gain": args.init_gain or [base.init_gain], "steps": args.steps,
            "race_steps": args.race_steps, "race_floor": args.race_floor, "race_ceiling": args.race_ceiling,
            "race_ramp": args.race_ramp, "race_fine_steps": args.race_fine_steps, "weight_max": args.weight_max}
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
            wta = (LocalWTA(setting["race_steps"], setting["race_floor"], setting["race_ceiling"],
                            setting["race_ramp"], setting["race_fine_steps"]).check()
                   if setting["race_steps"] else None)
            w, b = one_pass(config, x_train, order, setting["steps"], args.passes, wta,
                            setting["weight_max"] or None)
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
