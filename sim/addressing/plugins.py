"""User strategies from plugins: a scenario's ``plugins:`` entries or installed entry points.

A strategy class outside the simulator is loaded only when something names it explicitly:

- a ``plugins:`` entry of the scenario, ``module:Class`` (``my_strategies:Farthest``), or
- an installed package's entry point in the group ``access_sim.strategies`` whose name is the
  scenario's ``addressing.strategy``::

      [project.entry-points."access_sim.strategies"]
      farthest = "my_strategies:Farthest"

The module is imported with :func:`importlib.import_module` (never ``eval``); it is looked up
on ``sys.path`` and then in the folder of the scenario file. The class must subclass
:class:`sim.addressing.Strategy`; it is registered under its own ``name`` attribute, or else
its class name (an entry point: under the entry point's name). Importing a module runs its
code: a scenario with ``plugins:`` is as trusted as the Python files it names.

Examples
--------
A scenario using the strategy of ``tests/plugins_example.py``::

    plugins: ["tests.plugins_example:Farthest"]
    addressing: {strategy: farthest}
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path

from sim.addressing.base import Strategy
from sim.addressing.registry import available_strategies, get_strategy, register_strategy
from sim.config.messages import shown_text, shown_value
from sim.config.schema import Scenario
from sim.errors import ScenarioError

__all__ = ["ENTRY_POINT_GROUP", "entry_point_names", "load_plugin", "load_plugins"]

ENTRY_POINT_GROUP = "access_sim.strategies"


def load_plugins(scenario: Scenario, source: str = "scenario") -> list[str]:
    """Register the strategies a scenario needs: its ``plugins`` entries and, when
    ``addressing.strategy`` is still unknown, an entry point of that name.

    Parameters
    ----------
    scenario : Scenario
    source : str
        The scenario's file (as shown in messages); its folder is searched for modules.

    Returns
    -------
    list of str
        The names registered (or found already registered) for the ``plugins`` entries.

    Raises
    ------
    ScenarioError
        At ``plugins[i]`` (or ``addressing.strategy`` for an entry point): the module cannot
        be imported, has no such class, the class is not a Strategy, or the name is taken.
    """
    folder = _folder_of(source)
    names = [load_plugin(entry, source=source, path=f"plugins[{i}]", search=folder)
             for i, entry in enumerate(scenario.plugins)]
    wanted = scenario.addressing.strategy
    if wanted not in available_strategies():
        _load_entry_point(wanted, source)
    return names


def load_plugin(entry: str, *, source: str = "scenario", path: str = "plugins",
                search: Sequence[Path] = ()) -> str:
    """Import ``module:Class``, check it is a Strategy and register it; return its name."""
    module_name, sep, class_name = entry.partition(":")
    if not sep or not module_name or not class_name:
        raise ScenarioError(f"expected 'module:Class', got {shown_value(entry)}", file=source,
                            path=path)
    module = _import(module_name, search, source=source, path=path)
    try:
        cls = getattr(module, class_name, None)
        is_strategy = isinstance(cls, type) and issubclass(cls, Strategy)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - a module __getattr__ or a metaclass raised
        raise ScenarioError(f"looking up {shown_value(class_name)} in module "
                            f"{shown_value(module_name)} failed: {_problem(e)}", file=source,
                            path=path) from None
    if cls is None:
        raise ScenarioError(f"module {shown_value(module_name)} has no class "
                            f"{shown_value(class_name)}", file=source, path=path)
    if not is_strategy:
        raise ScenarioError(f"{shown_value(entry)} is not a sim.addressing.Strategy subclass",
                            file=source, path=path)
    own = cls.__dict__.get("name")
    return _register(own if isinstance(own, str) and own else cls.__name__, cls,
                     source=source, path=path)


def entry_point_names() -> list[str]:
    """Strategy names installed packages offer as entry points (not loaded)."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def _load_entry_point(name: str, source: str) -> None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name != name:
            continue
        where = f"entry point {name!r} ({ep.value}, group {ENTRY_POINT_GROUP})"
        try:
            cls = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # noqa: BLE001 - a third party's import (even sys.exit)
            raise ScenarioError(f"{where} failed to load: {_problem(e)}",
                                file=source, path="addressing.strategy") from None
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise ScenarioError(f"{where} is not a sim.addressing.Strategy subclass",
                                file=source, path="addressing.strategy")
        _register(name, cls, source=source, path="addressing.strategy")
        return


def _register(name: str, cls: type[Strategy], *, source: str, path: str) -> str:
    try:
        existing = get_strategy(name)
    except KeyError:
        existing = None
    if existing is not None and existing is not cls:
        raise ScenarioError(f"strategy name {name!r} is already taken by "
                            f"{existing.__module__}.{existing.__qualname__}",
                            file=source, path=path)
    register_strategy(name)(cls)
    return name


def _folder_of(source: str) -> list[Path]:
    p = Path(source)
    return [p.resolve().parent] if p.suffix.lower() in (".yaml", ".yml") and p.is_file() else []


def _import(module_name: str, search: Sequence[Path], *, source: str, path: str) -> object:
    top = module_name.split(".")[0]
    for attempt in range(2):
        try:
            return importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name is not None and e.name != top and not module_name.startswith(e.name):
                # The module was found; something it imports is missing.
                raise ScenarioError(f"importing module {shown_value(module_name)} failed: "
                                    f"{shown_text(str(e))}", file=source, path=path) from None
            folders = [str(f) for f in search
                       if str(f) not in sys.path and ((f / top).is_dir()
                                                      or (f / f"{top}.py").is_file())]
            if attempt or not folders:
                raise ScenarioError(f"cannot import module {shown_value(module_name)} (not on "
                                    "the Python path, nor beside the scenario file)",
                                    file=source, path=path) from None
            # Appended, never prepended: a file beside the scenario cannot shadow an
            # installed module. Worker processes started later inherit the path.
            sys.path.extend(folders)
            importlib.invalidate_caches()
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # noqa: BLE001 - the module raised (or exited) on import
            raise ScenarioError(f"importing module {shown_value(module_name)} failed: "
                                f"{_problem(e)}", file=source, path=path) from None
    raise AssertionError("unreachable")


def _problem(e: BaseException) -> str:
    """``SystemExit: 3``, ``ValueError: bad`` (one line, shortened)."""
    text = str(e)
    return shown_text(f"{type(e).__name__}: {text}" if text else type(e).__name__, 160)
