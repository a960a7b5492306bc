import math

from tests.conftest import load_benchmark_script

paper_figure = load_benchmark_script("paper_figure")


def row(name: str, published: float, measured: float | None, **fields) -> dict:
    return {"row": name, "published": published, "measured": measured, **fields}


ROWS = [
    row("bp-1layer", 0.9578, 0.9582),  # not semi-supervised: never drawn
    row("semi-ep-600", 0.9657, 0.962, std=0.0017, per_seed=[0.96, 0.964], published_std=0.0023,
        supervised_only=0.92, no_homeostasis=None,  # still running: a gap, not a zero
        published_ablations={"supervised_only": 0.9182, "no_homeostasis": 0.9665}),
    row("semi-ep-100", 0.8841, 0.9285, supervised_only=0.7975, no_homeostasis=0.6993,
        published_ablations={"supervised_only": 0.7811, "no_homeostasis": 0.8407}),
    row("semi-ep-3000", 0.9703, None, reason="not run"),
    row("semi-bp-100", 0.8843, 0.9131),
]


def test_the_figure_draws_each_row_once_in_label_order_and_leaves_missing_figures_out(tmp_path):
    drawn = paper_figure.draw(ROWS, tmp_path / "semi.png")
    assert (tmp_path / "semi.png").stat().st_size > 0
    ep = drawn["ep"]
    assert ep["measured WTA + homeostasis"] == [(100, 0.9285, None), (600, 0.962, 0.0017)]
    assert ep["published WTA + homeostasis"] == [(100, 0.8841, None), (600, 0.9657, 0.0023), (3000, 0.9703, None)]
    assert ep["measured WTA without homeostasis"] == [(100, 0.6993, None)]
    assert ep["published WTA without homeostasis"] == [(100, 0.8407, None), (600, 0.9665, None)]
    assert drawn["bp"]["measured WTA + homeostasis"] == [(100, 0.9131, None)]
    assert drawn["bp"]["published supervised only"] == []  # no published ablation given: nothing made up


def test_a_line_breaks_where_a_label_count_has_no_figure():
    x, y, err = paper_figure.with_gaps([(100, 0.9, 0.01), (600, 0.95, None)], [100, 300, 600])
    assert x == [100, 300, 600] and y[0] == 0.9 and math.isnan(y[1]) and y[2] == 0.95
    assert err == [0.01, 0.0, 0.0]
