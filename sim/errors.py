"""One exception family for everything the simulator reports to a user.

The CLI turns a :class:`SimError` into one line on stderr and exit status 2; anything else is a
bug and exits with a different status.
"""

from __future__ import annotations

import re

__all__ = ["SimError", "LocatedError", "ScenarioError", "TopologyError", "ResultsError",
           "BillingError",
           "QuotaError", "one_line"]


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """Newlines and other control characters escaped (a file named ``a\\nb``)."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class SimError(Exception):
    """Base class of every error the simulator raises on purpose."""


class LocatedError(SimError):
    """An error at a place in a file: ``file: key.path: message``."""

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None):
        self.file = file
        self.path = path
        self.message = message
        parts = [p for p in (file, path) if p]
        super().__init__(one_line(": ".join([*parts, message])))


class ScenarioError(LocatedError):
    """A scenario file is missing, malformed or holds an impossible value."""


class TopologyError(LocatedError):
    """A topology file is missing, malformed or describes an unusable network."""


class ResultsError(LocatedError):
    """A results folder cannot be written or read back."""


class BillingError(LocatedError):
    """Billing input (usage series, price list) is malformed."""


class QuotaError(SimError):
    """A quota (AVChatRooms, trial accounts) refuses an operation."""
