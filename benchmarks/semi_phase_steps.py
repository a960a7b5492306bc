"""What each phase of a semi-supervised round adds, ours against the authors' released runs.

    python benchmarks/semi_phase_steps.py RECORDS [--algo ep] [--labels 600] [--band FROM TO ...] [--out PATH]

A round is one unlabelled epoch then one labelled epoch. Its *unlabelled step* is the accuracy after
the unlabelled epoch minus the accuracy before it (after the previous labelled epoch, or after
pre-training for round 1); its *labelled step* is the accuracy after the labelled epoch minus that
after the unlabelled one. RECORDS is a run's ``metrics.json``; the released runs
(EP: ``published_runs_ep.json``, 100 and 600 labels; BP with ``--algo bp``: ``released_runs_bp.json``,
1000 labels) score both epochs of every round. Prints and writes how
many rounds each run takes to climb through a band of accuracy (a comparison at equal accuracy, whatever
the accuracy after pre-training) and, where the run's unlabelled epochs were scored too (its preset's
configuration with ``"evaluate": true`` on the unlabelled phase), the mean step of each phase and of the
whole round over windows of rounds (ours, and the released runs' mean with its sample spread over runs)
and over bins of the accuracy before the round.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import NamedTuple

import released_runs

from sdt_neuro.records import val_split_size

#: windows of rounds (first, last), 1-based and inclusive: EP runs 200 rounds, BP 400
WINDOWS = ((1, 1), (2, 10), (11, 50), (51, 100), (101, 150), (151, 200), (201, 300), (301, 400))

PHASES = ("unlabelled", "labelled", "round")  # each phase's step, and the whole round's
#: width of the accuracy bins in which rounds are compared at the same starting accuracy
BIN = 0.005


class Round(NamedTuple):
    """One round: the accuracy before it and the step of each of its epochs."""

    start: float
    unlabelled: float
    labelled: float


def _rounds(before: float, unlabelled: list[float], labelled: list[float]) -> list[Round]:
    """Each round, from the accuracy before the rounds and after each of their epochs."""
    if len(unlabelled) != len(labelled):
        raise ValueError(f"{len(unlabelled)} unlabelled and {len(labelled)} labelled epochs scored: not whole rounds")
    starts = [before, *labelled[:-1]]
    return [Round(s, u - s, lab - u) for s, u, lab in zip(starts, unlabelled, labelled)]


def _scored(records: list[dict]) -> tuple[str, list[dict], str]:
    """The accuracy key of a run's records, its pre-training records and its split's name (validation
    where the run held one out, else the test set)."""
    key = "val_accuracy" if val_split_size(records) else "test_accuracy"
    pre = [r for r in records if r.get("phase") == "pretrain"]
    if not pre or key not in pre[-1]:
        raise ValueError("the records hold no scored end of pre-training")
    return key, pre, "validation" if key == "val_accuracy" else "test"


def labelled_curve(records: list[dict]) -> tuple[list[float], str]:
    """The accuracy after pre-training and after each round's labelled epoch, and its split."""
    key, pre, split = _scored(records)
    return [pre[-1][key], *(r[key] for r in records if r.get("phase") == "labelled" and key in r)], split


def ours(records: list[dict]) -> tuple[list[Round], str]:
    """A run's rounds and their split. Refuses records whose unlabelled epochs were not scored."""
    key, pre, split = _scored(records)
    rounds = [r for r in records if r.get("phase") in ("unlabelled", "labelled")]
    if len(rounds) % 2:
        rounds = rounds[:-1]  # a round cut off after its unlabelled epoch
    unlabelled, labelled = rounds[0::2], rounds[1::2]
    if any(r["phase"] != "unlabelled" for r in unlabelled) or any(r["phase"] != "labelled" for r in labelled):
        raise ValueError("the rounds do not alternate unlabelled, labelled")
    if any(key not in r for r in unlabelled):
        raise ValueError(f"the unlabelled epochs carry no {key!r}: score them ('evaluate': true on that phase)")
    return _rounds(pre[-1][key], [r[key] for r in unlabelled], [r[key] for r in labelled]), split


def released(run: dict) -> list[Round]:
    """A released run's rounds (its test accuracy after every epoch)."""
    return _rounds(run["pretrain_test_accuracy"][-1], run["unsupervised_accuracy"], run["supervised_accuracy"])


def _points(part: list[Round]) -> dict[str, float]:
    """The mean step of each phase and of the whole round over ``part``, in accuracy points."""
    return {"unlabelled": round(100 * statistics.mean(r.unlabelled for r in part), 4),
            "labelled": round(100 * statistics.mean(r.labelled for r in part), 4),
            "round": round(100 * statistics.mean(r.unlabelled + r.labelled for r in part), 4)}


def window_means(rounds: list[Round]) -> list[dict]:
    """The mean steps over each window of :data:`WINDOWS` the rounds reach."""
    out = []
    for first, last in WINDOWS:
        part = rounds[first - 1:last]
        if len(part) < last - first + 1:
            break
        out.append({"rounds": [first, last], **_points(part)})
    return out


def by_start(rounds: list[Round]) -> dict[float, dict]:
    """The mean steps of the rounds that start in each accuracy bin of width :data:`BIN` (keyed by the
    bin's lower edge), with how many rounds each holds: rounds compared at the same starting accuracy."""
    bins: dict[float, list[Round]] = {}
    for r in rounds:
        bins.setdefault(round(BIN * int(r.start / BIN + 1e-9), 4), []).append(r)
    return {edge: {**_points(part), "n": len(part)} for edge, part in sorted(bins.items())}


#: accuracy bands (from, to) whose climb is timed in rounds
BANDS = ((0.930, 0.945), (0.935, 0.950), (0.940, 0.955), (0.945, 0.960))


def climb(after: list[float], low: float, high: float) -> int | None:
    """How many rounds the accuracy ``after`` pre-training and each round took to go from first reaching
    ``low`` (or starting there) to first reaching ``high``; ``None`` where it never did."""
    first = next((i for i, a in enumerate(after) if a >= low), None)
    last = next((i for i, a in enumerate(after) if a >= high), None)
    return None if first is None or last is None else last - first


def _released_curve(run: dict) -> list[float]:
    """A released run's accuracy after pre-training and after each round's labelled epoch."""
    return [run["pretrain_test_accuracy"][-1], *run["supervised_accuracy"]]


def climbs(after: list[float], theirs: list[list[float]],
           bands: tuple[tuple[float, float], ...] = BANDS) -> list[dict]:
    """:func:`climb` through each of ``bands``, ours and each released run's (sorted)."""
    out = []
    for low, high in bands:
        found = [climb(t, low, high) for t in theirs]
        out.append({"from": low, "to": high, "rounds": climb(after, low, high),
                    "released": sorted(c for c in found if c is not None), "released_never": found.count(None)})
    return out


def phase_tables(mine: list[Round], theirs: list[list[Round]]) -> dict[str, list[dict]]:
    """The phases' steps by window of rounds (the released runs' mean and sample sd over runs) and by
    the accuracy before the round (the released runs' rounds pooled)."""
    per_run = [window_means(t) for t in theirs]
    windows = []
    for i, row in enumerate(window_means(mine)):
        spread = {phase: [r[i][phase] for r in per_run] for phase in PHASES}
        windows.append({**row, "released": {phase: [round(statistics.mean(v), 4), round(statistics.stdev(v), 4)]
                                            for phase, v in spread.items()}})
    pooled = by_start([r for t in theirs for r in t])
    starts = [{"from": edge, **row, "released": pooled.get(edge)} for edge, row in by_start(mine).items()]
    return {"windows": windows, "by_start": starts}


def _print(result: dict) -> None:
    print(f"{result['records']} ({result['split']}) against {result['released_runs']} released runs (test)")
    print("rounds to climb through each band of accuracy (released: each run's, sorted):")
    for row in result["climbs"]:
        never = f" ({row['released_never']} never)" if row["released_never"] else ""
        print(f"  {row['from']:.3f} -> {row['to']:.3f}: ours {row['rounds']}, released {row['released']}{never}")
    if "windows" not in result:
        print(f"phase steps: {result['phase_steps']}")
        return
    print("points per round, by window of rounds (released: mean ± sample sd over runs):")
    for row in result["windows"]:
        first, last = row["rounds"]
        cells = (f"{phase} {row[phase]:+.3f} ({mean:+.3f} ± {sd:.3f})"
                 for phase in PHASES for mean, sd in [row["released"][phase]])
        print(f"  rounds {first:>3}-{last:<3} " + "  ".join(cells))
    print(f"points per round, unlabelled / labelled / round, by accuracy before the round (bins of {100 * BIN:g}"
          " points; released: all their rounds in the bin):")
    for row in result["by_start"]:
        rel = row["released"]
        theirs = f"{rel['unlabelled']:+.3f} / {rel['labelled']:+.3f} / {rel['round']:+.3f} (n={rel['n']})" \
            if rel else "none"
        print(f"  from {row['from']:.3f}: ours {row['unlabelled']:+.3f} / {row['labelled']:+.3f} / {row['round']:+.3f}"
              f" (n={row['n']}), released {theirs}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("records", type=Path)
    parser.add_argument("--algo", choices=sorted(released_runs.RUNS), default="ep")
    parser.add_argument("--labels", type=int, default=600)
    parser.add_argument("--band", type=float, nargs=2, action="append", metavar=("FROM", "TO"),
                        help=f"a band of accuracy to time the climb through (repeatable; default {BANDS})")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.band and any(not 0.0 <= low < high <= 1.0 for low, high in args.band):
        parser.error(f"a band is FROM TO with 0 <= FROM < TO <= 1 (accuracies as fractions), got {args.band}")
    records = json.loads(args.records.read_text())
    source = released_runs.RUNS[args.algo]  # per-epoch test accuracy (EP: 100 and 600 labels; BP: 1000)
    runs = released_runs.read(source).get(str(args.labels))
    if not runs:
        raise SystemExit(f"no released {args.algo.upper()} runs with {args.labels} labels in "
                         f"benchmarks/results/{source}")
    after, split = labelled_curve(records)
    result: dict = {"records": str(args.records), "split": split, "algo": args.algo, "labels": args.labels,
                    "released_runs": len(runs), "unit": "rounds; steps in accuracy points per round",
                    "climbs": climbs(after, [_released_curve(run) for run in runs.values()],
                                     tuple(map(tuple, args.band)) if args.band else BANDS)}
    try:
        result.update(phase_tables(ours(records)[0], [released(run) for run in runs.values()]))
    except ValueError as exc:  # the unlabelled epochs were not scored: the climbs only
        result["phase_steps"] = str(exc)
    _print(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
