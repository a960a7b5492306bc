"""The local race: known winners, ties in one step, no winner, inhibition after k, bad settings."""

from __future__ import annotations

import numpy as np
import pytest

from sdt_neuro.backends.lava.local_wta import LocalWTA, RaceRun, race_winners
from sdt_neuro.errors import ConfigError


def test_the_highest_scores_arrive_first() -> None:
    race = LocalWTA(steps=30, floor=-1.0, ceiling=2.0)  # 0.1 per step
    score = np.array([0.05, 0.92, 0.31, 0.55, 0.74])
    np.testing.assert_array_equal(race_winners(score, 2, race), [0, 1, 0, 0, 1])
    np.testing.assert_array_equal(race_winners(score, 1, race), [0, 1, 0, 0, 0])


def test_scores_that_cross_in_one_step_all_win() -> None:
    race = LocalWTA(steps=3, floor=-1.0, ceiling=2.0)  # climb 1.0: 0.9 and 0.5 cross together
    np.testing.assert_array_equal(race_winners(np.array([0.9, 0.5, -0.5]), 1, race), [1, 1, 0])


def test_inhibition_stops_the_race_after_k_winners() -> None:
    race = LocalWTA(steps=300, floor=-1.0, ceiling=2.0)
    score = np.linspace(-0.9, 1.9, 50)
    assert race_winners(score, 3, race).sum() == 3
    assert race_winners(score, 3, race)[-3:].sum() == 3


def test_no_score_reaches_the_ceiling_no_winner() -> None:
    race = LocalWTA(steps=10, floor=0.0, ceiling=1.0)
    assert race_winners(np.array([-0.5, -0.2]), 1, race).sum() == 0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="steps=0"):
        LocalWTA(steps=0).check()
    with pytest.raises(ConfigError, match="floor=2.0"):
        LocalWTA(floor=2.0, ceiling=1.0).check()


def test_a_quadratic_ramp_separates_close_scores_at_the_top() -> None:
    score = np.array([0.95, 0.85, 0.5])
    linear = LocalWTA(steps=4, floor=0.0, ceiling=1.0)  # 0.25 per step: the top two cross together
    quadratic = LocalWTA(steps=4, floor=0.0, ceiling=1.0, ramp="quadratic")  # gains 0.1, 0.3, 0.6, 1.0
    np.testing.assert_array_equal(race_winners(score, 1, linear), [1, 1, 0])
    np.testing.assert_array_equal(race_winners(score, 1, quadratic), [1, 0, 0])
    assert [quadratic.gained(j) for j in range(1, 5)] == pytest.approx([0.1, 0.3, 0.6, 1.0])
    with pytest.raises(ConfigError, match="ramp='cubic'"):
        LocalWTA(ramp="cubic").check()


def test_integer_scores_race_on_the_rounded_ramp() -> None:
    race = LocalWTA(steps=4, floor=0.0, ceiling=1.0)  # gains 0.25 .. 1.0
    ramp, ceiling = race.integer_ramp(1000)
    assert ramp == [250, 500, 750, 1000] and ceiling == 1000
    score = np.array([740, 760, 100])  # 0.74 and 0.76: the second crosses a step earlier
    np.testing.assert_array_equal(race_winners(score, 1, race, unit=1000), [0, 1, 0])
    np.testing.assert_array_equal(race_winners(score / 1000, 1, race), race_winners(score, 1, race, unit=1000))


def test_a_two_speed_ramp_is_fine_above_the_knee_and_still_reaches_the_floor() -> None:
    race = LocalWTA(steps=6, floor=-1.0, ceiling=1.0, fine_steps=4, knee=0.0)  # 0.25 x 4, then 0.5 x 2
    assert [race.gained(j) for j in range(1, 7)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.5, 2.0])
    np.testing.assert_array_equal(race_winners(np.array([0.8, 0.6, -0.9]), 1, race), [1, 0, 0])
    np.testing.assert_array_equal(race_winners(np.array([-0.8, -0.9]), 1, race), [1, 1])  # a winner below 0
    with pytest.raises(ConfigError, match="fine_steps=6"):
        LocalWTA(steps=6, floor=-1.0, ceiling=1.0, fine_steps=6).check()


@pytest.mark.parametrize("unit", [None, 2**14])
def test_a_race_run_step_by_step_picks_the_oracles_winners(unit) -> None:
    """The state the Lava models keep (inhibition a step late, -1 or -2 per win) gives the oracle's winners."""
    rng = np.random.default_rng(3)
    race = LocalWTA(steps=12)
    for _ in range(20):
        score = rng.uniform(-0.5, 1.2, 30)
        if unit is not None:
            score = np.round(score * unit).astype(np.int64)
        run = RaceRun.for_race(race, 30, k=3, unit=unit)
        run.start(score)
        arrived = np.zeros(30)
        for j in range(1, race.steps + 1):
            spikes = run.step(j, arrived)
            per_win = 1 if unit is None else 2
            arrived = -per_win * (spikes.sum() - spikes)  # every other neuron's win, one step later
        np.testing.assert_array_equal(run.fired, race_winners(score, 3, race, unit=unit).astype(bool))
