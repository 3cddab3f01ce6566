"""Every shipped workbook (workbooks/*.xlsx, whatever presets there are), recalculated by
Gnumeric (a second spreadsheet program we did not write), agrees with the engine cell for cell.

Before Gnumeric sees a workbook, every formula cell's cached value is overwritten with a wrong
number (gnumeric.blank_caches), so each right value in its output is one Gnumeric computed;
every formula cell is checked, and counted, not a sample. The expected values are the ones
sheetopt cached from the engine's run (test_workbook_files.py keeps the shipped files equal to
what the specs generate today).

Comparison rule: Gnumeric's value of a cell must be within 1e-12 of the engine's, relative to
the magnitude of the formula's OPERANDS, not of its result (gnumeric.operand_scales: for a
finite difference (err2(b + h) - err2(b)) / h, the err^2 values it subtracts divided by h).
Two correct programs that round differently in the last bit of a difference of nearly equal
numbers differ far more than 1e-12 relative to the small result. Measured on the shipped
workbooks: err^2 = (y - pred)^2 near the fit differs by up to 1.2e-10 of its result
(lecture-vs-torch), a mini-batch's gradient sum by 2.9e-11 (lesson2), a finite difference by
4.7e-12 (lesson5), while every cell is within 8e-14 of its operands' magnitude. Where that
scale is 0 the values must be equal. Text results (the "diverged" flags) must be equal.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gnumeric import (REL, blank_caches, compare, defined_names, read_cells, recalculate,
                      require_ssconvert)
from libreoffice import rewrite_cell
from sheetopt.protocol import engine
from sheetopt.cli import main
from sheetopt.rules import STATE_NAMES
from sheetopt.spec import load
from sheetopt.workbook import write_workbook
from sheetopt.workbook.layout import HEADER_ROW

FOLDER = Path(__file__).resolve().parents[1] / "workbooks"
WORKBOOKS = sorted(FOLDER.glob("*.xlsx"))
EDITED = ("lesson5", "adam", 0.25)  # workbook, sheet, the lr typed into its yellow lr cell


def edited_spec():
    """The spec whose engine run the edited workbook must show: the edited sheet started from
    the state its cells hold (lecture-reset's warm-up is not rerun by an edit)."""
    name, sheet, lr = EDITED
    spec = load(name)
    original = engine.run(spec, sheet)
    state = {s: {p: original.start[f"{s}_{p}"] for p in spec.model.params}
             for s in STATE_NAMES if f"{s}_{spec.model.params[0]}" in original.start}
    edited = replace(spec.sheet(sheet), state=state).with_hypers(lr=lr)
    return replace(spec, sheets=tuple(edited if s.name == sheet else s for s in spec.sheets))


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory):
    """name -> (the file sheetopt wrote, Gnumeric's recalculation of it with blanked caches,
    the number of formula cells blanked)."""
    require_ssconvert()
    assert WORKBOOKS, f"no workbooks in {FOLDER}"
    blanked = tmp_path_factory.mktemp("blanked")
    out = tmp_path_factory.mktemp("gnumeric")
    files = {}
    for path in WORKBOOKS:
        files[path.stem] = (path, blanked / path.name, blank_caches(path, blanked / path.name))
    name, sheet, lr = EDITED
    typed = blanked / "typed.xlsx"
    rewrite_cell(FOLDER / f"{name}.xlsx", typed, *defined_names(FOLDER / f"{name}.xlsx")[
        f"{sheet}_lr"], repr(lr))
    expected = blanked / "expected-edited.xlsx"  # what the engine gives with the edited lr
    write_workbook(edited_spec(), expected)
    files["edited"] = (expected, blanked / "edited.xlsx", blank_caches(typed, blanked / "edited.xlsx"))
    outputs = recalculate([gone for _, gone, _ in files.values()], out)
    return {key: (written, gnumeric, count)
            for (key, (written, _, count)), gnumeric in zip(files.items(), outputs)}


@pytest.mark.parametrize("name", [p.stem for p in WORKBOOKS])
def test_gnumeric_recomputes_every_formula_cell_like_the_engine(recalculated, name):
    written, gnumeric, blanked = recalculated[name]
    compared, _, failures = compare(written, gnumeric)
    assert not failures, (f"{name}.xlsx: {len(failures)} of {compared} formula cells differ:\n"
                          + "\n".join(failures[:20]))
    assert compared == blanked > 0  # every formula cell, and each had a wrong cached value


@pytest.mark.filterwarnings("ignore:Workbook contains no default style")  # openpyxl, in check
def test_editing_lr_recomputes_the_engine_run_with_that_lr(recalculated):
    """The yellow lr cell of lesson5's adam sheet typed over: Gnumeric's recalculated workbook
    is the engine's run with that lr, every formula cell of every sheet (the expected file is
    the workbook sheetopt writes for that run) and the new-parameter columns step by step."""
    expected, gnumeric, blanked = recalculated["edited"]
    compared, _, failures = compare(expected, gnumeric)
    assert not failures, f"{len(failures)} cells differ:\n" + "\n".join(failures[:20])
    assert compared == blanked > 0

    name, sheet, lr = EDITED
    spec = edited_spec()
    rerun = engine.run(spec, sheet)
    original = engine.run(load(name), sheet)
    cells = read_cells(gnumeric)[sheet]
    headers = {c.value: ref.rstrip("0123456789") for ref, c in cells.items()
               if ref.endswith(str(HEADER_ROW + 1)) and ref[len(ref.rstrip("0123456789")):]
               == str(HEADER_ROW + 1)}
    for p in spec.model.params:
        col = headers[f"new {p}"]
        found = [cells[f"{col}{HEADER_ROW + 2 + i}"].value for i in range(len(rerun))]
        for i, value in enumerate(found):
            want = float(rerun.steps[f"new_{p}"][i])
            assert value == pytest.approx(want, rel=REL, abs=0), f"{sheet} new {p} step {i + 1}"
        assert found[0] != pytest.approx(float(original.steps[f"new_{p}"][0]), rel=1e-6)
    assert main(["check", str(gnumeric)]) == 0
