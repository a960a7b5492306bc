import os

import pytest

from sdt_neuro import atomic


def test_a_file_is_replaced_whole_after_its_data_reach_the_disk(tmp_path, monkeypatch):
    order = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: order.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: order.append("replace") or real_replace(a, b))
    path = atomic.write_text(tmp_path / "new" / "page.html", "é")
    assert path.read_text(encoding="utf-8") == "é" and order[:2] == ["fsync", "replace"]


def test_a_write_cut_off_leaves_the_previous_file_and_no_temporary_one(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    atomic.write_text(path, "old")

    def crash(a, b):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic.write_text(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.json"]
