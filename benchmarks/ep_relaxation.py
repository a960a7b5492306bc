"""Time of the EP free phase (``T`` relaxation steps) for a preset's network, per batch size.

    python benchmarks/ep_relaxation.py --preset semi-ep-600 --batch 16 1000 --threads 1

Seeded weights and inputs (the timing does not depend on training); the best of ``--repeats``
runs per batch size, its GFLOP/s against a plain ``[B, n] @ [n, n]`` product of the same shape,
plus a checksum of the output so two versions of the code can be compared for identical results.
Prints one JSON object per batch size.

    python benchmarks/ep_relaxation.py --preset ep-2layer --batch 32 --threads 2
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
    flops = _relaxation_flops(config.sizes, batch, config.ep_free_steps)
    matmul = _plain_matmul_gflops(batch, max(config.sizes[1:]), repeats)
    gflops = flops / best / 1e9
    return {"preset": preset, "batch": batch, "steps": config.ep_free_steps, "seconds": best,
            "gflops": round(gflops, 1), "plain_matmul_gflops": round(matmul, 1),
            "ratio_to_matmul": round(gflops / matmul, 3), "checksum": float(states[-1].double().sum())}


def _relaxation_flops(sizes: tuple[int, ...], batch: int, steps: int) -> float:
    """Multiply-adds x 2 of the relaxation's products: per step, every layer above the first gets
    its input ``W_l rho(s_{l-1})`` and sends feedback ``W_l^T rho(s_l)`` down (the first layer's
    drive is computed once per batch and not counted)."""
    per_step = sum(2 * 2 * batch * n_in * n_out for n_in, n_out in zip(sizes[1:-1], sizes[2:]))
    return float(per_step * steps)


def _plain_matmul_gflops(batch: int, n: int, repeats: int) -> float:
    """GFLOP/s of one plain ``[batch, n] @ [n, n]`` product (the yardstick of the relaxation)."""
    a, w = torch.rand(batch, n), torch.rand(n, n)
    out = torch.empty(batch, n)
    torch.mm(a, w, out=out)
    best = float("inf")
    for _ in range(max(repeats, 3)):
        t0 = time.perf_counter()
        for _ in range(20):
            torch.mm(a, w, out=out)
        best = min(best, (time.perf_counter() - t0) / 20)
    return 2 * batch * n * n / best / 1e9


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
