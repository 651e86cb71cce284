"""``--set key.path=value`` overrides on a raw scenario mapping (before validation)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from sim.config.limits import MAX_SET_VALUE_CHARS
from sim.config.messages import shown_value
from sim.config.yaml_io import YamlLimitError, load_yaml
from sim.errors import ScenarioError

__all__ = ["apply_overrides", "NoSuchItem"]


class NoSuchItem(ScenarioError):
    """An override path names a list item the mapping does not have."""


_INDEX_RE = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _split_path(key: str) -> list[str | int]:
    parts: list[str | int] = []
    pos = 0
    for m in _INDEX_RE.finditer(key):
        if m.start() != pos and key[pos:m.start()] != ".":
            raise ValueError(f"bad key path {shown_value(key)}")
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if not parts or pos != len(key):
        raise ValueError(f"bad key path {shown_value(key)}")
    return parts


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any], *, source: str) -> None:
    """Set ``{"a.b[1].c": value}`` paths in a raw scenario mapping, in place.

    String values are parsed as YAML scalars or flow collections (``5``, ``true``,
    ``[1, 2]``), so ``--set population.dau=5000`` sets a number. A value that is not valid
    YAML stays a string; one past a limit (longer than :data:`MAX_SET_VALUE_CHARS`, nested
    too deep, an alias bomb, a duplicate key) is an error at ``source``.
    """
    for key, value in overrides.items():
        try:
            parts = _split_path(key)
        except ValueError as e:
            raise ScenarioError(str(e), file=source) from None
        if len(parts) > 64:
            raise ScenarioError("key path deeper than 64 levels", file=source,
                                path=shown_value(key, 80))
        if isinstance(value, str):
            if len(value) > MAX_SET_VALUE_CHARS:
                raise ScenarioError(f"value longer than {MAX_SET_VALUE_CHARS:,} characters",
                                    file=source, path=key)
            try:
                value = load_yaml(value) if value.strip() else value
            except YamlLimitError as e:
                inner = e.path or ""
                where = key + (inner if inner.startswith("[") or not inner else "." + inner)
                raise ScenarioError(e.message, file=source, path=where) from None
            except yaml.YAMLError:
                pass
        node: Any = raw
        for i, part in enumerate(parts[:-1]):
            nxt = parts[i + 1]
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    raise NoSuchItem(f"no list item [{part}] to set", file=source, path=key)
                node = node[part]
            else:
                if not isinstance(node, dict):
                    raise ScenarioError("cannot set a key inside a non-mapping value",
                                        file=source, path=key)
                if node.get(part) is None:
                    node[part] = [] if isinstance(nxt, int) else {}
                node = node[part]
        last = parts[-1]
        if isinstance(last, int):
            if not isinstance(node, list) or last >= len(node):
                raise NoSuchItem(f"no list item [{last}] to set", file=source, path=key)
            node[last] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ScenarioError("cannot set a key inside a non-mapping value",
                                file=source, path=key)
