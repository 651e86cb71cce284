"""Random draws in blocks: one numpy call per few thousand draws, handed out one at a time.

Every random input of a replication has its own stream (a child of the replication's
:class:`numpy.random.SeedSequence`), so changing one input leaves every other draw as it was.
"""

from __future__ import annotations

import numpy as np

__all__ = ["UniformDraws", "ExponentialDraws"]


class UniformDraws:
    """Uniform draws on [0, 1) from one stream, generated 4,096 at a time.

    Parameters
    ----------
    seed : numpy.random.SeedSequence or numpy.random.Generator
        This input's own seed, or its generator.
    """

    __slots__ = ("_rng", "_buffer")

    def __init__(self, seed: np.random.SeedSequence | np.random.Generator):
        self._rng = np.random.default_rng(seed)
        self._buffer: list[float] = []

    def next(self) -> float:
        """The next draw."""
        buffer = self._buffer
        if not buffer:
            buffer.extend(self._rng.random(4096).tolist())
        return buffer.pop()


class ExponentialDraws:
    """Exponential draws with mean 1 from one stream, generated 8,192 at a time.

    Parameters
    ----------
    seed : numpy.random.SeedSequence or numpy.random.Generator
        This input's own seed, or its generator.
    """

    __slots__ = ("_rng", "_buf", "_pos")

    def __init__(self, seed: np.random.SeedSequence | np.random.Generator):
        self._rng = np.random.default_rng(seed)
        self._buf: list[float] = []
        self._pos = 0

    def next(self) -> float:
        """The next draw."""
        pos = self._pos
        if pos >= len(self._buf):
            self._buf = self._rng.standard_exponential(8192).tolist()
            pos = 0
        self._pos = pos + 1
        return self._buf[pos]

    def take(self, n: int) -> list[float]:
        """The next ``n`` draws."""
        pos = self._pos
        if pos + n > len(self._buf):
            self._buf = self._rng.standard_exponential(max(8192, n)).tolist()
            pos = 0
        self._pos = pos + n
        return self._buf[pos:pos + n]
