"""Input limits: how large, how deep and how wide any file or value read by the simulator
may be, so that hostile input ends in a one-line error instead of a hang or a run out of
memory (SECURITY.md, "Input limits").

Every reader checks these before the work they bound: file sizes before a byte is read past
the limit, YAML depth and alias expansion while the document is composed (before Python
objects are built), node and link counts of a topology before any node-by-node table is
allocated.
"""

from __future__ import annotations

__all__ = [
    "MAX_FILE_BYTES", "MAX_YAML_DEPTH", "MAX_YAML_NODES", "MAX_YAML_ALIASES",
    "MAX_TOPOLOGY_NODES", "MAX_TOPOLOGY_LINKS", "MAX_SITES", "MAX_EVENTS", "MAX_PLUGINS",
    "MAX_SET_VALUE_CHARS", "SHOWN_VALUE_CHARS", "MAX_ERROR_LINE", "estimate_memory_bytes",
    "MAX_CSV_VALUE", "MONTH_RANGE", "month_problem",
]

MiB = 1024 * 1024

MAX_FILE_BYTES: dict[str, int] = {
    "scenario": 1 * MiB,      # each file of an extends chain too
    "sweep": 1 * MiB,
    "price list": 1 * MiB,
    "topology": 8 * MiB,      # YAML, GraphML or node-link JSON
    "CSV": 4 * MiB,           # bill --dau-csv / --groups-csv
    "node costs": 1 * MiB,    # plan --costs
    "candidates": 4 * MiB,    # plan --candidates (CSV or YAML)
}
"""Largest input file, by kind, in bytes. A larger file (or one that grows while it is read)
is refused before it is parsed."""

DEFAULT_FILE_BYTES = 1 * MiB
"""The limit of a kind not listed in :data:`MAX_FILE_BYTES`."""

MAX_YAML_DEPTH = 64
"""Deepest nesting of mappings and lists in a YAML document, a ``--set`` value or a JSON
topology (a scenario needs about 7)."""

MAX_YAML_NODES = 500_000
"""Most values (scalars, lists, mappings) a YAML document may hold once its aliases are
expanded: a "billion laughs" document of a few hundred bytes is refused here."""

MAX_YAML_ALIASES = 10_000
"""Most alias uses (``*name``) in one YAML document."""

MAX_TOPOLOGY_NODES = 1_000
"""Most nodes in a topology. The backbone routing table is N x N (about 200 bytes a pair
while it is built: 1,000 nodes take about 200 MB and 6 s)."""

MAX_TOPOLOGY_LINKS = 20_000
"""Most links in a topology."""

MAX_SITES = 10_000
"""Most explicit sites (``population.sites``); the shipped cities file has about 6,200."""

MAX_EVENTS = 10_000
"""Most entries in ``events``."""

MAX_PLUGINS = 100
"""Most entries in ``plugins``."""

MAX_SET_VALUE_CHARS = 100_000
"""Longest ``--set`` value, in characters."""

SHOWN_VALUE_CHARS = 60
"""A value quoted in an error message is cut to this many characters (with ``...``)."""

MAX_CSV_VALUE = 10 ** 10
"""Largest daily value in a ``bill`` CSV file (DAU, groups), as ``population.dau``."""

MAX_ERROR_LINE = 300
"""The command line cuts an error line to this many characters."""


def estimate_memory_bytes(*, nodes: int, sites: int, logins: float, replications: int,
                          per_login: bool, jobs: int = 1) -> int:
    """A rough upper estimate of the peak memory of a run, in bytes.

    Parameters
    ----------
    nodes, sites : int
        Topology nodes and population sites.
    logins : float
        Expected logins of one replication.
    replications : int
        Replications of the run.
    per_login : bool
        Per-login records are kept (``outputs.per_login``).
    jobs : int
        Replications run at the same time (worker processes).

    Returns
    -------
    int
        Interpreter and libraries, the node-by-node routing table (about 200 bytes a pair
        while it is built), the site-by-node tables (about 100 bytes a pair), and per
        replication about 200 bytes for each login in flight plus, with per-login records,
        about 120 bytes for each login recorded (all replications' records are combined at
        the end).
    """
    base = 150 * MiB
    table = 200 * nodes * nodes + 100 * sites * nodes
    in_flight = 200 * min(logins, 1e6)
    records = 120 * logins * replications if per_login else 0.0
    concurrent = max(1, min(jobs, replications))
    return int(base + table * concurrent + in_flight * concurrent + records)


MONTH_RANGE = ("0001-01", "9999-11")
"""The months a bill can be made for: a month's fees are deducted on the 3rd of the next
month, which must be a date too."""


def month_problem(year: int, month: int) -> str | None:
    """Why ``year-month`` cannot be billed (out of :data:`MONTH_RANGE`), else None."""
    if not 1 <= month <= 12:
        return "the month must be 01 to 12"
    if not (1, 1) <= (year, month) <= (9999, 11):
        return (f"a bill's month is between {MONTH_RANGE[0]} and {MONTH_RANGE[1]} (its fees "
                "are deducted in the next month)")
    return None
