"""One reader for every file the simulator reads (scenarios, topologies, price lists, sweep
files, CSV input) and one YAML loader. Safe loading only, every limit of
:mod:`sim.config.limits` enforced, and every failure one line naming the file.

Reading: only a regular file is read (a FIFO, a device such as ``/dev/zero``, a socket or a
directory is refused after ``os.stat``, before it is opened, so nothing blocks), opened
non-blocking, and never more than its kind's size limit plus one byte.

YAML: ``yaml.safe_load`` semantics, plus, while the document is composed (before any Python
object is built): a nesting depth limit, a limit on alias uses and on the number of values
once aliases are expanded (a "billion laughs" document is refused, not expanded), and
duplicate keys are an error naming the key and both lines.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sim.config.limits import (
    DEFAULT_FILE_BYTES,
    MAX_FILE_BYTES,
    MAX_YAML_ALIASES,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
)
from sim.config.messages import key_part, shown_text, shown_value
from sim.config.messages import shown as shown_path
from sim.errors import LocatedError, ScenarioError

__all__ = ["read_yaml", "parse_yaml_text", "parse_yaml_any", "load_yaml", "read_input_bytes",
           "read_input_text", "YamlLimitError", "file_limit"]


def file_limit(what: str) -> int:
    """The size limit of a kind of input file, in bytes (:data:`MAX_FILE_BYTES`)."""
    return MAX_FILE_BYTES.get(what, DEFAULT_FILE_BYTES)


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind_of(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_input_bytes(path: str | os.PathLike[str], *, what: str,
                     error_type: type[LocatedError] = ScenarioError,
                     limit: int | None = None, label: str | None = None) -> bytes:
    """The bytes of an input file, read safely.

    Parameters
    ----------
    path : path-like
        The file.
    what : str
        What the file is (``scenario``, ``topology``, ``price list``, ``CSV``): the
        messages name it and it selects the size limit.
    error_type : type
        The :class:`sim.errors.SimError` subclass raised.
    limit : int, optional
        The size limit in bytes (default: :func:`file_limit` of ``what``).
    label : str, optional
        The file as messages name it (default: relative to the working directory).

    Raises
    ------
    SimError
        ``error_type``, naming the file: not found (or a dangling symbolic link), a symbolic
        link loop, a directory, a FIFO, a device or a socket, unreadable, or larger than the
        limit.
    """
    limit = file_limit(what) if limit is None else limit
    shown = label if label is not None else shown_path(path)

    def fail(message: str) -> LocatedError:
        return error_type(message, file=shown)

    try:
        st = os.stat(path)  # follows symbolic links; never opens (a FIFO would block)
    except FileNotFoundError:
        if os.path.islink(path):
            raise fail(f"{what} file not found (a symbolic link to a missing file)") from None
        raise fail(f"{what} file not found") from None
    except ValueError:  # an embedded NUL character
        raise fail(f"not a valid file name for a {what} file") from None
    except OSError as e:
        raise fail(_os_problem(e, what)) from None
    if stat.S_ISDIR(st.st_mode):
        raise fail(f"expected a {what} file, found a directory")
    if not stat.S_ISREG(st.st_mode):
        raise fail(f"expected a {what} file, found {_kind_of(st.st_mode)}")
    if st.st_size > limit:
        raise fail(_too_large(st.st_size, limit, what))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | \
        getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise fail(_os_problem(e, what)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # replaced between the stat and the open
            raise fail(f"expected a {what} file, found {_kind_of(st.st_mode)}")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # the file grew while it was read
                raise fail(_too_large(size, limit, what, more=True))
    except OSError as e:
        raise fail(_os_problem(e, what)) from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def _too_large(size: int, limit: int, what: str, more: bool = False) -> str:
    return (f"file too large: {'more than ' if more else ''}{size:,} bytes (a {what} file may "
            f"hold at most {limit:,} bytes)")


def _os_problem(e: OSError, what: str) -> str:
    if e.errno == errno.ELOOP:
        return f"cannot read {what} file: a symbolic link loop"
    if e.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"{what} file not found"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"cannot read {what} file: permission denied"
    if e.errno == errno.EISDIR:
        return f"expected a {what} file, found a directory"
    return f"cannot read {what} file: {e.strerror or type(e).__name__}"


def read_input_text(path: str | os.PathLike[str], *, what: str,
                    error_type: type[LocatedError] = ScenarioError,
                    label: str | None = None, encoding: str = "utf-8") -> str:
    """The text of an input file (:func:`read_input_bytes`, then UTF-8).

    Raises
    ------
    SimError
        As :func:`read_input_bytes`, or ``not UTF-8 text (byte N)``.
    """
    shown = label if label is not None else shown_path(path)
    data = read_input_bytes(path, what=what, error_type=error_type, label=shown)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise error_type(f"not UTF-8 text (byte {e.start})", file=shown) from None


# --------------------------------------------------------------------------- YAML


class YamlLimitError(yaml.YAMLError):
    """A YAML document breaks a limit or holds a duplicate key (``path`` names where)."""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = path


def _format_path(parts: list[Any]) -> str | None:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else key_part(part, first=not out)
    return out or None


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"


class _LimitedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with the limits of :mod:`sim.config.limits` and duplicate keys
    refused, checked while composing (aliases are counted as what they expand to)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._values = 0
        self._aliases = 0
        self._sizes: dict[int, int] = {}  # id(anchored node) -> values once expanded
        self._path: list[Any] = []

    def _top(self, n: int = 1) -> str | None:
        return _format_path(self._path[:n])

    def _count(self, n: int, mark: Any) -> None:
        self._values += n
        if self._values > MAX_YAML_NODES:
            raise YamlLimitError(f"more than {MAX_YAML_NODES:,} values once aliases are "
                                 f"expanded (an alias bomb?) at {_where(mark)}", self._top())

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise YamlLimitError(f"more than {MAX_YAML_ALIASES:,} aliases at "
                                     f"{_where(event.start_mark)}", self._top())
            self._count(self._sizes.get(id(node), 1), event.start_mark)
            return node
        before = self._values
        self._count(1, event.start_mark)
        nested = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        if nested:
            self._depth += 1
            if self._depth > MAX_YAML_DEPTH:
                raise YamlLimitError(f"nested deeper than {MAX_YAML_DEPTH} levels at "
                                     f"{_where(event.start_mark)}", self._top())
        node = super().compose_node(parent, index)
        if nested:
            self._depth -= 1
        if getattr(event, "anchor", None) is not None:
            self._sizes[id(node)] = self._values - before
        return node

    def compose_sequence_node(self, anchor: Any) -> SequenceNode:
        start_event = self.get_event()
        tag = start_event.tag
        if tag is None or tag == "!":
            tag = self.resolve(SequenceNode, None, start_event.implicit)
        node = SequenceNode(tag, [], start_event.start_mark, None,
                            flow_style=start_event.flow_style)
        if anchor is not None:
            self.anchors[anchor] = node
        index = 0
        while not self.check_event(yaml.SequenceEndEvent):
            self._path.append(index)
            node.value.append(self.compose_node(node, index))
            self._path.pop()
            index += 1
        node.end_mark = self.get_event().end_mark
        return node

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        start_event = self.get_event()
        tag = start_event.tag
        if tag is None or tag == "!":
            tag = self.resolve(MappingNode, None, start_event.implicit)
        node = MappingNode(tag, [], start_event.start_mark, None,
                           flow_style=start_event.flow_style)
        if anchor is not None:
            self.anchors[anchor] = node
        seen: dict[tuple[str, str], Any] = {}
        while not self.check_event(yaml.MappingEndEvent):
            key = self.compose_node(node, None)
            name: Any = "?"
            if isinstance(key, ScalarNode):
                name = key.value
                ident = (key.tag, key.value)
                if key.tag != "tag:yaml.org,2002:merge":
                    if ident in seen:
                        raise YamlLimitError(
                            f"duplicate key {shown_value(key.value)} (lines "
                            f"{seen[ident].line + 1} and {key.start_mark.line + 1})",
                            _format_path([*self._path, name]))
                    seen[ident] = key.start_mark
            self._path.append(name)
            value = self.compose_node(node, key)
            self._path.pop()
            node.value.append((key, value))
        node.end_mark = self.get_event().end_mark
        return node

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, OverflowError, TypeError) as e:
            # int("1" * 5000), a date such as 2024-13-45
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read the value {shown_value(node.value)}: {first}",
                node.start_mark) from None


def load_yaml(text: str) -> Any:
    """Parse one YAML document (any value) with the limits and duplicate-key check.

    Raises
    ------
    YamlLimitError
        A limit broken, or a duplicate key (with the key path in ``path``).
    yaml.YAMLError
        Invalid YAML.
    """
    loader = _LimitedLoader(text)
    try:
        return loader.get_single_data()
    except RecursionError:
        raise YamlLimitError(f"nested deeper than {MAX_YAML_DEPTH} levels") from None
    finally:
        loader.dispose()


def parse_yaml_any(text: str, *, shown: str,
                   error_type: type[LocatedError] = ScenarioError) -> Any:
    """Parse a YAML document of any shape with the limited loader (:func:`load_yaml`).

    Raises
    ------
    SimError
        ``error_type``: invalid YAML (with line and column), a limit broken (depth, aliases)
        or a duplicate key, naming the file (and the key path where there is one).
    """
    try:
        return load_yaml(text)
    except YamlLimitError as e:
        raise error_type(e.message, file=shown, path=e.path) from None
    except yaml.YAMLError as e:
        raise error_type(f"invalid YAML: {yaml_problem(e)}", file=shown) from None


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
        ``error_type``: invalid YAML (with line and column), a limit broken (depth, aliases),
        a duplicate key, an empty file, or a top level that is not a mapping.
    """
    data = parse_yaml_any(text, shown=shown, error_type=error_type)
    if data is None:
        raise error_type(f"empty {what} file", file=shown)
    if not isinstance(data, dict):
        raise error_type(f"expected a mapping at the top level, got {type(data).__name__}",
                         file=shown)
    return data


def yaml_problem(e: yaml.YAMLError) -> str:
    """A YAML error as ``line L, column C: problem`` (short, one line)."""
    mark = getattr(e, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(e, "problem", None) or (str(e).splitlines() or [type(e).__name__])[0]
    return f"{where}{shown_text(str(problem), 160)}"


def read_yaml(path: str | Path, *, what: str = "scenario",
              error_type: type[LocatedError] = ScenarioError) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping at the top level.

    Parameters
    ----------
    path : path-like
        The file.
    what : str
        What the file is, for the messages and the size limit (``scenario``, ``topology``).
    error_type : type
        The :class:`sim.errors.SimError` subclass raised.

    Returns
    -------
    dict
        The top-level mapping.

    Raises
    ------
    SimError
        ``error_type``, naming the file: not found, not a regular file, unreadable, too large,
        not UTF-8, invalid YAML, past a limit, a duplicate key, empty, or not a mapping.
    """
    shown = shown_path(path)
    text = read_input_text(path, what=what, error_type=error_type, label=shown)
    return parse_yaml_text(text, shown=shown, what=what, error_type=error_type)
