"""The installed package version (one place for every result, bill and ``--version``)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

__all__ = ["package_version", "library_version"]


def library_version(distribution: str) -> str:
    """The installed version of a distribution, or ``"unknown"``."""
    try:
        return _distribution_version(distribution)
    except PackageNotFoundError:
        return "unknown"


def package_version() -> str:
    """The installed version of access-sim (``0+unknown`` in a source tree not installed)."""
    found = library_version("access-sim")
    return "0+unknown" if found == "unknown" else found
