"""One random stream per random input of the engine, each from its own child of the
replication's :class:`numpy.random.SeedSequence`, so changing one input (more loss, another
0-RTT share) leaves every other draw as it was."""

from __future__ import annotations

import numpy as np

__all__ = ["UniformDraws"]


class UniformDraws:
    """Uniform draws on [0, 1) from one stream, generated 4,096 at a time.

    Parameters
    ----------
    seed : numpy.random.SeedSequence
        This input's own seed.
    """

    __slots__ = ("_rng", "_buffer")

    def __init__(self, seed: np.random.SeedSequence):
        self._rng = np.random.default_rng(seed)
        self._buffer: list[float] = []

    def next(self) -> float:
        """The next draw."""
        buffer = self._buffer
        if not buffer:
            buffer.extend(self._rng.random(4096).tolist())
        return buffer.pop()
