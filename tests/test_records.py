"""Reading a run's per-epoch metrics records."""

from sdt_neuro.records import val_split_size


def test_val_split_size_reads_the_split_a_run_held_out():
    held_out = [{"epoch": 1, "val_samples": 1000}, {"epoch": 2, "val_samples": 1000, "test_accuracy": 0.9}]
    assert val_split_size(held_out) == 1000


def test_val_split_size_is_none_for_a_run_on_the_full_training_set():
    assert val_split_size([{"epoch": 1, "test_accuracy": 0.9}, {"epoch": 2, "val_samples": None}]) is None
    assert val_split_size([]) is None


def test_a_runs_last_line_names_only_what_it_wrote(tmp_path):
    from sdt_neuro.records import written

    assert written(tmp_path) == "nothing"
    (tmp_path / "metrics.json").write_text("[]")
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    assert written(tmp_path) == f"{tmp_path / 'metrics.json'} and {tmp_path / 'checkpoint.pt'}"  # no pictures
    for name in ("index.html", "a.png", "b.png"):
        (tmp_path / name).write_text("")
    assert written(tmp_path).endswith(f"and {tmp_path / 'index.html'} with 2 PNG(s)")
