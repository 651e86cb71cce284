"""The layers hold: the import contract of pyproject.toml (``[tool.importlinter]``, checked by
import-linter), no module imports another module's underscore names, and imports inside
functions only for heavy or optional libraries, each with its reason on the line."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sim"

DEFERRABLE = ("matplotlib", "pandas", "pyarrow", "dask", "distributed", "tqdm", "scipy")
"""What a function may import: libraries heavy to load or optional. The CLI may also defer
the simulator's own stages (and numpy), so that ``access-sim --help`` loads none of them."""


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_inside_functions(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    out: list[ast.Import | ast.ImportFrom] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    out.append(inner)
    return out


def _top(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return [(node.module or "").split(".")[0]]
    return [alias.name.split(".")[0] for alias in node.names]


def test_the_import_contract_holds() -> None:
    """import-linter reads every import of ``sim`` (those under TYPE_CHECKING included)."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[test]'")
    done = subprocess.run([exe, "--no-cache", "--config", str(ROOT / "pyproject.toml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_no_module_imports_another_modules_private_names() -> None:
    found = []
    for path in _modules():
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sim"):
                for alias in node.names:
                    if alias.name.startswith("_"):
                        found.append(f"{_name(path)}:{node.lineno} imports "
                                     f"{node.module}.{alias.name}")
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if any(p.startswith("_") and p != "__main__"
                           for p in alias.name.split(".")[1:]):
                        found.append(f"{_name(path)}:{node.lineno} imports {alias.name}")
    assert found == []


def test_imports_inside_functions_are_only_for_heavy_libraries_and_say_why() -> None:
    found = []
    for path in _modules():
        text = path.read_text("utf-8")
        lines = text.splitlines()
        for node in _imports_inside_functions(ast.parse(text)):
            tops = _top(node)
            where = f"{_name(path)}:{node.lineno}"
            if _name(path) == "sim.cli":
                if "#" not in lines[node.lineno - 1]:
                    found.append(f"{where}: say on the line why the import waits (# ...)")
            elif any(t not in DEFERRABLE for t in tops):
                found.append(f"{where}: {', '.join(tops)} is neither heavy nor optional")
            elif "sim" in tops:
                found.append(f"{where}: only the CLI defers the simulator's own modules")
            elif "#" not in lines[node.lineno - 1]:
                found.append(f"{where}: say on the line why the import waits (# ...)")
    assert found == []


def test_the_contract_fails_on_an_upward_import(tmp_path: Path) -> None:
    """A copy of the package with one upward import (the model importing the run API) breaks
    the contract: the check can fail."""
    copy = tmp_path / "sim"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("data", "__pycache__"))
    world = copy / "model" / "world.py"
    world.write_text(world.read_text("utf-8")
                     + "\nfrom sim.runs.seeds import replication_seeds  # noqa: E402,F401\n",
                     encoding="utf-8")
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None
    config = tmp_path / "pyproject.toml"
    config.write_text((ROOT / "pyproject.toml").read_text("utf-8"), encoding="utf-8")
    done = subprocess.run([exe, "--no-cache", "--config", str(config)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode != 0
    assert "sim.model is not allowed to import sim.runs" in done.stdout
