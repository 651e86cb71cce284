"""One YAML reader for every file the simulator reads: scenarios, topologies, price lists,
sweep files. Safe loading only, and every failure one line naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sim.config.messages import shown as shown_path
from sim.errors import LocatedError, ScenarioError

__all__ = ["read_yaml", "parse_yaml_text"]


def parse_yaml_text(text: str, *, shown: str, what: str,
                    error_type: type[LocatedError] = ScenarioError) -> dict[str, Any]:
    """Parse YAML text that must hold a mapping at the top level.

    Parameters
    ----------
    text : str
        The document.
    shown : str
        The file as the message names it.
    what : str
        What the file is (``scenario``, ``topology``, ``price list``, ``sweep``).
    error_type : type
        The :class:`sim.errors.SimError` subclass raised.

    Raises
    ------
    SimError
        ``error_type``: invalid YAML (with line and column), an empty file, or a top level
        that is not a mapping.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise error_type(f"invalid YAML: {where}{problem}", file=shown) from None
    if data is None:
        raise error_type(f"empty {what} file", file=shown)
    if not isinstance(data, dict):
        raise error_type(f"expected a mapping at the top level, got {type(data).__name__}",
                         file=shown)
    return data


def read_yaml(path: str | Path, *, what: str = "scenario",
              error_type: type[LocatedError] = ScenarioError) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping at the top level.

    Parameters
    ----------
    path : path-like
        The file.
    what : str
        What the file is, for the messages (``scenario``, ``topology``, ...).
    error_type : type
        The :class:`sim.errors.SimError` subclass raised.

    Returns
    -------
    dict
        The top-level mapping.

    Raises
    ------
    SimError
        ``error_type``, naming the file: not found, a directory, unreadable, not UTF-8,
        invalid YAML, empty, or not a mapping.
    """
    p = Path(path)
    shown = shown_path(p)
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise error_type(f"{what} file not found", file=shown) from None
    except IsADirectoryError:
        raise error_type(f"expected a {what} file, found a directory", file=shown) from None
    except PermissionError:
        raise error_type(f"cannot read {what} file: permission denied", file=shown) from None
    except UnicodeDecodeError as e:
        raise error_type(f"not UTF-8 text (byte {e.start})", file=shown) from None
    except OSError as e:
        raise error_type(f"cannot read {what} file: {e.strerror}", file=shown) from None
    return parse_yaml_text(text, shown=shown, what=what, error_type=error_type)
