"""Accuracy per alternation round of the published semi-supervised runs, against the published curve.

    python benchmarks/semi_curve.py

Reads the committed ``benchmarks/results/semi/published/semi-{bp,ep}-600.metrics.json`` (finished
or still running), converts epochs to rounds (an epoch after pre-training, one round = one
unlabelled + one labelled epoch) and plots the validation output accuracy of each round beside
the published test accuracy after rounds 1, 50, 100, 200 (and 400 for BP) with 600 labels
(METHOD.md). Writes ``semi_600_curve.png`` and ``semi_600_curve.json`` next to the metrics.
"""

from __future__ import annotations

import json
from pathlib import Path

from sdt_neuro.plots import _pyplot
from sdt_neuro.presets import SEMI_PUBLISHED

RESULTS = Path(__file__).parent / "results" / "semi" / "published"
PUBLISHED_600 = {"bp": {1: 0.903, 100: 0.921, 200: 0.938, 400: 0.949},
                 "ep": {1: 0.919, 50: 0.948, 100: 0.960, 200: 0.966}}


def rounds(algo: str, records: list[dict]) -> dict[int, float]:
    """Validation output accuracy after each labelled epoch of the alternation, by round (1-based)."""
    pre = SEMI_PUBLISHED[algo]["pretrain_epochs"]
    return {(r["epoch"] - pre) // 2: r["val_accuracy"] for r in records
            if r.get("phase") == "labelled" and "val_accuracy" in r}


def main() -> int:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    summary = {}
    for algo, colour in (("bp", "tab:blue"), ("ep", "tab:orange")):
        path = RESULTS / f"semi-{algo}-600.metrics.json"
        published = PUBLISHED_600[algo]
        ax.plot(list(published), list(published.values()), "*--", color=colour, markersize=10,
                label=f"{algo.upper()} published (test, mean of seeds)")
        if not path.is_file():
            continue
        curve = rounds(algo, json.loads(path.read_text()))
        ax.plot(list(curve), list(curve.values()), "-", color=colour, alpha=0.8,
                label=f"{algo.upper()} measured (validation, 1,000 images, seed 0)")
        summary[algo] = {"rounds_done": max(curve, default=0),
                         "at_published_rounds": {r: curve.get(r) for r in published},
                         "published": published}
    ax.set_xlabel("alternation round (one unlabelled + one labelled epoch)")
    ax.set_ylabel("accuracy, 600 labels")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(RESULTS / "semi_600_curve.png", dpi=100)
    (RESULTS / "semi_600_curve.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
