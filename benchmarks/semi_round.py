"""Time one round of a semi-supervised preset: its unlabelled epoch and its labelled epoch.

    python benchmarks/semi_round.py --preset semi-ep-600 --threads 1 --repeats 3

Runs the preset's alternation phases (the last stage of its procedure) through the shared training
loop on the real training set, ``--repeats`` rounds from the untrained network, and reports the
median training seconds of each phase (evaluation excluded) with the machine's load. Writes
``benchmarks/results/semi_round_<preset>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

from sdt_neuro.data import load_dataset
from sdt_neuro.presets import preset_config
from sdt_neuro.training import train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="semi-ep-600")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-root", default=os.environ.get("SDT_DATA_ROOT"))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    base = preset_config(args.preset)
    if not base.procedure:
        parser.error(f"{args.preset} has no procedure of phases (a published semi-supervised preset has)")
    rounds = {**base.procedure[-1], "repeat": args.repeats}
    config = base.replace(procedure=[rounds], epochs=args.repeats * len(rounds["phases"]), threads=args.threads,
                          max_test_samples=1000)
    load = os.getloadavg()[0]
    result = train(config, dataset=load_dataset(config.dataset, args.data_root), progress=False, plots=False)
    seconds: dict[str, list[float]] = {}
    for record in result.metrics:
        seconds.setdefault(record["phase"], []).append(record["train_seconds"])
    report = {
        "preset": args.preset, "threads": args.threads, "repeats": args.repeats, "load_1min_before": load,
        "load_1min_after": os.getloadavg()[0],
        "batch_sizes": {p["name"]: p["batch_size"] for p in rounds["phases"]},
        "median_train_seconds": {k: round(statistics.median(v), 2) for k, v in seconds.items()},
        "train_seconds": {k: [round(x, 2) for x in v] for k, v in seconds.items()},
        "command": f"python benchmarks/semi_round.py --preset {args.preset} --threads {args.threads} "
                   f"--repeats {args.repeats}",
    }
    out = Path(args.out) / f"semi_round_{args.preset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
