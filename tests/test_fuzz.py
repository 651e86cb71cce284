"""Fuzzed input: malformed scenario and topology files never crash the simulator.

Hypothesis generates broken files (wrong types, missing and unknown keys, negative, NaN and
huge numbers, empty lists, unknown node names, broken YAML, non-UTF-8 bytes, long and cyclic
``extends`` chains, disconnected topologies, sites in the ocean) and feeds them to the command
line in this process (``sim.cli.main``). Every case must end in the project's own error: exit
status 2 and exactly one line on stderr, ``error: FILE: KEY.PATH: message``, naming the file
that is wrong and, where there is one, the key path. Exit status 70 (an exception that
escaped: a bug) fails the test. A few cases go through a real subprocess and a real ``run``.

The runs are derandomized, so the suite is deterministic; each test asserts that it ran its
number of cases, and together they run at least 2,000 (``FUZZ_CASES``). Set
``ACCESS_SIM_FUZZ_LOG=FILE`` to append every error line to ``FILE`` (for counting distinct
messages, see SECURITY.md).
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import math
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.cli import main
from sim.config.messages import key_part as _key_part
from sim.config.messages import shown as _shown
from tests.conftest import TOPOLOGIES

# --------------------------------------------------------------------------- fixtures

TOPOLOGY: dict[str, Any] = yaml.safe_load((TOPOLOGIES / "tiny.yaml").read_text())
NODE_IDS = [n["id"] for n in TOPOLOGY["nodes"]]

BASE: dict[str, Any] = {
    "name": "fuzz",
    "description": "every section set, so that every key can be broken",
    "seed": 3,
    "replications": 1,
    "duration": "2m",
    "warmup": "10s",
    "start_utc_hour": 12,
    "topology": "topo.yaml",
    "home_datacenter": "dc-singapore",
    "population": {
        "source": "sites",
        "sites": [
            {"name": "Singapore", "lat": 1.29, "lon": 103.85, "region": "asia",
             "weight": 2.0, "utc_offset_h": 8, "country": "SG"},
            {"name": "Paris", "lat": 48.85, "lon": 2.35, "region": "europe"},
        ],
        "dau": 20000,
        "logins_per_user_per_day": 3.0,
        "access_mix": {"mobile_4g": 0.5, "wifi": 0.5},
        "diurnal": {"amplitude": 0.5, "peak_hour": 20},
        "session": {"mean_duration": "10m", "distribution": "exponential"},
    },
    "nodes": {
        "access": {"workers": 2, "connection_limit": 1000, "service_ms": 10.0,
                   "service_distribution": "exponential", "cache_hit_ratio": 0.0},
        "cache": {"workers": 2, "cache_hit_ratio": 0.8},
        "datacenter": {"workers": 8, "service_ms": 20.0},
        "overrides": {"access-tokyo": {"workers": 3, "service_ms": 15.0}},
    },
    "protocol": {"transport": "tcp_tls13", "quic_0rtt_share": 0.0, "jitter_fraction": 0.05},
    "addressing": {
        "strategy": "multilevel",
        "levels": [
            {"region": {"public_resolver_share": 0.1, "dns_ttl": "5m", "resolver_rtt_ms": 2.0,
                        "ecs": "auto", "ttl_stretch_share": 0.1, "stretched_ttl": "15m",
                        "health_check_interval": "30s", "health_check_failures": 3}},
            {"nearest": {"probe_top_k": 2, "probe_noise_ms": 5.0, "probe": "sync",
                         "probe_interval": "5m", "probe_timeout": "1s", "probe_beyond": 1,
                         "race_delay_ms": 250}},
            {"sticky": {"enabled": True}},
            {"spill": {"max_utilization": 0.85, "max_queue": 50,
                       "max_connection_share": 0.95, "report_interval": "10s",
                       "report_delay": "1s"}},
            {"failover": {"connect_timeout": "3s", "max_attempts": 4, "other_regions": True,
                          "avoid_for": "30s",
                          "backoff": {"base": "1s", "cap": "30s", "jitter": 0.5}}},
        ],
        "httpdns": {"share": 0.5, "ttl": "5m", "timeout": "2s", "round_trips": 2},
    },
    "events": [
        {"at": "30s", "node_down": "access-tokyo", "for": "30s"},
        {"at": "40s", "flash_crowd": {"region": "asia", "multiplier": 2.0}, "for": "20s"},
        {"at": "50s", "link_degraded": {"a": "access-tokyo", "b": "hub-singapore",
                                        "extra_ms": 5.0, "loss": 0.01}, "for": "10s"},
        {"at": "60s", "datacenter_down": "dc-frankfurt", "for": "10s", "mode": "queue"},
        {"at": "70s", "flash_crowd": {"site": "Paris", "multiplier": 3.0}, "for": "10s"},
    ],
    "reconnect": {"enabled": True, "first_delay": "5s"},
    "outputs": {"per_login": True, "format": "csv", "sample_every": "10s", "figures": False},
    "billing": {"month": "2024-02", "price_list": "international-usd",
                "edition": "professional", "dau_growth_per_day": 0.01,
                "weekly_pattern": [1, 1, 1, 1, 1, 0.8, 0.8],
                "groups": {"initial": 10, "created_per_day": 5.0, "removed_per_day": 1.0},
                "avchatrooms": {"initial": 1, "created_per_day": 1.0, "removed_per_day": 1.0},
                "trial_accounts": {"initial": 0, "created_per_day": 0.0,
                                   "removed_per_day": 0.0}},
}

SETTINGS: dict[str, Any] = {
    "deadline": None, "derandomize": True, "database": None, "print_blob": False,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                              HealthCheck.filter_too_much]}

# Cases per test: together at least 2,000 (asserted below).
FUZZ_CASES = {
    "scenario_values": 450, "scenario_unknown_keys": 250, "scenario_missing_keys": 150,
    "numerical_guards": 150, "yaml_text": 250, "non_utf8": 80, "extends": 120,
    "topology_values": 250, "topology_graph": 150, "event_names": 120, "set_overrides": 150,
    "ocean_sites": 100, "extreme_runs": 40,
}
_RAN: Counter[str] = Counter()


def test_the_fuzz_tests_run_at_least_2000_cases() -> None:
    malformed = {k: n for k, n in FUZZ_CASES.items() if k != "extreme_runs"}
    assert sum(malformed.values()) >= 2000


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fuzz")
    (d / "topo.yaml").write_text(dump(TOPOLOGY))
    (d / "ok.yaml").write_text(dump(BASE))
    return d


# --------------------------------------------------------------------------- running


def cli(args: list[str]) -> tuple[int, str, str]:
    """Run ``access-sim ARGS`` in this process; (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(args)
        except SystemExit as e:  # argparse
            rc = int(e.code or 0)
    return rc, out.getvalue(), err.getvalue()


def _log(line: str) -> None:
    log = os.environ.get("ACCESS_SIM_FUZZ_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(line.rstrip("\n") + "\n")


_PATH_RE = re.compile(r"^([\w-]+|\[\d+\]|\[(\'.*\'|\".*\")\])"
                      r"((\.[\w-]+)|(\[\d+\])|\[(\'.*\'|\".*\")\])*$")


def split_path(path: str) -> list[str]:
    """``a.b[2].c`` -> ``['a', 'b', '[2]', 'c']`` (``['x y']`` -> ``x y``)."""
    return [q[2:-2] if q else p for p, q in
            re.findall(r"([^.\[\]]+|\[\d+\])|(\[(?:'[^']*'|\"[^\"]*\")\])", path)]


def related(a: str, b: str) -> bool:
    """One key path is the other or leads to it."""
    pa, pb = split_path(a), split_path(b)
    n = min(len(pa), len(pb))
    return pa[:n] == pb[:n]


def check(rc: int, err: str, *, file: Path | str | None, path: str | None = None,
          may_pass: bool = False, contains: str | None = None, value: Any = None
          ) -> str | None:
    """The contract: status 2 and one line ``error: FILE: PATH: ...`` (or 0 when allowed).

    Returns the error line (None when the case passed).
    """
    assert rc != 70, f"internal error (a crash):\n{err}"
    if rc == 0 and may_pass:
        return None
    assert rc == 2, f"status {rc}, stderr:\n{err}"
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line:\n{err}"
    assert err.startswith("error: "), err
    assert "Traceback" not in err
    _log(err)
    if file is not None:
        shown = file if isinstance(file, str) else _shown(Path(file).resolve())
        assert err.startswith(f"error: {shown}: "), f"does not name {shown}: {err}"
        if path is not None:
            rest = err[len(f"error: {shown}: "):]
            where = rest.split(": ", 1)[0]
            assert _PATH_RE.match(where) and related(where, path), \
                f"expected a key path related to {path!r}: {err}"
    if contains is not None:
        assert contains in err, err
    return err


def count(name: str) -> None:
    _RAN[name] += 1


def ran(name: str) -> None:
    assert _RAN[name] >= FUZZ_CASES[name], f"{name}: {_RAN[name]} cases"


def dump(data: Any) -> str:
    """YAML text (libyaml's dumper when there is one: the cases are many)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True)


def write(folder: Path, name: str, data: Any) -> Path:
    path = folder / name
    path.write_text(dump(data), "utf-8")
    return path


# --------------------------------------------------------------------------- paths in data


def walk(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every (key path, value) below ``data``, parents before children."""
    items: list[tuple[str, Any]]
    if isinstance(data, dict):
        items = [(f"{prefix}.{k}" if prefix else str(k), v) for k, v in data.items()]
    elif isinstance(data, list):
        items = [(f"{prefix}[{i}]", v) for i, v in enumerate(data)]
    else:
        return
    for path, value in items:
        yield path, value
        yield from walk(value, path)


def get_parent(data: Any, path: str) -> tuple[Any, str | int]:
    parts = split_path(path)
    node = data
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    last = parts[-1]
    return node, (int(last[1:-1]) if last.startswith("[") else last)


def set_at(data: Any, path: str, value: Any) -> None:
    parent, key = get_parent(data, path)
    parent[key] = value


def delete_at(data: Any, path: str) -> None:
    parent, key = get_parent(data, path)
    del parent[key]


SCENARIO_PATHS = [p for p, _ in walk(BASE)]
SCENARIO_LEAVES = {p: v for p, v in walk(BASE) if not isinstance(v, (dict, list))}
SCENARIO_MAPPINGS = [""] + [p for p, v in walk(BASE) if isinstance(v, dict)]

# Free text: any string is a good value there.
FREE_TEXT = {"name", "description", "population.sites[0].name", "population.sites[1].name",
             "population.sites[0].country"}

# --------------------------------------------------------------------------- bad values

NAN, INF = math.nan, math.inf
HUGE = [10 ** 30, -(10 ** 30), 1e300, -1e300, INF, -INF, NAN]
CONTAINERS = [[], [1, 2], {}, {"x": 1}, [{"a": None}]]
DURATION = re.compile(r"\d+(ms|s|m|h|d)")
JUNK_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                    min_size=1, max_size=12).filter(lambda s: s.strip() != "")


def bad_value_for(base: Any) -> st.SearchStrategy[Any]:
    """Values wrong for a key whose good value is ``base`` (whatever the schema says)."""
    if isinstance(base, bool):
        return st.sampled_from([2, -1, 0.5, NAN, "maybe", *CONTAINERS]) | JUNK_TEXT.filter(
            lambda s: s.lower() not in {"true", "false", "yes", "no", "on", "off", "1", "0",
                                        "t", "f", "y", "n"})
    if isinstance(base, (int, float)):
        return st.sampled_from([*HUGE, True, False, "abc", "", "1 2", *CONTAINERS]) | \
            JUNK_TEXT.filter(lambda s: not _numberish(s))
    if isinstance(base, str) and DURATION.fullmatch(base):
        return st.sampled_from([-1, "-1s", NAN, INF, 1e300, "1e300", "1e300d", "soon",
                                "5 parsecs", "", True, *CONTAINERS])
    if isinstance(base, str):
        return st.sampled_from([5, -1, 0.5, NAN, INF, True, *CONTAINERS])
    if isinstance(base, dict):
        return st.sampled_from([5, -1, NAN, True, "x", "", [1], [[]]])
    if isinstance(base, list):
        return st.sampled_from([5, NAN, True, "x", {"x": 1}, [5], ["x"] * 3, [[1]]])
    raise AssertionError(base)


def _numberish(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- scenario files


@given(data=st.data())
@settings(max_examples=FUZZ_CASES["scenario_values"], **SETTINGS)
def _scenario_values(folder: Path, data: st.DataObject) -> None:
    count("scenario_values")
    path = data.draw(st.sampled_from(SCENARIO_PATHS), label="path")
    base = _value_at(BASE, path)
    if path in FREE_TEXT:
        value = data.draw(st.sampled_from([5, NAN, True, [], {"a": 1}]), label="value")
    else:
        value = data.draw(bad_value_for(base), label="value")
    sc = copy.deepcopy(BASE)
    set_at(sc, path, value)
    f = write(folder, "case.yaml", sc)
    rc, _, err = cli(["validate", str(f)])
    check(rc, err, file=f, path=path, value=value)


def _value_at(data: Any, path: str) -> Any:
    parent, key = get_parent(data, path)
    return parent[key]


def test_wrong_types_and_impossible_values(folder: Path) -> None:
    _scenario_values(folder)
    ran("scenario_values")


def _allowed_keys() -> set[str]:
    from pydantic import BaseModel

    import sim.config.schema as s

    names: set[str] = set()
    for obj in vars(s).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj is not BaseModel:
            for n, f in obj.model_fields.items():
                names.update({n, f.alias or n})
    return names


ALLOWED = _allowed_keys()
KEY_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1,
                    max_size=14).filter(lambda k: k not in ALLOWED and not k.isdigit())


@given(where=st.sampled_from(SCENARIO_MAPPINGS), key=KEY_NAMES,
       value=st.sampled_from([1, "x", None, [], {}, True]))
@settings(max_examples=FUZZ_CASES["scenario_unknown_keys"], **SETTINGS)
def _scenario_unknown_keys(folder: Path, where: str, key: str, value: Any) -> None:
    count("scenario_unknown_keys")
    sc = copy.deepcopy(BASE)
    target = _value_at(sc, where) if where else sc
    target[key] = value
    f = write(folder, "case.yaml", sc)
    rc, _, err = cli(["validate", str(f)])
    full = f"{where}.{key}" if where else key
    line = check(rc, err, file=f, path=full)
    assert line is not None
    if where == "nodes.overrides":
        assert f"unknown node {key!r}" in line or "expected a mapping" in line
    elif where == "addressing.options":
        assert "unknown option" in line
    elif where == "population.access_mix":
        assert "expected one of" in line or "expected a number" in line
    elif re.fullmatch(r"addressing\.levels\[\d+\]", where):
        assert "exactly one of" in line
    else:
        assert f"{full}: unknown key" in line


def test_unknown_keys(folder: Path) -> None:
    _scenario_unknown_keys(folder)
    ran("scenario_unknown_keys")


REQUIRED = {"name", "topology", "home_datacenter", "population.sites", "population.source",
            "events[1].for", "events[2].for", "events[4].for"} | {
    p for p in SCENARIO_PATHS
    if re.fullmatch(r"population\.sites\[\d+\]\.(name|lat|lon|region)", p)
    or re.fullmatch(r"events\[\d+\]\.(at|node_down|flash_crowd|link_degraded|datacenter_down)",
                    p)
    or re.fullmatch(r"events\[\d+\]\.flash_crowd\.(region|site)", p)
    or re.fullmatch(r"events\[\d+\]\.link_degraded\.(a|b)", p)}
MUST_NOT_BE_EMPTY = {"population.sites", "population.access_mix",
                     "billing.weekly_pattern"} | {
    p for p in SCENARIO_PATHS if re.fullmatch(r"addressing\.levels\[\d+\]", p)
    or re.fullmatch(r"(events|population\.sites)\[\d+\]", p)
    or re.fullmatch(r"events\[\d+\]\.(flash_crowd|link_degraded)", p)}
CONTAINER_PATHS = [p for p, v in walk(BASE) if isinstance(v, (dict, list))]


@given(path=st.sampled_from(SCENARIO_PATHS), empty=st.booleans())
@settings(max_examples=FUZZ_CASES["scenario_missing_keys"], **SETTINGS)
def _scenario_missing_keys(folder: Path, path: str, empty: bool) -> None:
    count("scenario_missing_keys")
    sc = copy.deepcopy(BASE)
    if empty and path in CONTAINER_PATHS:
        value = _value_at(sc, path)
        set_at(sc, path, type(value)())
        must_fail = path in MUST_NOT_BE_EMPTY
    else:
        delete_at(sc, path)
        must_fail = path in REQUIRED
    f = write(folder, "case.yaml", sc)
    rc, _, err = cli(["validate", str(f)])
    # Removing a site or an event may leave a name that refers to it: that is reported.
    check(rc, err, file=f, path=path if must_fail else None, may_pass=not must_fail)


def test_missing_keys_and_emptied_lists(folder: Path) -> None:
    _scenario_missing_keys(folder)
    ran("scenario_missing_keys")


# Zero or negative capacities, rates and durations: refused at load, at the key itself.
POSITIVE = [
    "population.dau", "population.logins_per_user_per_day", "population.sites[0].weight",
    "population.session.mean_duration", "duration", "outputs.sample_every",
    "nodes.access.workers", "nodes.access.connection_limit", "nodes.access.service_ms",
    "nodes.cache.workers", "nodes.datacenter.workers", "nodes.datacenter.service_ms",
    "nodes.overrides.access-tokyo.workers", "nodes.overrides.access-tokyo.service_ms",
    "addressing.levels[4].failover.connect_timeout", "addressing.levels[4].failover.max_attempts",
    "addressing.levels[1].nearest.probe_top_k", "events[0].for", "events[1].for",
    "events[1].flash_crowd.multiplier", "replications",
    "addressing.levels[0].region.health_check_interval",
    "addressing.levels[0].region.health_check_failures",
    "addressing.levels[1].nearest.probe_interval", "addressing.levels[1].nearest.probe_timeout",
    "addressing.levels[3].spill.report_interval", "addressing.httpdns.timeout",
]
NON_NEGATIVE = [
    "seed", "warmup", "events[0].at", "addressing.levels[0].region.dns_ttl",
    "addressing.levels[0].region.resolver_rtt_ms", "addressing.levels[1].nearest.probe_noise_ms",
    "addressing.levels[3].spill.max_queue", "addressing.levels[4].failover.avoid_for",
    "addressing.levels[4].failover.backoff.base", "reconnect.first_delay",
    "protocol.jitter_fraction", "events[2].link_degraded.extra_ms",
    "billing.groups.created_per_day", "billing.groups.initial",
    "billing.avchatrooms.removed_per_day", "population.min_population",
    "addressing.levels[0].region.stretched_ttl", "addressing.levels[1].nearest.probe_beyond",
    "addressing.levels[1].nearest.race_delay_ms", "addressing.levels[3].spill.report_delay",
    "addressing.httpdns.ttl",
]


@given(data=st.data())
@settings(max_examples=FUZZ_CASES["numerical_guards"], **SETTINGS)
def _numerical_guards(folder: Path, data: st.DataObject) -> None:
    count("numerical_guards")
    path = data.draw(st.sampled_from(POSITIVE + NON_NEGATIVE), label="path")
    negative = st.one_of(st.integers(max_value=-1), st.floats(max_value=-1e-9,
                                                                allow_nan=False))
    value: Any = data.draw(negative | st.just(0) if path in POSITIVE else negative,
                           label="value")
    base = _value_at(BASE, path) if path != "population.min_population" else 0
    if isinstance(base, str) and data.draw(st.booleans(), label="with unit"):
        value = f"{value}{data.draw(st.sampled_from(['ms', 's', 'm', 'h', 'd']))}"
    sc = copy.deepcopy(BASE)
    if path == "population.min_population":
        sc["population"]["min_population"] = value
    else:
        set_at(sc, path, value)
    f = write(folder, "case.yaml", sc)
    rc, _, err = cli(["validate", str(f)])
    check(rc, err, file=f, path=path)


def test_zero_and_negative_capacities_rates_durations(folder: Path) -> None:
    _numerical_guards(folder)
    ran("numerical_guards")


YAML_CHARS = list(":-[]{}\"'\t&*!%|>#@`,?\n ") + ["\n  ", ": ", "- ", "\x00", "\ufeff",
                                                    "!!python/object/apply:os.system [ls]"]


@given(data=st.data())
@settings(max_examples=FUZZ_CASES["yaml_text"], **SETTINGS)
def _yaml_text(folder: Path, data: st.DataObject) -> None:
    count("yaml_text")
    text = dump(BASE)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        pos = data.draw(st.integers(0, len(text)), label="pos")
        op = data.draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        chunk = data.draw(st.sampled_from(YAML_CHARS) | st.text(max_size=3))
        if op == "insert":
            text = text[:pos] + chunk + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + data.draw(st.integers(1, 20)):]
        elif op == "replace":
            text = text[:pos] + chunk + text[pos + len(chunk):]
        else:
            text = text[:pos]
    f = folder / "case.yaml"
    f.write_bytes(text.encode("utf-8", "surrogatepass"))
    rc, _, err = cli(["validate", str(f)])
    check(rc, err, file=f, may_pass=True)


def test_broken_yaml(folder: Path) -> None:
    _yaml_text(folder)
    ran("yaml_text")


BAD_BYTES = [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xe2\x82", b"\x80", b"\xed\xa0\x80",
             b"\xf8\x88\x80\x80\x80", b"\xc0\xaf"]


@given(data=st.data())
@settings(max_examples=FUZZ_CASES["non_utf8"], **SETTINGS)
def _non_utf8(folder: Path, data: st.DataObject) -> None:
    count("non_utf8")
    target = data.draw(st.sampled_from(["scenario", "topology"]), label="file")
    raw = dump(BASE if target == "scenario" else TOPOLOGY).encode()
    pos = data.draw(st.integers(0, len(raw)), label="pos")
    bad = data.draw(st.sampled_from(BAD_BYTES), label="bytes")
    broken = raw[:pos] + bad + raw[pos:]
    if target == "scenario":
        f = folder / "case.yaml"
        f.write_bytes(broken)
    else:
        (folder / "topo_bad.yaml").write_bytes(broken)
        sc = copy.deepcopy(BASE)
        sc["topology"] = "topo_bad.yaml"
        f = write(folder, "case.yaml", sc)
    rc, _, err = cli(["validate", str(f)])
    check(rc, err, file=f if target == "scenario" else folder / "topo_bad.yaml",
          contains="not UTF-8 text (byte ")


def test_non_utf8_bytes(folder: Path) -> None:
    _non_utf8(folder)
    ran("non_utf8")


@given(data=st.data())
@settings(max_examples=FUZZ_CASES["extends"], **SETTINGS)
def _extends(folder: Path, data: st.DataObject) -> None:
    """A chain of files, each extending the next from another folder; the last one is a
    full scenario, or extends one of the chain (a cycle), a missing file or a non-path."""
    count("extends")
    n = data.draw(st.integers(1, 40), label="files")
    end = data.draw(st.sampled_from(["base", "cycle", "missing", "bad"]), label="end")
    subdirs = ["", "a", "a/b", "c"]
    root = folder / f"ext{_RAN['extends']}"
    files = [root / data.draw(st.sampled_from(subdirs)) / f"f{i}.yaml" for i in range(n)]
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
    (root / "topo.yaml").write_text(dump(TOPOLOGY))
    for i, f in enumerate(files):
        doc: dict[str, Any] = {"name": f"chain-{i}", "seed": i}  # a name is not inherited
        if i % 5 == 1:  # a topology named relative to this file
            doc["topology"] = os.path.relpath(root / "topo.yaml", f.parent)
        if i + 1 < n:
            doc["extends"] = os.path.relpath(files[i + 1], f.parent)
        elif end == "base":
            doc = {**copy.deepcopy(BASE), "seed": i,
                   "topology": os.path.relpath(root / "topo.yaml", f.parent)}
        elif end == "cycle":
            j = data.draw(st.integers(0, i), label="back to")
            doc["extends"] = os.path.relpath(files[j], f.parent)
        elif end == "missing":
            doc["extends"] = "nowhere/none.yaml"
        else:
            doc["extends"] = data.draw(st.sampled_from([5, "", " ", [], {"a": 1}, True, 1.5]))
        write(f.parent, f.name, doc)
    rc, _, err = cli(["validate", str(files[0])])
    if n > 32:
        check(rc, err, file=files[32], contains="extends: chain longer than 32 files")
    elif end == "base":
        assert rc == 0, err
    elif end == "cycle":
        check(rc, err, file=files[-1], contains="extends: cycle: ")
    elif end == "missing":
        check(rc, err, file=files[-1], contains="extends: file not found: ")
    else:
        check(rc, err, file=files[-1], contains="extends: expected a file path, got ")


def test_extends_chains_and_cycles(folder: Path) -> None:
    _extends(folder)
    ran("extends")


# --------------------------------------------------------------------------- topology files

TOPO_SCENARIO = {"name": "fuzz-topology", "topology": "topo_case.yaml",
                 "home_datacenter": "dc-singapore", "duration": "1m",
                 "population": copy.deepcopy(BASE["population"])}
TOPO_PATHS = [p for p, _ in walk(TOPOLOGY)]
TOPO_FREE_TEXT = {"name", "description"} | {p for p in TOPO_PATHS
                                           if re.search(r"\.(city|country)$", p)}


@given(data=st.data())
@settings(max_examples=FUZZ_CASES["topology_values"], **SETTINGS)
def _topology_values(folder: Path, data: st.DataObject) -> None:
    count("topology_values")
    topo = copy.deepcopy(TOPOLOGY)
    action = data.draw(st.sampled_from(["value", "unknown", "missing"]), label="action")
    path = data.draw(st.sampled_from(TOPO_PATHS), label="path")
    may_pass = False
    if action == "value":
        base = _value_at(topo, path)
        value = data.draw(st.sampled_from([5, NAN, True, [], {"a": 1}]) if path in
                          TOPO_FREE_TEXT else bad_value_for(base), label="value")
        set_at(topo, path, value)
    elif action == "unknown":
        parent = _value_at(topo, path)
        if not isinstance(parent, dict):
            parent, path = topo, ""
        key = data.draw(KEY_NAMES.filter(lambda k: k not in {
            "id", "kind", "region", "lat", "lon", "city", "country", "workers",
            "connection_limit", "service_ms", "cache_hit_ratio", "a", "b", "network",
            "rtt_ms", "name", "description", "nodes", "links"}), label="key")
        parent[key] = 1
        path = f"{path}.{key}" if path else key
    else:
        delete_at(topo, path)
        may_pass = not re.fullmatch(r"name|nodes|nodes\[\d+\]\.(id|kind|region|lat|lon)"
                                    r"|links\[\d+\]\.(a|b)", path)
    write(folder, "topo_case.yaml", topo)
    f = write(folder, "case_topo.yaml", TOPO_SCENARIO)
    rc, _, err = cli(["validate", str(f)])
    if rc == 2 and err.startswith(f"error: {_shown(f.resolve())}: "):
        # Removing a node the scenario names is the scenario's error.
        assert action == "missing" and re.fullmatch(r"(nodes|links)(\[\d+\])?", path), err
        return
    check(rc, err, file=folder / "topo_case.yaml",
          path=None if action == "missing" else path, may_pass=may_pass)


def test_broken_topology_files(folder: Path) -> None:
    _topology_values(folder)
    ran("topology_values")


@given(data=st.data())
@settings(max_examples=FUZZ_CASES["topology_graph"], **SETTINGS)
def _topology_graph(folder: Path, data: st.DataObject) -> None:
    """Remove links and nodes, duplicate ids, add self-loops and links to nowhere, in YAML,
    GraphML or node-link JSON, sometimes cut short."""
    import json

    import networkx as nx

    count("topology_graph")
    topo = copy.deepcopy(TOPOLOGY)
    links = topo["links"]
    drop = data.draw(st.sets(st.integers(0, len(links) - 1)), label="drop links")
    topo["links"] = [lk for i, lk in enumerate(links) if i not in drop]
    drop_nodes = data.draw(st.sets(st.sampled_from(NODE_IDS), max_size=3), label="drop nodes")
    topo["nodes"] = [n for n in topo["nodes"] if n["id"] not in drop_nodes]
    topo["links"] = [lk for lk in topo["links"] if not {lk["a"], lk["b"]} & drop_nodes]
    extra = data.draw(st.sampled_from([None, "dup", "loop", "nowhere"]), label="extra")
    if extra == "dup" and topo["nodes"]:
        topo["nodes"].append(dict(topo["nodes"][0]))
    elif extra == "loop" and topo["nodes"]:
        topo["links"].append({"a": topo["nodes"][0]["id"], "b": topo["nodes"][0]["id"]})
    elif extra == "nowhere" and topo["nodes"]:
        topo["links"].append({"a": topo["nodes"][0]["id"], "b": "node-atlantis"})
    fmt = data.draw(st.sampled_from(["yaml", "json", "graphml"]), label="format")
    cut = data.draw(st.none() | st.floats(0.0, 1.0), label="cut")
    name = f"topo_graph.{fmt}"
    if fmt == "yaml":
        text = dump(topo)
    else:
        g = nx.Graph(name=topo["name"])
        for n in topo["nodes"]:
            g.add_node(n["id"], **{k: v for k, v in n.items() if k != "id"})
        for lk in topo["links"]:
            g.add_edge(lk["a"], lk["b"])
        if fmt == "json":
            text = json.dumps(nx.node_link_data(g, edges="links"))
        else:
            text = "\n".join(nx.generate_graphml(g))
    if cut is not None:
        text = text[:int(len(text) * cut)]
    (folder / name).write_text(text, "utf-8")
    sc = {**TOPO_SCENARIO, "topology": name}
    f = write(folder, "case_graph.yaml", sc)
    rc, _, err = cli(["validate", str(f)])
    ids = [n["id"] for n in topo["nodes"]]
    private = nx.Graph([(lk["a"], lk["b"]) for lk in topo["links"]])
    private.add_nodes_from(ids)
    kinds = {n["kind"] for n in topo["nodes"]}
    expected: str | None  # a part of the message; "" for success; None for either
    if cut is not None:
        expected = None
    elif not ids:
        expected = "nodes: "
    elif extra == "dup" and fmt == "yaml":
        expected = "duplicate node id"
    elif extra == "loop":
        expected = "a link must join two different nodes"
    elif extra == "nowhere":
        expected = "unknown node 'node-atlantis'" if fmt == "yaml" else "required key"
    elif not {"access", "cache"} & kinds:
        expected = "no access or cache node"
    elif "datacenter" not in kinds:
        expected = "no datacenter node"
    elif len(ids) > 1 and not nx.is_connected(private):
        expected = "the backbone is not connected"
    elif "dc-singapore" in drop_nodes:
        expected = "home_datacenter: unknown data center"
    else:
        expected = ""
    if expected is None:
        line = check(rc, err, file=None, may_pass=True)
        assert line is None or line.startswith((f"error: {_shown((folder / name).resolve())}: ",
                                                f"error: {_shown(f.resolve())}: ")), line
    elif expected == "":
        assert rc == 0, err
    elif expected is not None and expected.startswith("home_datacenter"):
        check(rc, err, file=f, path="home_datacenter", contains=expected)
    else:
        check(rc, err, file=folder / name, may_pass=expected is None, contains=expected)


def test_disconnected_and_broken_graphs(folder: Path) -> None:
    _topology_graph(folder)
    ran("topology_graph")


# --------------------------------------------------------------------------- names and --set

NAME_FIELDS = {
    "events[0].node_down": NODE_IDS, "events[3].datacenter_down": ["dc-singapore",
                                                                  "dc-frankfurt"],
    "events[2].link_degraded.a": NODE_IDS, "events[2].link_degraded.b": NODE_IDS,
    "events[4].flash_crowd.site": ["Singapore", "Paris"], "home_datacenter": ["dc-singapore"],
}


@given(field=st.sampled_from([*NAME_FIELDS, "nodes.overrides"]),
       name=st.text(min_size=1, max_size=20).filter(lambda s: s not in NODE_IDS
                                                    and s not in ("Singapore", "Paris")))
@settings(max_examples=FUZZ_CASES["event_names"], **SETTINGS)
def _event_names(folder: Path, field: str, name: str) -> None:
    count("event_names")
    sc = copy.deepcopy(BASE)
    if field == "nodes.overrides":
        sc["nodes"]["overrides"][name] = {"workers": 2}
        path = f"nodes.overrides{_key_part(name)}"
    else:
        set_at(sc, field, name)
        path = field
    f = write(folder, "case.yaml", sc)
    rc, _, err = cli(["validate", str(f)])
    line = check(rc, err, file=f)
    assert line is not None and line.startswith(f"error: {_shown(f.resolve())}: {path}: ")
    assert "unknown" in line or "no backbone link" in line


def test_unknown_names_in_events_and_overrides(folder: Path) -> None:
    _event_names(folder)
    ran("event_names")


SET_KEYS = st.sampled_from(SCENARIO_PATHS) | st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz_.[]0123456789-", min_size=1, max_size=20)
SET_VALUES = st.sampled_from(["", "-5", "nan", ".nan", "1e999", "[", "{a: 1", "[1, 2]",
                              "{}", "null", "true", "-1s", "99999999999999999999999",
                              "'quoted'", "!!python/name:os.system", "*alias", "&a 1"]) | \
    st.text(max_size=8)


@given(pairs=st.lists(st.tuples(SET_KEYS, SET_VALUES), min_size=1, max_size=3))
@settings(max_examples=FUZZ_CASES["set_overrides"], **SETTINGS)
def _set_overrides(folder: Path, pairs: list[tuple[str, str]]) -> None:
    count("set_overrides")
    f = folder / "ok.yaml"
    args = ["validate", str(f)] + [f"--set={k}={v}" for k, v in pairs]
    rc, _, err = cli(args)
    assert rc != 70, err
    if rc == 2:
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert err.startswith(("error: --set", f"error: {_shown(f.resolve())}: ",
                               f"error: {_shown((folder / 'topo.yaml').resolve())}: ")), err
        _log(err)
    else:
        assert rc == 0, err


def test_set_overrides(folder: Path) -> None:
    _set_overrides(folder)
    ran("set_overrides")


# --------------------------------------------------------------------------- sites at sea


def _coast_points() -> tuple[Any, Any]:
    """The land outline densified to a point every ~10 km (independent of sim.model.world)."""
    import json

    import numpy as np

    from sim.model.world import LAND_GEOJSON

    pts = []
    for feature in json.loads(LAND_GEOJSON.read_text())["features"]:
        for ring in feature["geometry"]["coordinates"]:
            r = np.asarray(ring, dtype=float)
            for (x1, y1), (x2, y2) in itertools.pairwise(r):
                n = max(1, int(math.hypot(x2 - x1, y2 - y1) * 111 / 10))
                t = np.linspace(0.0, 1.0, n + 1)
                pts.append(np.column_stack([y1 + t * (y2 - y1), x1 + t * (x2 - x1)]))
    coast = np.vstack(pts)
    return coast[:, 0], coast[:, 1]


@pytest.fixture(scope="module")
def geography() -> dict[str, Any]:
    import json

    import numpy as np
    import pandas as pd
    from matplotlib.path import Path as Polygon

    from sim.model.world import LAND_GEOJSON
    from sim.model.workload import CITIES_CSV

    rings = [Polygon(np.asarray(ring)) for f in json.loads(LAND_GEOJSON.read_text())["features"]
             for ring in f["geometry"]["coordinates"]]
    cities = pd.read_csv(CITIES_CSV, keep_default_na=False)
    return {"rings": rings, "coast": _coast_points(),
            "cities": (cities["lat"].to_numpy(), cities["lon"].to_numpy())}


@given(lat=st.floats(-89.9, 89.9), lon=st.floats(-179.9, 179.9), island=st.booleans())
@settings(max_examples=FUZZ_CASES["ocean_sites"], **SETTINGS)
def _ocean_sites(folder: Path, geography: dict[str, Any], lat: float, lon: float,
                 island: bool) -> None:
    from sim.model.world import CITY_KM, COAST_KM
    from sim.model.latency import haversine_km

    count("ocean_sites")
    site = {"name": "Somewhere", "lat": lat, "lon": lon, "region": "europe"}
    if island:
        site["island"] = True
    sc = {**TOPO_SCENARIO, "topology": "topo.yaml",
          "population": {"source": "sites", "sites": [site], "dau": 1000}}
    f = write(folder, "case_site.yaml", sc)
    rc, _, err = cli(["validate", str(f)])
    holes = sum(ring.contains_point((lon, lat)) for ring in geography["rings"])
    on_land = holes % 2 == 1
    coast_km = float(haversine_km(lat, lon, *geography["coast"]).min())
    city_km = float(haversine_km(lat, lon, *geography["cities"]).min())
    if island or on_land or coast_km < COAST_KM - 15 or city_km < CITY_KM - 1:
        assert rc == 0, err
    elif coast_km > COAST_KM + 15 and city_km > CITY_KM + 1:
        check(rc, err, file=f, path="population.sites[0]", contains="is in the ocean")
    else:
        check(rc, err, file=f, path="population.sites[0]", may_pass=True)


def test_sites_in_the_ocean(folder: Path, geography: dict[str, Any]) -> None:
    _ocean_sites(folder, geography)
    ran("ocean_sites")


# --------------------------------------------------------------------------- real runs


@given(data=st.data())
@settings(max_examples=FUZZ_CASES["extreme_runs"], **SETTINGS)
def _extreme_runs(folder: Path, data: st.DataObject) -> None:
    """Valid but extreme scenarios run for a few simulated seconds: one worker, a connection
    limit of one, one attempt, every node down, DNS TTL 0, huge jitter. Each run ends with a
    complete result folder (status 0) or an input error (status 2), never a crash."""
    count("extreme_runs")
    sc = copy.deepcopy(BASE)
    sc.pop("billing")
    sc["duration"] = data.draw(st.sampled_from(["5s", "20s", "1m"]), label="duration")
    sc["warmup"] = data.draw(st.sampled_from(["0s", "2s"]), label="warmup")
    sc["population"]["dau"] = data.draw(st.sampled_from([1, 50, 5000, 200_000]), label="dau")
    for kind in ("access", "cache", "datacenter"):
        sc["nodes"][kind] = {
            "workers": data.draw(st.sampled_from([1, 2, 100]), label=f"{kind} workers"),
            "connection_limit": data.draw(st.sampled_from([1, 2, 10 ** 9]), label="limit"),
            "service_ms": data.draw(st.sampled_from([0.001, 20.0, 5000.0]), label="service")}
    levels = sc["addressing"]["levels"]
    levels[0]["region"]["dns_ttl"] = data.draw(st.sampled_from([0, "5m"]), label="ttl")
    levels[4]["failover"]["max_attempts"] = data.draw(st.sampled_from([1, 2, 100]))
    levels[4]["failover"]["connect_timeout"] = data.draw(st.sampled_from(["1ms", "3s"]))
    sc["protocol"]["jitter_fraction"] = data.draw(st.sampled_from([0.0, 0.05, 10.0]))
    sc["addressing"]["strategy"] = data.draw(
        st.sampled_from(["multilevel", "random", "round_robin", "nearest_geo", "oracle"]))
    if data.draw(st.booleans(), label="every node down"):
        sc["events"] = [{"at": 0, "node_down": n} for n in NODE_IDS
                        if not n.startswith("hub")]
    f = write(folder, "run.yaml", sc)
    out = folder / "run-out"
    rc, _, err = cli(["run", str(f), "--out", str(out), "--quiet", "--no-figures",
                      "--overwrite", "--jobs", "1"])
    check(rc, err, file=f, may_pass=True)
    if rc == 0:
        assert sorted(p.name for p in out.iterdir()) == ["logins.csv", "node_load.csv",
                                                         "summary.json"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".run-out")]


def test_extreme_but_valid_runs_complete(folder: Path) -> None:
    _extreme_runs(folder)
    ran("extreme_runs")


def test_broken_files_in_a_real_subprocess(folder: Path) -> None:
    """The same contract through ``python -m sim``: one line, status 2, no traceback."""
    import subprocess
    import sys

    cases = {
        "yaml.yaml": b"name: x\n  bad: [\n",
        "utf8.yaml": b"name: \xff\n",
        "tag.yaml": b"name: !!python/object/apply:os.system [echo owned]\n",
        "graph.yaml": dump({**BASE, "topology": "graph.graphml"}).encode(),
    }
    (folder / "graph.graphml").write_text("<graphml><graph")
    procs = {}
    for name, content in cases.items():
        (folder / name).write_bytes(content)
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "sim", "run", name, "--out", "never"], cwd=folder,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        named = "graph.graphml" if name == "graph.yaml" else name
        assert proc.returncode == 2, (name, err)
        assert err.startswith(f"error: {named}: ") and err.count("\n") == 1, (name, err)
        assert "Traceback" not in err
    assert not (folder / "never").exists()
