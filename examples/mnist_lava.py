"""Train the paper's 784-2000 network without labels, then run it as a spiking network in Lava.

    python examples/mnist_lava.py                      # about 2 minutes on 2 CPU cores
    python examples/mnist_lava.py --checkpoint runs/latest --samples 10000

Steps: load MNIST (full set from --data-root / SDT_DATA_ROOT / a download, else the bundled
3,000/1,000-digit sample); train ``bp-quick`` (``bp-sample`` on the bundled sample) with the
self-defined target (k-WTA + homeostasis), or reuse ``--checkpoint``; convert it to
integrate-and-fire neurons; run the first ``--samples`` test images through snnTorch and Lava
(floating and fixed point, B samples side by side per Lava process); score every backend with the
same direct-association read-out. Writes to ``--out``: ``index.html`` (the table and every
picture on one page), what the output neurons learned, the Lava spike raster, the confusion matrix,
DA against the number of time steps, ``results.json``, and the training run under ``train/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sdt_neuro.atomic import write_text
from sdt_neuro.data import SAMPLE_SOURCE, load_dataset
from sdt_neuro.errors import ConfigError, SdtError
from sdt_neuro.evaluate import assign_neurons, collapse_message
from sdt_neuro.gallery import neuron_gallery
from sdt_neuro.plots import plot_confusion_matrix, plot_curve, plot_spike_raster
from sdt_neuro.presets import preset_config
from sdt_neuro.report import table_html, write_report
from sdt_neuro.scoring import ann_activity, score_activity
from sdt_neuro.training.checkpoint import load_trained_model
from sdt_neuro.training.loop import learned_change, train
from sdt_neuro.training.run_data import training_split


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Self-defined-target training on MNIST, run in Lava.")
    ap.add_argument("--samples", type=int, default=10000, help="test images run through the spiking backends")
    ap.add_argument("--steps", type=int, default=32, help="time steps T per image")
    ap.add_argument("--batch", type=int, default=128, help="images side by side in each Lava process (B)")
    ap.add_argument("--fixed-point", action=argparse.BooleanOptionalAction, default=True,
                    help="also run Lava's fixed-point (Loihi 2 8-bit) simulation")
    ap.add_argument("--data-root", help="folder holding MNIST/raw (default: SDT_DATA_ROOT or a download)")
    ap.add_argument("--checkpoint", help="reuse a trained checkpoint instead of training")
    ap.add_argument("--epochs", type=int, help="training epochs (default: the preset's, 12 on MNIST)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--curve-steps", type=steps_list, default="1,2,4,8,16,32,64",
                    help="T values of the DA-against-T picture, comma-separated")
    ap.add_argument("--curve-samples", type=int, default=2000, help="test images of the DA-against-T picture")
    ap.add_argument("--out", default="runs/mnist_lava", help="output folder for the page, PNGs and results.json")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.checkpoint and args.epochs is not None:
        ap.error("--epochs sets the training of a new network; --checkpoint reuses a trained one")
    return args


#: the page's pictures, by file under --out: each run writes the ones it draws afresh
PICTURES = ("neurons.png", "receptive_fields.png", "spike_raster.png", "confusion_matrix.png", "da_vs_steps.png")


def steps_list(text: str) -> list[int]:
    """``"1,2,4"`` as ``[1, 2, 4]``: time steps of at least 1."""
    try:
        steps = [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if not steps or min(steps) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every T must be >= 1")
    return steps


def trained_model(args: argparse.Namespace, data: Any, out: Path) -> tuple[Any, Any, str]:
    """The network to run, and how it was trained (for the page)."""
    if args.checkpoint:
        config, model, raw = load_trained_model(args.checkpoint)
        if config.dataset != "mnist":
            raise ConfigError(f"{args.checkpoint} was trained on {config.dataset}; the main job runs MNIST (score "
                              f"that checkpoint with: sdt-neuro evaluate {args.checkpoint} --backend lava)")
        print(f"reusing {args.checkpoint} ({config.preset or 'custom'}, {'-'.join(map(str, config.sizes))})")
        source = raw.get("data_source", "a source its checkpoint does not record")
        return config, model, f"reused from {args.checkpoint}: trained without labels on MNIST from {source}"
    preset = "bp-quick" if data.source != SAMPLE_SOURCE else "bp-sample"
    config = preset_config(preset, epochs=args.epochs, seed=args.seed, threads=args.threads)
    print(f"training {preset} (784-2000, k={config.wta_rule.k}, batch {config.batch_size}) for {config.epochs} "
          "epoch(s) without labels ...")
    result = train(config, out_dir=out / "train", dataset=data, progress=True, overwrite=True)  # the job's own
    m = result.metrics[-1]
    print(f"  epoch {m['epoch']}: DA avg {m['test_da_average']:.4f}, "
          f"{sum(r['epoch_seconds'] for r in result.metrics):.0f} s of training and per-epoch scoring")
    images = len(training_split(result.config, data))
    return (result.config, result.learner.model.cpu().eval(),
            f"trained without labels on {images} images ({data.source})")


def run_lava(net: Any, x: np.ndarray, steps: int, batch: int, fixed: bool, seed: int) -> tuple[np.ndarray, float]:
    from tqdm.auto import tqdm

    from sdt_neuro.backends.lava.runner import LavaNetwork

    with LavaNetwork(net, steps=steps, batch=min(batch, len(x)), fixed_point=fixed, seed=seed) as lava_net:
        t0 = time.perf_counter()
        with tqdm(total=len(x), desc=f"Lava {'fixed_pt' if fixed else 'floating_pt'}", unit="img") as bar:
            counts = lava_net.counts(x, progress=bar)
        return (counts / steps).astype(np.float32), time.perf_counter() - t0


def da_against_steps(args: argparse.Namespace, config: Any, model: Any, test: Any, score: Any,
                     out: Path) -> dict[str, Any]:
    """snnTorch DA on the first ``--curve-samples`` images for each T, and the ANN's on the same images."""
    from sdt_neuro.backends import snntorch_head

    n = min(args.curve_samples, len(test))
    x, steps = test.x[:n], args.curve_steps
    ann = score(ann_activity(config, model, x), None, n)["da_average"]
    da = [score(snntorch_head.evaluation_activity(config, model, x, {"steps": t, "seed": args.seed}), None,
                n)["da_average"] for t in steps]
    plot_curve(steps, {"snnTorch (spiking)": da, "ANN": [ann] * len(steps)}, out / "da_vs_steps.png",
               f"time steps T ({n} test images)", "DA average", logx=True)
    return {"steps": steps, "samples": n, "snntorch_da_average": da, "ann_da_average": ann}


def main() -> None:
    args = parse_args()
    try:
        run(args)
    except SdtError as exc:  # bad input, data or checkpoint: the reason, not a traceback
        sys.exit(f"mnist_lava: error: {exc}")


def run(args: argparse.Namespace) -> None:
    t_start = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    from sdt_neuro.backends.lava.build import check_lava_installed

    check_lava_installed()  # before minutes of training: Lava runs only on Python 3.10 with sdt-neuro[lava]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in PICTURES:  # a picture this run does not draw must not show an earlier run's
        (out / name).unlink(missing_ok=True)
    data = load_dataset("mnist", args.data_root)
    full = data.source != SAMPLE_SOURCE
    print(f"MNIST: {'full set' if full else 'BUNDLED SAMPLE (no data root or download)'} from {data.source}: "
          f"{len(data.train)} train / {len(data.test)} test images")
    config, model, trained = trained_model(args, data, out)
    if config.arch != "mlp":
        raise ConfigError(f"the main job converts MLP checkpoints to spiking networks; {args.checkpoint} holds a "
                       f"{config.arch}")
    n = min(args.samples, len(data.test))
    test = data.test.subset(np.arange(n))
    labelled = data.train  # every training label assigns the neurons (the read-out, not the training)
    label_act = ann_activity(config, model, labelled.x)
    rule = config.wta_rule

    def score(act: np.ndarray, ref: np.ndarray | None, count: int = n) -> dict[str, Any]:
        return score_activity(label_act, labelled.y.numpy(), act, test.y.numpy()[:count], rule.n_classes, rule.k, ref)

    rows: dict[str, dict[str, Any]] = {}
    activity: dict[str, np.ndarray] = {}
    t0 = time.perf_counter()
    activity["ANN (PyTorch)"] = ann_activity(config, model, test.x)
    rows["ANN (PyTorch)"] = {**score(activity["ANN (PyTorch)"], None), "seconds": time.perf_counter() - t0}
    reference = rows["ANN (PyTorch)"]["predictions"]
    curve = None
    try:
        from sdt_neuro.backends import snntorch_head

        t0 = time.perf_counter()
        activity["snnTorch"] = snntorch_head.evaluation_activity(
            config, model, test.x, {"steps": args.steps, "encoding": "current", "seed": args.seed, "progress": True})
        rows["snnTorch"] = {**score(activity["snnTorch"], reference), "seconds": time.perf_counter() - t0}
        curve = da_against_steps(args, config, model, test, score, out)
    except ImportError as exc:
        print(f"snnTorch column skipped: {exc}")

    from sdt_neuro.backends.lava.commands import spiking_network

    net = spiking_network(config, model, data_root=args.data_root)
    x = test.x.reshape(n, -1).numpy().astype(np.float64)
    for fixed in ([False, True] if args.fixed_point else [False]):
        name = "Lava fixed_pt" if fixed else "Lava floating_pt"
        activity[name], seconds = run_lava(net, x, args.steps, args.batch, fixed, args.seed)
        rows[name] = {**score(activity[name], reference), "seconds": seconds}
        if "snnTorch" in rows:
            rows[name]["agreement_with_snntorch"] = float((rows[name]["predictions"] ==
                                                            rows["snnTorch"]["predictions"]).mean())

    print(f"\n{n} test images, T={args.steps} steps, direct-current input, Lava B={min(args.batch, n)}:")
    print(f"{'backend':18s} {'DA avg':>7s} {'DA max':>7s} {'agree ANN':>10s} {'samples/s':>10s}")
    for name, row in rows.items():
        row["agreement_with_ann"] = row.get("agreement_with_ann", 1.0)
        print(f"{name:18s} {row['da_average']:7.4f} {row['da_max']:7.4f} {row['agreement_with_ann']:10.4f} "
              f"{n / row['seconds']:10.1f}")
        if row.get("collapsed"):
            print(f"  warning: {collapse_message(row['collapse_reasons'], name)}")
    if "snnTorch" in rows:
        print(f"Lava floating_pt vs snnTorch prediction agreement (same encoding): "
              f"{rows['Lava floating_pt']['agreement_with_snntorch']:.4f}")

    lava_name = "Lava fixed_pt" if args.fixed_point else "Lava floating_pt"
    neuron_gallery(out, test.x.numpy(), activity[lava_name], assign_neurons(label_act, labelled.y.numpy(),
                                                                            rule.n_classes),
                   learned_change(model, config) if config.arch == "mlp" else None)
    plot_confusion_matrix(np.asarray(rows[lava_name]["confusion_matrix"]), out / "confusion_matrix.png",
                          title=f"{lava_name}, {n} test images, DA avg {rows[lava_name]['da_average']:.3f}")
    from sdt_neuro.backends.lava.runner import LavaNetwork

    with LavaNetwork(net, steps=args.steps, batch=5, fixed_point=args.fixed_point, record="spikes") as lava_net:
        spikes = lava_net.spikes(x[:5])
    plot_spike_raster(spikes, out / "spike_raster.png", labels=test.y[:5].tolist())
    seconds = time.perf_counter() - t_start
    summary = {name: {k: v for k, v in row.items() if k != "predictions"} for name, row in rows.items()}
    write_text(out / "results.json", json.dumps({
        "samples": n, "steps": args.steps, "batch": args.batch, "data": data.source, "preset": config.preset,
        "epochs": config.epochs, "rows": summary, "da_against_steps": curve, "seconds": seconds},
        indent=2, default=float))
    table = [{"backend": name, "DA average": row["da_average"], "DA max": row["da_max"],
              "agreement with ANN": row["agreement_with_ann"], "samples / s": n / row["seconds"]}
             for name, row in rows.items()]
    page = write_report(
        out, "Self-defined target: MNIST, trained without labels, run as a spiking network",
        [("Every backend, the same read-out", table_html(table, list(table[0])))],
        [(out / "neurons.png", f"what the output neurons learned ({lava_name}): the mean test image each wins"),
         (out / "receptive_fields.png", "the learned change of their input weights (red +, blue -)"),
         (out / "spike_raster.png", f"{lava_name}: output spikes of five test images"),
         (out / "confusion_matrix.png", f"{lava_name}: confusion matrix"),
         (out / "da_vs_steps.png", "DA against the number of time steps T"),
         *([] if args.checkpoint else [(out / "train" / "accuracy.png", "training: DA against epoch")])],
        [f"{config.preset or 'checkpoint'}, {'-'.join(map(str, config.sizes))}, {trained}; neurons assigned "
         f"with the labels of the {len(data.train)} training images ({data.source}; direct association); {n} test "
         f"images at T={args.steps}; {seconds:.0f} s in all."])
    print(f"wrote {page} (table and pictures), the PNGs and results.json to {out} ({seconds:.0f} s in all)")


if __name__ == "__main__":
    main()
