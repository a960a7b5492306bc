"""Train the paper's 784-2000 network without labels, then run it as a spiking network in Lava.

    python examples/mnist_lava.py                      # about 2-3 minutes on 2 CPU cores
    python examples/mnist_lava.py --checkpoint runs/latest --samples 10000

Steps: load MNIST (full set from --data-root / SDT_DATA_ROOT / a download, else the bundled
3,000/1,000-digit sample); train ``bp-1layer`` for ``--epochs`` with the self-defined target
(k-WTA + homeostasis), or reuse ``--checkpoint``; convert it to integrate-and-fire neurons; run
the first ``--samples`` test images through snnTorch and Lava (floating and fixed point, B samples
side by side per Lava process); score every backend with the same direct-association read-out.
Writes receptive fields, a Lava spike raster and the Lava confusion matrix as PNGs to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sdt_neuro.data import load_dataset, stratified_indices
from sdt_neuro.evaluate import collapse_message
from sdt_neuro.plots import plot_confusion_matrix, plot_receptive_fields, plot_spike_raster
from sdt_neuro.presets import preset_config
from sdt_neuro.scoring import ann_activity, score_activity
from sdt_neuro.training.checkpoint import load_trained_model
from sdt_neuro.training.loop import train


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Self-defined-target training on MNIST, run in Lava.")
    ap.add_argument("--samples", type=int, default=10000, help="test images run through the spiking backends")
    ap.add_argument("--steps", type=int, default=32, help="time steps T per image")
    ap.add_argument("--batch", type=int, default=256, help="images side by side in each Lava process (B)")
    ap.add_argument("--fixed-point", action=argparse.BooleanOptionalAction, default=True,
                    help="also run Lava's fixed-point (Loihi 2 8-bit) simulation")
    ap.add_argument("--data-root", help="folder holding MNIST/raw (default: SDT_DATA_ROOT or a download)")
    ap.add_argument("--checkpoint", help="reuse a trained checkpoint instead of training")
    ap.add_argument("--epochs", type=int, default=1, help="training epochs when no --checkpoint (default 1)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--out", default="runs/mnist_lava", help="output folder for PNGs and results.json")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


def trained_model(args: argparse.Namespace, data: Any, out: Path) -> tuple[Any, Any]:
    if args.checkpoint:
        config, model, _ = load_trained_model(args.checkpoint)
        print(f"reusing {args.checkpoint} ({config.preset or 'custom'}, {'-'.join(map(str, config.sizes))})")
        return config, model
    config = preset_config("bp-1layer", epochs=args.epochs, seed=args.seed, threads=args.threads)
    print(f"training bp-1layer (784-2000, k={config.wta_rule.k}, gamma={config.wta_rule.gamma}) "
          f"for {args.epochs} epoch(s) without labels ...")
    result = train(config, out_dir=out / "train", dataset=data, progress=True, plots=False)
    m = result.metrics[-1]
    print(f"  epoch {m['epoch']}: DA avg {m['test_da_average']:.4f} on {m.get('test_samples', len(data.test))} "
          f"test images, {m['epoch_seconds']:.0f} s/epoch")
    return result.config, result.learner.model.cpu().eval()


def run_lava(net: Any, x: np.ndarray, steps: int, batch: int, fixed: bool, seed: int) -> tuple[np.ndarray, float]:
    from tqdm.auto import tqdm

    from sdt_neuro.backends.lava.runner import LavaNetwork

    with LavaNetwork(net, steps=steps, batch=min(batch, len(x)), fixed_point=fixed, seed=seed) as lava_net:
        t0 = time.perf_counter()
        with tqdm(total=len(x), desc=f"Lava {'fixed_pt' if fixed else 'floating_pt'}", unit="img") as bar:
            counts = lava_net.counts(x, progress=bar)
        return (counts / steps).astype(np.float32), time.perf_counter() - t0


def main() -> None:
    args = parse_args()
    t_start = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset("mnist", args.data_root)
    full = len(data.train) == 60000
    print(f"MNIST: {'full set' if full else 'BUNDLED SAMPLE (no data root or download)'} from {data.source}: "
          f"{len(data.train)} train / {len(data.test)} test images")
    config, model = trained_model(args, data, out)
    n = min(args.samples, len(data.test))
    test = data.test.subset(np.arange(n))
    labelled = data.train.subset(stratified_indices(data.train.y, fraction=1.0, seed=args.seed))
    label_act = ann_activity(config, model, labelled.x)
    rule = config.wta_rule

    def score(act: np.ndarray, ref: np.ndarray | None) -> dict[str, Any]:
        return score_activity(label_act, labelled.y.numpy(), act, test.y.numpy(), rule.n_classes, rule.k, ref)

    rows: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    ann = score(ann_activity(config, model, test.x), None)
    rows["ANN (PyTorch)"] = {**ann, "seconds": time.perf_counter() - t0}
    reference = ann["predictions"]
    options = {"steps": args.steps, "encoding": "current", "seed": args.seed, "progress": True}
    try:
        from sdt_neuro.backends import snntorch_head

        t0 = time.perf_counter()
        snn = snntorch_head.evaluation_activity(config, model, test.x, options)
        rows["snnTorch"] = {**score(snn, reference), "seconds": time.perf_counter() - t0}
    except ImportError as exc:
        print(f"snnTorch column skipped: {exc}")

    from sdt_neuro.backends.lava.commands import spiking_network

    net = spiking_network(config, model, data_root=args.data_root)
    x = test.x.reshape(n, -1).numpy().astype(np.float64)
    for fixed in ([False, True] if args.fixed_point else [False]):
        rates, seconds = run_lava(net, x, args.steps, args.batch, fixed, args.seed)
        row = {**score(rates, reference), "seconds": seconds}
        if "snnTorch" in rows:
            row["agreement_with_snntorch"] = float((row["predictions"] == rows["snnTorch"]["predictions"]).mean())
        rows["Lava fixed_pt" if fixed else "Lava floating_pt"] = row

    print(f"\n{n} test images, T={args.steps} steps, direct-current input, Lava B={min(args.batch, n)}:")
    print(f"{'backend':18s} {'DA avg':>7s} {'DA max':>7s} {'agree ANN':>10s} {'samples/s':>10s}")
    for name, row in rows.items():
        agree = row.get("agreement_with_ann", 1.0)
        print(f"{name:18s} {row['da_average']:7.4f} {row['da_max']:7.4f} {agree:10.4f} {n / row['seconds']:10.1f}")
        if row.get("collapsed"):
            print(f"  warning: {collapse_message(row['collapse_reasons'], name)}")
    if "snnTorch" in rows:
        agree = rows["Lava floating_pt"]["agreement_with_snntorch"]
        print(f"Lava floating_pt vs snnTorch prediction agreement (same encoding): {agree:.4f}")

    lava_name = "Lava fixed_pt" if args.fixed_point else "Lava floating_pt"
    plot_receptive_fields(model.layers[0].weight.detach().numpy(), out / "receptive_fields.png")
    plot_confusion_matrix(np.asarray(rows[lava_name]["confusion_matrix"]), out / "confusion_matrix.png",
                          title=f"{lava_name}, {n} test images, DA avg {rows[lava_name]['da_average']:.3f}")
    from sdt_neuro.backends.lava.runner import LavaNetwork

    with LavaNetwork(net, steps=args.steps, batch=5, fixed_point=args.fixed_point, record="spikes") as lava_net:
        spikes = lava_net.spikes(x[:5])
    plot_spike_raster(spikes, out / "spike_raster.png", labels=test.y[:5].tolist())
    summary = {name: {k: v for k, v in row.items() if k not in ("predictions",)} for name, row in rows.items()}
    (out / "results.json").write_text(json.dumps({"samples": n, "steps": args.steps, "batch": args.batch,
                                                  "data": data.source, "rows": summary}, indent=2, default=float))
    print(f"wrote receptive_fields.png, spike_raster.png, confusion_matrix.png and results.json to {out} "
          f"({time.perf_counter() - t_start:.0f} s in all)")


if __name__ == "__main__":
    main()
