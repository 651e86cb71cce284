"""The shape of ``summary.json``, checked before anything reads a result folder.

A summary read back from disk may have been truncated, edited or come from somewhere else:
before :meth:`sim.analysis.results.Results.load`, a comparison or a sweep uses it, every key
they read must be there with the right type. An error names the file and the key:
``out/summary.json: replication_figures[0].latency_ms.p95: expected a number or null, got
'fast'``.

Keys a summary of this version always holds are required; keys older versions lacked
(``peak_utilization``, ``sites``, ``countries``, a replication's ``by_region``, ``sites``
and ``countries``) are checked when they are there; the bill and the free-form parts
(``run``, ``scenario_resolved`` beyond what is read, ``ci95``, ``events``) are checked only
for their container type.
Unknown keys are allowed (a newer version may add figures).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sim.errors import ResultsError

__all__ = ["SUMMARY_MAX_BYTES", "check_summary", "check_summary_file", "read_json_file",
           "read_summary"]

SUMMARY_MAX_BYTES = 256 * 1024 * 1024
"""A larger ``summary.json`` is refused (ours are kilobytes to a few megabytes)."""

_BIG = 1e300


class _Bad(Exception):
    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


def _show(value: Any, limit: int = 50) -> str:
    """A short, one-line, bounded description of a value."""
    if isinstance(value, Mapping):
        return f"an object of {len(value)} key(s)" if value else "{}"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)" if value else "[]"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return "a huge integer"
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit] + "..."
    text = repr(value)
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def _key(path: str, key: Any) -> str:
    k = str(key)
    if k and len(k) <= 50 and k.replace("_", "").replace("-", "").isalnum() and k.isascii():
        return f"{path}.{k}" if path else k
    return f"{path}[{_show(k)}]"


Check = Callable[[Any, str], None]


def _number(nullable: bool = True) -> Check:
    def check(v: Any, path: str) -> None:
        if v is None and nullable:
            return
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if ok and isinstance(v, int) and abs(v) > _BIG:
            ok = False
        if not ok:
            raise _Bad(path, f"expected a number{' or null' if nullable else ''}, "
                             f"got {_show(v)}")
    return check


def _integer(minimum: int = 0) -> Check:
    def check(v: Any, path: str) -> None:
        if not isinstance(v, int) or isinstance(v, bool) or abs(v) > _BIG:
            raise _Bad(path, f"expected an integer, got {_show(v)}")
        if v < minimum:
            raise _Bad(path, f"expected an integer >= {minimum}, got {v}")
    return check


def _string(v: Any, path: str) -> None:
    if not isinstance(v, str):
        raise _Bad(path, f"expected a string, got {_show(v)}")


def _boolean(v: Any, path: str) -> None:
    if not isinstance(v, bool):
        raise _Bad(path, f"expected true or false, got {_show(v)}")


def _any_object(v: Any, path: str) -> None:
    if not isinstance(v, dict):
        raise _Bad(path, f"expected an object, got {_show(v)}")


def _nullable(inner: Check) -> Check:
    def check(v: Any, path: str) -> None:
        if v is not None:
            inner(v, path)
    return check


def _obj(required: Mapping[str, Check], optional: Mapping[str, Check] | None = None) -> Check:
    optional = optional or {}

    def check(v: Any, path: str) -> None:
        if not isinstance(v, dict):
            raise _Bad(path, f"expected an object, got {_show(v)}")
        for key, inner in required.items():
            if key not in v:
                raise _Bad(_key(path, key), "missing")
            inner(v[key], _key(path, key))
        for key, inner in optional.items():
            if key in v:
                inner(v[key], _key(path, key))
    return check


def _map(inner: Check) -> Check:
    def check(v: Any, path: str) -> None:
        if not isinstance(v, dict):
            raise _Bad(path, f"expected an object, got {_show(v)}")
        for key, value in v.items():
            inner(value, _key(path, key))
    return check


def _list(inner: Check, min_items: int = 0) -> Check:
    def check(v: Any, path: str) -> None:
        if not isinstance(v, list):
            raise _Bad(path, f"expected a list, got {_show(v)}")
        if len(v) < min_items:
            raise _Bad(path, f"expected at least {min_items} item(s), got {len(v)}")
        for i, item in enumerate(v):
            inner(item, f"{path}[{i}]")
    return check


def _pair(v: Any, path: str) -> None:
    if not isinstance(v, list) or len(v) != 2:
        raise _Bad(path, f"expected [lat, lon], got {_show(v)}")
    for i, x in enumerate(v):
        _number(False)(x, f"{path}[{i}]")


_NUM = _number()
_INT = _integer()
_LATENCY = {"mean": _NUM, "p50": _NUM, "p90": _NUM, "p95": _NUM, "p99": _NUM}
_LATENCY_STATS = _obj({"logins": _INT, **_LATENCY})
_NODE_NUMBERS = ("mean_queue_len", "arrival_rate_per_s")
_NODE_COUNTS = ("timeouts", "dropped_sessions", "raced", "expired", "budget_refused",
                "ticket_hits")
_NODE = _obj({"kind": _string, "region": _string, "logins": _INT, "peak_connections": _INT,
              "utilization": _NUM, "mean_wait_ms": _NUM, "rejected": _INT},
             {**{k: _NUM for k in _NODE_NUMBERS}, **{k: _INT for k in _NODE_COUNTS}})
_EVENT = _obj({}, {"at": _number(False), "for": _NUM})
_AREA_FIGURES = {"mean": _NUM, "p50": _NUM, "p95": _NUM, "p99": _NUM, "failure_share": _NUM}
_INTERVAL = _obj({"mean": _NUM, "low": _NUM, "high": _NUM})
_AREA_CI = _obj({}, {k: _INTERVAL for k in _AREA_FIGURES})
_SITE = _obj({"logins": _INT, "failed": _INT, **_AREA_FIGURES},
             {"country": _string, "region": _string, "lat": _NUM, "lon": _NUM, "p90": _NUM,
              "nodes": _map(_NUM), "decided_by": _map(_NUM), "ci95": _AREA_CI})
_COUNTRY = _obj({"logins": _INT, "failed": _INT, **_AREA_FIGURES},
                {"sites": _INT, "ci95": _AREA_CI})
_REPLICATION = _obj({"latency_ms": _obj(_LATENCY), "failure_share": _NUM,
                     "spill_share": _NUM, "utilization": _map(_NUM),
                     "by_region_p95": _map(_NUM)},
                    {"peak_utilization": _map(_NUM),
                     "by_region": _map(_obj({}, {k: _NUM for k in _LATENCY})),
                     "sites": _map(_obj({}, _AREA_FIGURES)),
                     "countries": _map(_obj({}, _AREA_FIGURES))})
_SUMMARY = _obj(
    {
        "scenario": _string,
        "seed": _nullable(_integer(minimum=-(2 ** 63))),
        "replications": _integer(minimum=1),
        "version": _string,
        "scenario_resolved": _obj({}, {"warmup": _number(False), "duration": _number(False),
                                       "outputs": _obj({}, {"format": _string,
                                                            "per_login": _boolean,
                                                            "stream": _boolean}),
                                       "events": _list(_EVENT)}),
        "logins": _obj({"attempted": _INT, "succeeded": _INT, "failed": _INT,
                        "failure_share": _NUM},
                       {"in_flight": _integer(minimum=-(2 ** 62)), "all_failed": _boolean,
                        "whole_run": _map(_NUM)}),
        "latency_ms": _obj({"logins": _INT, **_LATENCY, "by_region": _map(_LATENCY_STATS)}),
        "nodes": _map(_NODE),
        "addressing": _obj({"decided_by": _map(_NUM), "lowest_rtt_share": _NUM,
                            "excess_rtt_ms": _map(_NUM), "spill_share": _NUM},
                           {"excess_ge_25ms_share": _NUM, "excess_ge_100ms_share": _NUM}),
        "replication_figures": _list(_REPLICATION, min_items=1),
    },
    {
        "scenario_file": _nullable(_string),
        "topology": _nullable(_string),
        "topology_sha256": _nullable(_string),
        "run": _any_object,
        "node_coords": _map(_pair),
        "ci95": _map(_any_object),
        "events": _list(_any_object),
        "bill": _any_object,
        "sites": _map(_SITE),
        "countries": _map(_COUNTRY),
    },
)


def check_summary(summary: Any, *, file: str) -> dict[str, Any]:
    """``summary`` when it has the shape of a result summary.

    Raises
    ------
    ResultsError
        Naming ``file`` and the first key that is missing or of the wrong type.
    """
    try:
        _SUMMARY(summary, "")
        reps = summary["replications"]
        if reps != len(summary["replication_figures"]):
            raise _Bad("replications", f"{reps}, but replication_figures holds "
                                       f"{len(summary['replication_figures'])}")
    except _Bad as e:
        raise ResultsError(e.message, file=file, path=e.path or None) from None
    except RecursionError:
        raise ResultsError("nested too deeply", file=file) from None
    return summary  # type: ignore[no-any-return]


def read_json_file(path: Path, *, what: str, folder: str, limit: int,
                   shown: str | None = None) -> Any:
    """Read a JSON file that a result or comparison folder holds, bounded and checked.

    ``what`` names the file's kind (``summary``, ``comparison``) and ``folder`` the folder's
    in the messages; ``limit`` is its largest size in bytes. A FIFO or other special file is
    refused before it is opened.

    Raises
    ------
    ResultsError
        Missing, not a regular file, too large, not UTF-8, empty or not JSON.
    """
    file = shown or str(path)
    try:
        if not path.is_file():
            raise ResultsError(f"missing: not a {folder} folder", file=file)
        with path.open("rb") as f:
            raw = f.read(limit + 1)
    except OSError as e:
        raise ResultsError(f"cannot read: {e.strerror or e}", file=file) from None
    if len(raw) > limit:
        raise ResultsError(f"larger than {limit // 2 ** 20} MiB: not a {what} of ours",
                           file=file)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ResultsError(f"not UTF-8 text (byte {e.start})", file=file) from None
    if not text.strip():
        raise ResultsError("empty (an interrupted copy?)", file=file)
    try:
        return json.loads(text)
    except RecursionError:
        raise ResultsError("invalid JSON: nested too deeply", file=file) from None
    except ValueError as e:
        raise ResultsError(f"invalid JSON: {str(e)[:120]}", file=file) from None


def read_summary(path: Path, *, shown: str | None = None) -> dict[str, Any]:
    """Read and check ``summary.json`` (:func:`read_json_file`, then :func:`check_summary`).

    Raises
    ------
    ResultsError
        Missing, not a regular file, too large, not UTF-8, not JSON, or of the wrong shape.
    """
    data = read_json_file(path, what="summary", folder="result", limit=SUMMARY_MAX_BYTES,
                          shown=shown)
    return check_summary(data, file=shown or str(path))


def check_summary_file(path: Path) -> dict[str, Any]:
    """:func:`read_summary` (kept as a name for the folder checks)."""
    return read_summary(path)
