"""Reading a run's per-epoch metrics records."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def scored(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records that carry figures (an epoch a phase left unscored, or a run without training
    labels, says why under ``evaluation`` instead)."""
    return [r for r in records if "evaluation" not in r]


def val_split_size(records: list[dict[str, Any]]) -> int | None:
    """The validation split a run's records say it held out, in images; ``None`` for a run on the full
    training set, whose epochs were scored on the test set."""
    sizes = {r["val_samples"] for r in records if r.get("val_samples")}
    return max(sizes) if sizes else None


def headline(record: dict[str, Any]) -> dict[str, Any]:
    """The figures an epoch was judged by: validation when the run has a validation split, else
    test. Keys ``split``, ``da_average``, ``da_max`` and (semi-supervised) ``accuracy``."""
    prefix = "val" if "val_da_average" in record else "test"
    out = {"split": "validation" if prefix == "val" else "test", "da_average": record[f"{prefix}_da_average"],
           "da_max": record[f"{prefix}_da_max"]}
    if f"{prefix}_accuracy" in record:
        out["accuracy"] = record[f"{prefix}_accuracy"]
    return out


def epoch_line(m: dict[str, Any], suffix: str = "") -> str:
    """One printed line per epoch record: the figures it was judged by (validation or test), and
    the test figures too after the last epoch of a run with a validation split."""
    if "evaluation" in m:  # not scored (no training labels)
        return (f"epoch {m['epoch']:4d}  loss {m['train_loss']:.5f}  {m['epoch_seconds']:.1f} s  "
                f"({m['evaluation']}){suffix}")
    h = headline(m)
    accuracy = f"  output accuracy {h['accuracy']:.4f}" if "accuracy" in h else ""
    line = (f"epoch {m['epoch']:4d}  loss {m['train_loss']:.5f}  {h['split']} DA avg {h['da_average']:.4f}  "
            f"DA max {h['da_max']:.4f}{accuracy}  {m['epoch_seconds']:.1f} s{suffix}")
    if h["split"] == "validation" and "test_da_average" in m:
        test_acc = f"  output accuracy {m['test_accuracy']:.4f}" if "test_accuracy" in m else ""
        line += f"\n            test DA avg {m['test_da_average']:.4f}  DA max {m['test_da_max']:.4f}{test_acc}"
    return line


def written(out: Path) -> str:
    """What a run left in ``out``, for its last line: the records, the checkpoint, and its page and
    pictures where it drew them (a run without training labels draws none)."""
    names = [str(out / name) for name in ("metrics.json", "checkpoint.pt") if (out / name).is_file()]
    pictures = len(list(out.glob("*.png")))
    if (out / "index.html").is_file():
        names.append(f"{out / 'index.html'} with {pictures} PNG(s)")
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + (names[-1] if names else "nothing")
