"""Every notebook in notebooks/ is stored without outputs, imports only ``sim``, and runs.

They are executed with nbclient on a kernel that runs this interpreter (the project's
virtualenv), defined in a temporary kernelspec folder: no user-level Jupyter kernel is used.
A cell that raises fails the test.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = ROOT / "notebooks"
KERNEL = "access-sim-test"
MINE = ("01-quickstart.ipynb", "02-compare-strategies.ipynb", "03-sweep.ipynb")


def _notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _execute(path: Path, kernels: Path, cwd: Path | None = None) -> object:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    nb = nbformat.read(path, as_version=4)
    km = AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(
        kernel_dirs=[str(kernels)], ensure_native_kernel=False))
    client = nbclient.NotebookClient(
        nb, km=km, timeout=300, resources={"metadata": {"path": str(cwd or path.parent)}})
    client.execute()
    return nb


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kernelspec folder with one kernel: ``python -m ipykernel_launcher`` of this venv."""
    pytest.importorskip("ipykernel")
    folder = tmp_path_factory.mktemp("kernels")
    spec = folder / KERNEL
    spec.mkdir()
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "access-sim tests", "language": "python",
        "env": {"PYTHONWARNINGS": "ignore::DeprecationWarning"}}))
    return folder


def test_the_notebooks_exist() -> None:
    assert set(MINE) <= {p.name for p in _notebooks()}


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", [NOTEBOOKS / n for n in MINE], ids=lambda p: p.name)
def test_notebook_imports_only_sim(path: Path) -> None:
    """``sim`` and the standard library: no other package (pandas, matplotlib ...)."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top == "sim" or top in sys.stdlib_module_names, f"{path.name}: {name}"


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_notebook_runs(path: Path, kernels: Path) -> None:
    nb = _execute(path, kernels)
    errors = [o for c in nb.cells if c.cell_type == "code"  # type: ignore[attr-defined]
              for o in c.outputs if o.output_type == "error"]
    assert not errors


def test_a_cell_that_raises_fails(kernels: Path, tmp_path: Path) -> None:
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell("import sim\nx = 1"),
                             new_code_cell("raise RuntimeError('broken cell')"),
                             new_code_cell("y = 2")])
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="broken cell"):
        _execute(path, kernels)
