"""Which strategy class a scenario names, checked before a run: plugins loaded, the name
known, its options allowed."""

from __future__ import annotations

from sim.addressing.base import Strategy
from sim.addressing.plugins import entry_point_names, load_plugins
from sim.addressing.registry import available_strategies, get_strategy
from sim.config.messages import key_part, suggestion
from sim.config.schema import Scenario
from sim.errors import ScenarioError

__all__ = ["resolve_strategy"]


def resolve_strategy(scenario: Scenario, source: str = "scenario") -> type[Strategy]:
    """Load the scenario's plugins and return the class of ``addressing.strategy``.

    Parameters
    ----------
    scenario : Scenario
        The scenario.
    source : str
        Its file, for error messages (and the folder plugins are searched in).

    Returns
    -------
    type of Strategy
        The registered class.

    Raises
    ------
    ScenarioError
        At ``addressing.strategy``: an unknown name (with the close match and the known
        names); at ``addressing.options.KEY``: an option the strategy does not take, or a
        value outside 0..1; at ``plugins[i]``: a plugin that cannot be loaded.
    """
    load_plugins(scenario, source)  # the scenario's plugins: entries, or an entry point
    strategies = available_strategies()
    name = scenario.addressing.strategy
    if name not in strategies:
        strategies = sorted({*strategies, *entry_point_names()})
        raise ScenarioError(f"unknown strategy {name!r}{suggestion(name, strategies)}; known: "
                            f"{', '.join(strategies)}", file=source, path="addressing.strategy")
    strategy_cls = get_strategy(name)
    allowed = strategy_cls.OPTIONS
    # A user's strategy that declares no OPTIONS may read any; a built-in one reads none.
    builtin = strategy_cls.__module__.startswith("sim.")
    for key, value in scenario.addressing.options.items():
        where = f"addressing.options{key_part(key)}"
        if not allowed and builtin:
            raise ScenarioError(f"unknown option: strategy {name!r} takes no options",
                                file=source, path=where)
        if allowed and key not in allowed:
            raise ScenarioError(f"unknown option{suggestion(key, list(allowed))} for strategy "
                                f"{name!r}; known: {', '.join(allowed)}", file=source,
                                path=where)
        if key in allowed and (not isinstance(value, (int, float)) or isinstance(value, bool)
                               or not 0 <= value <= 1):
            raise ScenarioError(f"expected a number from 0 to 1, got {value!r}", file=source,
                                path=where)
    return strategy_cls
