"""Human-readable reports from a results summary."""

from __future__ import annotations

from typing import Any

__all__ = ["summary_table"]


def _fmt(x: Any, nd: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in
                     enumerate(zip(header, widths)))
    out = [line, "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                             enumerate(zip(r, widths))))
    return "\n".join(out)


def summary_table(summary: dict[str, Any], top_nodes: int = 8) -> str:
    """Latency overall and per region, the busiest nodes, and how addressing decided.

    Examples
    --------
    >>> s = {"scenario": "x", "replications": 1, "logins": {"attempted": 2, "succeeded": 2,
    ...      "failed": 0, "failure_share": 0.0}, "latency_ms": {"logins": 2, "mean": 1.0,
    ...      "p50": 1.0, "p90": 1.0, "p95": 1.0, "p99": 1.0, "by_region": {}}, "nodes": {},
    ...      "addressing": {"decided_by": {"nearest": 1.0}, "lowest_rtt_share": 1.0,
    ...      "excess_rtt_ms": {"mean": 0.0}}}
    >>> print(summary_table(s).splitlines()[0])
    scenario x: 2 logins attempted, 2 succeeded, 0 failed (0.00%), 1 replication(s)
    """
    lg = summary["logins"]
    lines = [f"scenario {summary['scenario']}: {_fmt(lg['attempted'])} logins attempted, "
             f"{_fmt(lg['succeeded'])} succeeded, {_fmt(lg['failed'])} failed "
             f"({100 * (lg['failure_share'] or 0):.2f}%), "
             f"{summary.get('replications', 1)} replication(s)", ""]
    lat = summary["latency_ms"]
    keys = ["mean", "p50", "p90", "p95", "p99"]
    rows = [["all", _fmt(lat["logins"], 0), *(_fmt(lat[k]) for k in keys)]]
    for region, st in lat["by_region"].items():
        rows.append([region, _fmt(st["logins"], 0), *(_fmt(st[k]) for k in keys)])
    lines.append(_table(["login latency (ms)", "logins", *keys], rows))
    nodes = sorted(summary["nodes"].items(), key=lambda kv: -(kv[1].get("utilization") or 0))
    if nodes:
        rows = [[n, s["kind"], _fmt(s["logins"], 0), f"{100 * (s['utilization'] or 0):.1f}%",
                 _fmt(s["mean_wait_ms"], 2), _fmt(s["peak_connections"], 0),
                 _fmt(s["rejected"], 0)] for n, s in nodes[:top_nodes]]
        lines += ["", _table(["busiest nodes", "kind", "logins", "util", "wait ms",
                              "peak conns", "rejected"], rows)]
    ad = summary["addressing"]
    decided = ", ".join(f"{k} {100 * v:.1f}%" for k, v in ad["decided_by"].items())
    lines += ["", f"decided by: {decided}",
              f"sent to the lowest-RTT node: {100 * (ad['lowest_rtt_share'] or 0):.1f}%, "
              f"mean excess RTT {_fmt(ad['excess_rtt_ms'].get('mean'), 2)} ms"]
    return "\n".join(lines)
