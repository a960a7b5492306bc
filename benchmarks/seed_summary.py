"""Summarise several runs of one preset (different seeds): each run's final figure, and across runs.

Example (the bp-1layer seed table in BENCHMARKS.md):
    python benchmarks/seed_summary.py benchmarks/results/bp-1layer-200ep.metrics.json \
        benchmarks/results/bp-1layer-200ep-seed{1,2,3,4}.metrics.json --target 0.958 \
        --json benchmarks/results/bp-1layer-seeds.json

Each argument is a ``metrics.json`` written by ``sdt-neuro train --out DIR`` or the run directory
holding it. Per run: the last epoch's value, the mean of the last ``--last`` epochs, the best value
and its epoch, the epochs run and the summed ``epoch_seconds``. Across runs: mean, sample standard
deviation, min and max of the final values, and whether the mean reaches ``--target``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any


def load_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The per-epoch records of one run (a ``metrics.json`` file or the directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no metrics.json here (pass a run directory or the file)")
    records = json.loads(path.read_text())
    if not isinstance(records, list) or not records:
        raise ValueError(f"{path}: expected a non-empty list of per-epoch records")
    return records


def summarise_run(records: list[dict[str, Any]], metric: str, last: int) -> dict[str, Any]:
    """Final, last-``last`` mean and best value of ``metric`` over one run's epochs."""
    scored = [(int(r.get("epoch", i)), float(r[metric])) for i, r in enumerate(records, 1) if metric in r]
    if not scored:
        raise ValueError(f"no epoch record holds {metric!r}")
    values = [v for _, v in scored]
    best_epoch, best = max(scored, key=lambda ev: ev[1])
    return {
        "epochs": len(values),
        "final": values[-1],
        f"last{last}_mean": statistics.fmean(values[-last:]),
        "best": best,
        "best_epoch": best_epoch,
        "epoch_seconds_total": sum(float(r.get("epoch_seconds", 0.0)) for r in records),
    }


def summarise(paths: list[str], metric: str = "test_da_average", last: int = 10,
              target: float | None = None) -> dict[str, Any]:
    """Per-run summaries plus the statistics of their final values."""
    runs = [{"source": str(p), **summarise_run(load_metrics(p), metric, last)} for p in paths]
    finals = [r["final"] for r in runs]
    across: dict[str, Any] = {
        "runs": len(finals),
        "mean": statistics.fmean(finals),
        "std": statistics.stdev(finals) if len(finals) > 1 else 0.0,
        "min": min(finals),
        "max": max(finals),
    }
    if target is not None:
        across["target"] = target
        across["mean_reaches_target"] = across["mean"] >= target
    return {"metric": metric, "runs": runs, "across": across}


def markdown(summary: dict[str, Any], last: int) -> str:
    """The summary as a Markdown table (one row per run, then the mean)."""
    lines = [f"| run | epochs | final | last-{last} mean | best (epoch) |", "|---|---:|---:|---:|---:|"]
    for r in summary["runs"]:
        lines.append(f"| {r['source']} | {r['epochs']} | {r['final']:.4f} | {r[f'last{last}_mean']:.4f} | "
                     f"{r['best']:.4f} ({r['best_epoch']}) |")
    a = summary["across"]
    lines.append(f"| mean ± std over {a['runs']} | | {a['mean']:.4f} ± {a['std']:.4f} | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="metrics.json files or run directories")
    parser.add_argument("--metric", default="test_da_average")
    parser.add_argument("--last", type=int, default=10, help="epochs in the tail mean (default 10)")
    parser.add_argument("--target", type=float, help="figure the mean of the final values must reach")
    parser.add_argument("--json", help="write the summary here")
    args = parser.parse_args(argv)
    if args.last < 1:
        parser.error("--last must be >= 1")
    try:
        summary = summarise(args.runs, args.metric, args.last, args.target)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(summary, args.last))
    if args.target is not None:
        verdict = "reaches" if summary["across"]["mean_reaches_target"] else "does not reach"
        print(f"mean {summary['across']['mean']:.4f} {verdict} the target {args.target}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
