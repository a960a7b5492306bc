"""Reset-to-zero neurons on Lava's stock processes: DA against T, and the bit-accurate Lava run.

For a checkpoint's network converted with ``reset="zero"`` (spike at ``v > theta``, then
``v = 0``: Lava's stock LIF, NIR's IF):

1. the ANN's DA-average on the test images;
2. DA-average against T in float (snnTorch, ``reset_mechanism="zero"``) and in Loihi 2 fixed point
   (the integer oracle of Lava's stock Dense + LIFReset arithmetic, ``quantize_stock``);
3. the network run in Lava, built from stock processes only (``Dense`` + ``LIFReset``,
   ``PyDenseModelBitAcc`` + ``PyLifResetModelBitAcc`` in fixed point) at ``--lava-steps``: DA,
   time, and the share of spike counts identical to the integer oracle.

Example (the figures in BENCHMARKS.md):
    python benchmarks/zero_reset.py --checkpoint ~/ckpt/bp1-e1 --data-root /work/shared/datasets

Writes ``benchmarks/results/zero_reset.json`` and ``zero_reset.png`` (DA against T).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="checkpoint file or run directory (one hidden-free MLP)")
    parser.add_argument("--steps", type=int, nargs="+", default=[8, 16, 32, 64, 128], help="T of the curve")
    parser.add_argument("--lava-steps", type=int, default=32, help="T of the Lava run")
    parser.add_argument("--lava-samples", type=int, default=None, help="first N test images in Lava (default all)")
    parser.add_argument("--lava-float", action="store_true", help="also run Lava floating point")
    parser.add_argument("--data-root", default=os.environ.get("SDT_DATA_ROOT"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS / "zero_reset.json"))
    return parser.parse_args()


def fixed_counts(qnet: Any, payloads: np.ndarray, steps: int) -> np.ndarray:
    """Integer-oracle counts ``[n, N]`` of a one-layer stock network for static graded inputs:
    ``simulate_fixed`` with the synaptic input computed once (it is the same at every step)."""
    from sdt_neuro.backends.lava.fixed_point import if_step_fixed, synaptic_input

    (layer,) = qnet.layers
    a = synaptic_input(layer.weight_mant.astype(np.float64), payloads.T, layer.shift, layer.rounding)
    bias = np.left_shift(layer.bias_mant.astype(np.int64), layer.bias_exp)[:, None]
    v = np.zeros(a.shape, dtype=np.int64)
    counts = np.zeros(a.shape, dtype=np.int64)
    for _ in range(steps):
        counts += if_step_fixed(v, a, bias, layer.vth, reset="zero")
    return counts.T


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from sdt_neuro.backends import snntorch_head
    from sdt_neuro.backends.lava.encoding import graded_payload
    from sdt_neuro.backends.lava.fixed_point import quantize_stock
    from sdt_neuro.backends.lava.runner import LavaNetwork
    from sdt_neuro.convert import checkpoint_network
    from sdt_neuro.scoring import ann_activity, labelled_reference

    ref = labelled_reference(args.checkpoint, args.data_root)
    config, model = ref.config, ref.model
    test_x, y = ref.data.test.x, ref.data.test.y.numpy()
    ann = ann_activity(config, model, test_x)

    def score(act: np.ndarray) -> dict[str, Any]:
        return ref.score(act, y[: len(act)])

    ann_da = score(ann)["da_average"]
    print(f"ANN DA-average {ann_da:.4f} on {len(y)} test images")
    net = checkpoint_network(config, model, data_root=args.data_root, reset="zero")
    if len(net.layers) != 1:
        raise SystemExit("this benchmark's fixed-point curve handles one-layer networks")
    qnet = quantize_stock(net)
    payloads = graded_payload(test_x.reshape(len(test_x), -1).numpy().astype(np.float64))
    curve = []
    for steps in args.steps:
        snn = snntorch_head.evaluation_activity(config, model, test_x, {"steps": steps, "reset": "zero",
                                                                         "progress": False, "device": "cpu"})
        fixed = fixed_counts(qnet, payloads, steps) / steps
        row = {"steps": steps, "float": score(snn)["da_average"], "fixed": score(fixed)["da_average"]}
        curve.append(row)
        print(f"T={steps}: float {row['float']:.4f} ({row['float'] - ann_da:+.4f})  "
              f"fixed {row['fixed']:.4f} ({row['fixed'] - ann_da:+.4f})")
    n = args.lava_samples or len(y)
    flat = test_x[:n].reshape(n, -1).numpy().astype(np.float64)
    lava_runs = {}
    for fixed_point in ([True, False] if args.lava_float else [True]):
        t0 = time.perf_counter()
        with LavaNetwork(net, steps=args.lava_steps, fixed_point=fixed_point) as lava_net:
            counts = lava_net.counts(flat)
            models = sorted({f"{m.__module__}.{m.__qualname__}"
                             for m in lava_net.graph.run_cfg.exception_proc_model_map.values()})
        seconds = time.perf_counter() - t0
        if fixed_point:
            oracle = fixed_counts(qnet, payloads[:n], args.lava_steps)
        else:
            oracle = np.rint(snntorch_head.evaluation_activity(
                config, model, test_x[:n], {"steps": args.lava_steps, "reset": "zero", "progress": False,
                                            "device": "cpu"}) * args.lava_steps).astype(np.int64)
        key = "fixed" if fixed_point else "float"
        da = score(counts / args.lava_steps)["da_average"] if n == len(y) else None
        lava_runs[key] = {"samples": n, "steps": args.lava_steps, "seconds": seconds, "da_average": da,
                          "identical_counts": float((counts == oracle).mean()),
                          "max_count_difference": int(np.abs(counts - oracle).max()),
                          "oracle": "integer oracle of the stock arithmetic" if fixed_point else "snnTorch float32",
                          "process_models": models}
        print(f"Lava {key}, stock processes, T={args.lava_steps}, {n} images: DA {da}  identical counts "
              f"{lava_runs[key]['identical_counts']:.6f}  {seconds:.0f} s")
    result = {"checkpoint": str(args.checkpoint), "sizes": list(config.sizes), "ann_da_average": ann_da,
              "curve": curve, "lava": lava_runs, "quantized": qnet.summary(), "threads": args.threads,
              "load_after": os.getloadavg()[0]}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    _plot(curve, ann_da, out.with_suffix(".png"))
    print(f"wrote {out}")


def _plot(curve: list[dict[str, Any]], ann_da: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    steps = [r["steps"] for r in curve]
    ax.plot(steps, [r["float"] for r in curve], "o-", label="zero reset, float (snnTorch)")
    ax.plot(steps, [r["fixed"] for r in curve], "s--", label="zero reset, Loihi 2 fixed point")
    ax.axhline(ann_da, color="k", lw=0.8, label="ANN")
    ax.axhline(ann_da - 0.005, color="k", lw=0.6, ls=":", label="ANN - 0.5 pt")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("time steps T")
    ax.set_ylabel("DA-average (test)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
