"""The semi-supervised rows of the paper's table as one picture: test accuracy against the number of
labels, BP and EP side by side, measured beside published, with both ablations.

``python benchmarks/reproduce.py --table paper`` draws it from the rows of ``paper.json``
(:func:`draw` writes ``paper_semi.png``). A row or ablation with no figure yet (not run, or still
running) is a gap in its line, never drawn as zero; error bars are one standard deviation over
seeds (published: METHOD.md's released runs; measured: our seeds), and each measured seed is a dot.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sdt_neuro.plots import _pyplot

ALGOS = ("bp", "ep")
#: (key in a row, key of the published figure, name, colour): the method and its two ablations
CURVES = (("measured", "published", "WTA + homeostasis", "tab:red"),
          ("supervised_only", "supervised_only", "supervised only", "tab:gray"),
          ("no_homeostasis", "no_homeostasis", "WTA without homeostasis", "tab:blue"))

Point = tuple[int, float, float | None]  # labels, accuracy, standard deviation (None: one seed or unknown)


def labels_of(row: str) -> int:
    """The label count of a semi-supervised row (``semi-ep-600`` -> 600)."""
    return int(row.rsplit("-", 1)[1])


def semi_rows(rows: list[dict[str, Any]], algo: str) -> list[dict[str, Any]]:
    """The ``semi-<algo>-N`` rows, fewest labels first."""
    found = [r for r in rows if r["row"].startswith(f"semi-{algo}-")]
    return sorted(found, key=lambda r: labels_of(r["row"]))


def published_points(rows: list[dict[str, Any]], key: str) -> list[Point]:
    """METHOD.md's figure per row: the method (with its spread where known) or an ablation."""
    points: list[Point] = []
    for r in rows:
        if key == "published":
            points.append((labels_of(r["row"]), r["published"], r.get("published_std")))
        elif (value := (r.get("published_ablations") or {}).get(key)) is not None:
            points.append((labels_of(r["row"]), value, None))
    return points


def measured_points(rows: list[dict[str, Any]], key: str) -> list[Point]:
    """Our figure per row (the seed mean and spread for the method), rows without one left out."""
    return [(labels_of(r["row"]), r[key], r.get("std") if key == "measured" else None)
            for r in rows if r.get(key) is not None]


def with_gaps(points: list[Point], labels: list[int]) -> tuple[list[int], list[float], list[float]]:
    """``points`` over every label count in ``labels``, NaN where a count has none (so that a line breaks
    there instead of joining its neighbours), a spread of 0 where none is known."""
    at = {n: (value, std) for n, value, std in points}
    return labels, [at[n][0] if n in at else math.nan for n in labels], [at.get(n, (0, 0))[1] or 0.0 for n in labels]


def draw(rows: list[dict[str, Any]], path: Path) -> dict[str, dict[str, list[Point]]]:
    """Draw the semi-supervised rows of ``rows`` (``paper.json``'s entries) into ``path``; returns the
    points drawn per algorithm and curve (``published <name>`` / ``measured <name>``)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(ALGOS), figsize=(11, 4.2), sharey=True)
    drawn: dict[str, dict[str, list[Point]]] = {}
    for ax, algo in zip(axes, ALGOS):
        semi = semi_rows(rows, algo)
        drawn[algo] = {}
        for key, published_key, name, colour in CURVES:
            for source, points, style in (("published", published_points(semi, published_key), "--"),
                                          ("measured", measured_points(semi, key), "-")):
                drawn[algo][f"{source} {name}"] = points
                if not points:
                    continue
                x, y, err = with_gaps(points, [labels_of(r["row"]) for r in semi])
                ax.errorbar(x, y, yerr=err, fmt=("o" if source == "measured" else "s") + style,
                            color=colour, alpha=1.0 if source == "measured" else 0.5, capsize=3, markersize=4,
                            label=f"{source}: {name}")
        seeds = [(labels_of(r["row"]), v) for r in semi for v in r.get("per_seed") or ()]
        if seeds:
            ax.plot(*zip(*seeds), ".", color="tab:red", alpha=0.35, label="measured: one seed")
        ax.set_xscale("log")
        ax.set_xticks([labels_of(r["row"]) for r in semi], [str(labels_of(r["row"])) for r in semi])
        ax.minorticks_off()
        ax.set_title(f"{algo.upper()}, 784-5000-10, MNIST")
        ax.set_xlabel("labelled training images")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.suptitle("Semi-supervised: measured (solid) against published (dashed); bars: sd over seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return drawn
