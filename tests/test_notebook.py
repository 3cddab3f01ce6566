"""The shipped notebook runs top to bottom in a real kernel (the README's and the docs' Python
blocks run in tests/test_docs.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "workbooks" / "lesson5.ipynb"


def test_the_notebook_is_stored_without_outputs():
    document = json.loads(NOTEBOOK.read_text())
    for cell in document["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def this_python_kernel(tmp_path: Path, monkeypatch) -> str:
    """A kernel spec that runs ipykernel in this interpreter (which imports this sheetopt),
    found first whatever other kernels a machine has (JUPYTER_PATH comes before the user's
    and the environment's folders)."""
    pytest.importorskip("ipykernel")
    folder = tmp_path / "jupyter" / "kernels" / "sheetopt-tests"
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "sheetopt tests", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return "sheetopt-tests"


# what a long run shows in a kernel, run after the notebook in the same kernel (one kernel start)
PROGRESS_CELLS = ("import sheetopt, sheetopt.protocol.progress as progress\n"
                  "short = sheetopt.run('lesson5', 'adam')",
                  "progress.DELAY = progress.REDRAW = 0\n"
                  "long = sheetopt.run('lesson5', 'adam')")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The shipped notebook run top to bottom in a real kernel started in a fresh folder, then
    the progress cells: (notebook cells, progress cells, the folder, the workbooks/ listing
    before)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    tmp_path = tmp_path_factory.mktemp("notebook")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    shipped = len(notebook.cells)
    notebook.cells += [nbformat.v4.new_code_cell(code) for code in PROGRESS_CELLS]
    before = sorted(p.name for p in NOTEBOOK.parent.iterdir())
    with pytest.MonkeyPatch.context() as monkeypatch:
        kernel = this_python_kernel(tmp_path, monkeypatch)
        work = tmp_path / "work"
        work.mkdir()
        client = nbclient.NotebookClient(notebook, timeout=300, kernel_name=kernel,
                                         resources={"metadata": {"path": str(work)}})
        client.execute()  # raises CellExecutionError, naming the cell, on any error
    return notebook.cells[:shipped], notebook.cells[shipped:], work, before


def test_the_notebook_runs_top_to_bottom(executed):
    cells, _, work, before = executed
    outputs = [o for cell in cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3  # the figures
    assert (work / "lesson5.xlsx").is_file()  # written where it runs, not in the repo
    assert sorted(p.name for p in NOTEBOOK.parent.iterdir()) == before


def test_a_long_run_shows_progress_in_a_notebook(executed):
    """In a kernel the Python API draws tqdm's bar (a widget with ipywidgets, else text on the
    cell's stderr), with no warning; a short run draws nothing."""
    short, long = ([json.dumps(o) for o in cell.outputs] for cell in executed[1])
    assert short == []
    assert any("widget-view" in o for o in long) or any("145/145" in o for o in long), long
    assert not any("Warning" in o for o in long), long
