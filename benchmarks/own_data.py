"""A named data set and the same images as the user's own ``.npz`` file train to the same metrics.

    python benchmarks/own_data.py --data-root /work/shared/datasets

Writes Fashion-MNIST (torchvision's reader) to ``OUT/fashion.npz`` (uint8, as a user would),
then runs ``sdt-neuro train --preset bp-fast --dataset fashion-mnist --epochs 3`` and the same
command with ``--dataset OUT/fashion.npz``, and compares every per-epoch figure of the two
``metrics.json`` files (times excepted). Writes ``own_data.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TIMES = ("train_seconds", "epoch_seconds", "eval_seconds")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=os.environ.get("SDT_DATA_ROOT"))
    ap.add_argument("--out", default="/tmp/sdt-own-data")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    from sdt_neuro.data import load_dataset

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset("fashion-mnist", args.data_root)

    def uint8(x):
        return np.rint(x[:, 0].numpy() * 255).astype(np.uint8)

    npz = out / "fashion.npz"
    np.savez(npz, x_train=uint8(data.train.x), y_train=data.train.y.numpy(), x_test=uint8(data.test.x),
             y_test=data.test.y.numpy())
    runs = {}
    for name, dataset in (("named", "fashion-mnist"), ("npz", str(npz))):
        cmd = ["sdt-neuro", "train", "--preset", "bp-fast", "--dataset", dataset, "--epochs", str(args.epochs),
               "--threads", str(args.threads), "--data-root", args.data_root, "--out", str(out / name), "--no-progress",
               "--overwrite"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
        if done.returncode:
            sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
        runs[name] = {"command": " ".join(cmd),
                      "metrics": json.loads((out / name / "metrics.json").read_text())}
    pairs = zip(runs["named"]["metrics"], runs["npz"]["metrics"])
    differences = [{"epoch": a["epoch"], "key": k, "named": a[k], "npz": b.get(k)}
                   for a, b in pairs for k in a if k not in TIMES and a[k] != b.get(k)]
    figures = {name: [{k: v for k, v in m.items() if k not in TIMES} for m in run["metrics"]]
               for name, run in runs.items()}
    record = {"commands": [r["command"] for r in runs.values()], "identical": not differences,
              "differences": differences, "metrics": figures}
    Path(args.results).mkdir(parents=True, exist_ok=True)
    (Path(args.results) / "own_data.json").write_text(json.dumps(record, indent=2))
    for m in figures["named"]:
        print(f"epoch {m['epoch']}: DA average {m['test_da_average']:.4f}, DA max {m['test_da_max']:.4f}")
    print("identical per-epoch metrics (times excepted):", not differences, differences[:5])


if __name__ == "__main__":
    main()
