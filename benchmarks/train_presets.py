"""Run ``sdt-neuro train`` for a preset as a user would, and record the figures as JSON.

Example (the figures in BENCHMARKS.md):
    python benchmarks/train_presets.py --preset bp-1layer --epochs 1 --threads 2 --target 0.895
    python benchmarks/train_presets.py --preset bp-fast --threads 2 --target 0.95

The JSON holds the command, its wall-clock time, the load average before and after, the thread
count, every epoch's metrics, the first epoch whose test DA-average reaches ``--target`` and the
cumulative epoch time at that point.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", required=True)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--target", type=float, help="test DA-average to reach")
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--data-root", default=os.environ.get("SDT_DATA_ROOT"))
    parser.add_argument("--out", help="run directory (default benchmarks/results/runs/<preset>)")
    parser.add_argument("--json", help="result file (default benchmarks/results/<preset>[-e<epochs>].json)")
    args, extra = parser.parse_known_args()

    tag = args.preset + (f"-e{args.epochs}" if args.epochs else "")
    results = Path(__file__).resolve().parent / "results"
    out = Path(args.out or results / "runs" / tag)
    cmd = [sys.executable, "-m", "sdt_neuro.cli", "train", "--preset", args.preset, "--threads", str(args.threads),
           "--out", str(out), "--no-progress"]
    if args.epochs:
        cmd += ["--epochs", str(args.epochs)]
    if args.probe:
        cmd.append("--probe")
    if args.data_root:
        cmd += ["--data-root", args.data_root]
    cmd += extra
    if "--resume" not in extra:
        cmd.append("--overwrite")  # the script measures a fresh run each time
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"training failed with exit code {proc.returncode}", file=sys.stderr)
        return proc.returncode
    metrics = json.loads((out / "metrics.json").read_text())
    reached = None
    if args.target is not None:
        elapsed = 0.0
        for m in metrics:
            elapsed += m["epoch_seconds"]
            if m["test_da_average"] >= args.target:
                reached = {"epoch": m["epoch"], "cumulative_epoch_seconds": elapsed}
                break
    summary = {
        "command": shlex.join(["python", *cmd[1:]]),
        "preset": args.preset,
        "threads": args.threads,
        "wall_seconds": wall,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "final": metrics[-1],
        "target": args.target,
        "target_reached": reached,
        "epochs": metrics,
    }
    path = Path(args.json or results / f"{tag}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2))
    last = metrics[-1]
    print(f"{tag}: final DA avg {last['test_da_average']:.4f} max {last['test_da_max']:.4f} after "
          f"{last['epoch']} epochs, wall {wall:.1f} s; target {args.target}: {reached}; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
