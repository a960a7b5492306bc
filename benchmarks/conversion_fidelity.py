"""Conversion fidelity: DA of converted networks against their ANN, per read-out, backend and T.

Each point is ``sdt_neuro.scoring.evaluate_checkpoint`` (what ``sdt-neuro evaluate CKPT --backend
B --steps T --v-init V --output-scale S --readout R`` runs) on all test images of the checkpoint's
own data set: DA-average, the ANN's DA-average on the same images and weights, the gap in points,
agreement with the ANN's predictions and the seconds the spiking simulation took. Subtractive
reset throughout (issue 20, figure 1).

Example (the figures in BENCHMARKS.md):
    python benchmarks/conversion_fidelity.py --data-root /work/shared/datasets \\
        --network mnist-1layer=~/ckpt/bp1-e1 --network mnist-2layer=~/ckpt/bp2-e1 \\
        --network fashion-1layer=~/ckpt/fmnist-fast3 --network fashion-2layer=~/ckpt/fmnist-bp2-e3

Writes ``benchmarks/results/conversion_fidelity.json`` (points are appended as they finish, so an
interrupted run keeps what it measured) and ``conversion_fidelity.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
#: READOUT:V_INIT:OUTPUT_SCALE: the count read-out plain and with both earlier levers, and the membrane one
SETTINGS = ("count:0:none", "count:0.5:max", "membrane:0.5:none")
TARGETS = {32: 0.3, 8: 1.0}  # issue 20 figure 1: points of DA within the ANN's, per T


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--network", action="append", required=True, metavar="NAME=CHECKPOINT",
                        help="a named checkpoint (repeatable)")
    parser.add_argument("--backends", nargs="+", default=["snntorch", "lava"], choices=("snntorch", "lava"))
    parser.add_argument("--steps", type=int, nargs="+", default=[32])
    parser.add_argument("--extra-steps", nargs="*", default=["mnist-1layer=8"], metavar="NAME=T",
                        help="further T for one network (default: MNIST 784-2000 at T=8, the issue's figure)")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), metavar="READOUT:V_INIT:SCALE",
                        help="conversion settings to measure (default: %(default)s)")
    parser.add_argument("--append", action="store_true", help="add the points to an existing JSON of --out")
    parser.add_argument("--samples", type=int, help="first N test images (default all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-root", default=os.environ.get("SDT_DATA_ROOT"))
    parser.add_argument("--out", default=str(RESULTS / "conversion_fidelity"), help="output path without extension")
    return parser.parse_args()


def run_point(name: str, checkpoint: str, backend: str, steps: int, setting: tuple[str, float, str],
              data_root: str | None, samples: int | None) -> dict[str, Any]:
    from sdt_neuro.scoring import evaluate_checkpoint

    readout, v_init, output_scale = setting
    options = {"steps": steps, "v_init": v_init, "output_scale": output_scale, "readout": readout,
               "reset": "subtract", "data_root": data_root, "progress": False}
    res = evaluate_checkpoint(checkpoint, backend=backend, samples=samples, data_root=data_root, options=options)
    gap = 100 * (res["da_average"] - res["ann_da_average"])
    point = {"network": name, "checkpoint": checkpoint, "dataset": res["dataset"], "backend": backend,
             "steps": steps, "readout": readout, "v_init": v_init, "output_scale": output_scale,
             "samples": res["samples"], "da_average": res["da_average"], "ann_da_average": res["ann_da_average"],
             "gap_points": round(gap, 2), "agreement_with_ann": res.get("agreement_with_ann"),
             "seconds": round(res["seconds"], 1), "within_target": abs(gap) <= TARGETS.get(steps, 0.3) + 1e-9}
    print(json.dumps(point), flush=True)
    return point


def table(points: list[dict[str, Any]]) -> str:
    lines = ["| network | backend | T | read-out | v_init | output scale | DA | ANN DA | gap (points) | agreement "
             "| s |", "|---|---|---:|---|---:|---|---:|---:|---:|---:|---:|"]
    for p in points:
        lines.append(f"| {p['network']} | {p['backend']} | {p['steps']} | {p['readout']} | {p['v_init']} | "
                     f"{p['output_scale']} | {p['da_average']:.4f} | {p['ann_da_average']:.4f} | "
                     f"{p['gap_points']:+.2f} | {p['agreement_with_ann']:.4f} | {p['seconds']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    networks = dict(item.split("=", 1) for item in args.network)
    networks = {k: str(Path(v).expanduser()) for k, v in networks.items()}
    extra = [(k, int(t)) for k, t in (item.split("=", 1) for item in args.extra_steps) if k in networks]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = [(r, float(v), sc) for r, v, sc in (item.split(":") for item in args.settings)]
    record: dict[str, Any] = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
                              "started": time.strftime("%Y-%m-%d %H:%M"), "reset": "subtract", "points": []}
    if args.append and out.with_suffix(".json").is_file():
        record = json.loads(out.with_suffix(".json").read_text())
    plan = [(name, steps) for name in networks for steps in args.steps] + extra
    for name, steps in plan:
        for backend in args.backends:
            for setting in settings:
                record["points"].append(run_point(name, networks[name], backend, steps, setting, args.data_root,
                                                  args.samples))
                out.with_suffix(".json").write_text(json.dumps(record, indent=1))
    out.with_suffix(".md").write_text(table(record["points"]))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
