"""Accuracy per alternation round of the published semi-supervised runs, against the published curve.

    python benchmarks/semi_curve.py [--labels 100] [--extra PATH[:LABEL] ...]

Reads the committed ``benchmarks/results/semi/published/semi-{bp,ep}-N.metrics.json`` (finished
or still running), converts epochs to rounds (an epoch after pre-training, one round = one
unlabelled + one labelled epoch) and plots the validation output accuracy of each round (the test
accuracy for a run on the full training set, which scores it every epoch) beside
the published test accuracy (after rounds 1, 50, 100, 200, and 400 for BP, with 600 labels; the
final figure otherwise; METHOD.md). The earlier EP recipes' runs (``published-v1/``: inverted
dropout, smoothing 0.1; ``published-v2/``: dt 0.5, PyTorch's default weights, the k-WTA on the
softmax, the read-out's gradient at the free state) are drawn beside it where committed, and so are
further seeds (``-seed1``, ``-seed2``, each drawing its own labelled subset). Where the authors'
released per-run results hold the label count (``published_runs_ep.json``: EP, 100 and 600 labels;
``released_runs_bp.json``: BP, 1000 labels; not its ``partial`` ones), the published curve
is their mean after every round with a band of one sample standard deviation over runs; for EP with
300, 1000 and 3000 labels (``released_finals_ep.json``) it is their mean ± sd after rounds 1, 50,
100, 150 and 200.
``--extra`` draws further metrics files (diagnostic runs). Writes ``semi_N_curve.png`` and
``semi_N_curve.json`` next to the metrics.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import released_runs
from paper_table import PUBLISHED, SEMI_LABELS_PUBLISHED

from sdt_neuro.plots import _pyplot
from sdt_neuro.presets import SEMI_PUBLISHED
from sdt_neuro.records import val_split_size

RESULTS = Path(__file__).parent / "results" / "semi" / "published"
PUBLISHED_600 = {"bp": {1: 0.903, 100: 0.921, 200: 0.938, 400: 0.949},
                 "ep": {1: 0.919, 50: 0.948, 100: 0.960, 200: 0.966}}
PUBLISHED_FINAL = {algo: {n: PUBLISHED[f"semi-{algo}-{n}"] for n in SEMI_LABELS_PUBLISHED} for algo in ("bp", "ep")}


# (folder, file suffix, line style, legend): the run of the current preset, then earlier variants
VARIANTS = (("published", "", "-", "measured"),
            ("published", "-seed1", "--", "its own labelled subset"),
            ("published", "-seed2", (0, (10, 2)), "its own labelled subset"),
            ("published-v2", "", "-.", "recipe v2 (until 2026-12-04)"),
            ("published-v2", "-seed1", (0, (5, 2, 1, 2)), "recipe v2, its own labelled subset"),
            ("published-v2", "-xavier", (0, (3, 1, 1, 1, 1, 1)), "recipe v2, Xavier(0.5) init"),
            ("published-v1", "", ":", "first recipe"))


def rounds(records: list[dict]) -> tuple[dict[int, float], str]:
    """Output accuracy after each labelled epoch of the alternation, by round (1-based), and its split:
    validation where the run held one out, else the test set (a run on the full training set scores
    it every epoch; nothing is chosen on those figures)."""
    pre = sum(r.get("phase") == "pretrain" for r in records)  # each epoch has a record, scored or not
    size = val_split_size(records)
    key = "val_accuracy" if size else "test_accuracy"
    split = f"validation, {size:,} images" if size else "test, full training set"
    return {(r["epoch"] - pre) // 2: r[key] for r in records if r.get("phase") == "labelled" and key in r}, split


def released_band(algo: str, n: int) -> tuple[list[float], list[float], int] | None:
    """Mean and sample std over the authors' released runs of the test accuracy after each round, where
    every released run of the label count was transcribed."""
    runs = released_runs.read(released_runs.RUNS[algo]).get(str(n))
    if not runs or len(runs) < 2 or len({len(run["supervised_accuracy"]) for run in runs.values()}) != 1:
        return None  # a band needs two runs or more, all of the same length
    curves = list(zip(*(run["supervised_accuracy"] for run in runs.values())))
    return [statistics.mean(c) for c in curves], [statistics.stdev(c) for c in curves], len(runs)


def released_points(n: int) -> tuple[dict[int, tuple[float, float]], int] | None:
    """Mean and sample std over the authors' released EP runs of the test accuracy after rounds 1, 50,
    100, 150 and the last, where only those points were transcribed (``released_finals_ep.json``)."""
    runs = released_runs.read(released_runs.FINALS_EP).get(str(n), {}).get("runs")
    if not runs or len(runs) < 2:
        return None
    per_round = [{**{int(r): a for r, a in run["at_round"].items()}, int(run["rows"]): run["final"]}
                 for run in runs.values()]  # the final figure after the run's last round
    common = sorted(set.intersection(*(set(p) for p in per_round)))
    points = {r: (statistics.mean(p[r] for p in per_round), statistics.stdev(p[r] for p in per_round)) for r in common}
    return points, len(runs)


def run_summary(curve: dict[int, float], split: str, published: dict[int, float], released_at: list[int],
                source: str) -> dict:
    """What the summary says of one run's curve: how far it got, its best round, its accuracy at the
    published rounds and (where the released runs were read) at theirs, so the two compare round by round."""
    out = {"split": split, "rounds_done": max(curve, default=0), "best": max(curve.values(), default=None),
           "at_published_rounds": {r: curve.get(r) for r in published}}
    if released_at:
        out["at_released_rounds"] = {r: curve.get(r) for r in released_at}
    return {**out, "published": published, "source": source}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=int, default=600, choices=sorted(PUBLISHED_FINAL["bp"]))
    parser.add_argument("--extra", nargs="*", default=[], metavar="PATH[:LABEL]",
                        help="further metrics files to draw (by round: validation, or test for a run on the "
                             "full training set)")
    args = parser.parse_args()
    n = args.labels
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.2))
    summary = {}
    for algo, colour in (("bp", "tab:blue"), ("ep", "tab:orange")):
        rounds_total = SEMI_PUBLISHED[algo]["rounds"]
        published = PUBLISHED_600[algo] if n == 600 else {rounds_total: PUBLISHED_FINAL[algo][n]}
        band = released_band(algo, n)
        points = released_points(n) if algo == "ep" and band is None else None
        released_at: list[int] = []  # the rounds where the released runs were read
        if points is not None:
            at, runs = points
            released_at = list(at)
            ax.errorbar(list(at), [m for m, _ in at.values()], yerr=[s for _, s in at.values()], fmt="o", color="black",
                        capsize=3, label=f"EP released runs (test, mean ± sd of {runs})")
            rounded = {r: [round(m, 4), round(s, 4)] for r, (m, s) in at.items()}
            summary["ep released runs"] = {"runs": runs, "at_rounds": rounded}
        elif band is not None:
            mean, std, runs = band
            x = range(1, len(mean) + 1)
            shade = "black" if algo == "ep" else "tab:purple"
            ax.plot(x, mean, "-", color=shade, lw=1, label=f"{algo.upper()} released runs (test, mean ± sd of {runs})")
            ax.fill_between(x, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                            color=shade, alpha=0.12, lw=0)
            at = released_at = [r for r in (1, 50, 100, 150, 200, 300, 400) if r <= len(mean)]
            summary[f"{algo} released runs"] = {"runs": runs,
                                           "at_rounds": {r: [round(mean[r - 1], 4), round(std[r - 1], 4)] for r in at}}
        else:
            ax.plot(list(published), list(published.values()), "*--", color=colour, markersize=10,
                    label=f"{algo.upper()} published (test, mean of seeds)")
        for folder, suffix, style, what in VARIANTS:
            path = RESULTS.parent / folder / f"semi-{algo}-{n}{suffix}.metrics.json"
            if not path.is_file():
                continue
            curve, split = rounds(json.loads(path.read_text()))
            seed = suffix.removeprefix("-seed") if suffix.startswith("-seed") else "0"
            on_test = split.startswith("test")  # the one line that compares directly with the released runs
            ax.plot(list(curve), list(curve.values()), linestyle=style, color="tab:red" if on_test else colour,
                    alpha=0.8, lw=1.6 if on_test else 1.0, label=f"{algo.upper()} {what} ({split}, seed {seed})")
            name = f"{algo} {what}" + ("" if seed == "0" else f", seed {seed}")
            summary[name] = run_summary(curve, split, published, released_at, str(path.relative_to(RESULTS.parent)))
    for i, spec in enumerate(args.extra):
        head, _, tail = spec.rpartition(":")
        path, what = (head, tail) if Path(head).is_file() else (spec, "")
        curve, split = rounds(json.loads(Path(path).read_text()))
        ax.plot(list(curve), list(curve.values()), "-", color=f"C{i + 2}", lw=1.2,
                label=f"{what or Path(path).parent.name} ({split})")
        done = max(curve, default=0)
        summary[f"extra {what or path}"] = {"split": split, "rounds_done": done,
                                            "best": max(curve.values(), default=None),
                                            "last": curve.get(done), "source": path}
    ax.set_xlabel("alternation round (one unlabelled + one labelled epoch)")
    ax.set_ylabel(f"accuracy, {n} labels")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(RESULTS / f"semi_{n}_curve.png", dpi=100)
    (RESULTS / f"semi_{n}_curve.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
