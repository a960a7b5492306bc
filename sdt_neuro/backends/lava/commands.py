"""Entry points used by ``sdt_neuro.scoring`` and the CLI: checkpoint -> Lava -> spike rates."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sdt_neuro.errors import ConfigError

DEFAULT_BATCH = 128


def spiking_network(config: Any, model: Any, calibration: Any = None, percentile: float = 99.9,
                    data_root: Any = None, v_init: float = 0.0, output_scale: str = "none",
                    reset: str = "subtract", readout: str = "count") -> Any:
    """The checkpoint's spiking network: :func:`sdt_neuro.convert.checkpoint_network`, the same
    conversion snnTorch and NIR export use (hidden layers scaled on training images).
    ``reset="zero"`` gives the network Lava's stock processes run; ``readout="membrane"`` one
    whose output counter also reads the final membranes."""
    from sdt_neuro.convert import checkpoint_network

    _check_arch(config)
    return checkpoint_network(config, model, calibration, percentile, data_root, v_init, output_scale, reset, readout)


def compile_checkpoint(checkpoint: str | os.PathLike, calibration: Any = None, data_root: Any = None,
                       percentile: float = 99.9, **options: Any) -> Any:
    """A :class:`~sdt_neuro.backends.lava.runner.LavaNetwork` for a checkpoint (not started yet)."""
    from sdt_neuro.backends.lava.runner import LavaNetwork
    from sdt_neuro.training.checkpoint import load_trained_model

    config, model, _ = load_trained_model(checkpoint)
    return LavaNetwork(spiking_network(config, model, calibration, percentile, data_root), **options)


def _check_arch(config: Any) -> None:
    if config.arch != "mlp":
        raise ConfigError(f"the Lava backend runs MLP checkpoints, got arch={config.arch!r} (allowed: 'mlp')")


def network_options(options: dict[str, Any], n: int) -> dict[str, Any]:
    """``build_graph`` keyword arguments from evaluation options (``batch`` capped at ``n``)."""
    batch = int(options.get("batch") or DEFAULT_BATCH)
    if batch < 1:
        raise ConfigError(f"batch={batch} must be >= 1")
    return {"steps": int(32 if options.get("steps") is None else options["steps"]), "batch": min(batch, max(n, 1)),
            "encoding": options.get("encoding", "current"), "fixed_point": bool(options.get("fixed_point", False)),
            "neuron": options.get("neuron") or "if", "seed": int(options.get("seed") or 0)}


def evaluation_activity(config: Any, model: Any, x: Any, options: dict[str, Any]) -> np.ndarray:
    """Output rates ``[n, N_out]`` float32 (``counts / T``, or the membrane read-out of
    ``options["readout"]``) on the ANN's scale, of ``x`` ``[n, 1, 28, 28]`` run in Lava
    (T: ``options["steps"]``, else the run's training T, else 32).

    The network is :func:`spiking_network` (hidden layers scaled on training images, found
    through ``options["data_root"]`` or the usual data-root route; ``options["percentile"]``), so
    it is the one snnTorch runs, whatever ``x`` is. What ran is left in ``options["report"]``
    (:func:`run_report`).
    """
    from sdt_neuro.backends.lava.runner import LavaNetwork

    _check_arch(config)
    flat = np.asarray(x.reshape(x.shape[0], -1), dtype=np.float64)
    from sdt_neuro.convert import evaluation_steps, network_from_options, output_rates

    opts = network_options({**options, "steps": evaluation_steps(config, options.get("steps"))}, len(flat))
    net = network_from_options(config, model, options)
    with LavaNetwork(net, **opts) as lava_net, _progress(len(flat), options) as bar:
        if net.readout == "membrane":
            counts, membrane = lava_net.counts_and_membrane(flat, progress=bar)
        else:
            counts, membrane = lava_net.counts(flat, progress=bar), None
        options["report"] = run_report(lava_net.graph)
    rates = output_rates(net, counts, opts["steps"], membrane)
    return (rates * net.scales[-1]).astype(np.float32)  # on the ANN's scale


def run_report(graph: Any) -> dict[str, Any]:
    """What a Lava run executed: the fully qualified process-model classes (one per process, in
    graph order), the neurons' reset, and whether the input was event-driven."""
    models = graph.run_cfg.exception_proc_model_map
    procs = [graph.input, *(p for pair in zip(graph.synapses, graph.neurons) for p in pair), graph.counter]
    names = [f"{models[p].__module__}.{models[p].__qualname__}" for p in procs]
    return {"process_models": names, "reset": "subtract" if graph.neuron == "if" else "zero",
            "event_driven": bool(graph.meta.get("event_driven", False)),
            "stock_processes_only": bool(graph.meta.get("stock", False)), "batch": int(graph.batch),
            "readout": graph.meta.get("readout", "count")}


def _progress(total: int, options: dict[str, Any]) -> Any:
    from tqdm.auto import tqdm

    show = options.get("progress", sys.stderr.isatty())
    return tqdm(total=total, desc="lava", unit="sample", disable=not show, leave=False)


def convert_command(args: argparse.Namespace) -> int:
    """``sdt-neuro convert CHECKPOINT --to lava [PATH]``: build and compile the process graph,
    print its layers (and fixed-point exponents), optionally save Lava-ready parameters as .npz."""
    from sdt_neuro.backends.lava.runner import LavaNetwork
    from sdt_neuro.training.checkpoint import load_trained_model

    if args.path:
        _npz_path(args.path)  # before the graph is built and compiled
    config, model, _ = load_trained_model(args.checkpoint)
    net = spiking_network(config, model, data_root=args.data_root, reset=getattr(args, "reset", None) or "subtract",
                          readout=getattr(args, "readout", None) or "count")
    cells = "Dense + LIFReset (Lava stock)" if net.reset == "zero" else "BatchDense + BatchIF"
    with LavaNetwork(net, steps=args.steps, batch=1, encoding=args.encoding, fixed_point=args.fixed_point) as lava_net:
        graph = lava_net.graph
        quantized = graph.quantized  # the graph quantised the network for its own processes
        print(f"Lava graph ({'fixed_pt' if args.fixed_point else 'floating_pt'}, {args.encoding} input, "
              f"{net.reset} reset, {net.readout} read-out, "
              f"T={args.steps}, delay {graph.delay} steps): sizes {'-'.join(map(str, graph.sizes))}, "
              f"{2 + 2 * len(graph.synapses)} processes, compiled in {lava_net.compile_seconds:.2f} s")
        for i, layer in enumerate(net.layers):
            line = (f"  layer {i + 1}: {cells} {layer.weight.shape[1]}->{layer.weight.shape[0]}, "
                    f"|W| max {np.abs(layer.weight).max():.4g}, threshold {layer.threshold:g}")
            if quantized is not None:
                q = quantized.layers[i]
                err = np.abs(q.float_weight() - layer.weight).max()
                line += (f"; fixed: weight_exp {q.weight_exp}, vth {q.vth}, mantissa "
                         f"[{q.weight_mant.min()}, {q.weight_mant.max()}], bias_exp <= {q.bias_exp.max()}, "
                         f"max weight error {err:.3g}")
            print(line)
    if args.path:
        save_parameters(args.path, net, quantized, steps=args.steps, encoding=args.encoding)
        print(f"wrote {args.path}")
    return 0


def save_parameters(path: str | os.PathLike, net: Any, quantized: Any, steps: int, encoding: str) -> Path:
    """Lava-ready NumPy parameters: the neuron model (``reset``, ``readout``, ``v_init``), float
    weights/biases per layer, plus fixed-point fields when given."""
    arrays: dict[str, np.ndarray] = {"sizes": np.asarray(net.sizes), "steps": np.asarray(steps),
                                     "encoding": np.asarray(encoding), "reset": np.asarray(net.reset),
                                     "readout": np.asarray(net.readout), "v_init": np.asarray(net.v_init)}
    for i, layer in enumerate(net.layers):
        arrays[f"layer{i}_weight"] = layer.weight
        arrays[f"layer{i}_bias"] = layer.bias
        arrays[f"layer{i}_threshold"] = np.asarray(layer.threshold)
        if quantized is not None:
            q = quantized.layers[i]
            arrays.update({f"layer{i}_weight_mant": q.weight_mant, f"layer{i}_weight_exp": np.asarray(q.weight_exp),
                           f"layer{i}_input_bits": np.asarray(q.input_bits), f"layer{i}_vth": np.asarray(q.vth),
                           f"layer{i}_bias_mant": q.bias_mant, f"layer{i}_bias_exp": q.bias_exp})
    path = _npz_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def _npz_path(path: str | os.PathLike) -> Path:
    """``path`` if it names an ``.npz`` file."""
    if Path(path).suffix != ".npz":
        raise ConfigError(f"output path {path} must end in .npz")
    return Path(path)
