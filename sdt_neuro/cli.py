"""The ``sdt-neuro`` command: ``presets``, ``train``, ``convert`` and ``evaluate`` (every option is
declared here; a backend's framework is imported only when a command uses it)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sdt_neuro.convert import READOUTS, RESETS
from sdt_neuro.data import DATASETS
from sdt_neuro.errors import CheckpointError, ConfigError, SdtError
from sdt_neuro.presets import DESCRIPTIONS, PRESETS, apply_overrides, config_from_file, preset_config

READOUT_HELP = ("spiking backends: read the output layer by its spike counts (default) or by its integrated charge, "
                "count plus final membrane (membrane: exact for the output layer, subtractive reset only)")

BACKENDS = ("ann", "snntorch", "lava")
TRAIN_BACKENDS = ("ann", "snntorch", "lava")
CONVERT_TARGETS = ("snntorch", "nir", "lava")
DEFAULT_OUT = "runs/latest"  # scratch: each run started without --out replaces it


SPIKING_EXTRA = ("backend", "steps", "encoding", "slope", "fixed_point", "race_steps", "race_floor", "race_ceiling",
                 "weight_max")  # what a spiking backend writes into config.extra


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdt-neuro",
        description="Unsupervised training with a self-defined target (k-WTA + homeostasis).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    pr = sub.add_parser("presets", help="list the presets, or print one's configuration as JSON")
    pr.add_argument("name", nargs="?", help="a preset: print its configuration (a file for train --config)")

    tr = sub.add_parser("train", help="train a network: without labels, or semi-supervised (semi-* presets)")
    tr.add_argument("--preset", metavar="NAME", help="a preset (default bp-1layer; sdt-neuro presets lists them)")
    tr.add_argument("--config", metavar="FILE", help="start from a JSON configuration (sdt-neuro presets NAME, or a "
                                                     "run's config.json); flags override it")
    tr.add_argument("--dataset", metavar="NAME|FILE|DIR",
                    help=f"the data set (default: the preset's): one of {', '.join(DATASETS)} under the data "
                         "root, an .npz file (x_train, y_train, x_test, y_test) or a folder with train/<class>/ "
                         "and test/<class>/ images")
    tr.add_argument("--epochs", type=int,
                    help="epochs to train (default: the preset's); the run-wide rate decay spans --schedule-epochs "
                         "where the preset sets it, else these epochs")
    tr.add_argument("--schedule-epochs", type=int,
                    help="horizon of the linear rate decay (default: the preset's)")
    tr.add_argument("--batch-size", type=int)
    tr.add_argument("--lr", type=float, help="first layer's rate; other layers keep their ratio")
    tr.add_argument("--k", type=int, help="winners per sample")
    tr.add_argument("--gamma", type=float, help="homeostasis rate")
    tr.add_argument("--dropout", type=float, help="output-dropout probability")
    tr.add_argument("--seed", type=int)
    tr.add_argument("--init-gain", type=float, help="Xavier-uniform gain of the initial weights (paper: 0.5)")
    tr.add_argument("--clean-target", action=argparse.BooleanOptionalAction, default=None,
                    help="build the self-defined target from a pass without dropout")
    tr.add_argument("--straight-through", action=argparse.BooleanOptionalAction, default=None,
                    help="BP: pass the output gradient through the hard-sigmoid outside [0, 1]")
    tr.add_argument("--rate-steps", type=int, metavar="T",
                    help="BP: train with the rate quantisation of a T-step spiking network (outputs rounded to "
                         "multiples of 1/T in the training pass; evaluation stays float)")
    tr.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    tr.add_argument("--device", choices=("auto", "cpu", "cuda"))
    tr.add_argument("--label-fraction", type=float, help="labelled fraction used for DA")
    tr.add_argument("--train-samples", type=int, dest="max_train_samples",
                    help="train on a stratified subset of this many images")
    tr.add_argument("--test-samples", type=int, dest="max_test_samples",
                    help="evaluate on the first N test images")
    tr.add_argument("--val-samples", type=int,
                    help="carve a stratified validation set of N training images; epochs are scored on it "
                         "and the test set once, after the last epoch")
    tr.add_argument("--probe", action=argparse.BooleanOptionalAction, default=None,
                    help="linear probe at the end (the CNN presets' default; --no-probe skips it)")
    tr.add_argument("--data-root", help="folder in torchvision's layout (MNIST/raw, ...; or SDT_DATA_ROOT)")
    tr.add_argument("--out", help=f"output directory (default {DEFAULT_OUT}, which each run started without --out "
                                  "replaces)")
    tr.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    tr.add_argument("--overwrite", action="store_true",
                    help="start afresh in an --out that holds a run (its checkpoint, records and page are replaced; "
                         "other files there are named in a warning)")
    tr.add_argument("--no-progress", action="store_true", help="hide progress bars")
    tr.add_argument("--backend", default=None, choices=TRAIN_BACKENDS,
                    help="where the network is trained (default ann, the PyTorch reference; with --resume, the "
                         "run's own)")
    tr.add_argument("--steps", type=int, help="time steps T per sample (spiking backends)")
    tr.add_argument("--encoding", choices=("current", "bernoulli"),
                    help="input encoding while training (snntorch backend; default current)")
    tr.add_argument("--samples", type=int, help="training images (Lava on-chip learning)")
    tr.add_argument("--fixed-point", action="store_true",
                    help="learn in Loihi 2 integers: Lava's bit-approximate learning engine (--backend lava)")
    tr.add_argument("--race-steps", type=int, metavar="R",
                    help="local winner-take-all: winners by a race of R steps with lateral inhibition, not by "
                         "sorting (--backend lava; float or --fixed-point)")
    tr.add_argument("--race-range", type=float, nargs=2, metavar=("FLOOR", "CEILING"),
                    help="scores the race covers (default 0 1.25; with --race-steps)")
    tr.add_argument("--weight-max", type=float,
                    help="largest |weight| the 8-bit fixed-point weights represent (default 0.08; --fixed-point)")

    cv = sub.add_parser("convert", help="convert a trained checkpoint to a spiking network")
    cv.add_argument("checkpoint", help="checkpoint file or run directory")
    cv.add_argument("--to", required=True, nargs="+", dest="target", metavar="FORMAT [PATH]",
                    help=f"one of {CONVERT_TARGETS}, optionally followed by the output file")
    cv.add_argument("path", nargs="?", help="output file (required for --to nir)")
    cv.add_argument("--steps", type=int, help="time steps T (default 32; a NIR file's own time_steps)")
    cv.add_argument("--encoding", choices=("current", "bernoulli"),
                    help="input encoding (default current; a NIR file's own encoding)")
    cv.add_argument("--fixed-point", action="store_true", help="Lava fixed-point")
    cv.add_argument("--reset", choices=RESETS, default=None,
                    help="neuron reset: subtract (v -= theta, the reference; default for snntorch and lava) or zero "
                         "(v = 0: Lava's stock LIF and NIR's IF, the default for --to nir; in Lava a graph of stock "
                         "processes only)")
    cv.add_argument("--readout", choices=READOUTS, default=None,
                    help=READOUT_HELP)
    cv.add_argument("--data-root", help="calibration data for hidden-layer scaling")

    ev = sub.add_parser("evaluate", help="score a checkpoint with the shared evaluation")
    ev.add_argument("checkpoint", help="checkpoint file or run directory")
    ev.add_argument("--backend", default="ann", choices=BACKENDS)
    ev.add_argument("--label-fraction", type=float, default=None,
                    help="assign neurons on this stratified fraction of the run's training images "
                         "(default: the labels the run itself used)")
    ev.add_argument("--samples", type=int, help="first N images of the split (default all)")
    ev.add_argument("--split", choices=("test", "validation"), default="test",
                    help="score the test set, or the validation set the run carved from its training images")
    ev.add_argument("--probe", action="store_true", help="also train a linear probe")
    ev.add_argument("--steps", type=int, default=None,
                    help="time steps T (spiking backends; default: the training T, else 32)")
    ev.add_argument("--encoding", choices=("current", "bernoulli"),
                    help="input encoding (spiking backends; default current)")
    ev.add_argument("--fixed-point", action="store_true", help="Lava fixed-point simulation")
    ev.add_argument("--v-init", type=float, default=None,
                    help="spiking backends: membranes start at this fraction of the threshold (0.5 rounds "
                         "rates instead of flooring them; default 0)")
    ev.add_argument("--output-scale", choices=("none", "max"), default=None,
                    help="spiking backends: scale the output layer by its largest ANN output on training images, "
                         "so small outputs use the whole rate range (default none)")
    ev.add_argument("--reset", choices=RESETS, default=None,
                    help="spiking backends: neuron reset, subtract (the reference, default) or zero (Lava's stock LIF "
                         "and NIR's IF; in Lava a graph of stock processes only, one sample at a time)")
    ev.add_argument("--readout", choices=READOUTS, default=None,
                    help=READOUT_HELP)
    ev.add_argument("--batch", type=int, default=None, help="samples side by side (Lava)")
    ev.add_argument("--data-root")
    ev.add_argument("--seed", type=int, default=None,
                    help="seed of the labelled subset with --label-fraction (default: the run's) and of the "
                         "spiking backends' Bernoulli input spikes (default 0)")
    ev.add_argument("--json", dest="json_path", help="write the result to this JSON file")
    return parser


def _backend_module(name: str) -> Any:
    """The backend's module, imported lazily (a missing framework names its extra)."""
    if name == "snntorch":
        from sdt_neuro.backends import snntorch_head

        return snntorch_head
    from sdt_neuro.backends import lava

    return lava


#: the spiking and on-chip options of ``train`` that each backend reads (the rest would be ignored: refused)
BACKEND_OPTIONS = {"ann": (), "snntorch": ("steps", "encoding"),
                   "lava": ("steps", "samples", "fixed_point", "race_steps", "race_range", "weight_max")}


def _check_backend_options(args: argparse.Namespace) -> None:
    """Refuse a spiking or Lava option that ``--backend`` would not read."""
    options = {name for names in BACKEND_OPTIONS.values() for name in names}
    unread = [f"--{name.replace('_', '-')}" for name in sorted(options - set(BACKEND_OPTIONS[args.backend]))
              if getattr(args, name) not in (None, False)]
    if unread:
        takers = {flag: [b for b, names in BACKEND_OPTIONS.items() if flag[2:].replace("-", "_") in names]
                  for flag in unread}
        raise ConfigError(f"--backend {args.backend} does not read {', '.join(unread)} ("
                          + "; ".join(f"{flag}: --backend {' or '.join(b)}" for flag, b in takers.items()) + ")")


def cmd_train(args: argparse.Namespace) -> int:
    from sdt_neuro.memory import keep_freed_memory
    from sdt_neuro.training.loop import train

    keep_freed_memory()

    if args.config and args.preset:
        raise ConfigError("give --preset or --config, not both (a config file replaces the preset)")
    overrides = dict(
        dataset=args.dataset, epochs=args.epochs, schedule_epochs=args.schedule_epochs, batch_size=args.batch_size,
        lr=args.lr, k=args.k, init_gain=args.init_gain, clean_target=args.clean_target,
        straight_through=args.straight_through, rate_steps=args.rate_steps, gamma=args.gamma, dropout=args.dropout,
        seed=args.seed,
        threads=args.threads,
        device=args.device, label_fraction=args.label_fraction, probe=args.probe,
        max_train_samples=args.max_train_samples, max_test_samples=args.max_test_samples,
        val_samples=args.val_samples,
    )
    out = Path(args.out or DEFAULT_OUT)
    own = out / "config.json"  # --resume alone continues the run's own configuration
    if args.resume and args.overwrite:
        raise ConfigError("--resume continues the run in --out and --overwrite replaces it: give one of them")
    stored = None
    if args.resume and args.backend != "lava":  # (the Lava learner refuses --resume itself)
        stored = _resumable_config(out, own, given=bool(args.config or args.preset))
    if args.resume and not (args.config or args.preset) and own.is_file():
        args.config = str(own)
    if args.config:
        config = config_from_file(args.config, **overrides)
    elif stored is not None:
        config = apply_overrides(stored, overrides)
    else:
        args.preset = args.preset or "bp-1layer"
        config = preset_config(args.preset, **overrides)
    if args.resume:  # a resumed run keeps the backend it trained on
        trained_on = _run_backend(own, config) or "ann"
        if args.backend not in (None, trained_on):
            raise ConfigError(f"--resume: the run in {out} trained with --backend {trained_on}; it cannot continue "
                              f"with --backend {args.backend} (start a new run with another --out)")
        args.backend = trained_on
    args.backend = args.backend or "ann"
    config = _for_backend(config, args.backend, args.config)
    if args.out and (out / "checkpoint.pt").is_file() and not (args.resume or args.overwrite):
        again = "continue it with --resume, " if args.backend != "lava" else ""
        raise ConfigError(f"{out} holds a run (checkpoint.pt): {again}choose another --out, or pass --overwrite to "
                          "start afresh")
    args.overwrite = args.overwrite or not args.out  # the default --out is scratch
    args.out = str(out)
    _check_backend_options(args)
    if args.backend != "ann":
        ann_only = [f"--{name.replace('_', '-')}" for name in ("clean_target", "straight_through", "rate_steps")
                    if getattr(config, name)]
        if ann_only:
            source = f"--config {args.config}" if args.config else f"--preset {args.preset}"
            raise ConfigError(f"{' and '.join(ann_only)} (set by the flag or by {source}) "
                              f"belong to the ANN trainer; --backend {args.backend} does not support "
                              f"them: add {' '.join('--no-' + flag[2:] for flag in ann_only)}")
        return _backend_module(args.backend).train_command(config, args)
    # --overwrite: the loop removes the old run once the data and settings have been checked
    result = train(config, out_dir=out, resume=args.resume, data_root=args.data_root,
                   progress=False if args.no_progress else None, overwrite=args.overwrite)
    from sdt_neuro.records import epoch_line, scored, written

    if result.rank != 0:  # under torchrun only rank 0 reports
        return 0
    fitted = result.config
    if fitted.sizes != config.sizes or fitted.wta_rule.n_classes != config.wta_rule.n_classes:
        c, h, w = fitted.input_shape
        print(f"{fitted.dataset}: {c}x{h}x{w} images, {fitted.wta_rule.n_classes} classes; the network was "
              f"fitted to them ({'-'.join(map(str, fitted.sizes))})")
    for m in scored(result.metrics) or result.metrics:  # the scored epochs (all of them when none was)
        print(epoch_line(m))
    if result.metrics and "test_linear_probe" in result.metrics[-1]:
        print(f"linear probe: {result.metrics[-1]['test_linear_probe']:.4f}")
    print(f"wrote {written(out)}")
    return 0


def _resumable_config(out: Path, own: Path, given: bool) -> dict[str, Any] | None:
    """For ``--resume``: refuse at once an ``out`` without a readable training checkpoint (before any
    data loads), and return the checkpoint's configuration where neither ``--config``/``--preset``
    nor the run's own ``config.json`` gives one."""
    from sdt_neuro.training.checkpoint import load_resumable

    if not (out / "checkpoint.pt").is_file():
        raise CheckpointError(f"--resume: {out} holds no checkpoint.pt (is --out the folder of the run to continue?)")
    if given or own.is_file():
        return None
    saved, _ = load_resumable(out / "checkpoint.pt")
    if os.environ.get("RANK", "0") == "0":
        print(f"note: {own} is missing; the run continues with the configuration its checkpoint holds",
              file=sys.stderr)
    return saved.to_dict()


def _run_backend(own: Path, config: Any) -> str | None:
    """The backend the run in ``own``'s folder trained on (its own ``config.json``), else ``config``'s."""
    try:
        return (json.loads(own.read_text()).get("extra") or {}).get("backend")
    except (OSError, ValueError, AttributeError):
        return config.extra.get("backend")


def _for_backend(config: Any, backend: str, source: str | None) -> Any:
    """``config`` for ``backend``'s trainer. A spiking run's ``config.json`` carries its backend's
    settings (T, encoding, fixed point, ...); for another backend they are dropped, with a note (an
    ANN run keeping them would read as a spiking one: its conversion, its evaluation T)."""
    came_from = config.extra.get("backend")
    if came_from in (None, "ann", backend):
        return config
    dropped = sorted(key for key in config.extra if key in SPIKING_EXTRA)
    if os.environ.get("RANK", "0") == "0":
        print(f"note: {source or 'the configuration'} comes from a --backend {came_from} run; its settings "
              f"{dropped} are dropped for --backend {backend}", file=sys.stderr)
    return config.replace(extra={k: v for k, v in config.extra.items() if k not in SPIKING_EXTRA})


def cmd_evaluate(args: argparse.Namespace) -> int:
    from sdt_neuro.scoring import evaluate_checkpoint

    spiking = {"steps": args.steps, "encoding": args.encoding, "batch": args.batch, "v_init": args.v_init,
               "output_scale": args.output_scale, "reset": args.reset, "readout": args.readout}
    given = [f"--{name.replace('_', '-')}" for name, value in spiking.items() if value is not None]
    if args.backend == "ann" and given:
        raise ConfigError(f"{', '.join(given)}: spiking settings; --backend ann scores the network itself (choose "
                          "--backend snntorch or lava)")
    options: dict[str, Any] = {**spiking, "encoding": args.encoding or "current", "seed": args.seed or 0,
                               "data_root": args.data_root}
    if args.backend == "lava":
        options["fixed_point"] = args.fixed_point
    elif args.fixed_point:
        raise ConfigError(f"--fixed-point is a Lava setting; --backend {args.backend} does not take it")
    result = evaluate_checkpoint(
        args.checkpoint, backend=args.backend, label_fraction=args.label_fraction,
        samples=args.samples, probe=args.probe, data_root=args.data_root, seed=args.seed, split=args.split,
        options=options if args.backend != "ann" else None,
    )
    result.pop("predictions", None)
    line = (f"{result['backend']}: {result['samples']} {result['split']} samples  DA avg {result['da_average']:.4f}  "
            f"DA max {result['da_max']:.4f}")
    if "output_accuracy" in result:
        line += f"  output accuracy {result['output_accuracy']:.4f}"
    if "agreement_with_ann" in result:
        line += f"  agreement with ANN {result['agreement_with_ann']:.4f}"
    if "linear_probe" in result:
        line += f"  linear probe {result['linear_probe']:.4f}"
    print(line + f"  ({result['seconds']:.1f} s)")
    if result.get("collapsed"):
        from sdt_neuro.evaluate import collapse_message

        message = collapse_message(result["collapse_reasons"], args.checkpoint, spiking=args.backend != "ann")
        print(f"sdt-neuro: warning: {message}", file=sys.stderr)
    if args.json_path:
        from sdt_neuro.atomic import write_text

        write_text(args.json_path, json.dumps(result, indent=2))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    target, *rest = args.target  # "--to nir FILE": argparse cannot give FILE to a later positional
    if target not in CONVERT_TARGETS or len(rest) > 1 or (rest and args.path):
        raise ConfigError(f"--to {' '.join(args.target)}: expected one of {CONVERT_TARGETS} and at most one "
                          "output path")
    args.target, args.path = target, rest[0] if rest else args.path
    from_nir = str(args.checkpoint).endswith(".nir")
    if from_nir and (args.reset or args.readout):
        raise ConfigError("a NIR file brings its own reset and read-out (its metadata); drop --reset and --readout")
    if from_nir and args.target == "lava":
        raise ConfigError("--to lava converts a checkpoint; read a NIR file into Lava with --to snntorch first, or "
                          "evaluate the checkpoint it came from with --backend lava")
    if args.fixed_point and args.target != "lava":
        raise ConfigError(f"--fixed-point is a Lava setting; --to {args.target} does not take it")
    if not from_nir:  # a NIR file's own time_steps and encoding stand unless given
        args.steps = 32 if args.steps is None else args.steps
        args.encoding = args.encoding or "current"
    backend = "lava" if args.target == "lava" else "snntorch"
    return _backend_module(backend).convert_command(args)


def cmd_presets(args: argparse.Namespace) -> int:
    """``sdt-neuro presets``: one line per preset; ``sdt-neuro presets NAME``: its configuration."""
    if args.name:
        print(json.dumps(preset_config(args.name).to_dict(), indent=2))
        return 0
    width = max(map(len, PRESETS))
    for name in PRESETS:
        kind, text = DESCRIPTIONS[name]
        print(f"{name:{width}s}  {kind:9s}  {text}")
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "convert": cmd_convert, "presets": cmd_presets}


def _format_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                    line: str | None = None) -> str:
    """Warnings read as the tool's own lines, not as Python source locations."""
    return f"sdt-neuro: warning: {message}\n"


def exit_on_sigterm() -> None:
    """Turn SIGTERM (a job scheduler's stop, ``kill PID``) into ``SystemExit(143)`` in the main thread,
    so ``with`` blocks and ``finally`` clauses run: a Lava runtime stops its worker processes instead
    of leaving them orphaned, and a training run's last checkpoint stays whole."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_exit)


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = _format_warning
    exit_on_sigterm()
    try:
        return COMMANDS[args.command](args)
    except SdtError as exc:
        print(f"sdt-neuro: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sdt-neuro: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (sdt-neuro presets | head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
