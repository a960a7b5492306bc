"""Lava backend figures: accuracy against the ANN / snnTorch and throughput against the batch size B.

    flock /tmp/sdt-heavy.lock python benchmarks/lava_throughput.py --checkpoint CKPT --data-root DIR

1. All ``--samples`` test images at T steps through Lava ``floating_pt`` and ``fixed_pt`` (one
   compiled network each, ``--batch`` side by side): DA average/max, agreement with the ANN and with
   snnTorch on the same (direct-current) encoding, wall-clock seconds.
2. Samples per second against B on the first ``--sweep-samples`` images (compile time excluded).

Writes ``lava_throughput.json`` and ``lava_throughput.png`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sdt_neuro.data import load_dataset, stratified_indices
from sdt_neuro.evaluate import agreement
from sdt_neuro.plots import plot_curve
from sdt_neuro.scoring import ann_activity, score_activity
from sdt_neuro.training.checkpoint import load_trained_model


def lava_run(net: Any, x: np.ndarray, steps: int, batch: int, fixed_point: bool,
             event_driven: bool = True) -> tuple[np.ndarray, float, float]:
    """(rates, run seconds, compile seconds) of ``x`` through one compiled Lava network."""
    from tqdm.auto import tqdm

    from sdt_neuro.backends.lava.runner import LavaNetwork

    with LavaNetwork(net, steps=steps, batch=batch, fixed_point=fixed_point, event_driven=event_driven) as lava_net:
        t0 = time.perf_counter()
        with tqdm(total=len(x), desc=f"lava {'fixed' if fixed_point else 'float'} B={batch}", unit="sample") as bar:
            counts = lava_net.counts(x, progress=bar)
        seconds = time.perf_counter() - t0
        return (counts / steps).astype(np.float32), seconds, lava_net.compile_seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="/tmp/bp1-e1-ckpt/checkpoint.pt")
    ap.add_argument("--data-root", default=os.environ.get("SDT_DATA_ROOT"))
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--batch", type=int, default=128, help="B for the full-test-set runs")
    ap.add_argument("--dense-input", action="store_true",
                    help="send the input every step and compute every step (the path before event-driven input)")
    ap.add_argument("--sweep", default="1,16,64,128,256,512", help="batch sizes of the throughput sweep")
    ap.add_argument("--sweep-samples", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (ANN / snnTorch)")
    ap.add_argument("--skip-snntorch", action="store_true")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from sdt_neuro.backends.lava.commands import spiking_network

    config, model, _ = load_trained_model(args.checkpoint)
    data = load_dataset(config.dataset, args.data_root)
    test = data.test.subset(np.arange(args.samples))
    labelled = data.train.subset(stratified_indices(data.train.y, fraction=1.0, seed=0))
    label_act = ann_activity(config, model, labelled.x)
    net = spiking_network(config, model, data_root=args.data_root)
    x = test.x.reshape(len(test), -1).numpy().astype(np.float64)
    y = test.y.numpy()

    def score(act: np.ndarray, ref: np.ndarray | None = None) -> dict[str, Any]:
        out = score_activity(label_act, labelled.y.numpy(), act, y, config.wta_rule.n_classes, config.wta_rule.k, ref)
        out.pop("confusion_matrix")
        return out

    t0 = time.perf_counter()
    ann = score(ann_activity(config, model, test.x))
    rows: dict[str, Any] = {"ann": {**ann, "seconds": time.perf_counter() - t0}}
    if not args.skip_snntorch:
        from sdt_neuro.backends import snntorch_head

        t0 = time.perf_counter()
        snn_act = snntorch_head.evaluation_activity(config, model, test.x, {"steps": args.steps, "encoding": "current",
                                                                            "progress": True})
        rows["snntorch"] = {**score(snn_act, ann["predictions"]), "seconds": time.perf_counter() - t0}
    for fixed in (False, True):
        rates, seconds, compile_s = lava_run(net, x, args.steps, args.batch, fixed, not args.dense_input)
        row = {**score(rates, ann["predictions"]), "seconds": seconds, "compile_seconds": compile_s,
               "samples_per_second": len(x) / seconds, "batch": args.batch}
        if "snntorch" in rows:
            row["agreement_with_snntorch"] = agreement(row["predictions"], rows["snntorch"]["predictions"])
        rows["lava_fixed" if fixed else "lava_float"] = row
    sweep: dict[str, list[float]] = {"float": [], "fixed": []}
    batches = [int(b) for b in args.sweep.split(",")]
    xs = x[: args.sweep_samples]
    for fixed in (False, True):
        for b in batches:
            n = 64 if b < 16 else len(xs)  # B=1 is slow: time fewer samples
            _, seconds, _ = lava_run(net, xs[:n], args.steps, b, fixed, not args.dense_input)
            sweep["fixed" if fixed else "float"].append(n / seconds)
    for row in rows.values():
        row.pop("predictions", None)
    result = {"checkpoint": args.checkpoint, "samples": len(x), "steps": args.steps, "encoding": "current",
              "event_driven": not args.dense_input,
              "torch_threads": args.threads, "openblas_threads_env": os.environ.get("OPENBLAS_NUM_THREADS"),
              "machine": platform.processor() or platform.machine(),
              "cpu_count": os.cpu_count(), "load_average_at_end": os.getloadavg(), "rows": rows,
              "sweep": {"batches": batches, "samples": args.sweep_samples, "samples_per_second": sweep}}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "lava_throughput_dense" if args.dense_input else "lava_throughput"
    (out / f"{name}.json").write_text(json.dumps(result, indent=2, default=float))
    plot_curve(batches, {"Lava floating_pt": sweep["float"], "Lava fixed_pt": sweep["fixed"]},
               out / f"{name}.png", "batch size B (samples side by side)", "samples / s", logx=True)
    print(f"{'':12s} {'DA avg':>7s} {'DA max':>7s} {'agr ANN':>8s} {'agr snn':>8s} {'s':>7s}")
    for name, row in rows.items():
        print(f"{name:12s} {row['da_average']:7.4f} {row['da_max']:7.4f} {row.get('agreement_with_ann', 1):8.4f} "
              f"{row.get('agreement_with_snntorch', float('nan')):8.4f} {row['seconds']:7.1f}")
    print("B:", batches)
    print("float samples/s:", [round(v, 1) for v in sweep["float"]])
    print("fixed samples/s:", [round(v, 1) for v in sweep["fixed"]])
    print(f"wrote {out / name}.json and {out / name}.png")


if __name__ == "__main__":
    main()
