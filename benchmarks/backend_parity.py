"""One spiking network everywhere: snnTorch and Lava float spike counts for the same checkpoint.

Runs the checkpoint's converted network (``sdt_neuro.convert.checkpoint_network``: hidden layers
scaled on training images) through ``snntorch_head.evaluation_activity`` and Lava's
``evaluation_activity`` on the first N test images, for several N and both data-root routes
(``--data-root`` passed on, or only ``SDT_DATA_ROOT`` in the environment), and reports how many
spike counts are identical and how often the DA predictions agree.

Example (the figures in BENCHMARKS.md):
    python benchmarks/backend_parity.py --checkpoint ~/ckpt/bp2-e1 --samples 1000 10000 \
        --data-root /work/shared/datasets

Writes ``benchmarks/results/backend_parity.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="checkpoint file or run directory")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--samples", type=int, nargs="+", default=[1000, 10000], help="first N test images")
    parser.add_argument("--data-root", default=os.environ.get("SDT_DATA_ROOT"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "backend_parity.json"))
    return parser.parse_args()


def compare(a: np.ndarray, b: np.ndarray, steps: int) -> dict[str, Any]:
    """Equality of two rate arrays as spike counts."""
    ca, cb = np.rint(a * steps).astype(np.int64), np.rint(b * steps).astype(np.int64)
    return {"identical_counts": float((ca == cb).mean()), "max_count_difference": int(np.abs(ca - cb).max()),
            "identical_rows": float((ca == cb).all(axis=1).mean())}


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from sdt_neuro.backends import lava, snntorch_head
    from sdt_neuro.scoring import labelled_reference

    ref = labelled_reference(args.checkpoint, args.data_root)
    config, model, data = ref.config, ref.model, ref.data
    n_max = max(args.samples)
    test = data.test.subset(np.arange(n_max))
    y = test.y.numpy()

    def predictions(act: np.ndarray) -> np.ndarray:
        return ref.score(act, y[: len(act)])["predictions"]

    opts = {"steps": args.steps, "progress": False}
    t0 = time.perf_counter()
    snn = snntorch_head.evaluation_activity(config, model, test.x, {**opts, "data_root": args.data_root})
    snn_seconds = time.perf_counter() - t0
    env_root = os.environ.pop("SDT_DATA_ROOT", None)
    runs: dict[str, Any] = {}
    for n in args.samples:
        for route in ("--data-root", "SDT_DATA_ROOT"):
            if route == "SDT_DATA_ROOT":
                os.environ["SDT_DATA_ROOT"] = str(args.data_root)
            options = {**opts, "data_root": args.data_root if route == "--data-root" else None}
            t0 = time.perf_counter()
            rates = lava.evaluation_activity(config, model, test.x[:n], options)
            seconds = time.perf_counter() - t0
            os.environ.pop("SDT_DATA_ROOT", None)
            agree = float((predictions(rates) == predictions(snn[:n])).mean())
            runs[f"{n} via {route}"] = {"samples": n, "route": route, "lava_seconds": seconds,
                                        "agreement_with_snntorch": agree, **compare(rates, snn[:n], args.steps)}
            print(f"Lava float, {n} images, data root by {route}: identical counts "
                  f"{runs[f'{n} via {route}']['identical_counts']:.6f}, DA prediction agreement {agree:.4f}, "
                  f"{seconds:.1f} s")
    if env_root is not None:
        os.environ["SDT_DATA_ROOT"] = env_root
    result = {"checkpoint": str(args.checkpoint), "sizes": list(config.sizes), "steps": args.steps,
              "snntorch_seconds": snn_seconds, "runs": runs,
              "network": snntorch_head.spec_for_model(config, model, data_root=args.data_root).meta}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
