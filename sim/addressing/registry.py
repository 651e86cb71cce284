"""The strategy registry: names usable in ``addressing.strategy``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sim.addressing.base import Strategy

__all__ = ["register_strategy", "get_strategy", "available_strategies"]

_S = TypeVar("_S", bound=type[Strategy])
_REGISTRY: dict[str, type[Strategy]] = {}


def register_strategy(name: str) -> Callable[[_S], _S]:
    """Class decorator: make a :class:`Strategy` subclass usable by ``name`` from YAML.

    Examples
    --------
    >>> from sim.addressing import Strategy, register_strategy
    >>> @register_strategy("first_node")
    ... class FirstNode(Strategy):
    ...     def plan(self, site, user, now, answer):
    ...         return list(self.world.site_global_order[site]), "first_node"
    >>> "first_node" in available_strategies()
    True
    """
    def decorate(cls: _S) -> _S:
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise TypeError(f"{cls!r} is not a Strategy subclass")
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(f"strategy {name!r} is already registered to {existing.__name__}")
        _REGISTRY[name] = cls
        cls.name = name
        return cls
    return decorate


def get_strategy(name: str) -> type[Strategy]:
    """The class registered under ``name``; KeyError if none."""
    return _REGISTRY[name]


def available_strategies() -> list[str]:
    """Registered strategy names, sorted."""
    return sorted(_REGISTRY)
