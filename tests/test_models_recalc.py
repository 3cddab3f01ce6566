"""Each new model's workbook, a start value typed over, recomputed by LibreOffice and by
Gnumeric (spreadsheet programs we did not write): every step's new parameters are the
engine's run from that start, to 1e-12 relative, and ``sheetopt check`` accepts the result.

Before recalculation every formula cell's cached value is overwritten with a wrong number
(gnumeric.blank_caches), so each right value is one the program computed.

The runs stop before they converge: near a minimum a surface's gradient is the difference of
large terms (Rastrigin's 2x + 2*pi*A*sin(2*pi*x) ~ 1e-4 from terms ~ 50), where two correct
programs differ by more than ``check``'s 1e-10 relative to the small result (measured: 3e-7
for Gnumeric after 30 steps of RMSprop on Rastrigin).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from xlsxwriter.utility import xl_cell_to_rowcol, xl_rowcol_to_cell

import gnumeric
import libreoffice
from sheetopt import Spec
from sheetopt.protocol import engine
from sheetopt.cli import main
from sheetopt.workbook import write_workbook
from sheetopt.reader.check import open_workbook, read_spec
from sheetopt.spec.data import PRESET_DIR
from sheetopt.workbook.layout import DATA_FIRST_ROW, DATA_SHEET, HEADER_ROW

REL = 1e-12
CASES = {  # name -> (spec TOML, sheet edited, its new start x)
    "rosenbrock": ("""
[model]
kind = "rosenbrock"
[defaults]
flavor = "torch"
steps = 40
init = { x = -1.5, y = 2.0 }
[[sheet]]
name = "adam"
optimizer = "adam"
lr = 0.05
[[sheet]]
name = "nag"
optimizer = "sgd"
lr = 0.001
momentum = 0.9
nesterov = true
""", "adam", -1.25),
    "rastrigin": ("""
[model]
kind = "rastrigin"
A = 8
[[sheet]]
name = "rmsprop"
optimizer = "rmsprop"
flavor = "torch"
lr = 0.01
steps = 8
init = { x = 1.3, y = -0.6 }
""", "rmsprop", 2.2),
    "beale": ("""
[model]
kind = "beale"
[[sheet]]
name = "momentum"
optimizer = "momentum"
lr = 0.001
steps = 30
init = { x = 1.0, y = 1.5 }
state = { grad_avg = { x = 0.0, y = 0.0 } }
""", "momentum", 0.5),
    # the other surfaces, each in a flavour and rule of its own (bowl with its key)
    "himmelblau": ("""
[model]
kind = "himmelblau"
[[sheet]]
name = "adam"
optimizer = "adam"
flavor = "torch"
lr = 0.05
steps = 12
init = { x = -1.0, y = 0.5 }
""", "adam", 0.25),
    "booth": ("""
[model]
kind = "booth"
[[sheet]]
name = "nag"
optimizer = "sgd"
flavor = "torch"
lr = 0.01
momentum = 0.9
nesterov = true
steps = 12
init = { x = -4.0, y = -2.0 }
""", "nag", 6.5),
    "bowl": ("""
[model]
kind = "bowl"
condition = 25
[[sheet]]
name = "rmsprop"
optimizer = "rmsprop"
flavor = "lecture"
lr = 0.01
steps = 12
init = { x = 1.5, y = 1.0 }
""", "rmsprop", -1.75),
    # a ReLU net: the edited start moves unit 1's kink, so rows change side of it
    "relu_net": (f"""
[model]
kind = "relu_net"
hidden = 2
[data]
csv = "{PRESET_DIR / 'relu-net-data.csv'}"
[[sheet]]
name = "adam"
optimizer = "adam"
flavor = "torch"
lr = 0.01
epochs = 2
[[sheet]]
name = "batch"
optimizer = "sgd"
flavor = "torch"
lr = 0.01
batch = 5
epochs = 2
show = ["central"]
""", "adam", -0.75, "c1"),
    # logistic regression: the cross-entropy's EXP and LN, and fastbook's mnist_loss; a batched
    # sheet sums its steps' mean losses, ReduceLROnPlateau reads the summary's mean loss
    "logistic": (f"""
[model]
kind = "logistic"
[data]
csv = "{PRESET_DIR / 'blobs.csv'}"
[[sheet]]
name = "adam"
optimizer = "adam"
flavor = "torch"
lr = 0.05
epochs = 2
[[sheet]]
name = "batched"
optimizer = "sgd"
flavor = "torch"
lr = 0.5
batch = 8
epochs = 2
""", "adam", -2.5, "a"),
    "mnist_loss": (f"""
[model]
kind = "logistic"
loss = "mnist"
[data]
csv = "{PRESET_DIR / 'blobs.csv'}"
[[sheet]]
name = "sgd"
optimizer = "sgd"
flavor = "torch"
lr = 0.5
epochs = 2
[[sheet]]
name = "plateau"
optimizer = "sgd"
flavor = "torch"
lr = 0.5
epochs = 3
schedule = {{ torch = "ReduceLROnPlateau", factor = 0.5, patience = 0, threshold = 0.3, per = "epoch" }}
""", "sgd", 1.5, "b"),
}
# models reading a data file: (spec TOML, its CSV, sheet edited, the edit: a start value
# ("start", parameter, value) or a data cell ("data", row, column, value), both 0-based)
DATA_CASES = {
    "features": ("""
[data]
csv = "{csv}"
[defaults]
flavor = "torch"
epochs = 3
[[sheet]]
name = "adam"
optimizer = "adam"
lr = 0.05
[[sheet]]
name = "batched"
optimizer = "sgd"
lr = 0.01
momentum = 0.9
batch = 3
gradient = "central"
""", "area,rooms,age,y\n1.5,-0.25,2,6.1\n-1,0.5,0.75,1.3\n0.25,1.75,-2,-1.4\n2,1,1.5,5.2\n"
     "-0.5,-1.5,0.25,5.3\n", "adam", ("start", "w_rooms", -0.75)),
    "gradients": ("""
[model]
kind = "gradients"
[data]
csv = "{csv}"
[defaults]
init = { a = 1.0, b = -2.0 }
flavor = "torch"
[[sheet]]
name = "adam"
optimizer = "adam"
lr = 0.1
amsgrad = true
[[sheet]]
name = "rmsprop"
optimizer = "rmsprop"
lr = 0.01
centered = true
""", "a,b\n0.5,-1\n0.25,2\n-1.5,0.75\n0.125,0.5\n", "adam", ("data", 1, 1, -3.5)),
}


def start_cell(path: Path, sheet: str, param: str) -> str:
    """The cell of a sheet's start value, from the workbook's own metadata."""
    with open_workbook(path) as book:
        _, raw = read_spec(book, str(path))
    entry = next(r for r in raw if r["name"] == sheet)
    return xl_rowcol_to_cell(*entry["inputs"][f"start:{param}"])


def edited(spec: Spec, sheet: str, edit: tuple) -> Spec:
    """The spec as the edited workbook holds it."""
    if edit[0] == "data":
        _, row, col, value = edit
        x, y = spec.data.x.copy(), spec.data.y.copy()
        if col >= len(spec.data.inputs()):
            y[row] = value
        elif x.ndim == 1:
            x[row] = value
        else:
            x[row, col] = value
        return replace(spec, data=replace(spec.data, x=x, y=y))
    _, param, value = edit
    changed = replace(spec.sheet(sheet), init={**spec.sheet(sheet).init, param: value})
    return replace(spec, sheets=tuple(changed if s.name == sheet else s for s in spec.sheets))


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory):
    """name -> (the edited spec, the sheet, LibreOffice's file, Gnumeric's file)."""
    libreoffice.require_soffice()
    gnumeric.require_ssconvert()
    work = tmp_path_factory.mktemp("models")
    typed = {}
    # the start edited: x unless the case names one
    cases = {name: (Spec.from_toml(toml), sheet, ("start", (edit or ["x"])[0], x))
             for name, (toml, sheet, x, *edit) in CASES.items()}
    for name, (toml, rows, sheet, edit) in DATA_CASES.items():
        (work / f"{name}.csv").write_text(rows)
        cases[name] = (Spec.from_toml(toml.replace("{csv}", str(work / f"{name}.csv"))), sheet,
                       edit)
    for name, (spec, sheet, edit) in cases.items():
        written = work / f"{name}-written.xlsx"
        write_workbook(spec, written)
        retyped = work / f"{name}-typed.xlsx"
        if edit[0] == "start":
            libreoffice.rewrite_cell(written, retyped, sheet,
                                     start_cell(written, sheet, edit[1]), repr(edit[2]))
        else:
            _, row, col, value = edit
            libreoffice.rewrite_cell(written, retyped, DATA_SHEET,
                                     xl_rowcol_to_cell(DATA_FIRST_ROW + row, col), repr(value))
        blank = work / "blank" / f"{name}.xlsx"
        blank.parent.mkdir(exist_ok=True)
        assert gnumeric.blank_caches(retyped, blank) > 50
        typed[name] = (edited(spec, sheet, edit), sheet, blank)
        # the edit changes the run: the programs' numbers are the edited run's, not the old
        assert engine.run(typed[name][0], sheet).final() != engine.run(spec, sheet).final()
    lo = libreoffice.recalculate([b for *_, b in typed.values()], work / "lo")
    gn = gnumeric.recalculate([b for *_, b in typed.values()], work / "gn")
    return {name: (spec, sheet, a, b) for (name, (spec, sheet, _)), a, b in
            zip(typed.items(), lo, gn)}


def new_columns(path: Path, sheet: str, params) -> dict[str, list[float]]:
    cells = gnumeric.read_cells(path)[sheet]
    header = str(HEADER_ROW + 1)
    columns = {c.value: ref[:-len(header)] for ref, c in cells.items()
               if ref[len(ref.rstrip("0123456789")):] == header}
    out = {}
    for p in params:
        col, values, row = columns[f"new {p}"], [], HEADER_ROW + 2
        while f"{col}{row}" in cells:
            values.append(cells[f"{col}{row}"].value)
            row += 1
        out[p] = values
    return out


def summary_column(path: Path, sheet: str, header: str) -> list:
    """A column of a sheet's epoch summary (right of the steps, from the header row's
    second "epoch"), one value per epoch."""
    cells = gnumeric.read_cells(path)[sheet]
    heads = sorted((xl_cell_to_rowcol(ref)[1], c.value) for ref, c in cells.items()
                   if xl_cell_to_rowcol(ref)[0] == HEADER_ROW)
    start = [col for col, text in heads if text == "epoch"][1]
    col = next(col for col, text in heads if text == header and col > start)
    values, row = [], HEADER_ROW + 1
    while xl_rowcol_to_cell(row, col) in cells:
        values.append(cells[xl_rowcol_to_cell(row, col)].value)
        row += 1
    return values


MEAN_LOSS_CASES = sorted(n for n in [*CASES, *DATA_CASES] if n not in ("relu_net", "features"))


@pytest.mark.parametrize("program", ["libreoffice", "gnumeric"])
@pytest.mark.parametrize("name", MEAN_LOSS_CASES)
def test_an_edit_recomputes_the_mean_loss_of_every_epoch(recalculated, name, program):
    """A model whose loss is not the squared error reports each epoch's mean loss: the
    programs' values after the edit are the edited run's epoch table (``epochs["loss"]``)."""
    spec, edited_sheet, lo, gn = recalculated[name]
    assert not spec.model.reports_rmse
    path = lo if program == "libreoffice" else gn
    for sheet in spec.sheets:
        want = engine.run(spec, sheet.name).epochs["loss"]
        found = summary_column(path, sheet.name, "mean loss")
        assert len(found) == len(want) == sheet.epochs, sheet.name
        for e, (got, value) in enumerate(zip(found, want)):
            assert isinstance(got, float), f"{name} {sheet.name} epoch {e + 1}: {got!r}"
            assert abs(got - value) <= REL * max(abs(value), 1.0), (
                f"{program} {name} {sheet.name} epoch {e + 1}: {got!r} vs {value!r}")
    if name == "mnist_loss":  # the plateau's lr follows the recomputed mean loss
        lrs = summary_column(path, "plateau", "lr")
        assert lrs == engine.run(spec, "plateau").epochs["lr"].tolist()
        assert len(set(lrs)) > 1, lrs


@pytest.mark.parametrize("program", ["libreoffice", "gnumeric"])
@pytest.mark.parametrize("name", sorted([*CASES, *DATA_CASES]))
def test_an_edited_start_recomputes_the_engine_run(recalculated, name, program):
    spec, sheet, lo, gn = recalculated[name]
    path = lo if program == "libreoffice" else gn
    trace = engine.run(spec, sheet)
    found = new_columns(path, sheet, spec.model.params)
    for p in spec.model.params:
        want = trace.steps[f"new_{p}"]
        assert len(found[p]) == len(want) == spec.steps(spec.sheet(sheet))
        for i, (got, value) in enumerate(zip(found[p], want)):
            assert isinstance(got, float), f"{name} {p} step {i + 1}: {got!r}"
            assert abs(got - value) <= REL * max(abs(value), 1.0), (
                f"{program} {name} new {p} step {i + 1}: {got!r} vs {value!r}")
    assert main(["check", str(path)]) == 0
