"""A scenario made ready to run: its strategy resolved (plugins loaded, options checked) and
its :class:`~sim.model.world.World` built."""

from __future__ import annotations

from sim.addressing.resolve import resolve_strategy
from sim.config.schema import Scenario
from sim.model.world import World, build_world

__all__ = ["prepare_world"]


def prepare_world(scenario: Scenario, source: str = "scenario") -> World:
    """Check a scenario's strategy and build its world.

    Parameters
    ----------
    scenario : Scenario
        The scenario.
    source : str
        Its file, for error messages.

    Returns
    -------
    World

    Raises
    ------
    ScenarioError
        The strategy or one of its options is unknown, a plugin cannot be loaded, or a name
        in the scenario (home data center, event node, override, site) is unknown.
    TopologyError
        The topology file is missing or malformed.
    """
    resolve_strategy(scenario, source)
    return build_world(scenario, source)
