"""Loading a scenario file: reading, ``extends:`` inheritance, overrides, validation."""

from __future__ import annotations

import copy
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from sim.config.messages import dotted, shown, shown_value, validation_message
from sim.config.overrides import NoSuchItem, apply_overrides
from sim.config.schema import Scenario, validate_scenario
from sim.config.yaml_io import read_yaml
from sim.errors import ScenarioError

__all__ = ["load_scenario", "check_option"]

MAX_EXTENDS = 32
"""Longest ``extends:`` chain, in files."""


def _deep_merge(base: dict[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _real(path: Path) -> Path:
    """The file a path names, for cycle detection (never raises: a symbolic link loop is
    reported when the file is read)."""
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError):
        return Path(os.path.abspath(path))


def _beside(path: Path, name: str, *, key: str) -> str:
    """``name`` relative to the folder of the file ``path`` that names it, as shown."""
    try:
        return shown(path.parent / name)
    except ValueError:  # a NUL character
        raise ScenarioError(f"not a valid file name: {shown_value(name)}", file=shown(path),
                            path=key) from None


def _load_raw(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    real = _real(path)
    if real in chain:
        cycle = " -> ".join(shown(p) for p in (*chain, real))
        raise ScenarioError(f"extends: cycle: {cycle}", file=shown(chain[-1]))
    if len(chain) >= MAX_EXTENDS:
        raise ScenarioError(f"extends: chain longer than {MAX_EXTENDS} files", file=shown(real))
    raw = read_yaml(path)  # named as given: a dangling link is shown as itself
    path = real  # paths in the file are relative to the file itself
    if isinstance(raw.get("topology"), str):
        raw["topology"] = _beside(path, raw["topology"], key="topology")
    billing = raw.get("billing")
    if isinstance(billing, dict) and isinstance(billing.get("price_list"), str):
        name = billing["price_list"]
        if "/" in name or name.endswith((".yaml", ".yml")):  # a file, not a built-in name
            billing["price_list"] = _beside(path, name, key="billing.price_list")
    parent = raw.get("extends")
    if parent is None:
        return raw
    if not isinstance(parent, str) or not parent.strip():
        raise ScenarioError(f"extends: expected a file path, got {shown_value(parent)}",
                            file=shown(path))
    if "\0" in parent:
        raise ScenarioError(f"extends: not a valid file name: {shown_value(parent)}",
                            file=shown(path))
    parent_path = path.parent / parent
    if not os.path.lexists(parent_path):  # a dangling or looping link is reported when read
        raise ScenarioError(f"extends: file not found: {shown(parent_path)}", file=shown(path))
    base = _load_raw(parent_path, (*chain, path))
    base.pop("name", None)
    base.pop("description", None)
    merged = _deep_merge(base, raw)
    merged["extends"] = parent
    return merged


def load_scenario(path: str | os.PathLike[str],
                  overrides: Mapping[str, Any] | None = None, *,
                  override_sources: Mapping[str, str] | None = None) -> Scenario:
    """Load, merge (``extends:``), override and validate a scenario file.

    Parameters
    ----------
    path : path-like
        The scenario YAML file. ``extends`` and ``topology`` paths are relative to the file
        that names them.
    overrides : mapping, optional
        ``{"key.path": value}`` pairs applied after inheritance (the CLI's ``--set``).
    override_sources : mapping, optional
        What set an override, by its key path, when not ``--set`` (``{"seed": "--seed"}``):
        an error in its value names that instead.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        With the file (or ``--set``, or the option in ``override_sources``), the key path
        and what was wrong. An error is blamed on an override when its value is at fault or
        when the file alone does not have the error.
    """
    p = Path(path)
    source = shown(p)
    raw = _load_raw(p, ())
    if not overrides:
        return validate_scenario(raw, source=source)
    sources = dict(override_sources or {})
    paths = list(overrides)
    try:
        try:
            with_set = copy.deepcopy(raw)
            apply_overrides(with_set, overrides, source="--set")
        except NoSuchItem:
            # The path runs through a list the file leaves to its default (addressing.levels):
            # fill the defaults in first, then set.
            with_set = validate_scenario(raw, source=source).resolved()
            apply_overrides(with_set, overrides, source="--set")
        return validate_scenario(with_set, source=source, override_paths=paths)
    except ScenarioError as e:
        if e.file == source and _file_alone_has(raw, e):
            raise
        key = _override_of(e.path, paths)
        name = sources.get(key, "--set") if key is not None else "--set"
        if e.file not in (source, "--set"):
            raise
        raise ScenarioError(e.message, file=name,
                            path=e.path if name == "--set" else None) from None


def _related(a: str, b: str) -> bool:
    """One key path is the other or leads to it."""
    return a == b or a.startswith((b + ".", b + "[")) or b.startswith((a + ".", a + "["))


def _override_of(path: str | None, keys: list[str]) -> str | None:
    """The override an error at ``path`` is about: the one it is at or under, else one
    under it."""
    if path is None:
        return keys[0] if len(keys) == 1 else None
    under = [k for k in keys if path == k or path.startswith((k + ".", k + "["))]
    if under:
        return under[0]
    return next((k for k in keys if _related(path, k)), None)


def _file_alone_has(raw: dict[str, Any], e: ScenarioError) -> bool:
    """The scenario without the overrides has the same error (its own fault)."""
    try:
        Scenario.model_validate(raw)
    except ValidationError as err:
        return any((dotted(x["loc"]) or None) == e.path
                   and validation_message(x, Scenario) == e.message
                   for x in err.errors(include_url=False))
    except (RecursionError, MemoryError):  # pragma: no cover - bounded by the reader
        return True
    return False


def check_option(key: str, value: Any, *, option: str) -> None:
    """Check a command-line option that sets a top-level scenario key (``--seed``,
    ``--replications``) against the schema.

    Raises
    ------
    ScenarioError
        ``--seed: must be >= 0, got -1``.
    """
    field = Scenario.model_fields[key]
    form: Any = typing.Annotated[(field.annotation, *field.metadata)]  # type: ignore[valid-type]
    adapter: TypeAdapter[Any] = TypeAdapter(form)
    try:
        adapter.validate_python(value, strict=isinstance(value, bool) or None)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        raise ScenarioError(validation_message(first, Scenario), file=option) from None
