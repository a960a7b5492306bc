"""Time of the EP free phase (``T`` relaxation steps) for a preset's network, per batch size.

    python benchmarks/ep_relaxation.py --preset semi-ep-600 --batch 16 1000 --threads 1

Seeded weights and inputs (the timing does not depend on training); the best of ``--repeats``
runs per batch size, plus a checksum of the output so two versions of the code can be compared
for identical results. Prints one JSON object per batch size.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from sdt_neuro.presets import preset_config
from sdt_neuro.training.ep import free_phase


def time_free_phase(preset: str, batch: int, repeats: int) -> dict[str, float | int | str]:
    """Best wall time of one free phase on ``batch`` random images, and an output checksum."""
    config = preset_config(preset)
    torch.manual_seed(0)
    model = config.build_model()
    x = torch.rand(batch, 784)
    free_phase(model.layers, x, 2, config.ep_dt)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        _, states = free_phase(model.layers, x, config.ep_free_steps, config.ep_dt)
        best = min(best, time.perf_counter() - t0)
    return {"preset": preset, "batch": batch, "steps": config.ep_free_steps, "seconds": best,
            "checksum": float(states[-1].double().sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="semi-ep-600")
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 1000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for batch in args.batch:
        row = time_free_phase(args.preset, batch, args.repeats)
        print(json.dumps({**row, "threads": torch.get_num_threads(), "load": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
