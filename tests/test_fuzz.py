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
    "protocol": {"transport": "tcp_tls13", "quic_0rtt_share": 0.0},
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
    "events[2].link_degraded.extra_ms",
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
        assert sorted(p.name for p in out.iterdir()) == [".access-sim-result", "logins.csv",
                                                         "node_load.csv", "sites.csv",
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


# =========================================================================== hostile input
# SECURITY.md, "Input limits": sizes, depth, aliases, special files, duplicate keys, hostile
# --set values, wrong-shaped topology JSON, bill edge inputs. Every case: status 2, one line
# of at most 300 characters naming the file (or --set, --seed, --month), never a traceback,
# a hang (a SIGALRM deadline) or a run out of memory.

from sim.config import limits as LIMITS  # noqa: E402

HOSTILE_CASES = {
    "huge_values": 30, "deep": 60, "alias_bombs": 40, "duplicate_keys": 60,
    "hostile_set": 100, "seed_options": 30, "topology_json_shapes": 80, "bill_edges": 60,
}
FUZZ_CASES.update(HOSTILE_CASES)
MAX_LINE = 300


class Hung(BaseException):
    """A command did not answer in time (not an OSError, which the readers catch)."""


@contextlib.contextmanager
def deadline(seconds: float = 30.0) -> Iterator[None]:
    """Raise instead of hanging (a FIFO opened for reading blocks until a writer comes)."""
    import signal

    def boom(signum: int, frame: Any) -> None:
        raise Hung(f"no answer within {seconds:g} s: a hang")

    old = signal.signal(signal.SIGALRM, boom)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def hostile(args: list[str], *, names: Any, contains: str | None = None,
            may_pass: bool = False) -> str | None:
    """Run the CLI on hostile input: status 2 (or 0 when allowed) and ONE line of at most
    MAX_LINE characters that starts with ``error: NAME: `` for one of ``names``."""
    with deadline():
        rc, _, err = cli(args)
    assert rc != 70, f"internal error (a crash):\n{err[-3000:]}"
    if rc == 0 and may_pass:
        return None
    assert rc == 2, f"status {rc}, stderr:\n{err[-3000:]}"
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line:\n{err[:3000]!r}"
    line = err[:-1]
    assert len(line) <= MAX_LINE, f"{len(line)} characters: {line[:400]!r}"
    assert "Traceback" not in err
    options = names if isinstance(names, (list, tuple)) else [names]
    labels = [n if isinstance(n, str) else _shown(n) for n in options]
    assert any(line.startswith(f"error: {label}: ") for label in labels), \
        f"does not name {labels}: {line}"
    if contains is not None:
        assert contains in line, line
    _log(err)
    return line


def _tree(folder: Path, name: str) -> Path:
    d = folder / name
    if d.exists():
        import shutil

        shutil.rmtree(d)
    d.mkdir(parents=True)
    (d / "topo.yaml").write_text(dump(TOPOLOGY))
    return d


def _node_link(topo: dict[str, Any]) -> dict[str, Any]:
    return {"directed": False, "multigraph": False, "graph": {"name": topo["name"]},
            "nodes": [dict(n) for n in topo["nodes"]],
            "links": [{"source": lk["a"], "target": lk["b"]} for lk in topo["links"]]}


def _dau_csv(path: Path, month: str, value: Any = 20000) -> Path:
    from sim.billing.usage import month_days

    rows = [f"{d.isoformat()},{value}" for d in month_days(month)]
    path.write_text("date,dau\n" + "\n".join(rows) + "\n")
    return path


# --------------------------------------------------------------------------- special files

INPUT_KINDS = ["scenario", "extends", "topology-yaml", "topology-json", "topology-graphml",
               "price-list-option", "price-list-key", "dau-csv", "groups-csv"]
SPECIAL_KINDS = ["fifo", "dev-zero", "dev-null", "directory", "symlink-loop", "dangling-symlink",
                 "socket"]


def _special(d: Path, kind: str, suffix: str) -> Path:
    import socket

    p = d / f"special{suffix}"
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "dev-zero":
        p.symlink_to("/dev/zero")
    elif kind == "dev-null":
        p.symlink_to("/dev/null")
    elif kind == "directory":
        p.mkdir()
    elif kind == "symlink-loop":
        other = d / f"other{suffix}"
        p.symlink_to(other.name)
        other.symlink_to(p.name)
    elif kind == "dangling-symlink":
        p.symlink_to("nowhere/none" + suffix)
    else:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(p))
        s.close()
    return p


def _args_for(kind: str, d: Path, target: Path) -> tuple[list[str], list[Any]]:
    """The command that reads ``target`` as an input of this kind, and what may be named."""
    rel = os.path.relpath(target, d)
    if kind == "scenario":
        return ["validate", str(target)], [target]
    if kind == "extends":
        f = write(d, "child.yaml", {"name": "child", "extends": rel})
        return ["validate", str(f)], [target, f]
    if kind.startswith("topology"):
        f = write(d, "case.yaml", {**TOPO_SCENARIO, "topology": rel})
        return ["validate", str(f)], [target, f]  # a missing topology is the scenario's error
    if kind == "price-list-option":
        f = write(d, "ok.yaml", {**BASE, "topology": "topo.yaml"})
        return ["bill", str(f), "--price-list", str(target), "--out", str(d / "bill")], [target]
    if kind == "price-list-key":
        sc = copy.deepcopy(BASE)
        sc["billing"]["price_list"] = rel
        f = write(d, "ok.yaml", sc)
        return ["validate", str(f)], [target, f]
    if kind == "dau-csv":
        return ["bill", "--dau-csv", str(target), "--month", "2024-02", "--out",
                str(d / "bill")], [str(target), target]
    good = _dau_csv(d / "dau.csv", "2024-02")
    return ["bill", "--dau-csv", str(good), "--groups-csv", str(target), "--month", "2024-02",
            "--out", str(d / "bill")], [str(target), target]


def _suffix(kind: str) -> str:
    return {"topology-json": ".json", "topology-graphml": ".graphml", "dau-csv": ".csv",
            "groups-csv": ".csv"}.get(kind, ".yaml")


@pytest.mark.parametrize("special", SPECIAL_KINDS)
@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_special_files_are_refused_without_blocking(folder: Path, kind: str,
                                                    special: str) -> None:
    """A FIFO, /dev/zero, /dev/null, a directory, a symbolic link loop, a dangling link or a
    socket, as every kind of input: refused at once (checked before opening)."""
    d = _tree(folder, f"special-{kind}-{special}")
    target = _special(d, special, _suffix(kind))
    args, names = _args_for(kind, d, target)
    hostile(args, names=names)


# --------------------------------------------------------------------------- huge files


@pytest.mark.parametrize("extra", [1, 4096, "double"])
@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_files_past_their_size_limit_are_refused(folder: Path, kind: str, extra: Any) -> None:
    """A (sparse) file one byte, a page or twice past its kind's limit: refused before it is
    read, naming the file."""
    what = {"topology-yaml": "topology", "topology-json": "topology",
            "topology-graphml": "topology", "price-list-option": "price list",
            "price-list-key": "price list", "dau-csv": "CSV", "groups-csv": "CSV",
            "extends": "scenario"}.get(kind, "scenario")
    limit = LIMITS.MAX_FILE_BYTES[what]
    d = _tree(folder, f"huge-{kind}-{extra}")
    target = d / f"huge{_suffix(kind)}"
    with open(target, "wb") as f:
        f.write(b"name: x\n")
        f.truncate(limit * 2 if extra == "double" else limit + extra)
    args, names = _args_for(kind, d, target)
    hostile(args, names=names[0], contains="file too large")


@given(data=st.data())
@settings(max_examples=HOSTILE_CASES["huge_values"], **SETTINGS)
def _huge_values(folder: Path, data: st.DataObject) -> None:
    """A value of up to 200,000 characters (under the size limit) anywhere: the message
    quotes a shortened value."""
    count("huge_values")
    n = data.draw(st.integers(2_000, 200_000), label="length")
    char = data.draw(st.sampled_from(["x", "9", "é", "a b", "-"]), label="char")
    value = (char * n)[:n]
    target = data.draw(st.sampled_from(["scenario", "topology"]), label="file")
    d = folder / "hugeval"
    d.mkdir(exist_ok=True)
    (d / "topo.yaml").write_text(dump(TOPOLOGY))
    if target == "scenario":
        path = data.draw(st.sampled_from(list(SCENARIO_LEAVES)), label="path")
        sc = copy.deepcopy(BASE)
        set_at(sc, path, value)
        f = write(d, "case.yaml", sc)
        hostile(["validate", str(f)], names=f, may_pass=path in FREE_TEXT)
    else:
        path = data.draw(st.sampled_from([p for p in TOPO_PATHS
                                          if not isinstance(_value_at(TOPOLOGY, p),
                                                            (dict, list))]), label="path")
        topo = copy.deepcopy(TOPOLOGY)
        set_at(topo, path, value)
        write(d, "topo_case.yaml", topo)
        f = write(d, "case_topo.yaml", TOPO_SCENARIO)
        hostile(["validate", str(f)], names=[d / "topo_case.yaml", f],
                may_pass=path in TOPO_FREE_TEXT)


def test_huge_values_are_shortened_in_messages(folder: Path) -> None:
    _huge_values(folder)
    ran("huge_values")


# --------------------------------------------------------------------------- depth


def _deep_text(depth: int, kind: str, style: str) -> str:
    if style == "flow" or depth > 300:
        return ("[" * depth + "1" + "]" * depth) if kind == "list" else \
            ("{a: " * depth + "1" + "}" * depth)
    lines = []
    for i in range(depth):
        lines.append("  " * i + ("- " if kind == "list" else "a:"))
    text = "\n".join(ln if kind == "map" else ln.rstrip() for ln in lines)
    return text + "\n" + "  " * depth + "1"


@given(data=st.data())
@settings(max_examples=HOSTILE_CASES["deep"], **SETTINGS)
def _deep(folder: Path, data: st.DataObject) -> None:
    """Nesting of a random depth past the limit, in mappings or lists, flow or block style,
    at a random key of a scenario, a file it extends, a YAML or JSON topology, a price list,
    or a --set value."""
    import json

    count("deep")
    depth = data.draw(st.integers(LIMITS.MAX_YAML_DEPTH + 1, 12_000), label="depth")
    kind = data.draw(st.sampled_from(["list", "map"]), label="kind")
    style = data.draw(st.sampled_from(["flow", "block"]), label="style")
    where = data.draw(st.sampled_from(["scenario", "extends", "topology-yaml", "topology-json",
                                       "price-list", "set"]), label="where")
    d = _tree(folder, "deep")
    flow = _deep_text(depth, kind, "flow")
    if where == "set":
        key = data.draw(st.sampled_from(SCENARIO_PATHS), label="key")
        hostile(["validate", str(write(d, "ok.yaml", BASE)), "--set", f"{key}={flow}"],
                names="--set", contains=f"nested deeper than {LIMITS.MAX_YAML_DEPTH} levels")
        return
    if where == "topology-json":
        doc: Any = _node_link(TOPOLOGY)
        deep = json.loads(flow) if kind == "list" and depth < 900 else None
        spot = data.draw(st.sampled_from(["top", "nodes", "lat"]), label="spot")
        text = json.dumps(doc)
        marker = '"__DEEP__"'
        if spot == "top":
            text = "[" * depth + "]" * depth
        else:
            if spot == "nodes":
                doc["nodes"] = "__DEEP__"
            else:
                doc["nodes"][0]["lat"] = "__DEEP__"
            text = json.dumps(doc).replace(marker, "[" * depth + "]" * depth)
        del deep
        (d / "topo.json").write_text(text)
        f = write(d, "case.yaml", {**TOPO_SCENARIO, "topology": "topo.json"})
        hostile(["validate", str(f)], names=d / "topo.json", contains="nested deeper than")
        return
    base: dict[str, Any]
    if where in ("scenario", "extends"):
        base = copy.deepcopy(BASE)
        base["topology"] = "topo.yaml"
        paths = SCENARIO_PATHS
    elif where == "topology-yaml":
        base = copy.deepcopy(TOPOLOGY)
        paths = TOPO_PATHS
    else:
        from sim.billing.price_lists import BUILTIN_PRICE_LISTS  # noqa: F401

        base = yaml.safe_load((Path(__file__).resolve().parents[1] / "sim" / "data"
                               / "price_lists" / "international-usd.yaml").read_text())
        paths = [p for p, _ in walk(base)]
    path = data.draw(st.sampled_from(paths), label="path")
    set_at(base, path, "__DEEP__")
    text = dump(base)
    deep = _deep_text(depth, kind, style)
    if "\n" in deep:  # block style: a new indented block under the key
        line = next(ln for ln in text.splitlines() if "__DEEP__" in ln)
        indent = len(line) - len(line.lstrip()) + 2 + (2 if line.lstrip().startswith("- ")
                                                        else 0)
        deep = "\n" + "\n".join(" " * indent + ln for ln in deep.splitlines())
    text = text.replace("__DEEP__", deep, 1)
    name = {"topology-yaml": "topo_case.yaml", "price-list": "prices.yaml"}.get(where,
                                                                               "case.yaml")
    (d / name).write_text(text)
    if where == "scenario":
        args, named = ["validate", str(d / name)], d / name
    elif where == "extends":
        child = write(d, "child.yaml", {"name": "child", "extends": name})
        args, named = ["validate", str(child)], d / name
    elif where == "topology-yaml":
        f = write(d, "case_topo.yaml", TOPO_SCENARIO)
        args, named = ["validate", str(f)], d / name
    else:
        f = write(d, "ok.yaml", BASE)
        args, named = ["bill", str(f), "--price-list", str(d / name), "--out",
                       str(d / "bill")], d / name
    hostile(args, names=named, contains=f"nested deeper than {LIMITS.MAX_YAML_DEPTH} levels")


def test_documents_nested_past_the_depth_limit(folder: Path) -> None:
    _deep(folder)
    ran("deep")


# --------------------------------------------------------------------------- alias bombs


def _bomb(fanout: int, levels: int, leaf: str = "lol") -> str:
    """A flow sequence whose last item expands to fanout ** levels leaves."""
    items = [f"&a0 [{', '.join([leaf] * fanout)}]"]
    for i in range(1, levels + 1):
        items.append(f"&a{i} [{', '.join([f'*a{i - 1}'] * fanout)}]")
    return "[" + ", ".join(items) + "]"


@given(data=st.data())
@settings(max_examples=HOSTILE_CASES["alias_bombs"], **SETTINGS)
def _alias_bombs(folder: Path, data: st.DataObject) -> None:
    """"Billion laughs" of fan-out 2 to 12, just past or far past the limit, in a text field
    or any key of a scenario, a topology, a price list or a --set value; and a document of
    more aliases than allowed that expands to little."""
    count("alias_bombs")
    fanout = data.draw(st.integers(2, 12), label="fan-out")
    need = math.ceil(math.log(LIMITS.MAX_YAML_NODES + 1) / math.log(fanout))
    levels = need + data.draw(st.integers(0, 3), label="extra levels")
    many = data.draw(st.booleans(), label="many aliases instead")
    text_bomb = (_bomb(fanout, levels) if not many else
                 "[&x 1, " + ", ".join(["*x"] * (LIMITS.MAX_YAML_ALIASES + 1)) + "]")
    expected = "aliases" if many else "once aliases are expanded"
    where = data.draw(st.sampled_from(["scenario", "topology", "price-list", "set"]),
                      label="where")
    d = _tree(folder, "bomb")
    if where == "set":
        key = data.draw(st.sampled_from(SCENARIO_PATHS), label="key")
        hostile(["validate", str(write(d, "ok.yaml", BASE)), "--set", f"{key}={text_bomb}"],
                names="--set", contains=expected)
        return
    if where == "scenario":
        base = copy.deepcopy(BASE)
        paths = [*sorted(FREE_TEXT), *SCENARIO_PATHS]
        name = "case.yaml"
    elif where == "topology":
        base = copy.deepcopy(TOPOLOGY)
        paths = TOPO_PATHS
        name = "topo_case.yaml"
    else:
        base = yaml.safe_load((Path(__file__).resolve().parents[1] / "sim" / "data"
                               / "price_lists" / "international-usd.yaml").read_text())
        paths = [p for p, _ in walk(base)]
        name = "prices.yaml"
    path = data.draw(st.sampled_from(paths), label="path")
    set_at(base, path, "__BOMB__")
    (d / name).write_text(dump(base).replace("__BOMB__", text_bomb, 1))
    if where == "scenario":
        args = ["validate", str(d / name)]
    elif where == "topology":
        args = ["validate", str(write(d, "case_topo.yaml", TOPO_SCENARIO))]
    else:
        args = ["bill", str(write(d, "ok.yaml", BASE)), "--price-list", str(d / name),
                "--out", str(d / "bill")]
    hostile(args, names=d / name, contains=expected)


def test_alias_bombs_are_refused_before_expansion(folder: Path) -> None:
    _alias_bombs(folder)
    ran("alias_bombs")


# --------------------------------------------------------------------------- duplicate keys


@given(data=st.data())
@settings(max_examples=HOSTILE_CASES["duplicate_keys"], **SETTINGS)
def _duplicate_keys(folder: Path, data: st.DataObject) -> None:
    """A key written twice in a mapping at a random depth of a scenario or a topology (block
    style), or in a --set flow mapping: an error naming the key path and both lines."""
    count("duplicate_keys")
    where = data.draw(st.sampled_from(["scenario", "topology", "set"]), label="where")
    d = _tree(folder, "dup")
    if where == "set":
        key = data.draw(st.sampled_from(["a", "dau", "x-y", "1"]), label="key")
        hostile(["validate", str(write(d, "ok.yaml", BASE)), "--set",
                 f"population={{{key}: 1, b: 2, {key}: 3}}"], names="--set",
                contains=f"population.{key}: duplicate key" if not key.isdigit() else
                "duplicate key")
        return
    base = copy.deepcopy(BASE if where == "scenario" else TOPOLOGY)
    mappings = [""] + [p for p, v in walk(base) if isinstance(v, dict) and v]
    at = data.draw(st.sampled_from(mappings), label="mapping")
    target = _value_at(base, at) if at else base
    key = data.draw(st.sampled_from(list(target)), label="key")
    target[f"{key}__DUP__"] = data.draw(st.sampled_from([1, "x", None, [1], {"k": 1}]))
    text = dump(base)
    second = next(i for i, ln in enumerate(text.splitlines(), start=1) if "__DUP__" in ln)
    text = text.replace(f"{key}__DUP__:", f"{key}:", 1)
    name = "case.yaml" if where == "scenario" else "topo_case.yaml"
    (d / name).write_text(text)
    args = ["validate", str(d / name)] if where == "scenario" else \
        ["validate", str(write(d, "case_topo.yaml", TOPO_SCENARIO))]
    full = f"{at}{_key_part(key, first=not at)}"
    line = hostile(args, names=d / name, contains="duplicate key")
    assert line is not None
    assert f": {full}: duplicate key " in line and f" and {second})" in line, line


def test_duplicate_keys_name_the_key_and_both_lines(folder: Path) -> None:
    _duplicate_keys(folder)
    ran("duplicate_keys")


# --------------------------------------------------------------------------- hostile --set

HOSTILE_SET_VALUES = st.one_of(
    st.integers(LIMITS.MAX_YAML_DEPTH + 1, 3000).map(lambda n: "[" * n + "]" * n),
    st.integers(LIMITS.MAX_YAML_DEPTH + 1, 3000).map(lambda n: "{a: " * n + "1" + "}" * n),
    st.integers(2, 9).map(lambda f: _bomb(f, math.ceil(math.log(5e5) / math.log(f)) + 1)),
    st.integers(LIMITS.MAX_SET_VALUE_CHARS + 1, LIMITS.MAX_SET_VALUE_CHARS * 3).map(
        lambda n: "y" * n),
    st.integers(4400, 20_000).map(lambda n: "9" * n),
    st.sampled_from(["a\nb", "\x1b[31mred", "x\ry", "\x00", "\t", "{a: 1, a: 2}",
                     "*undefined", "&a [*a]", "!!python/object/apply:os.system [id]",
                     "!!binary aGVsbG8=", "2024-13-45", "!!set {a, b}", "1e999999",
                     "[" * 64 + "]" * 64, "{" * 10, "'" * 3, "\u2028", "\ufeff5"]),
    st.text(max_size=30))
HOSTILE_SET_KEYS = st.one_of(
    st.sampled_from(SCENARIO_PATHS),
    st.sampled_from(["a\nb", "population.\x1bx", "x" * 5000, "." * 10, "a..b", "[0]",
                     "events[99999999999999999999]", ".".join(["p"] * 80),
                     "population.sites[0]" + ".x" * 70, "seed\r"]),
    st.text(min_size=1, max_size=20).filter(lambda k: "=" not in k))


@given(pairs=st.lists(st.tuples(HOSTILE_SET_KEYS, HOSTILE_SET_VALUES), min_size=1,
                      max_size=3))
@settings(max_examples=HOSTILE_CASES["hostile_set"], **SETTINGS)
def _hostile_set(folder: Path, pairs: list[tuple[str, str]]) -> None:
    """Deep, aliased, huge, control-character and duplicate-key --set values at hostile key
    paths: status 0 or one short line naming --set (or the file, for a name it checks)."""
    count("hostile_set")
    f = folder / "ok.yaml"
    args = ["validate", str(f)] + [f"--set={k}={v}" for k, v in pairs]
    limit_broken = any(len(v) > LIMITS.MAX_SET_VALUE_CHARS or v.startswith("[[[[[[[[[[" * 7)
                       or v.startswith("{a: " * 65) or "*a0" in v for _, v in pairs)
    bad_pair = any(not k.strip() for k, _ in pairs)  # "--set =v": not key.path=value
    names = ["--set"] if limit_broken and len(pairs) == 1 and not bad_pair else \
        ["--set", f, folder / "topo.yaml"]
    if bad_pair:
        with deadline():
            rc, _, err = cli(args)
        assert rc == 2 and err.count("\n") == 1 and len(err) <= MAX_LINE + 1, err[:400]
        assert err.startswith("error: --set ") and err.endswith(": expected key.path=value\n")
        return
    hostile(args, names=names, may_pass=not limit_broken)


def test_hostile_set_values(folder: Path) -> None:
    _hostile_set(folder)
    ran("hostile_set")


@given(option=st.sampled_from(["--seed", "--replications"]), data=st.data())
@settings(max_examples=HOSTILE_CASES["seed_options"], **SETTINGS)
def _seed_options(folder: Path, option: str, data: st.DataObject) -> None:
    """--seed and --replications out of range: the message names the option, not --set."""
    count("seed_options")
    if option == "--seed":
        value = data.draw(st.integers(max_value=-1) | st.integers(min_value=2 ** 63),
                          label="seed")
    else:
        value = data.draw(st.integers(max_value=0) | st.integers(min_value=10_001),
                          label="replications")
    command = data.draw(st.sampled_from(["run", "compare", "sweep"]), label="command")
    args = [command, str(folder / "ok.yaml"), option, str(value), "--out",
            str(folder / "never"), "--quiet", "--jobs", "1"]
    if command == "sweep":
        args += ["--grid", "seed=1,2"]
    hostile(args, names=option)
    assert not (folder / "never").exists()


def test_seed_and_replications_options_name_the_option(folder: Path) -> None:
    _seed_options(folder)
    ran("seed_options")


# --------------------------------------------------------------------------- topology JSON

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=10)


@given(data=st.data())
@settings(max_examples=HOSTILE_CASES["topology_json_shapes"], **SETTINGS)
def _topology_json_shapes(folder: Path, data: st.DataObject) -> None:
    """A node-link JSON topology of the wrong shape: null, a list, a string for the whole
    file; a random JSON value for nodes, links, graph, a node, a node's id or attribute, a
    link's end."""
    import json

    count("topology_json_shapes")
    doc: Any = _node_link(TOPOLOGY)
    spot = data.draw(st.sampled_from(["top", "nodes", "links", "graph", "graph.name",
                                      "nodes[0]", "nodes[0].id", "nodes[0].lat",
                                      "nodes[0].kind", "links[0]", "links[0].source",
                                      "directed", "multigraph", "missing nodes"]),
                     label="spot")
    value = data.draw(st.sampled_from([None, [], "x", 5, True, {}, [None], [[1]]]) | JSON_VALUES,
                      label="value")
    if spot == "top":
        doc = value
    elif spot == "missing nodes":
        del doc["nodes"]
    elif spot == "graph.name":
        doc["graph"]["name"] = value
    elif "." in spot:
        head, attr = spot.split(".")
        doc[head[:-3]][0][attr] = value
    elif spot.endswith("[0]"):
        doc[spot[:-3]][0] = value
    else:
        doc[spot] = value
    d = _tree(folder, "json-shape")
    (d / "topo.json").write_text(json.dumps(doc))
    f = write(d, "case.yaml", {**TOPO_SCENARIO, "topology": "topo.json"})
    hostile(["validate", str(f)], names=[d / "topo.json", f], may_pass=True)


def test_wrong_shaped_node_link_json(folder: Path) -> None:
    _topology_json_shapes(folder)
    ran("topology_json_shapes")


@pytest.mark.parametrize("fmt", ["yaml", "json", "graphml"])
@pytest.mark.parametrize("what,n", [("nodes", LIMITS.MAX_TOPOLOGY_NODES + 1),
                                    ("nodes", 3 * LIMITS.MAX_TOPOLOGY_NODES),
                                    ("links", LIMITS.MAX_TOPOLOGY_LINKS + 1)])
def test_topologies_past_the_node_and_link_limits(folder: Path, fmt: str, what: str,
                                                  n: int) -> None:
    """Too many nodes or links: refused before any node-by-node table is built (8,000 hubs
    used to try N x N tables and die)."""
    import json

    import networkx as nx

    if what == "links" and fmt == "graphml":
        pytest.skip("a multigraph of 20,001 GraphML edges is slow to write; yaml/json cover it")
    topo = copy.deepcopy(TOPOLOGY)
    if what == "nodes":
        topo["nodes"] += [{"id": f"hub-x{i}", "kind": "hub", "region": "europe",
                           "lat": (i % 170) - 85.0, "lon": (i % 350) - 175.0}
                          for i in range(n - len(topo["nodes"]))]
    else:
        a, b = topo["nodes"][0]["id"], topo["nodes"][1]["id"]
        topo["links"] += [{"a": a, "b": b} for _ in range(n - len(topo["links"]))]
    d = _tree(folder, f"size-{fmt}-{what}-{n}")
    name = f"big.{fmt}"
    if fmt == "yaml":
        (d / name).write_text(dump(topo))
    elif fmt == "json":
        (d / name).write_text(json.dumps(_node_link(topo)))
    else:
        g = nx.Graph(name=topo["name"])
        for node in topo["nodes"]:
            g.add_node(node["id"], **{k: v for k, v in node.items() if k != "id"})
        for lk in topo["links"]:
            g.add_edge(lk["a"], lk["b"])
        (d / name).write_text("\n".join(nx.generate_graphml(g)))
    f = write(d, "case.yaml", {**TOPO_SCENARIO, "topology": name})
    import time

    started = time.perf_counter()
    hostile(["validate", str(f)], names=d / name, contains=f"too many {what}")
    assert time.perf_counter() - started < 20


# --------------------------------------------------------------------------- bill edges

MONTHS = st.sampled_from(["0000-01", "0001-01", "9999-11", "9999-12", "2024-00", "2024-13",
                          "2024-1", "", " ", "24-02", "2024-02-01", "2024/02", "１２３４-01",
                          "2024-02\n", "9" * 5000]) | st.from_regex(r"\d{4}-\d{2}",
                                                                     fullmatch=True)
CSV_VALUES = st.one_of(st.integers(0, 10 ** 40), st.sampled_from(
    ["1e30", "-5", "", " 7 ", "0x10", "1.5", "nan", "inf", "9" * 5000, "１２", "0" * 50 + "1",
     "10000000001", "10000000000"]))


@given(data=st.data())
@settings(max_examples=HOSTILE_CASES["bill_edges"], **SETTINGS)
def _bill_edges(folder: Path, data: st.DataObject) -> None:
    """``bill`` on edge months (0000-01, 9999-12, the last month a bill can have), DAU
    values up to 10^40 and not numbers, and a price list with bytes that are not UTF-8."""
    count("bill_edges")
    d = _tree(folder, "bill")
    month = data.draw(MONTHS, label="month")
    value = data.draw(CSV_VALUES, label="dau")
    from sim.billing.usage import parse_month

    try:
        ok_month = parse_month(month)
    except Exception:  # noqa: BLE001 - the CLI must say so
        ok_month = None
    csv_month = ok_month or "2024-02"
    dau = _dau_csv(d / "dau.csv", csv_month, value)
    args = ["bill", "--dau-csv", str(dau), "--month", month, "--out", str(d / "out")]
    names: list[Any] = ["--month", str(dau)]
    if data.draw(st.booleans(), label="broken price list"):
        prices = (Path(__file__).resolve().parents[1] / "sim" / "data" / "price_lists"
                  / "international-usd.yaml").read_bytes()
        pos = data.draw(st.integers(0, len(prices)), label="pos")
        (d / "prices.yaml").write_bytes(prices[:pos] + data.draw(st.sampled_from(BAD_BYTES))
                                        + prices[pos:])
        args += ["--price-list", str(d / "prices.yaml")]
        names.append(d / "prices.yaml")
    hostile(args, names=names, may_pass=True)


def test_bill_edge_inputs(folder: Path) -> None:
    _bill_edges(folder)
    ran("bill_edges")


@pytest.mark.parametrize("month", ["9999-11", "0001-01"])
def test_the_last_and_first_billable_months_work(folder: Path, month: str) -> None:
    d = _tree(folder, f"bill-{month}")
    dau = _dau_csv(d / "dau.csv", month, 20_000)
    with deadline():
        rc, out, err = cli(["bill", "--dau-csv", str(dau), "--month", month, "--out",
                            str(d / "out")])
    assert rc == 0, err
    assert (d / "out" / "bill.json").is_file()


# --------------------------------------------------------------------------- plugins, names

PLUGIN_BODIES = ["import sys\nsys.exit(3)\n", "raise SystemExit(0)\n",
                 "raise SystemExit('bye\\nnow')\n", "raise GeneratorExit\n",
                 "raise BaseException('x' * 100000)\n", "raise RecursionError\n",
                 "raise MemoryError\n", "class E(BaseException):\n    pass\nraise E()\n"]


@pytest.mark.parametrize("i,body", list(enumerate(PLUGIN_BODIES)))
def test_plugins_that_exit_or_raise_on_import(folder: Path, i: int, body: str) -> None:
    """A plugin whose import calls sys.exit or raises any BaseException but Ctrl-C: an error
    at plugins[0], not an exit with the plugin's status and nothing said."""
    d = _tree(folder, f"plugin-{i}")
    (d / f"exiting_plugin_{i}.py").write_text(body)
    f = write(d, "case.yaml", {**BASE, "topology": "topo.yaml",
                               "plugins": [f"exiting_plugin_{i}:Thing"]})
    line = hostile(["validate", str(f)], names=f)
    assert line is not None and f"{_shown(f)}: plugins[0]: importing module " in line


@pytest.mark.parametrize("name", ["new\nline.yaml", "tab\there.yaml", "esc\x1b[31m.yaml",
                                  "cr\r.yaml", "uni\u2028sep.yaml"])
def test_control_characters_in_file_names_stay_on_one_line(folder: Path, name: str) -> None:
    d = _tree(folder, "names")
    f = d / name
    f.write_text("name: [\n")
    with deadline():
        rc, _, err = cli(["validate", str(f)])
    assert rc == 2 and err.count("\n") == 1 and err.startswith("error: "), repr(err)
    assert len(err) <= MAX_LINE + 1 and "invalid YAML" in err


def test_the_resolved_scenario_stores_absolute_paths(folder: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """scenario_resolved (stored in every result) reruns from any folder: its topology (and
    a price-list file) are absolute, also when set with --set relative to the working
    folder."""
    from sim.config import load_scenario
    from sim.config.schema import Scenario
    from sim.model.world import build_world

    d = _tree(folder, "resolved")
    (d / "sub").mkdir()
    (d / "sub" / "net.yaml").write_text(dump(TOPOLOGY))
    sc = copy.deepcopy(BASE)
    sc["topology"] = "sub/net.yaml"
    f = write(d, "case.yaml", sc)
    monkeypatch.chdir(d / "sub")
    for overrides in ({}, {"topology": "net.yaml"}):
        resolved = load_scenario(f, overrides).resolved()
        assert Path(resolved["topology"]).is_absolute(), resolved["topology"]
        assert Path(resolved["topology"]) == (d / "sub" / "net.yaml").resolve()
        monkeypatch.chdir(folder)  # elsewhere
        build_world(Scenario.model_validate(resolved))
        monkeypatch.chdir(d / "sub")


def test_validate_prints_a_memory_estimate(folder: Path) -> None:
    rc, out, err = cli(["validate", str(folder / "ok.yaml")])
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("ok: ") and re.fullmatch(r"memory: about [\d,]+ MB .*", lines[1])
