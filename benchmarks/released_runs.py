"""Where the authors' released semi-supervised runs, as transcribed, are committed, and how to read them.

The transcriptions live under ``benchmarks/results/`` (facts read from the authors' result files):
per-run test accuracy after every round (EP with 100 and 600 labels, BP with 1000) and, for the
other EP label counts, the accuracy after rounds 1, 50, 100, 150 and the last.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
#: per-run curves by algorithm, relative to the results folder: {labels: {run: {"supervised_accuracy": [...]}}}
RUNS = {"ep": "semi/published/published_runs_ep.json", "bp": "semi/published/released_runs_bp.json"}
#: EP label counts whose curves were not transcribed:
#: {labels: {"runs": {run: {"at_round", "rows", "final", "final_exact", ...}}}}
FINALS_EP = "semi/published/released_finals_ep.json"


def read(name: str, results: Path | None = None) -> Any:
    """The committed JSON file ``name`` under ``results`` (default :data:`RESULTS`), or ``{}`` where it is
    not committed."""
    path = (results or RESULTS) / name
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); restore it from git or copy the run's "
                         "metrics.json again") from error
