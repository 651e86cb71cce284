"""User strategies load only from an explicit ``plugins:`` entry or an installed entry point,
through importlib (never eval), with a clear error for every way that can fail."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sim.cli import main
from sim.config.messages import shown as _shown
from tests.conftest import ROOT, TOPOLOGIES, write_yaml


@pytest.fixture(autouse=True)
def _registry() -> Iterator[None]:
    """Strategies registered by a test do not outlive it (the registry is per process)."""
    from sim.addressing import registry

    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


def cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(args)
    return rc, out.getvalue(), err.getvalue()


def scenario(tmp_path: Path, strategy: str, plugins: list[Any] | None = None,
             name: str = "plug.yaml") -> Path:
    data: dict[str, Any] = {
        "name": "plug", "seed": 3, "duration": "1m", "warmup": "0s",
        "topology": str(TOPOLOGIES / "tiny.yaml"), "home_datacenter": "dc-singapore",
        "population": {"source": "sites", "dau": 20000, "sites": [
            {"name": "Singapore", "lat": 1.29, "lon": 103.85, "region": "asia"},
            {"name": "Paris", "lat": 48.85, "lon": 2.35, "region": "europe"}]},
        "addressing": {"strategy": strategy},
        "outputs": {"figures": False},
    }
    if plugins is not None:
        data["plugins"] = plugins
    return write_yaml(tmp_path / name, data)


def test_a_plugin_strategy_runs_from_a_scenario_file(tmp_path: Path) -> None:
    f = scenario(tmp_path, "farthest_example", ["tests.plugins_example:Farthest"])
    out = tmp_path / "out"
    rc, _, err = cli(["run", str(f), "--out", str(out), "--quiet", "--jobs", "1"])
    assert rc == 0, err
    logins = pd.read_csv(out / "logins.csv", keep_default_na=False)
    ok = logins[logins["outcome"] == "ok"]
    # Singapore's terminals log in through the farthest edge node, Paris's through the
    # farthest from Paris: the plugin's plan, not a built-in one.
    assert set(ok[ok["site"] == "Singapore"]["node"]) == {"access-london"}
    assert set(ok[ok["site"] == "Paris"]["node"]) == {"access-tokyo"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario_resolved"]["plugins"] == ["tests.plugins_example:Farthest"]
    assert summary["scenario_resolved"]["addressing"]["strategy"] == "farthest_example"


def test_a_plugin_strategy_runs_in_worker_processes(tmp_path: Path) -> None:
    f = scenario(tmp_path, "farthest_example", ["tests.plugins_example:Farthest"])
    rc, _, err = cli(["run", str(f), "--out", str(tmp_path / "out"), "--quiet", "--jobs", "2",
                      "--replications", "2"])
    assert rc == 0, err


def test_registered_under_the_class_name_without_a_name(tmp_path: Path) -> None:
    f = scenario(tmp_path, "Unnamed", ["tests.plugins_example:Unnamed"])
    assert cli(["validate", str(f)])[0] == 0


def test_without_a_plugins_entry_the_class_is_unknown(tmp_path: Path) -> None:
    f = scenario(tmp_path, "farthest_example")
    rc, _, err = cli(["validate", str(f)])
    assert rc == 2
    assert err.startswith(f"error: {_shown(f.resolve())}: addressing.strategy: unknown "
                          "strategy 'farthest_example'")


PLUGIN_ERRORS = [
    ("nowhere_at_all:Thing", "plugins[0]: cannot import module 'nowhere_at_all' (not on the "
     "Python path, nor beside the scenario file)"),
    ("tests.plugins_example:Nope", "plugins[0]: module 'tests.plugins_example' has no class "
     "'Nope'"),
    ("tests.plugins_example:NotAStrategy", "plugins[0]: 'tests.plugins_example:NotAStrategy' "
     "is not a sim.addressing.Strategy subclass"),
    ("tests.plugins_example:Impostor", "plugins[0]: strategy name 'random' is already taken "
     "by sim.addressing.baselines.RandomStrategy"),
    ("tests.plugins_example", "plugins[0]: expected 'module:Class' (a Python module and a "
     "Strategy class in it), got 'tests.plugins_example'"),
    ("os:system()", "plugins[0]: expected 'module:Class' (a Python module and a Strategy class "
     "in it), got 'os:system()'"),
    ("__import__('os').system('true'):X", "plugins[0]: expected 'module:Class' (a Python "
     "module and a Strategy class in it), got \"__import__('os').system('true'):X\""),
    ("os:path", "plugins[0]: 'os:path' is not a sim.addressing.Strategy subclass"),
]


@pytest.mark.parametrize("entry,message", PLUGIN_ERRORS, ids=[e[0] for e in PLUGIN_ERRORS])
def test_plugin_errors_name_the_entry(entry: str, message: str, tmp_path: Path) -> None:
    f = scenario(tmp_path, "multilevel", [entry])
    rc, _, err = cli(["validate", str(f)])
    assert (rc, err) == (2, f"error: {_shown(f.resolve())}: {message}\n")


def test_a_module_beside_the_scenario_file(tmp_path: Path) -> None:
    """``module`` is looked up on the Python path, then beside the scenario file."""
    (tmp_path / "beside_scenario_mod.py").write_text(
        "from sim.addressing import Strategy\n\n\n"
        "class Mine(Strategy):\n"
        "    name = 'mine_beside'\n\n"
        "    def plan(self, site, user, now, answer):\n"
        "        return list(self.world.site_global_order[site]), 'other'\n")
    (tmp_path / "broken_plugin_mod.py").write_text("1 / 0\n")
    (tmp_path / "needs_missing_mod.py").write_text("import not_installed_anywhere\n")
    f = scenario(tmp_path, "mine_beside", ["beside_scenario_mod:Mine"])
    rc, _, err = cli(["run", str(f), "--out", str(tmp_path / "out"), "--quiet", "--jobs", "1",
                      "--set", "duration=10s"])
    assert rc == 0, err
    for entry, message in [
            ("broken_plugin_mod:X", "importing module 'broken_plugin_mod' failed: "
                                    "ZeroDivisionError: division by zero"),
            ("needs_missing_mod:X", "importing module 'needs_missing_mod' failed: No module "
                                    "named 'not_installed_anywhere'")]:
        f = scenario(tmp_path, "multilevel", [entry])
        assert cli(["validate", str(f)]) == (2, "", f"error: {_shown(f.resolve())}: "
                                                    f"plugins[0]: {message}\n")


def test_an_installed_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package that declares ``[project.entry-points."access_sim.strategies"]``."""
    dist = tmp_path / "site" / "fake_strategies-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-strategies\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[access_sim.strategies]\n"
        "from_entry_point = tests.plugins_example:FromEntryPoint\n"
        "broken_entry_point = tests.plugins_example:Missing\n"
        "not_a_strategy = tests.plugins_example:NotAStrategy\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    f = scenario(tmp_path, "from_entry_point")
    assert cli(["validate", str(f)])[0] == 0
    from sim.addressing import get_strategy
    from tests.plugins_example import FromEntryPoint

    assert get_strategy("from_entry_point") is FromEntryPoint
    f = scenario(tmp_path, "broken_entry_point")
    rc, _, err = cli(["validate", str(f)])
    assert rc == 2 and err.startswith(
        f"error: {_shown(f.resolve())}: addressing.strategy: entry point 'broken_entry_point' "
        "(tests.plugins_example:Missing, group access_sim.strategies) failed to load: ")
    f = scenario(tmp_path, "not_a_strategy")
    assert cli(["validate", str(f)])[2].endswith(
        "is not a sim.addressing.Strategy subclass\n")
    # A typo lists the installed names too.
    f = scenario(tmp_path, "from_entry_pont")
    assert "(did you mean 'from_entry_point'?)" in cli(["validate", str(f)])[2]


def test_the_engine_and_loaders_never_evaluate_text() -> None:
    """No eval/exec, no unsafe YAML, no pickle of files anywhere in ``sim/``."""
    import re

    banned = re.compile(r"\beval\(|\bexec\(|yaml\.load\((?![^)]*Loader=yaml\.(C?SafeLoader))"
                        r"|yaml\.unsafe_load|yaml\.full_load|pickle\.loads?\(|__import__\(")
    hits = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
            for p in sorted((ROOT / "sim").rglob("*.py"))
            for i, line in enumerate(p.read_text().splitlines(), 1) if banned.search(line)]
    assert hits == []
