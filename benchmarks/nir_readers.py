"""Do other NIR readers run the network our file describes? All test images, spike for spike.

For each checkpoint: convert with ``reset="zero"`` (what ``nir.IF`` means since nir 1.0.6), write
the NIR file, and run it

* in our snnTorch backend, read back with ``nir_io.read_nir`` (float32: the reference);
* in each independent reader of ``sdt_neuro.backends.nir_readers`` (Norse and snnTorch's importer
  here; SpikingJelly, which needs Python >= 3.11, through ``--python-311-plus``, an interpreter
  with ``spikingjelly[nir]>=2.0`` and this repository on its path).

Reports, per reader: the share of identical spike counts, of identical rows, DA-average
(neurons assigned with the ANN outputs of the labelled training images, as every backend) and
agreement of its predictions with the reference.

Example (the figures in BENCHMARKS.md):
    python benchmarks/nir_readers.py --checkpoint ~/ckpt/bp1-e1 ~/ckpt/bp2-e1 \
        --data-root /work/shared/datasets --python-311-plus ~/venv312/bin/python

Writes ``benchmarks/results/nir_readers.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
IN_PROCESS = ("norse", "snntorch")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", nargs="+", required=True, help="checkpoint files or run directories")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--samples", type=int, default=None, help="first N test images (default all)")
    parser.add_argument("--readers", nargs="+", default=["norse", "snntorch"], choices=IN_PROCESS)
    parser.add_argument("--python-311-plus", help="a Python >= 3.11 with spikingjelly[nir] for the SpikingJelly reader")
    parser.add_argument("--data-root", default=os.environ.get("SDT_DATA_ROOT"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS / "nir_readers.json"))
    return parser.parse_args()


def spikingjelly_counts(python: str, nir_path: Path, x: np.ndarray, steps: int, threads: int) -> np.ndarray:
    """Run the SpikingJelly reader in another interpreter (it needs Python >= 3.11)."""
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "x.npy", x)
        code = ("import sys, numpy as np, torch; torch.set_num_threads(int(sys.argv[4])); "
                "from sdt_neuro.backends.nir_readers import run_reader; "
                "np.save(sys.argv[3], run_reader('spikingjelly', sys.argv[1], np.load(sys.argv[2]), int(sys.argv[5])))")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run([python, "-c", code, str(nir_path), str(Path(tmp) / "x.npy"), str(Path(tmp) / "c.npy"),
                        str(threads), str(steps)], check=True, env=env)
        return np.load(Path(tmp) / "c.npy")


def check(ckpt: str, args: argparse.Namespace) -> dict[str, Any]:
    """One checkpoint: write its zero-reset NIR file and run it in every reader."""
    import torch

    from sdt_neuro.backends import nir_io
    from sdt_neuro.backends.nir_readers import run_reader
    from sdt_neuro.backends.snntorch_sim import from_spec, spike_counts
    from sdt_neuro.convert import checkpoint_network
    from sdt_neuro.scoring import ann_activity, labelled_reference

    ref = labelled_reference(ckpt, args.data_root)
    config, model, data = ref.config, ref.model, ref.data
    n = args.samples or len(data.test.y)
    x = data.test.x[:n].reshape(n, -1).numpy().astype(np.float32)
    y = data.test.y.numpy()[:n]
    net = checkpoint_network(config, model, data_root=args.data_root, reset="zero")

    def score(act: np.ndarray, reference: np.ndarray | None = None) -> dict[str, Any]:
        return ref.score(act, y, reference)

    entry: dict[str, Any] = {"sizes": list(net.sizes), "samples": n, "readers": {},
                             "ann_da_average": score(ann_activity(config, model, data.test.x[:n]))["da_average"]}
    with tempfile.TemporaryDirectory() as tmp:
        path = nir_io.write_nir(net, Path(tmp) / "net.nir", steps=args.steps)
        back, _ = nir_io.read_nir(path)
        with torch.no_grad():
            ours = np.concatenate([spike_counts(from_spec(back), torch.from_numpy(x[lo: lo + 1000]),
                                                args.steps).numpy() for lo in range(0, n, 1000)]).astype(np.int64)
        reference = score(ours / args.steps * net.scales[-1])
        entry["sdt_neuro_snntorch"] = {"da_average": reference["da_average"]}
        for reader in list(args.readers) + (["spikingjelly"] if args.python_311_plus else []):
            t0 = time.perf_counter()
            try:
                if reader == "spikingjelly":
                    counts = spikingjelly_counts(args.python_311_plus, path, x, args.steps, args.threads)
                else:
                    counts = run_reader(reader, path, x, args.steps)
            except Exception as exc:  # another project's reader: record how it fails, go on
                entry["readers"][reader] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
                print(f"{Path(ckpt).name}, {reader}: fails ({entry['readers'][reader]['error']})")
                continue
            scored = score(counts / args.steps * net.scales[-1], reference["predictions"])
            row = {"seconds": time.perf_counter() - t0, "identical_counts": float((counts == ours).mean()),
                   "identical_rows": float((counts == ours).all(axis=1).mean()),
                   "max_count_difference": int(np.abs(counts - ours).max()),
                   "da_average": scored["da_average"], "agreement": scored.get("agreement_with_ann")}
            entry["readers"][reader] = row
            print(f"{Path(ckpt).name} ({'-'.join(map(str, net.sizes))}), {reader}: identical counts "
                  f"{row['identical_counts']:.6f}, rows {row['identical_rows']:.4f}, DA {row['da_average']:.4f} "
                  f"(ours {reference['da_average']:.4f}), agreement {row['agreement']}, {row['seconds']:.0f} s")
    return entry


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    results = {"steps": args.steps, "threads": args.threads, "note": "reference: sdt-neuro's snnTorch backend, float32",
               "checkpoints": {str(c): check(c, args) for c in args.checkpoint}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
