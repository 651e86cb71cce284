"""Regression test: every shipped scenario, short, gives the bytes and figures it gave when
the golden files were written (``tests/golden/engine/make.py`` says how and when to rewrite
them). Not a test against theory: it guards refactors that must not change behaviour."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "golden" / "engine"
_spec = importlib.util.spec_from_file_location("golden_engine_make", HERE / "make.py")
assert _spec is not None and _spec.loader is not None
make = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make)


@pytest.mark.parametrize("name", sorted(make.cases()))
def test_same_bytes_and_figures(name: str) -> None:
    expected = json.loads((HERE / f"{name}.json").read_text("utf-8"))
    got = make.produce(name)
    assert got["files"] == expected["files"]
    for key in sorted(set(expected["summary"]) | set(got["summary"])):
        assert got["summary"].get(key) == expected["summary"].get(key), key


def test_every_scenario_has_a_golden_file() -> None:
    assert sorted(p.stem for p in HERE.glob("*.json")) == sorted(make.cases())
