"""Run the paper's table rows and write JSON + Markdown next to the published numbers.

    flock /tmp/sdt-heavy.lock python benchmarks/reproduce.py --table mlp --budget quick \
        --data-root /work/shared/datasets --threads 2

``full`` runs each preset as published (hours to days on a CPU); ``quick`` cuts epochs and, for
the semi-supervised table, the training set, and says so in every row. ``untrained`` rows score a
preset's network before any training (the paper's control row: an untrained 784-2000 layer), the
same under both budgets. Figures are whatever the
runs measure: nothing here is filled in by hand except the published column (METHOD.md).
Writes ``<out>/reproduce_<table>_<budget>.{json,md}``. ``--table paper`` trains nothing: it collects
every published row from the committed results (``--results``, default ``benchmarks/results``) into
``<out>/paper.{json,md}`` and ``paper_semi.png`` (``paper_table.py``, ``paper_figure.py``).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sdt_neuro.data import Dataset, load_dataset, stratified_indices
from sdt_neuro.evaluate import direct_association
from sdt_neuro.presets import SEMI_PUBLISHED, preset_config
from sdt_neuro.probe import linear_probe
from sdt_neuro.scoring import ann_activity
from sdt_neuro.training import train
from sdt_neuro.training.config import TrainConfig

RESULTS = Path(__file__).resolve().parent / "results"  # the committed results


@dataclass(frozen=True)
class Row:
    """One table row: a preset, the published figure, the metric it is compared on, quick overrides
    (applied under every budget when ``untrained``: the network is scored before any training)."""

    preset: str
    published: float
    metric: str = "test_da_average"
    quick: dict[str, Any] = field(default_factory=dict)
    untrained: bool = False

    @property
    def name(self) -> str:
        return self.preset + (" (untrained)" if self.untrained else "")


TABLES: dict[str, list[Row]] = {
    "mlp": [
        Row("bp-1layer", 0.9578, quick={"epochs": 1}),
        Row("ep-1layer", 0.9578, quick={"epochs": 1}),
        Row("bp-2layer", 0.9661, quick={"epochs": 1}),
        # EP 784-2000-2000 costs ~1.3 s per batch of 32 and ~1 min per 2,000 images evaluated here
        Row("ep-2layer", 0.9660, quick={"epochs": 1, "max_train_samples": 3000, "label_fraction": 0.01,
                                        "max_test_samples": 2000}),
        # The paper's control: the same 784-2000 layer untrained (DA all labels / 1% labels, LC)
        Row("bp-1layer", 0.6061, untrained=True),
        Row("bp-1layer", 0.6199, quick={"label_fraction": 0.01}, untrained=True),
        Row("bp-1layer", 0.9707, "test_linear_probe", untrained=True),
    ],
    # The published procedure (presets.semi_procedure); quick: its pre-training and two rounds on
    # 10,000 training images
    "semi": [
        Row(f"semi-{algo}-{n}", pub, "test_accuracy",
            {"epochs": SEMI_PUBLISHED[algo]["pretrain_epochs"] + 4, "max_train_samples": 10000})
        for algo, pubs in (("bp", (0.8843, 0.9213, 0.9488, 0.9566, 0.9676)),
                           ("ep", (0.8841, 0.9618, 0.9657, 0.9679, 0.9703)))
        for n, pub in zip((100, 300, 600, 1000, 3000), pubs)
    ],
    "cnn": [
        Row("cnn-mnist", 0.9917, "test_linear_probe_published-cnn", {"epochs": 1, "max_train_samples": 10000}),
        Row("cnn-fmnist", 0.9025, "test_linear_probe_published-cnn", {"epochs": 1, "max_train_samples": 10000}),
    ],
}


def run_row(row: Row, budget: str, dataset: Dataset | None, data_root: str | None,
            threads: int | None, **overrides: Any) -> dict[str, Any]:
    """Train ``row`` under ``budget`` (or score it untrained); the measured metric, published figure
    and wall time."""
    changes = {**(row.quick if budget == "quick" or row.untrained else {}), **overrides}
    config = preset_config(row.preset, threads=threads, **changes)
    t0 = time.perf_counter()
    if row.untrained:
        data = dataset or load_dataset(config.dataset, data_root)
        measured, epochs = score_untrained(config, row.metric, data), 0
    else:
        last = train(config, dataset=dataset, data_root=data_root, progress=False, plots=False).metrics[-1]
        measured, epochs = last.get(row.metric), last["epoch"]
    return {"preset": row.name, "budget": budget,
            "overrides": changes, "metric": row.metric, "measured": measured, "published": row.published,
            "epochs": epochs, "seconds": time.perf_counter() - t0}


def score_untrained(config: TrainConfig, metric: str, data: Dataset) -> float:
    """``metric`` (``test_da_average`` on ``config.label_fraction`` of the training labels, or
    ``test_linear_probe``) of the network ``config`` describes, before any training."""
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    model = config.build_model()
    test_act, test_y = ann_activity(config, model, data.test.x), data.test.y.numpy()
    if metric == "test_linear_probe":
        return linear_probe(ann_activity(config, model, data.train.x), data.train.y.numpy(), test_act, test_y,
                            n_classes=data.n_classes, seed=config.seed)
    if metric == "test_da_average":
        labelled = data.train.subset(stratified_indices(data.train.y, fraction=config.label_fraction,
                                                        seed=config.seed))
        return direct_association(ann_activity(config, model, labelled.x), labelled.y.numpy(), test_act, test_y,
                                  data.n_classes, signed=config.signed_output).average
    raise ValueError(f"untrained rows score test_da_average or test_linear_probe, not {metric!r}")


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
    parser.add_argument("--table", required=True, choices=sorted(TABLES) + ["paper"],
                        help="a table to run, or 'paper': collect every published row from committed results")
    parser.add_argument("--budget", default="quick", choices=("quick", "full"))
    parser.add_argument("--data-root")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", default=str(RESULTS), help="where the tables go (default: the committed results)")
    parser.add_argument("--results", default=str(RESULTS),
                        help="--table paper: the committed results it collects (default benchmarks/results)")
    parser.add_argument("--rows", metavar="TEXT",
                        help="only the rows whose name contains TEXT (e.g. 'semi-bp', 'untrained')")
    args = parser.parse_args(argv)
    if args.table == "paper":
        return write_paper_table(Path(args.results), Path(args.out))
    selected = [row for row in TABLES[args.table] if not args.rows or args.rows in row.name]
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


def write_paper_table(results: Path, out: Path | None = None) -> int:
    """``--table paper``: ``paper.json``, ``paper.md`` and ``paper_semi.png`` in ``out`` (default ``results``)
    from the results already committed under ``results``."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import paper_figure
    import paper_table

    if not results.is_dir():
        raise SystemExit(f"reproduce: --results {results} is not a folder of committed results")
    out = out or results
    out.mkdir(parents=True, exist_ok=True)
    rows = paper_table.collect(results)
    (out / "paper.json").write_text(json.dumps(rows, indent=2))
    (out / "paper.md").write_text(paper_table.markdown(rows))
    paper_figure.draw(rows, out / "paper_semi.png")
    print(paper_table.markdown(rows), end="")
    print(f"wrote {out / 'paper.json'}, {out / 'paper.md'} and {out / 'paper_semi.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
