"""A user's addressing strategy, loaded by tests through a scenario's ``plugins:`` entry.

Not a test module: ``tests/test_reliability.py`` names it as
``plugins: ["tests.plugins_example:Farthest"]``.
"""

from __future__ import annotations

from sim.addressing import Strategy
from sim.addressing.base import DnsAnswer


class Farthest(Strategy):
    """Every terminal logs in through the node farthest from it (a deliberately bad plan)."""

    name = "farthest_example"

    def plan(self, site: int, user: int, now: float, answer: DnsAnswer) -> tuple[list[int], str]:
        order = list(self.world.site_global_order[site])
        return order[::-1], "other"


class Unnamed(Strategy):
    """Registered under its class name."""

    def plan(self, site: int, user: int, now: float, answer: DnsAnswer) -> tuple[list[int], str]:
        return list(self.world.site_global_order[site]), "other"


class NotAStrategy:
    """Refused: not a Strategy subclass."""


class Impostor(Strategy):
    """Claims a built-in name: refused."""

    name = "random"

    def plan(self, site: int, user: int, now: float, answer: DnsAnswer) -> tuple[list[int], str]:
        return list(self.world.site_global_order[site]), "other"


class FromEntryPoint(Strategy):
    """Offered by a (test) package's entry point; registered under the entry point's name."""

    def plan(self, site: int, user: int, now: float, answer: DnsAnswer) -> tuple[list[int], str]:
        return list(self.world.site_global_order[site]), "other"
