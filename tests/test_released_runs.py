import json

import pytest

from tests.conftest import load_benchmark_script

released_runs = load_benchmark_script("released_runs")


def test_read_gives_the_committed_file_or_nothing_where_it_is_missing(tmp_path):
    assert released_runs.read("semi/none.json", tmp_path) == {}
    (tmp_path / "runs.json").write_text(json.dumps([{"epoch": 1}]))
    assert released_runs.read("runs.json", tmp_path) == [{"epoch": 1}]


def test_read_names_a_corrupt_file_and_the_fix(tmp_path):
    (tmp_path / "cut.metrics.json").write_text('[{"epoch": 1}, {"epo')  # a copy cut off half-way
    with pytest.raises(ValueError, match=r"cut\.metrics\.json is not valid JSON.*restore it from git"):
        released_runs.read("cut.metrics.json", tmp_path)


def test_the_named_transcriptions_are_committed():
    for name in [*released_runs.RUNS.values(), released_runs.FINALS_EP]:
        assert released_runs.read(name), name
