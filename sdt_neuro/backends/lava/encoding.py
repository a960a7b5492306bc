"""Input encodings shared by the Lava input process and host-side references (NumPy only).

The Lava input process draws Bernoulli spikes itself, one generator per window seeded by
``(seed, window)``; :func:`bernoulli_window` replays the same draws on the host so oracles and
other backends can be fed the identical spike trains.
"""

from __future__ import annotations

import numpy as np

GRADED_BITS = 8  # fixed-point direct current: payload round(255 x), read as p / 2**8 by the synapse
GRADED_MAX = 255


def window_rng(seed: int, window: int) -> np.random.Generator:
    """The generator of one window's Bernoulli draws."""
    return np.random.default_rng([int(seed), int(window)])


def bernoulli_step(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One step of Bernoulli spikes: ``s = 1[u < x]`` with ``u ~ U[0, 1)``, same shape as ``x``."""
    return rng.random(x.shape) < x


def bernoulli_window(x: np.ndarray, steps: int, seed: int, window: int) -> np.ndarray:
    """The ``[T, *x.shape]`` spikes the input process emits for ``x`` (``[n_in, B]``) in ``window``."""
    rng = window_rng(seed, window)
    return np.stack([bernoulli_step(x, rng) for _ in range(steps)])


def graded_payload(x: np.ndarray) -> np.ndarray:
    """8-bit graded payload ``p = round(255 x)`` for pixel values ``x`` in [0, 1]."""
    return np.rint(np.clip(x, 0.0, 1.0) * GRADED_MAX).astype(np.int32)
