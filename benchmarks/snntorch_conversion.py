"""Accuracy of a converted checkpoint in snnTorch against the number of time steps T.

Every point comes from ``sdt_neuro.scoring.evaluate_checkpoint`` (the code behind
``sdt-neuro evaluate CHECKPOINT --backend snntorch --steps T``): DA average/max on the test set,
agreement of the predictions with the ANN's, and the seconds the spiking simulation took.

Example (the figures in BENCHMARKS.md; run under the shared lock):
    flock /tmp/sdt-heavy.lock python benchmarks/snntorch_conversion.py \
        --checkpoint /tmp/bp1-e1-ckpt/checkpoint.pt --threads 1

Writes ``benchmarks/results/snntorch_conversion.json`` and ``snntorch_conversion.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="checkpoint file or run directory")
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32, 64], help="T, direct current")
    parser.add_argument("--bernoulli-steps", type=int, nargs="*", default=[16, 32, 64], help="T, Bernoulli input")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--samples", type=int, help="first N test images (default all 10,000)")
    parser.add_argument("--data-root", default=os.environ.get("SDT_DATA_ROOT"))
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "snntorch_conversion"),
                        help="output path without extension (.json and .png are written)")
    return parser.parse_args()


def run_point(checkpoint: str, data: Any, samples: int | None, steps: int | None, encoding: str) -> dict[str, Any]:
    """One ``evaluate_checkpoint`` call; ``steps=None`` scores the ANN itself."""
    from sdt_neuro.scoring import evaluate_checkpoint

    backend = "ann" if steps is None else "snntorch"
    options = None if steps is None else {"steps": steps, "encoding": encoding, "seed": 0, "progress": False}
    res = evaluate_checkpoint(checkpoint, backend=backend, samples=samples, dataset=data, options=options)
    keep = ("backend", "samples", "da_average", "da_max", "agreement_with_ann", "ann_da_average", "seconds")
    point = {k: res[k] for k in keep if k in res}
    point.update(steps=steps, encoding=encoding if steps else None,
                 win_entropy_ratio=res["neuron_usage"]["win_entropy_ratio"])
    if steps:
        point["da_average_gap"] = point["da_average"] - point["ann_da_average"]
    print(json.dumps(point), flush=True)
    return point


def plot(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ann = next(p for p in points if p["backend"] == "ann")
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for encoding, marker in (("current", "o-"), ("bernoulli", "s--")):
        sel = sorted((p for p in points if p.get("encoding") == encoding), key=lambda p: p["steps"])
        if sel:
            ax.plot([p["steps"] for p in sel], [p["da_average"] for p in sel], marker,
                    label=f"snnTorch, {'direct current' if encoding == 'current' else 'Bernoulli'} input")
    ax.axhline(ann["da_average"], color="k", lw=1, ls=":", label=f"ANN ({ann['da_average']:.4f})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("time steps T")
    ax.set_ylabel("test DA-average")
    ax.set_title(f"converted network, {ann['samples']} MNIST test images")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    args = parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    from sdt_neuro.data import load_dataset

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    data = load_dataset("mnist", args.data_root)
    points = [run_point(args.checkpoint, data, args.samples, None, "current")]
    points += [run_point(args.checkpoint, data, args.samples, t, "current") for t in args.steps]
    points += [run_point(args.checkpoint, data, args.samples, t, "bernoulli") for t in args.bernoulli_steps]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "checkpoint": str(args.checkpoint), "threads": args.threads, "points": points,
        "wall_seconds": time.perf_counter() - t0, "load_before": load_before, "load_after": os.getloadavg(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__},
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2))
    plot(points, out.with_suffix(".png"))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
