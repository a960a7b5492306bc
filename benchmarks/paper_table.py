"""One table of the whole paper, collected from committed results (nothing is trained here).

``python benchmarks/reproduce.py --table paper`` calls :func:`collect` and writes
``benchmarks/results/paper.json`` and ``paper.md``: one entry per published row with ``row``,
``published`` and ``measured`` (fractions; ``measured`` is null with a ``reason`` where the row was
not run as published), ``seeds``, ``std``, ``epochs``, ``seconds``, ``split`` and ``command``.
Figures from settings that were tuned on the test set are never ``measured``: they appear as
``tuned_on_test``, said as such.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import released_runs

from sdt_neuro.records import val_split_size

SEMI_LABELS_PUBLISHED = (100, 300, 600, 1000, 3000)  # METHOD.md's label counts
# METHOD.md: final DA (MLP rows, mean of seeds), DA at epoch 5 (EP 2 layers), accuracy with N labels
# (semi-supervised), linear probe (CNN).
PUBLISHED = {
    "bp-1layer": 0.9578, "bp-2layer": 0.9661, "ep-1layer": 0.9578, "ep-2layer-epoch5": 0.9199,
    **{f"semi-bp-{n}": v for n, v in zip(SEMI_LABELS_PUBLISHED, (0.8843, 0.9213, 0.9488, 0.9566, 0.9676))},
    **{f"semi-ep-{n}": v for n, v in zip(SEMI_LABELS_PUBLISHED, (0.8841, 0.9618, 0.9657, 0.9679, 0.9703))},
    "cnn-mnist": 0.9917, "cnn-fmnist": 0.9025,
}
# METHOD.md: the semi-supervised ablations (final, mean of seeds), per row and ablation
PUBLISHED_ABLATIONS = {
    **{f"semi-bp-{n}": {"supervised_only": a, "no_homeostasis": b} for n, a, b in zip(
        SEMI_LABELS_PUBLISHED, (0.7806, 0.8679, 0.9028, 0.9227, 0.9574), (0.8324, 0.9206, 0.9476, 0.9571, 0.9679))},
    **{f"semi-ep-{n}": {"supervised_only": a, "no_homeostasis": b} for n, a, b in zip(
        SEMI_LABELS_PUBLISHED, (0.7811, 0.8896, 0.9182, 0.9399, 0.9609), (0.8407, 0.9474, 0.9665, 0.9683, 0.9706))},
}
#: the ablations of a semi-supervised row: key, preset suffix, name in the table
SEMI_ABLATIONS = (("supervised_only", "-supervised", "supervised only"),
                  ("no_homeostasis", "-gamma0", "without homeostasis"))
ABLATION_NAMES = {key: name for key, _, name in SEMI_ABLATIONS}
RUN = ("sdt-neuro train --preset {preset} --threads 1 --data-root /work/shared/datasets --out runs/{preset} "
       "--no-progress")


def _load(results: Path, name: str) -> Any:
    """The committed JSON file ``name`` under ``results``, or ``None`` where it is missing or holds an empty
    list or object."""
    return released_runs.read(name, results) or None


def _seconds(records: list[dict[str, Any]]) -> float:
    return round(sum(r.get("epoch_seconds", 0.0) for r in records), 1)


def _threads(records: list[dict[str, Any]]) -> list[int] | None:
    """The torch threads a run's epochs recorded (sorted, distinct), or ``None`` where any epoch lacks them."""
    if any("threads" not in r for r in records):
        return None
    return sorted({int(r["threads"]) for r in records})


#: the validation split every run held out before the final runs on the full training set (2026-12-05)
VAL_SPLIT = " --val-samples 1000"


def _split_of(records: list[dict[str, Any]]) -> str:
    """The ``--val-samples`` option a run's records say it was given ("" for the full training set, or no run
    yet: a new run is a final one); ``--resume`` needs it unchanged."""
    size = val_split_size(records)
    return f" --val-samples {size}" if size else ""


def _entry(row: str, **fields: Any) -> dict[str, Any]:
    base = {"row": row, "published": PUBLISHED[row], "measured": None, "seeds": None, "std": None, "epochs": None,
            "seconds": None, "split": "test", "command": None}
    base.update(fields)
    return base


def _single_run(results: Path, row: str, file: str, preset: str) -> dict[str, Any]:
    """The run's test DA after ``preset``'s last epoch; its re-run under the issue-26 rules (``rescored/``)
    where that is committed and finished. An unfinished run says how far it has come instead."""
    from sdt_neuro.presets import preset_config

    epochs = preset_config(preset).epochs

    def finished(records: list[dict[str, Any]] | None) -> bool:
        return bool(records) and records[-1]["epoch"] >= epochs and "test_da_average" in records[-1]

    command = RUN.format(preset=preset)
    if finished(_load(results, f"rescored/{file}")):
        file = f"rescored/{file}"
    records = _load(results, file)
    if not records:
        return _entry(row, reason=f"no committed run ({file} missing)", command=command)
    if not finished(records):
        return _entry(row, reason=f"the committed run is unfinished: {records[-1]['epoch']} of {epochs} epochs "
                                  f"with a test figure after the last ({file})", command=command)
    return _entry(row, measured=records[-1]["test_da_average"], seeds=1, epochs=records[-1]["epoch"],
                  seconds=_seconds(records), command=command, source=f"benchmarks/results/{file}")


def collect(results: Path) -> list[dict[str, Any]]:
    """Every published row, from the files under ``results``."""
    rows = []
    # the re-run under the issue-26 evaluation rules (silent = wrong, random ties) when complete
    rescored = "rescored/bp-1layer-seeds.json"
    source = rescored if _load(results, rescored) else "bp-1layer-seeds.json"
    seeds = _load(results, source)
    if seeds:
        across, runs = seeds["across"], seeds["runs"]
        rows.append(_entry("bp-1layer", measured=round(across["mean"], 5), seeds=across["runs"],
                           std=round(across["std"], 5) if across["runs"] > 1 else None,
                           epochs=min(r["epochs"] for r in runs),
                           seconds=round(sum(r["epoch_seconds_total"] for r in runs), 1),
                           command=RUN.format(preset="bp-1layer") + f" --seed S  (S = 0..{across['runs'] - 1})",
                           source=f"benchmarks/results/{source}"))
    else:
        rows.append(_entry("bp-1layer", reason="no committed seed summary"))
    rows.append(_single_run(results, "bp-2layer", "bp-2layer-200ep.metrics.json", "bp-2layer"))
    rows.append(_single_run(results, "ep-1layer", "ep-1layer-100ep.metrics.json", "ep-1layer"))
    rows.append(_ep_2layer(results))
    rows.extend(_semi(results))
    # arithmetic: the preset's epochs at the 2-thread epochs measured here (about 270 s, scoring included)
    rows.extend(_cnn(results, row, cost) for row, cost in (("cnn-mnist", "3.7 hours"), ("cnn-fmnist", "1.5 hours")))
    return rows


#: the command of a long run, CNN or semi-supervised (``{split}``: the ``--val-samples`` it began with, ""
#: for a final run on the full training set, as issue 18 asks; the runs before 2026-12-05 held out a
#: validation split of :data:`VAL_SPLIT` and their commands say so). The CNN rows' records are
#: ``cnn/<preset>.metrics.json``, the run's metrics.json copied as it goes.
LONG_RUN = ("sdt-neuro train --preset {preset} --threads 1{split} --data-root /work/shared/datasets "
            "--out ~/runs/{preset} --no-progress")
#: the released result files' per-seed figures of the CNN rows (``published_std``, ``published_seeds``)
CNN_PUBLISHED_SEEDS = "cnn/published_per_seed.json"
#: the published linear-classifier protocol's key in a run's last record (``sdt_neuro.training.loop``)
CNN_PROBE = "test_linear_probe_published-cnn"


def _cnn_final(results: Path, row: str, variant: str = "") -> dict[str, Any] | None:
    """The published recipe's run of ``row`` (``cnn/<row><variant>.metrics.json``): the published probe
    protocol's test accuracy once its last epoch and probes are committed, else ``None``."""
    from sdt_neuro.presets import preset_config

    file = f"cnn/{row}{variant}.metrics.json"
    records = _load(results, file) or []
    last = records[-1] if records else {}
    if last.get("epoch", 0) < preset_config(row).epochs or CNN_PROBE not in last:
        return None
    return {"measured": last[CNN_PROBE], "epochs": last["epoch"], "seconds": _seconds(records),
            "val_split": _split_of(records),
            "source": f"benchmarks/results/{file}", "probe_ours": last.get("test_linear_probe"),
            "collapsed": bool(last.get("collapsed"))}


def _cnn(results: Path, row: str, cost: str) -> dict[str, Any]:
    """A CNN row: the published probe protocol's test accuracy once the preset's run has ended (our
    probe protocol beside it), the mean over its finished seeds (``<row>-seedN``); until then where
    the run stands, or why it has not run."""
    from sdt_neuro.presets import preset_config

    epochs = preset_config(row).epochs
    records = _load(results, f"cnn/{row}.metrics.json") or []
    command = LONG_RUN.format(preset=row, split=_split_of(records))
    last = records[-1] if records else {}
    spread = ((_load(results, CNN_PUBLISHED_SEEDS) or {}).get("runs") or {}).get(row)
    published = {"published_std": spread["std"], "published_seeds": spread["seeds"]} if spread else {}
    final = _cnn_final(results, row)
    if final:
        seeds = _over_seeds(results, row, final, _cnn_final, means=("probe_ours",))
        return _entry(row, command=command + _seeds_command(row, seeds), **seeds, **published)
    waiting = _seeds_waiting(results, row, _cnn_final)
    if waiting:
        published["seeds_waiting"] = waiting
    if records:
        split, key = ("validation", "val_da_average") if "val_da_average" in last else ("test", "test_da_average")
        figure = f"{split} DA {last[key]:.4f}; " if key in last else ""
        where = (f"the published recipe's run is at epoch {last['epoch']} of {epochs} ({figure}continue it "
                 "with --resume)")
    else:
        where = (f"the published recipe (preset {row}, {epochs} epochs: about {cost} on 2 quiet threads here, "
                 "arithmetic from the step time) has not been run for its epochs yet")
    tried = _load(results, f"{row}-published-e1.metrics.json")
    if tried and tried[-1].get("collapsed"):
        where += (" (with a hard-sigmoid output it collapsed in its first epoch; the preset now has the released "
                  "configurations' linear output, which learns on validation: BENCHMARKS.md)")
    return _entry(row, command=command, reason=where, **published)


def _ep_2layer(results: Path) -> dict[str, Any]:
    """The two-layer EP row: test DA after epoch 5 (the published figure's epoch), the cost of those five
    epochs, and the test curve of the epochs that have a test figure."""
    file = "ep-2layer-5ep.metrics.json"
    records = [r for r in _load(results, file) or [] if r["epoch"] <= 5]
    command = ("sdt-neuro train --preset ep-2layer --epochs 5 --threads 1 --data-root /work/shared/datasets "
               "--out ~/runs/ep-2layer --no-progress")
    curve = {r["epoch"]: r["test_da_average"] for r in records if "test_da_average" in r}
    if not records:
        return _entry("ep-2layer-epoch5", command=command, reason=f"not run ({file} missing)")
    at5 = [r for r in records if r["epoch"] == 5 and "test_da_average" in r]
    if not at5:
        reason = (f"run in progress: {records[-1]['epoch']} of 5 epochs committed ({file})" if records[-1]["epoch"] < 5
                  else f"epoch 5 has no test figure ({file}: a run with a validation split that went on past it)")
        return _entry("ep-2layer-epoch5", command=command + "  (continue with --resume)", reason=reason, curve=curve)
    return _entry("ep-2layer-epoch5", measured=at5[0]["test_da_average"], seeds=1, epochs=5,
                  seconds=_seconds(records), command=command, source=f"benchmarks/results/{file}", curve=curve)



#: earlier recipes of the published semi-supervised EP procedure, kept apart: (folder under ``semi/``,
#: file suffix, how it differs from the current presets); their figures go beside the row, never as its
#: result
_V2 = ("dt 0.5, the k-WTA on the softmax, the read-out's gradient at the free state, the pre-training Adam "
       "carried into the rounds")
SEMI_EP_EARLIER = (
    ("published-v1", "", f"inverted dropout, label smoothing 0.1, Xavier(0.5) weights, {_V2} "
                         "(EP presets before 2026-12-03)"),
    ("published-v2", "", f"PyTorch's default initial weights, {_V2} (EP presets 2026-12-03 to 2026-12-04; its "
                         "supervised-only ablations ran with Xavier(0.5) weights)"),
    ("published-v2", "-xavier", f"Xavier(0.5) weights, {_V2} (EP presets on 2026-12-03 until the switch to "
                                "PyTorch's default weights)"),
)

#: further seeds of a row (``<row>-seed1`` ...: the run's ``--seed``, which also draws its labelled subset)
SEMI_SEED = "-seed"
#: the further seeds the table looks for, beside seed 0
FURTHER_SEEDS = range(1, 10)


def _finished(records: list[dict[str, Any]], preset: str) -> bool:
    """Whether a semi-supervised run's records reach ``preset``'s last epoch with its test figure."""
    from sdt_neuro.presets import preset_config

    return bool(records) and records[-1]["epoch"] >= preset_config(preset).epochs and "test_accuracy" in records[-1]


def _semi_file(preset: str, folder: str = "published", variant: str = "") -> str:
    """Where a semi-supervised run's records are committed, under the results folder."""
    return f"semi/{folder}/{preset}{variant}.metrics.json"


def _semi_final(results: Path, preset: str, folder: str = "published", variant: str = "") -> dict[str, Any] | None:
    """The published procedure's run of ``preset`` (:func:`_semi_file`): its test accuracy after the
    final epoch, or ``None`` until that epoch is committed."""
    file = _semi_file(preset, folder, variant)
    records = _load(results, file) or []
    if not _finished(records, preset):
        return None
    return {"measured": records[-1]["test_accuracy"], "epochs": records[-1]["epoch"], "seconds": _seconds(records),
            "threads": _threads(records), "val_split": _split_of(records),
            "source": f"benchmarks/results/{file}"}


#: what :func:`_semi_final` says of a run for the table's own use (the projected cost, the seeds' commands),
#: kept out of the rows
_RUN_ONLY = ("threads", "val_split")


FindRun = Callable[..., dict[str, Any] | None]  # a finished run of (results, row, variant=...), or None


def _over_seeds(results: Path, row: str, first: dict[str, Any], final: FindRun | None = None,
                means: tuple[str, ...] = ()) -> dict[str, Any]:
    """The row's finished runs over seeds: seed 0's ``first`` and any ``<row>-seedN`` that
    ``final(results, row, variant=...)`` finds finished (default: a semi-supervised run, where each seed
    also draws its own labelled subset, as published); ``measured`` is their mean, ``std`` their
    sample spread, each key of ``means`` their mean too (``None`` unless every run has it),
    ``collapsed`` whether any of them collapsed, ``seed_ids`` which seeds they are and
    ``full_train_seeds`` those trained without a validation split and ``held_out_seeds`` those with one
    (where any were)."""
    final = final or _semi_final
    found = [(s, r) for s in FURTHER_SEEDS if (r := final(results, row, variant=f"{SEMI_SEED}{s}"))]
    runs = [first] + [r for _, r in found]
    full = [s for s, r in [(0, first), *found] if r["val_split"] == ""]
    held = [s for s, r in [(0, first), *found] if r["val_split"] != ""]
    first = {key: value for key, value in first.items() if key not in _RUN_ONLY}
    if full:
        first["full_train_seeds"] = full
    if held:
        first["held_out_seeds"] = held
    if len(runs) == 1:
        return {**first, "seeds": 1}
    values = [r["measured"] for r in runs]
    mean, std = statistics.mean(values), statistics.stdev(values)
    also: dict[str, Any] = {key: round(sum(r[key] for r in runs) / len(runs), 5)
                            if all(r.get(key) is not None for r in runs) else None for key in means}
    if any("collapsed" in r for r in runs):
        also["collapsed"] = any(r.get("collapsed") for r in runs)
    return {**first, **also, "measured": round(mean, 5), "std": round(std, 5), "seeds": len(runs), "per_seed": values,
            "seed_ids": [0] + [s for s, _ in found], "seconds": round(sum(r["seconds"] for r in runs), 1),
            "source": ", ".join(r["source"] for r in runs)}


def _seeds_waiting(results: Path, row: str, final: FindRun | None = None) -> list[dict[str, Any]]:
    """The further seeds of ``row`` that ``final`` (default: a semi-supervised run) finds finished, for a
    row whose seed 0 has not finished: their figures, shown beside the row and not yet in ``measured``."""
    final = final or _semi_final
    return [{"seed": s, "measured": r["measured"]} for s in FURTHER_SEEDS
            if (r := final(results, row, variant=f"{SEMI_SEED}{s}"))]


def _progress(results: Path, preset: str, variant: str = "") -> dict[str, int] | None:
    """How far a semi-supervised run of ``preset`` has come where its records are committed but not finished
    (no test figure after the last epoch yet); ``None`` where it is missing or finished."""
    from sdt_neuro.presets import preset_config

    records = _load(results, _semi_file(preset, variant=variant))
    if not records or _finished(records, preset):
        return None
    return {"epochs_committed": records[-1]["epoch"], "epochs": preset_config(preset).epochs}


def _unfinished_ablations(results: Path, row: str) -> list[dict[str, Any]]:
    """The ablations of ``row`` whose records are committed but not finished, seed 0's or a further seed's
    (``seed`` set): how far each has come."""
    found = []
    for key, suffix, _ in SEMI_ABLATIONS:
        if progress := _progress(results, f"{row}{suffix}"):
            found.append({"ablation": key, **progress})
        found += [{"ablation": key, **seed} for seed in _unfinished_seeds(results, f"{row}{suffix}")]
    return found


def _ablations_over_seeds(results: Path, row: str) -> dict[str, Any]:
    """Each ablation of ``row``: the mean over its finished seeds (``None`` until seed 0 has finished), the
    ``--val-samples`` they ran with (``ablation_splits``; ``"mixed"`` where seeds differ) and, where more
    than one seed has finished, their count, spread and figures (``ablation_seeds``)."""
    found: dict[str, Any] = {}
    splits: dict[str, str] = {}
    seeds: dict[str, dict[str, Any]] = {}
    for key, suffix, _ in SEMI_ABLATIONS:
        first = _semi_final(results, f"{row}{suffix}")
        found[key] = None
        if first is None:
            continue
        over = _over_seeds(results, f"{row}{suffix}", first)
        found[key] = over["measured"]
        mixed = over.get("held_out_seeds") and over.get("full_train_seeds")
        splits[key] = "mixed" if mixed else first["val_split"].strip()
        if over["seeds"] > 1:
            seeds[key] = {name: over[name] for name in ("seeds", "std", "per_seed", "seed_ids")}
    found["ablation_splits"] = splits
    if seeds:
        found["ablation_seeds"] = seeds
    return found


def _unfinished_seeds(results: Path, row: str) -> list[dict[str, int]]:
    """The further seeds of ``row`` whose records are committed but not finished: how far each has come.
    They are not in ``measured``."""
    return [{"seed": s, **progress} for s in FURTHER_SEEDS
            if (progress := _progress(results, row, variant=f"{SEMI_SEED}{s}"))]


def _seeds_command(row: str, seeds: dict[str, Any]) -> str:
    """How the further seeds of ``row`` were run (none for a single seed), beside seed 0's command: the
    same, or with the validation split added or dropped."""
    ids = seeds.get("seed_ids", [0])[1:]
    full = set(seeds.get("full_train_seeds", []))

    def listed(found: list[int]) -> str:
        consecutive = len(found) > 1 and found == list(range(1, len(found) + 1))
        return f"1..{found[-1]}" if consecutive else ", ".join(map(str, found))

    same = [s for s in ids if (s in full) == (0 in full)]
    other = [s for s in ids if (s in full) != (0 in full)]
    change = (f"with{VAL_SPLIT} (a validation split)" if 0 in full
              else "without --val-samples (the full training set, no validation split)")
    parts = [f"  and, for seed S = {listed(same)}, --seed S --out ~/runs/{row}-seedS"] if same else []
    if other:
        parts.append(f"  and, for seed S = {listed(other)}, the same {change} --seed S --out ~/runs/{row}-seedS")
    return "".join(parts)


def _projected(results: Path, algo: str) -> str:
    """Arithmetic, not a measurement: the cost of one unrun or unfinished row of ``algo`` from its finished runs under
    the current presets, else under an earlier EP recipe (the unlabelled epochs dominate a round and
    depend neither on the label count nor on the recipe). It takes the slowest of the runs (any seed) that
    record one thread throughout, else the slowest of all (a run given more threads for a while is faster)."""
    from sdt_neuro.presets import SEMI_LABELS

    runs = [("published", "")] + ([(f, v) for f, v, _ in reversed(SEMI_EP_EARLIER)] if algo == "ep" else [])
    for folder, variant in runs:  # a round costs the same under each recipe: one unlabelled epoch dominates it
        seeds = ("", *(f"{SEMI_SEED}{s}" for s in FURTHER_SEEDS))
        done = [(f"semi-{algo}-{n}{variant}{seed}", d) for n in SEMI_LABELS for seed in seeds
                if (d := _semi_final(results, f"semi-{algo}-{n}", folder, variant + seed))]
        if not done:
            continue
        one_thread = [(name, d) for name, d in done if d["threads"] == [1]]
        name, slowest = max(one_thread or done, key=lambda nd: nd[1]["seconds"])
        run = name + ("" if folder == "published" else f" ({folder})")
        how = "on 1 thread" if one_thread else "the slowest finished run; none records one thread throughout"
        return (f"; projected about {slowest['seconds'] / 3600:.1f} h of one core (arithmetic from the finished "
                f"{run} run's {slowest['seconds']:.0f} s, {how})")
    return ""


def _released_spread(released: dict[str, Any], finals: dict[str, Any], n: int) -> dict[str, Any]:
    """Sample std and count of the released runs' final test accuracies, where there are two or more:
    from the committed per-run curves by label count (``released``), else from the committed final
    figures (``finals``, EP)."""
    if curves := released.get(str(n)):
        values = [run["supervised_accuracy"][-1] for run in curves.values()]
    else:
        values = [run["final_exact"] for run in (finals.get(str(n)) or {}).get("runs", {}).values()]
    if len(values) < 2:
        return {}
    return {"published_std": round(statistics.stdev(values), 4), "published_seeds": len(values)}


def _earlier_recipes(results: Path, row: str) -> list[dict[str, Any]]:
    """The finished runs of ``row`` under each of :data:`SEMI_EP_EARLIER` (mean and spread over their
    seeds) and its supervised-only ablation there, for the recipes that have either."""
    found = []
    for folder, variant, recipe in SEMI_EP_EARLIER:
        def final(results: Path, name: str, variant: str = "", folder: str = folder,
                  recipe_variant: str = variant) -> dict[str, Any] | None:
            return _semi_final(results, name, folder, recipe_variant + variant)

        first = final(results, row)
        supervised = (final(results, f"{row}-supervised") or {}).get("measured")
        if first is None and supervised is None:
            continue
        seeds = _over_seeds(results, row, first, final) if first else {}
        found.append({"name": f"{folder}{variant}", "recipe": recipe, "source": f"benchmarks/results/semi/{folder}/",
                      "measured": seeds.get("measured"), "seeds": seeds.get("seeds"), "std": seeds.get("std"),
                      "supervised_only": supervised})
    return found


#: semi-supervised rows whose runs come from another preset, chosen on validation: row -> (that preset, how many
#: of its final seeds, seed 0 among them, must be finished before the row takes them; the rule was registered
#: before the runs, BENCHMARKS.md, issue 18). Until then the row keeps its own runs.
SEMI_ROW_PRESETS = {"semi-ep-600": ("semi-ep-600-proportional", 2)}


def _row_preset(results: Path, row: str) -> str:
    """The preset whose runs give ``row``: its :data:`SEMI_ROW_PRESETS` choice once enough of that preset's
    seeds are finished, else the row's own."""
    if row not in SEMI_ROW_PRESETS:
        return row
    preset, needed = SEMI_ROW_PRESETS[row]
    first = _semi_final(results, preset)
    return preset if first and _over_seeds(results, preset, first)["seeds"] >= needed else row


def _variant_presets(row: str, preset: str) -> list[tuple[str, str]]:
    """The presets shown beside ``row`` (never as its result) with how each relates to it: our variants
    (``-b128``), the preset chosen for it while it has too few seeds, the row's own preset once replaced."""
    from sdt_neuro.presets import PRESETS, RELEASED_SUFFIX

    chosen = SEMI_ROW_PRESETS.get(row, (None, 0))[0]
    names = [(f"{row}{RELEASED_SUFFIX}", "variant"), (chosen, "chosen"), (row, "replaced")]
    return [(name, role) for name, role in names if name in PRESETS and name != preset]


def _our_variants(results: Path, row: str, preset: str) -> list[dict[str, Any]]:
    """Runs of the presets beside ``row`` (:func:`_variant_presets`; ``preset``: the one that gives the row),
    committed as ``semi/published/<preset>[-seedN].metrics.json``: mean and spread over their finished seeds,
    whether they held out the validation split, or how far an unfinished one has come."""
    from sdt_neuro.presets import DESCRIPTIONS

    found = []
    for name, role in _variant_presets(row, preset):
        source = _semi_file(name)
        entry: dict[str, Any] = {"preset": name, "role": role, "recipe": DESCRIPTIONS[name][1],
                                 "source": f"benchmarks/results/{source}"}
        first = _semi_final(results, name)
        if first is not None:
            seeds = _over_seeds(results, name, first)
            keys = ("measured", "std", "seeds", "seed_ids", "full_train_seeds")
            found.append({**entry, **{key: seeds.get(key) for key in keys}})
        elif partial := _load(results, source):
            found.append({**entry, "epochs_committed": partial[-1]["epoch"]})
    return found


def _semi(results: Path) -> list[dict[str, Any]]:
    from sdt_neuro.presets import SEMI_LABELS

    rows = []
    # the released runs' spread (``published_std``, ``published_seeds``): a BP label count with only some
    # runs transcribed sits under ``partial``, which the spread does not read
    released = {algo: released_runs.read(name, results) for algo, name in released_runs.RUNS.items()}
    released_finals = {"ep": released_runs.read(released_runs.FINALS_EP, results), "bp": {}}
    for algo in ("bp", "ep"):
        projected = _projected(results, algo)  # one cost per algorithm, for each of its unrun rows
        for n in SEMI_LABELS:
            row = f"semi-{algo}-{n}"
            ablations = _ablations_over_seeds(results, row)
            ablations["published_ablations"] = PUBLISHED_ABLATIONS[row]
            running = _unfinished_ablations(results, row)
            if running:
                ablations["unfinished_ablations"] = running
            ablations.update(_released_spread(released[algo], released_finals[algo], n))
            earlier = _earlier_recipes(results, row) if algo == "ep" else []
            if earlier:
                ablations["earlier_recipes"] = earlier
            preset = _row_preset(results, row)
            if preset != row:
                ablations["preset"] = preset
            ours = _our_variants(results, row, preset)
            if ours:
                ablations["our_variants"] = ours
            unfinished = _unfinished_seeds(results, preset)
            if unfinished:
                ablations["unfinished_seeds"] = unfinished
            final = _semi_final(results, preset)
            if final:
                command = LONG_RUN.format(preset=preset, split=final["val_split"])
                seeds = _over_seeds(results, preset, final)
                command += _seeds_command(preset, seeds)
                rows.append(_entry(row, command=command, **seeds, **ablations))
                continue
            partial = _load(results, _semi_file(row)) or []  # read only where the run is unfinished
            tuned = None
            if algo == "bp":
                records = _load(results, f"semi/{row}.metrics.json")
                tuned = records[-1]["test_accuracy"] if records else None
            else:
                scored = _load(results, f"semi/eval/{row}.eval.json")
                tuned = scored["output_accuracy"] if scored else None
            reason = (f"the published procedure's run is unfinished: {partial[-1]['epoch']} epochs committed "
                      f"(continue it with --resume where its checkpoint survives)" if partial else
                      "the published semi-supervised procedure (METHOD.md) has not been run")
            reason += projected
            extra: dict[str, Any] = {}
            waiting = _seeds_waiting(results, row)
            if waiting:
                extra["seeds_waiting"] = waiting
            if tuned is not None:
                extra["tuned_on_test"] = tuned
                reason += ("; our earlier recipe's figure (tuned_on_test, preset semi-*-ours) came from settings "
                           "chosen on the test set and is not a result")
            command = LONG_RUN.format(preset=row, split=_split_of(partial))  # a partial run resumes as it began
            rows.append(_entry(row, reason=reason, command=command, **extra, **ablations))
    return rows


#: how the table names a preset beside a row, by its role (:func:`_variant_presets`)
VARIANT_LABELS = {"variant": "ours", "chosen": "chosen on validation, too few seeds yet:",
                  "replaced": "the row's earlier preset"}


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| row | published | measured | seeds | std | epochs | seconds | note |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        measured = "–" if r["measured"] is None else f"{r['measured']:.4f}"
        std = "–" if r["std"] is None else f"{r['std']:.4f}"
        note = r.get("reason", "")
        published_ablations = r.get("published_ablations", {})
        over = r.get("ablation_seeds", {})
        ablations = [f"{label} {r[key]:.4f}"
                     + (f" ± {over[key]['std']:.4f} over {over[key]['seeds']} seeds" if key in over else "")
                     + (f" (published {published_ablations[key]:.4f})" if key in published_ablations else "")
                     for key, _, label in (*SEMI_ABLATIONS, ("probe_ours", "", "our probe protocol"))
                     if r.get(key) is not None]
        ablations += [f"{ABLATION_NAMES[u['ablation']]}" + (f" seed {u['seed']}" if "seed" in u else "")
                      + f" unfinished ({u['epochs_committed']} of {u['epochs']} epochs committed"
                      + ("; not counted)" if "seed" in u else ")") for u in r.get("unfinished_ablations", [])]
        for recipe in r.get("earlier_recipes", []):  # beside the row, never its result
            value, supervised = recipe["measured"], recipe["supervised_only"]
            spread = f" ± {recipe['std']:.4f}" if recipe.get("std") is not None else ""
            figures = [f"{value:.4f}{spread} over {recipe['seeds']} seed(s)"] if value is not None else []
            figures += [f"supervised only {supervised:.4f}"] if supervised is not None else []
            ablations.append(f"earlier recipe {recipe['name']} ({', '.join(figures)})")
        if r.get("preset"):
            ablations.insert(0, f"runs of {r['preset']} (chosen on validation; BENCHMARKS.md); the ablations are "
                                f"{r['row']}'s")
        for variant in r.get("our_variants", []):  # beside the row, never its result
            label = VARIANT_LABELS[variant.get("role", "variant")]
            if variant.get("measured") is None:
                ablations.append(f"{label} {variant['preset']}: {variant['epochs_committed']} epochs committed")
                continue
            spread = f" ± {variant['std']:.4f}" if variant.get("std") is not None else ""
            full = variant.get("full_train_seeds") or []
            held = [s for s in variant.get("seed_ids") or [0] if s not in full]
            split = "".join(f", seed(s) {', '.join(map(str, seeds))} {how}" for seeds, how in
                            ((held, "with the validation split held out"), (full, "on the full training set")) if seeds)
            ablations.append(f"{label} {variant['preset']} ({variant['measured']:.4f}{spread} over "
                             f"{variant['seeds']} seed(s){split})")
        ablations += [f"seed {u['seed']} unfinished ({u['epochs_committed']} of {u['epochs']} epochs committed; "
                      "not counted)"
                      for u in r.get("unfinished_seeds", [])]
        ablations += [f"seed {w['seed']} finished at {w['measured']:.4f} (counted once seed 0 has finished)"
                      for w in r.get("seeds_waiting", [])]
        if r.get("collapsed"):
            ablations.append("the output of at least one seed collapsed (its figure is in the mean)")
        if r.get("full_train_seeds"):
            ablations.append(f"seed(s) {', '.join(map(str, r['full_train_seeds']))} trained on the full training "
                             "set (no validation split)")
        if r.get("held_out_seeds"):
            ablations.append(f"seed(s) {', '.join(map(str, r['held_out_seeds']))} held out a validation split "
                             "(the test set scored once, after the last epoch)")
        note = "; ".join([note, *ablations]) if note else "; ".join(ablations)
        spread = r.get("published_std")
        published = f"{r['published']:.4f}" + (f" ± {spread:.4f}" if spread is not None else "")
        lines.append(f"| {r['row']} | {published} | {measured} | {r['seeds'] or '–'} | {std} | "
                     f"{r['epochs'] or '–'} | {r['seconds'] or '–'} | {note} |")
    splits = [split for r in rows for split in r.get("ablation_splits", {}).values()]
    if splits:
        held = sum(bool(split) and split != "mixed" for split in splits)
        full = splits.count("")
        mixed = f", {len(splits) - held - full} mixed the two over their seeds" if held + full < len(splits) else ""
        used = sorted(set(splits) - {"", "mixed"})
        lines.append(f"\nAblations: {held} of the {len(splits)} figures above held out a validation split "
                     f"({', '.join(used)}; the test set scored once, after the last "
                     f"epoch), {full} trained on the full training set{mixed}.")
    return "\n".join(lines) + "\n"
