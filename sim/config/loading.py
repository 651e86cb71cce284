"""Loading a scenario file: reading, ``extends:`` inheritance, overrides, validation."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sim.config.messages import shown
from sim.config.overrides import NoSuchItem, apply_overrides
from sim.config.schema import Scenario, validate_scenario
from sim.config.yaml_io import read_yaml
from sim.errors import ScenarioError

__all__ = ["load_scenario"]


def _deep_merge(base: dict[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _load_raw(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(shown(p) for p in (*chain, path))
        raise ScenarioError(f"extends: cycle: {cycle}", file=shown(chain[-1]))
    if len(chain) >= 32:
        raise ScenarioError("extends: chain longer than 32 files", file=shown(path))
    raw = read_yaml(path)
    if isinstance(raw.get("topology"), str):
        raw["topology"] = shown((path.parent / raw["topology"]).resolve())
    billing = raw.get("billing")
    if isinstance(billing, dict) and isinstance(billing.get("price_list"), str):
        name = billing["price_list"]
        if "/" in name or name.endswith((".yaml", ".yml")):  # a file, not a built-in name
            billing["price_list"] = shown((path.parent / name).resolve())
    parent = raw.get("extends")
    if parent is None:
        return raw
    if not isinstance(parent, str) or not parent.strip():
        raise ScenarioError(f"extends: expected a file path, got {parent!r}", file=shown(path))
    parent_path = path.parent / parent
    if not parent_path.exists():
        raise ScenarioError(f"extends: file not found: {shown(parent_path)}", file=shown(path))
    base = _load_raw(parent_path, (*chain, path))
    base.pop("name", None)
    base.pop("description", None)
    merged = _deep_merge(base, raw)
    merged["extends"] = parent
    return merged


def load_scenario(path: str | os.PathLike[str],
                  overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Load, merge (``extends:``), override and validate a scenario file.

    Parameters
    ----------
    path : path-like
        The scenario YAML file. ``extends`` and ``topology`` paths are relative to the file
        that names them.
    overrides : mapping, optional
        ``{"key.path": value}`` pairs applied after inheritance (the CLI's ``--set``).

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        With the file, the key path and what was wrong.
    """
    p = Path(path)
    source = shown(p.resolve())
    raw = _load_raw(p, ())
    if not overrides:
        return validate_scenario(raw, source=source)
    paths = list(overrides)
    try:
        with_set = copy.deepcopy(raw)
        apply_overrides(with_set, overrides, source="--set")
    except NoSuchItem:
        # The path runs through a list the file leaves to its default (addressing.levels):
        # fill the defaults in first, then set.
        with_set = validate_scenario(raw, source=source).resolved()
        apply_overrides(with_set, overrides, source="--set")
    return validate_scenario(with_set, source=source, override_paths=paths)
