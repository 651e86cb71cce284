"""Write the engine golden files: what each shipped scenario produces, short and small.

Regression files, not theory: they pin the bytes of ``logins.csv``, ``node_load.csv`` and
``sites.csv`` (as SHA-256 digests) and every figure of ``summary.json`` for one seed, so that
a change meant to keep behaviour (a refactor) can show that it did. Regenerate them only for
a change that is meant to alter the numbers, and say so in its commit::

    python tests/golden/engine/make.py
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent

EXTRA_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    # The draws that no shipped scenario exercises: QUIC 0-RTT, loss on public paths between
    # regions and on a backbone link.
    "quic-loss": ("global-baseline.yaml", {
        "protocol": {"transport": "quic", "quic_0rtt_share": 0.4},
        "events": [
            {"at": "10m", "for": "10m",
             "link_degraded": {"regions": ["asia", "asia"], "extra_ms": 20, "loss": 0.05}},
            {"at": "12m", "for": "10m",
             "link_degraded": {"a": "hub-hong-kong", "b": "hub-singapore", "extra_ms": 15,
                               "loss": 0.1}},
        ]}),
    # Scheduling across the networks: end-to-end ranking, a backbone link that fails and
    # comes back (rerouting after the convergence delay), the ordinary China border.
    "paths-e2e": ("global-baseline.yaml", {
        "addressing.levels": [{"region": {}}, {"nearest": {"rank": "end_to_end"}},
                              {"sticky": {}}, {"spill": {}}, {"failover": {}}],
        "paths.china_border": "ordinary",
        "events": [{"at": "10m", "for": "10m",
                    "link_down": {"a": "hub-hong-kong", "b": "hub-singapore"}}]}),
}


def cases() -> dict[str, tuple[Path, dict[str, Any]]]:
    """Every golden case: its scenario file and the overrides that make it short."""
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        out[path.stem] = (path, {})
    for name, (base, extra) in EXTRA_CASES.items():
        out[name] = (ROOT / "scenarios" / base, extra)
    return out


def short(path: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """Overrides that keep a case to seconds: global scenarios at a tenth of their DAU for
    30 simulated minutes (events at 20 minutes still happen), one replication each (two for
    the baseline, to cover replication seeds)."""
    import sim

    scenario = sim.load_scenario(path)
    overrides: dict[str, Any] = {"replications": 2 if path.stem == "global-baseline" else 1}
    if "global" in scenario.topology:
        overrides.update({"duration": "30m", "warmup": "5m",
                          "population.dau": scenario.population.dau // 10})
    overrides.update(extra)
    return overrides


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def figures(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without what depends on the machine, the clock or the package version."""
    out = {k: v for k, v in summary.items()
           if k not in ("run", "version", "scenario_file", "scenario_resolved")}
    return json.loads(json.dumps(out))


def produce(name: str) -> dict[str, Any]:
    import sim

    path, extra = cases()[name]
    results = sim.run(path, overrides=short(path, extra), executor=None)
    with tempfile.TemporaryDirectory() as tmp:
        out = results.save(Path(tmp) / "out")
        files = {f.name: digest(f) for f in sorted(out.iterdir())
                 if f.suffix == ".csv"}
    return {"files": files, "summary": figures(results.summary)}


def main(argv: list[str]) -> int:
    names = argv or list(cases())
    for name in names:
        data = produce(name)
        (HERE / f"{name}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n",
                                           encoding="utf-8")
        print(name, data["files"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
