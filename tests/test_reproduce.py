import importlib.util
import sys
from pathlib import Path

import pytest

from sdt_neuro.presets import PRESETS, preset_config
from tests.conftest import synthetic_dataset

SPEC = importlib.util.spec_from_file_location("reproduce", Path(__file__).parents[1] / "benchmarks" / "reproduce.py")
reproduce = importlib.util.module_from_spec(SPEC)
sys.modules["reproduce"] = reproduce  # dataclasses look their module up
SPEC.loader.exec_module(reproduce)


@pytest.mark.parametrize("table", sorted(reproduce.TABLES))
def test_every_row_names_a_preset_and_valid_quick_overrides(table):
    for row in reproduce.TABLES[table]:
        assert row.preset in PRESETS and 0.5 < row.published < 1
        preset_config(row.preset, **row.quick)


def test_a_row_runs_and_renders_measured_next_to_published():
    row = reproduce.Row("bp-1layer", 0.9578, quick={"epochs": 1})
    # one epoch on 200 synthetic images: only the plumbing is under test here
    result = reproduce.run_row(row, "quick", synthetic_dataset(), None, 1)
    assert result["epochs"] == 1 and result["published"] == 0.9578 and 0 <= result["measured"] <= 1
    text = reproduce.markdown([result])
    assert "| bp-1layer | test_da_average |" in text and "0.9578" in text and f"{result['measured']:.4f}" in text


def test_rows_filter_runs_only_the_matching_presets(tmp_path, monkeypatch):
    ran = []

    def fake_row(row, budget, data, data_root, threads):
        ran.append(row.preset)
        return {"preset": row.preset, "metric": row.metric, "measured": 0.5, "published": row.published,
                "epochs": 1, "seconds": 1.0, "overrides": {}}

    monkeypatch.setattr(reproduce, "run_row", fake_row)
    monkeypatch.setattr(reproduce, "load_dataset", lambda name, root: synthetic_dataset())
    assert reproduce.main(["--table", "semi", "--rows", "semi-bp-1", "--out", str(tmp_path)]) == 0
    assert ran == ["semi-bp-100", "semi-bp-1000"]
    assert (tmp_path / "reproduce_semi_quick_semi-bp-1.md").read_text().count("| semi-bp-") == 2
    with pytest.raises(SystemExit):
        reproduce.main(["--table", "semi", "--rows", "no-such-preset", "--out", str(tmp_path)])
