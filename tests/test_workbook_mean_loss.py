"""What a workbook reports for a model whose loss is not the squared error (a classifier, a
test surface): each epoch's mean loss, labelled so, never a sqrt-of-sum or an RMSE.

The cached cells are compared with the engine's epoch table (``trace.epochs["loss"]``, equal
to the last bit) and, for the blobs, with the mean binary cross-entropy that torch computes
itself from each step's parameters and row. Spreadsheet programs recomputing these cells after
an edit: tests/test_models_recalc.py. The lecture's squared-error sheets keep their RMSE
columns: tests/test_workbook.py.
"""
from __future__ import annotations

import re
import zipfile

import numpy as np
import openpyxl
import pytest

from sheetopt.protocol import engine
from sheetopt.spec import load
from sheetopt.workbook.layout import FIRST_ROW, HEADER_ROW

MEAN_LOSS_PRESETS = ["blobs", "digits", "rosenbrock", "rastrigin"]
SQUARED_ERROR_WORDS = re.compile(r"RMSE|rmse|err\^2|sqrt\(")


def grids(path) -> dict[str, list[tuple]]:
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return {ws.title: [tuple(row) for row in ws.iter_rows(values_only=True)]
                for ws in book.worksheets if ws.title != "sheetopt"}
    finally:
        book.close()


def summary_column(rows: list[tuple], header: str) -> list:
    """A column of the epoch summary (right of the steps: from the header row's second
    "epoch"), one value per epoch."""
    heads = list(rows[HEADER_ROW])
    start = [i for i, h in enumerate(heads) if h == "epoch"][1]
    col = heads.index(header, start)
    out = []
    for row in rows[FIRST_ROW:]:
        if col >= len(row) or row[col] is None:
            break
        out.append(row[col])
    return out


@pytest.fixture(scope="module")
def books(preset_workbook):
    return {name: grids(preset_workbook(name)) for name in MEAN_LOSS_PRESETS}


@pytest.mark.parametrize("name", MEAN_LOSS_PRESETS)
def test_the_summary_caches_the_engines_mean_loss_bit_for_bit(books, name):
    spec = load(name)
    for sheet in spec.sheets:
        want = engine.run(spec, sheet.name).epochs["loss"].tolist()
        got = summary_column(books[name][sheet.name], "mean loss")
        assert len(want) == sheet.epochs and got == want, sheet.name


@pytest.mark.parametrize("name", MEAN_LOSS_PRESETS)
def test_headers_say_mean_loss_never_rmse_or_err2(books, name):
    for title, rows in books[name].items():
        if title in ("intro", "data", "compare"):
            continue
        heads = [h for h in rows[HEADER_ROW] if isinstance(h, str)]
        assert "Σ loss (epoch)" in heads and "mean loss" in heads, title
        wrong = [h for h in heads if SQUARED_ERROR_WORDS.search(h)]
        assert not wrong, f"{name} {title}: {wrong}"
    compare = books[name]["compare"]
    texts = [v for row in compare for v in row if isinstance(v, str)]
    assert "mean loss per epoch" in texts
    assert not [t for t in texts if SQUARED_ERROR_WORDS.search(t)], texts


@pytest.mark.parametrize("name", MEAN_LOSS_PRESETS)
def test_charts_and_notes_say_which_loss(preset_workbook, name):
    with zipfile.ZipFile(preset_workbook(name)) as archive:
        charts = " ".join(archive.read(n).decode() for n in archive.namelist()
                          if n.startswith("xl/charts/chart"))
        notes = " ".join(archive.read(n).decode() for n in archive.namelist()
                         if n.startswith("xl/comments"))
    assert "mean loss per epoch, every sheet" in charts
    assert not SQUARED_ERROR_WORDS.search(charts)
    which = "f(x, y), the surface's value" if name in ("rosenbrock", "rastrigin") else "binary cross-entropy"
    assert re.search(r"The epoch's mean loss[^<]*The loss: " + re.escape(which), notes)
    assert "The lecture's 'rmse'" not in notes and "(y - pred)^2" not in notes


def test_compare_sheet_lists_every_sheets_mean_loss(books):
    spec = load("blobs")
    rows = books["blobs"]["compare"]
    at = next(i for i, row in enumerate(rows) if row and row[0] == "mean loss per epoch")
    heads = list(rows[at + 1])
    for sheet in spec.sheets:
        col = heads.index(sheet.name)
        got = [row[col] for row in rows[at + 2:at + 2 + sheet.epochs]]
        assert got == engine.run(spec, sheet.name).epochs["loss"].tolist(), sheet.name


def test_blobs_mean_loss_is_torchs_mean_cross_entropy_over_the_steps(books):
    """Independent of the engine's loss: torch's binary_cross_entropy_with_logits of each
    step's row at the step's parameters (the trace's a and b before the step), averaged over
    the epoch's steps."""
    torch = pytest.importorskip("torch")
    from torch.nn.functional import binary_cross_entropy_with_logits as bce

    spec = load("blobs")
    for sheet in spec.sheets:
        steps = engine.run(spec, sheet.name).steps
        x, y = (torch.tensor(steps[c], dtype=torch.float64) for c in ("x", "y"))
        z = torch.tensor(steps["b"], dtype=torch.float64) + torch.tensor(
            steps["a"], dtype=torch.float64) * x
        per_step = bce(z, y, reduction="none").reshape(sheet.epochs, -1)
        want = per_step.mean(dim=1).numpy()
        got = np.array(summary_column(books["blobs"][sheet.name], "mean loss"))
        assert np.allclose(got, want, rtol=1e-12, atol=0), (sheet.name, got - want)


def test_a_negative_mean_loss_gets_a_linear_axis(tmp_path):
    """Given gradients' loss g.p can be negative, which a log axis cannot show."""
    from sheetopt import Spec
    from sheetopt.workbook import write_workbook

    (tmp_path / "g.csv").write_text("a,b\n0.5,-1\n0.25,2\n-1.5,0.75\n0.125,0.5\n")
    spec = Spec.from_toml(f'[model]\nkind = "gradients"\n[data]\ncsv = "{tmp_path / "g.csv"}"\n'
                          f'[[sheet]]\nname = "adam"\noptimizer = "adam"\nflavor = "torch"\n'
                          f'lr = 0.1\nepochs = 3\ninit = {{ a = 1.0, b = -2.0 }}\n')
    losses = engine.run(spec, "adam").epochs["loss"]
    assert (losses < 0).all()
    path = tmp_path / "g.xlsx"
    write_workbook(spec, path)
    with zipfile.ZipFile(path) as archive:
        charts = [archive.read(n).decode() for n in archive.namelist()
                  if n.startswith("xl/charts/chart")]
    loss_charts = [c for c in charts if "mean loss" in c or "loss per epoch" in c]
    assert len(loss_charts) == 2 and not any("logBase" in c for c in loss_charts)
    compare = grids(path)["compare"]
    assert summary_column(grids(path)["adam"], "mean loss") == losses.tolist()
    assert not any("logarithmic" in v for row in compare for v in row if isinstance(v, str))
