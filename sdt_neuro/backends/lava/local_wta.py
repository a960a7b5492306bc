"""A winner-take-all a chip can do locally: a race with lateral inhibition (NumPy, no Lava).

``learning_process.RaceWTAOutput`` runs it inside Lava; :func:`race_winners` is its oracle. After
the T counting steps of a window, each output neuron races for ``steps`` (R) steps: at race step j
its potential is its score ``r - H`` (spike rate minus its own adaptive threshold, the homeostasis
offset) plus ``j (ceiling - floor) / R``. A neuron whose potential reaches ``ceiling`` spikes once,
unless k spikes of other neurons have already reached it through the lateral inhibition (a stock
``Dense`` with weight -1 between every pair of distinct neurons, one step of delay). Every
decision is local to a neuron: its own score, its own count of inhibitory spikes. Neurons that
cross in the same step all win, so a window can have more than k winners; a window in which no
score climbs to ``ceiling`` within R steps has none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdt_neuro.errors import ConfigError

MAX_RACE_STEPS = 1000
RAMPS = ("linear", "quadratic")


@dataclass(frozen=True)
class LocalWTA:
    """The race's settings: ``steps`` race steps, scores climbing from ``floor`` to ``ceiling``.

    Defaults chosen on a 10,000-image validation split with the NumPy oracle (lava-100-10k, three
    sample orders; ``BENCHMARKS.md``): 12 linear steps from 0 to 1.25, i.e. 0.104 per step, just
    under the rate quantum 1/T at T = 8. A quadratic ramp scored lower."""

    steps: int = 12
    floor: float = 0.0
    ceiling: float = 1.25
    ramp: str = "linear"
    fine_steps: int = 0  # > 0: the first fine_steps climb from ceiling to knee, the rest from knee to floor
    knee: float = 0.0

    def check(self) -> LocalWTA:
        """Raise :class:`ConfigError` naming a setting the race cannot run."""
        if not isinstance(self.steps, (int, np.integer)) or not 1 <= self.steps <= MAX_RACE_STEPS:
            raise ConfigError(f"race steps={self.steps} must be an integer in [1, {MAX_RACE_STEPS}]")
        if not self.floor < self.ceiling:
            raise ConfigError(f"race floor={self.floor} must lie below ceiling={self.ceiling}")
        if self.ramp not in RAMPS:
            raise ConfigError(f"race ramp={self.ramp!r} must be one of {RAMPS}")
        if self.fine_steps and not (0 < self.fine_steps < self.steps and self.floor < self.knee < self.ceiling):
            raise ConfigError(f"race fine_steps={self.fine_steps} must lie in (0, steps={self.steps}) with "
                              f"floor < knee={self.knee} < ceiling")
        return self

    def gained(self, j: int) -> float:
        """Potential gained after ``j`` race steps: ``(ceiling - floor) j / R`` (linear), or
        ``(ceiling - floor) j (j + 1) / (R (R + 1))`` (quadratic: an integrated constant current,
        fine steps first, where the winners are)."""
        span = self.ceiling - self.floor
        if self.fine_steps:  # two speeds: fine above the knee, coarse below it
            if j <= self.fine_steps:
                return (self.ceiling - self.knee) * j / self.fine_steps
            rest = (j - self.fine_steps) / (self.steps - self.fine_steps)
            return (self.ceiling - self.knee) + (self.knee - self.floor) * rest
        if self.ramp == "linear":
            return span * j / self.steps
        return span * j * (j + 1) / (self.steps * (self.steps + 1))

    def integer_ramp(self, unit: int) -> tuple[list[int], int]:
        """The gains after 1..R steps and the ceiling, in integer units of ``1 / unit``."""
        return [round(self.gained(j) * unit) for j in range(1, self.steps + 1)], round(self.ceiling * unit)

    def to_dict(self) -> dict:
        return {"steps": int(self.steps), "floor": float(self.floor), "ceiling": float(self.ceiling),
                "ramp": self.ramp, "fine_steps": int(self.fine_steps), "knee": float(self.knee)}


def race_winners(score: np.ndarray, k: int, race: LocalWTA, unit: int | None = None) -> np.ndarray:
    """The neurons (0/1, float) that win the race from ``score`` ``[N]``: the oracle of the Lava model.

    ``unit``: integer scores in units of ``1 / unit`` (fixed point); the ramp and the ceiling are then
    rounded to the same units (:meth:`LocalWTA.integer_ramp`).
    """
    fired = np.zeros(np.shape(score), dtype=bool)
    if unit is None:
        score, gains, ceiling = np.asarray(score, dtype=np.float64), race.gained, race.ceiling
    else:
        score = np.asarray(score, dtype=np.int64)
        ramp, ceiling = race.integer_ramp(unit)

        def gains(j: int) -> int:
            return ramp[j - 1]
    for j in range(1, race.steps + 1):
        if fired.sum() >= k:  # every neuron still racing has received k inhibitory spikes
            break
        fired |= score + gains(j) >= ceiling
    return fired.astype(np.float64)


class RaceRun:
    """One population's race, step by step: the state both Lava models (float and integer) keep.

    ``ramp[j - 1]`` is the potential gained after ``j`` race steps and ``ceiling`` the threshold,
    in the units of the scores; each win of another neuron arrives on the inhibitory port as
    ``-per_win`` (the lateral ``Dense`` weight: -1 in float, -2 in Lava's even 8-bit weights).
    """

    def __init__(self, n: int, ramp: list[float] | list[int], ceiling: float, k: int, per_win: int = 1) -> None:
        self.ramp, self.ceiling, self.k, self.per_win = np.asarray(ramp), ceiling, k, per_win
        self.score = np.zeros(n)
        self.fired = np.zeros(n, dtype=bool)
        self.heard = np.zeros(n, dtype=np.int64)

    @classmethod
    def for_race(cls, race: LocalWTA, n: int, k: int, unit: int | None = None) -> RaceRun:
        """Float scores (``unit=None``) or integer ones in units of ``1 / unit`` (see :func:`race_winners`)."""
        if unit is None:
            return cls(n, [race.gained(j) for j in range(1, race.steps + 1)], race.ceiling, k)
        ramp, ceiling = race.integer_ramp(unit)
        return cls(n, ramp, ceiling, k, per_win=2)

    def start(self, score: np.ndarray) -> None:
        """A new race from ``score`` ``[N]`` (counting is done)."""
        self.score = score
        self.fired = np.zeros_like(self.fired)
        self.heard = np.zeros_like(self.heard)

    def step(self, j: int, inhibition: np.ndarray) -> np.ndarray:
        """Race step ``j`` (1..R), given the inhibition that arrived (wins of step ``j - 1``); the
        neurons that spike now."""
        self.heard += np.rint(-np.asarray(inhibition, dtype=np.float64) / self.per_win).astype(np.int64)
        spikes = ~self.fired & (self.score + self.ramp[j - 1] >= self.ceiling) & (self.heard < self.k)
        self.fired |= spikes
        return spikes
