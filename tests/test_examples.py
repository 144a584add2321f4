"""The examples run as shipped: the script on the library's language, the notebook end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _needs_pack() -> None:
    from visorch.tools.models.manager import default_weights_root

    if not (default_weights_root() / "nanodet-m" / "nanodet.onnx").is_file():
        pytest.skip("the offline pack is not installed: run visorch models install-offline")


@pytest.mark.slow
def test_run_program_script(tmp_path: Path) -> None:
    _needs_pack()
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "run_program.py")], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(EXAMPLES)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "people left of the bus:" in result.stdout
    assert (tmp_path / "left-of-bus.html").stat().st_size > 10_000
    assert (tmp_path / "left-of-bus.json").is_file()


NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def test_notebooks_are_committed_without_outputs() -> None:
    import json

    assert len(NOTEBOOKS) >= 6
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = [cell for cell in cells if cell["cell_type"] == "code"]
        assert all(not cell["outputs"] and cell["execution_count"] is None for cell in code), path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, tmp_path: Path) -> None:
    _needs_pack()
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on any error, naming the cell
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.get("output_type") == "error"]
    if "trace" in path.read_text(encoding="utf-8") or "answer" in path.read_text(encoding="utf-8"):
        html = [output for output in outputs if "text/html" in output.get("data", {})]
        assert html, f"{path.name}: the trace or answer should render inline as HTML"
