"""The seeds of a scenario's replications: one :class:`numpy.random.SeedSequence` each,
spawned from the scenario's seed, so a replication's numbers do not depend on where or in
what order it runs."""

from __future__ import annotations

import numpy as np

__all__ = ["replication_seeds"]


def replication_seeds(seed: int, replications: int) -> list[np.random.SeedSequence]:
    """Independent seeds of a scenario's replications, spawned from its seed.

    Parameters
    ----------
    seed : int
        The scenario's ``seed``.
    replications : int
        How many.

    Returns
    -------
    list of numpy.random.SeedSequence
        One per replication, in replication order.
    """
    return np.random.SeedSequence(seed).spawn(replications)
