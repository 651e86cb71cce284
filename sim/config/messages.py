"""Error messages, in one place: the file as a user would type it, the key path, what was
expected and what was found, and a "did you mean" for a likely typo.

Every input error of the simulator reads ``file: key.path: message`` (see
:class:`sim.errors.SimError`); the pieces here build the ``file``, the ``key.path`` and the
message of a pydantic validation error, so that scenarios, topologies, price lists and sweep
files report alike.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, ValidationError

from sim.errors import LocatedError, one_line

__all__ = ["shown", "shown_value", "shown_text", "one_line", "dotted", "key_part", "did_you_mean",
           "suggestion", "validation_message", "raise_validation_error"]

def shown_text(text: str, limit: int = 160) -> str:
    """Free text (a parser's message) for an error line: one line, at most ``limit``
    characters (ending in ``...``)."""
    text = one_line(text[:limit * 4 + 8])
    return text if len(text) <= limit else text[:max(0, limit - 3)] + "..."


def shown_value(value: Any, limit: int = 60) -> str:
    """A value as an error message quotes it: its ``repr``, cut to ``limit`` characters
    (ending in ``...``), newlines escaped.

    The work is bounded whatever the value: a huge string, a deeply nested or aliased
    structure (a YAML "billion laughs"), an integer of a million digits. Only the first few
    items of each level and the first levels are looked at.

    Examples
    --------
    >>> shown_value("x" * 100, limit=12)
    "'xxxxxxxx..."
    >>> shown_value([[[[[[1]]]]]])
    '[[[[[...]]]]]'
    """
    out: list[str] = []
    budget = [limit + 4]

    def emit(text: str) -> bool:
        out.append(text)
        budget[0] -= len(text)
        return budget[0] > 0

    def walk(v: Any, depth: int) -> bool:
        if isinstance(v, bool) or v is None or isinstance(v, float):
            return emit(repr(v))
        if isinstance(v, int):
            if v.bit_length() > 200:
                return emit(f"<an integer of about {int(v.bit_length() * 0.30103)} digits>")
            return emit(repr(v))
        if isinstance(v, (str, bytes)):
            return emit(repr(v[:budget[0] + 2]))
        if isinstance(v, (list, tuple, set, frozenset, Mapping)):
            brackets = {list: "[]", tuple: "()"}.get(type(v), "{}")
            opening, closing = brackets[0], brackets[1]
            if isinstance(v, (set, frozenset)) and not v:
                return emit("set()")
            if depth >= 4:
                return emit(f"{opening}...{closing}" if len(v) else opening + closing)
            if not emit(opening):
                return False
            items = v.items() if isinstance(v, Mapping) else v
            for i, item in enumerate(items):
                if i and not emit(", "):
                    return False
                if i >= 8:
                    return emit("...")
                if isinstance(v, Mapping):
                    key, val = item
                    if not (walk(key, depth + 1) and emit(": ") and walk(val, depth + 1)):
                        return False
                elif not walk(item, depth + 1):
                    return False
            return emit(closing)
        try:
            text = repr(v)
        except Exception:  # noqa: BLE001 - a value that cannot show itself
            text = f"<{type(v).__name__}>"
        return emit(text[:budget[0] + 2])

    walk(value, 0)
    text = one_line("".join(out))
    return text if len(text) <= limit else text[:max(0, limit - 3)] + "..."

def shown(path: str | os.PathLike[str]) -> str:
    """A path as a user would type it: relative to the working directory when inside it.

    Parameters
    ----------
    path : path-like
        Any path; it is resolved first (a symbolic link that leads nowhere, or to itself, is
        shown as itself, in its resolved folder).

    Returns
    -------
    str
        The relative path when the file is inside the working directory, else the absolute one.
    """
    p = Path(path)
    try:
        resolved = p.resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a symbolic link loop, a NUL
        try:
            resolved = p.parent.resolve() / p.name
        except (OSError, RuntimeError, ValueError):
            resolved = Path(os.path.abspath(os.fspath(path)))
    try:
        rel = os.path.relpath(resolved)
    except ValueError:
        return str(resolved)
    return str(resolved) if rel.startswith("..") else rel


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def key_part(key: Any, *, first: bool = False) -> str:
    """A mapping key in a key path: ``.key``, or ``['key']`` when it holds other characters
    (a newline, a dot, a space), so that an error stays one unambiguous line.

    Parameters
    ----------
    key : object
        The key.
    first : bool
        The key starts the path (no leading dot).
    """
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return key if first else f".{key}"
    if isinstance(key, str) and len(key) > 50:
        return f"[{one_line(repr(key[:50]))}...]"
    return f"[{shown_value(key)}]"


def dotted(loc: Sequence[Any]) -> str:
    """A pydantic error location as a key path: ``events[2].link_degraded.a``.

    Parameters
    ----------
    loc : sequence
        The ``loc`` of a pydantic error: keys and list indexes.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue  # pydantic's union/validator branch labels are not user keys
        else:
            out += key_part(part, first=not out)
    return out


def did_you_mean(name: str, known: Sequence[str]) -> str | None:
    """The known name closest to ``name``, if one is close enough to be a likely typo."""
    if not isinstance(name, str) or len(name) > 200:
        return None
    close = difflib.get_close_matches(name, list(known), n=1)
    return close[0] if close else None


def suggestion(name: str, known: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for a likely typo of a known name, else an empty string."""
    close = did_you_mean(name, known)
    return f" (did you mean {close!r}?)" if close else ""


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _fields_at(root: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """Names of the keys allowed at ``loc`` below ``root``, for suggestions."""
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                field = next((f for f in tp.model_fields.values() if f.alias == part), None)
            if field is None:
                return []
            tp = field.annotation
        elif typing.get_origin(tp) in (list, dict):
            tp = typing.get_args(tp)[-1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def validation_message(err: Mapping[str, Any], root: type[BaseModel]) -> str:
    """The message of one pydantic error: what was expected and what was found.

    Parameters
    ----------
    err : mapping
        One item of ``ValidationError.errors()``.
    root : type of BaseModel
        The model that was validated (for the keys allowed where an unknown key was found).
    """
    loc = tuple(err["loc"])
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = shown_value(err.get("input"))
    if kind == "extra_forbidden":
        allowed = _fields_at(root, loc[:-1])
        close = did_you_mean(str(loc[-1]), allowed)
        hint = f" (did you mean {close!r}?)" if close else (
            f" (expected one of: {', '.join(allowed)})" if allowed else "")
        return f"unknown key{hint}"
    if kind == "missing":
        return "required key is missing"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
              "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()))
        if isinstance(bound, float) and bound.is_integer() and abs(bound) < 1e15:
            bound = int(bound)
        return f"must be {op} {bound}, got {got}"
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected', '')}, got {got}"
    if kind in ("int_type", "int_parsing", "int_from_float", "int_parsing_size"):
        return f"expected an integer, got {got}"
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        unit = "item" if n == 1 else "items"
        return (f"expected at {'least' if kind == 'too_short' else 'most'} {n} {unit}, "
                f"got {ctx.get('actual_length')}")
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {got}"
    if kind == "finite_number":
        return f"expected a finite number, got {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got}"
    if kind in ("string_type",):
        return f"expected a string, got {got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping, got {got}"
    if kind in ("list_type",):
        return f"expected a list, got {got}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind == "assertion_error":
        return str(err["msg"]).removeprefix("Assertion failed, ")
    return f"{err['msg']}, got {got}"


def raise_validation_error(error: ValidationError, root: type[BaseModel],
                           error_type: type[LocatedError], file: str | None) -> typing.NoReturn:
    """Raise the first error of a pydantic validation as ``error_type`` (one line: file, key
    path, message).

    Parameters
    ----------
    error : pydantic.ValidationError
        What ``root.model_validate`` raised.
    root : type of BaseModel
        The validated model.
    error_type : type
        A :class:`sim.errors.SimError` subclass that takes ``file`` and ``path``.
    file : str, optional
        The file shown in the message.

    Raises
    ------
    SimError
        Always: ``error_type(message, file=file, path=key path)``.
    """
    err = error.errors(include_url=False)[0]
    raise error_type(validation_message(err, root), file=file,
                     path=dotted(err["loc"]) or None) from None
