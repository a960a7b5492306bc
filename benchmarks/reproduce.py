"""Run the paper's table rows and write JSON + Markdown next to the published numbers.

    flock /tmp/sdt-heavy.lock python benchmarks/reproduce.py --table mlp --budget quick \
        --data-root /work/shared/datasets --threads 2

``full`` runs each preset as published (hours to days on a CPU); ``quick`` cuts epochs and, for
the semi-supervised table, the training set, and says so in every row. Figures are whatever the
runs measure: nothing here is filled in by hand except the published column (METHOD.md).
Writes ``<out>/reproduce_<table>_<budget>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdt_neuro.data import Dataset, load_dataset
from sdt_neuro.presets import preset_config
from sdt_neuro.training import train


@dataclass(frozen=True)
class Row:
    """One table row: a preset, the published figure, the metric it is compared on, quick overrides."""

    preset: str
    published: float
    metric: str = "test_da_average"
    quick: dict[str, Any] = field(default_factory=dict)


TABLES: dict[str, list[Row]] = {
    "mlp": [
        Row("bp-1layer", 0.9578, quick={"epochs": 1}),
        Row("ep-1layer", 0.9578, quick={"epochs": 1}),
        Row("bp-2layer", 0.9661, quick={"epochs": 1}),
        # EP 784-2000-2000 costs ~1.3 s per batch of 32 and ~1 min per 2,000 images evaluated here
        Row("ep-2layer", 0.9660, quick={"epochs": 1, "max_train_samples": 3000, "label_fraction": 0.01,
                                        "max_test_samples": 2000}),
    ],
    # EP's two-layer free phase costs ~20 s per 10,000 test images: its quick rows score 2,000
    "semi": [
        Row(f"semi-{algo}-{n}", pub, "test_accuracy",
            {"epochs": 24, "semi_pretrain_epochs": 20, "max_train_samples": 10000,
             **({"max_test_samples": 2000} if algo == "ep" else {})})
        for algo, pubs in (("bp", (0.8843, 0.9213, 0.9488, 0.9566, 0.9676)),
                           ("ep", (0.8841, 0.9618, 0.9657, 0.9679, 0.9703)))
        for n, pub in zip((100, 300, 600, 1000, 3000), pubs)
    ],
    "cnn": [
        Row("cnn-mnist", 0.9917, "test_linear_probe", {"epochs": 1, "max_train_samples": 10000}),
        Row("cnn-fmnist", 0.9025, "test_linear_probe", {"epochs": 1, "max_train_samples": 10000}),
    ],
}


def run_row(row: Row, budget: str, dataset: Dataset | None, data_root: str | None,
            threads: int | None, **overrides: Any) -> dict[str, Any]:
    """Train ``row`` under ``budget``; the measured metric, published figure and wall time."""
    changes = {**(row.quick if budget == "quick" else {}), **overrides}
    config = preset_config(row.preset, threads=threads, **changes)
    t0 = time.perf_counter()
    result = train(config, dataset=dataset, data_root=data_root, progress=False, plots=False)
    last = result.metrics[-1]
    return {"preset": row.preset, "budget": budget, "overrides": changes, "metric": row.metric,
            "measured": last.get(row.metric), "published": row.published, "epochs": last["epoch"],
            "seconds": time.perf_counter() - t0}


def markdown(rows: list[dict[str, Any]]) -> str:
    """Markdown table of measured against published figures."""
    lines = ["| preset | metric | measured | published | epochs | seconds | overrides |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        measured = "–" if r["measured"] is None else f"{r['measured']:.4f}"
        lines.append(f"| {r['preset']} | {r['metric']} | {measured} | {r['published']:.4f} | {r['epochs']} | "
                     f"{r['seconds']:.0f} | {json.dumps(r['overrides']) if r['overrides'] else '–'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True, choices=sorted(TABLES))
    parser.add_argument("--budget", default="quick", choices=("quick", "full"))
    parser.add_argument("--data-root")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--rows", metavar="TEXT", help="only the presets whose name contains TEXT")
    args = parser.parse_args(argv)
    selected = [row for row in TABLES[args.table] if not args.rows or args.rows in row.preset]
    if not selected:
        parser.error(f"no {args.table} row matches --rows {args.rows!r}")
    cache: dict[str, Dataset] = {}
    rows = []
    for row in selected:
        name = preset_config(row.preset).dataset
        cache.setdefault(name, load_dataset(name, args.data_root))
        rows.append(run_row(row, args.budget, cache[name], args.data_root, args.threads))
        print(markdown(rows[-1:]).splitlines()[-1], flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"reproduce_{args.table}_{args.budget}{'_' + args.rows if args.rows else ''}"
    stem.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    stem.with_suffix(".md").write_text(markdown(rows))
    print(f"wrote {stem}.json and {stem}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
