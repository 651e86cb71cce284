"""One random stream per random input of the engine, each from its own child of the
replication's :class:`numpy.random.SeedSequence`, so changing one input (more loss, another
0-RTT share) leaves every other draw as it was. The block-draw classes live in
:mod:`sim.model.draws` (the addressing draws the same way)."""

from __future__ import annotations

from sim.model.draws import ExponentialDraws, UniformDraws

__all__ = ["UniformDraws", "ExponentialDraws"]
