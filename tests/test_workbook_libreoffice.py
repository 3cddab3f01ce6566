"""Workbooks recalculated by LibreOffice (a spreadsheet program we did not write) agree with
the engine.

All workbooks go through ONE soffice call with recalculation forced (see tests/libreoffice.py).
Comparison rule: LibreOffice saves numbers with 15 significant digits, so its value of a cell
must be within 1e-12 relative of the engine's value (the rounding alone is below 5e-15); where
the engine's value is exactly 0, LibreOffice's must be 0 too.
"""
from __future__ import annotations

import csv
import re
import zipfile
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest
from xlsxwriter import Workbook

from lecture_files import BASIC_EPOCH, require_lecture_files
from libreoffice import recalculate, require_soffice
from sheetopt import engine
from sheetopt.cli import main
from sheetopt.spec import load, parse
from sheetopt.workbook import write_workbook

REL = 1e-12
PRESETS = ("lesson5", "lesson2", "quadratic", "lecture-vs-torch")
EXTRAS = {  # layouts the presets do not use: mini-batches, central differences, one-cycle
    "title": "extras", "data": {"preset": "lecture", "true": {"a": 2.0, "b": 30.0}},
    "sheet": [
        {"name": "minibatch", "optimizer": "momentum", "lr": 0.0001, "mom": 0.9, "batch": 4,
         "epochs": 3, "show": ["forward", "central"],
         "state": {"grad_avg": {"a": 0.0, "b": 0.0}}},
        {"name": "cycle", "optimizer": "adam", "flavor": "torch", "lr": 0.5, "epochs": 2,
         "schedule": "one_cycle"},
        {"name": "central", "optimizer": "sgd", "lr": 0.0001, "gradient": "central", "batch": 5,
         "epochs": 2},
    ]}
EDITED_LR = 0.25


def five_epochs(name: str):
    spec = load(name)
    return replace(spec, sheets=tuple(replace(s, epochs=5) for s in spec.sheets))


def basic_epoch_rows() -> list[dict]:
    with open(BASIC_EPOCH, newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def basic_epoch_spec():
    """lesson5's basic sheet for one epoch, started where basic-epoch.csv starts."""
    first = basic_epoch_rows()[0]
    spec = load("lesson5")
    basic = replace(spec.sheet("basic"), epochs=1, init={"a": first["a"], "b": first["b"]})
    return replace(spec, sheets=(basic,))


def wrong_cache_workbook(path: Path) -> None:
    """A cell whose cached value (7) is wrong: only a real recalculation shows 2."""
    book = Workbook(str(path))
    book.add_worksheet("proof").write_formula(0, 0, "=1+1", None, 7)
    book.close()


def set_lr_with_openpyxl(source: Path, target: Path, sheet: str, lr: float) -> None:
    book = openpyxl.load_workbook(source)
    cell = book.defined_names[f"{sheet}_lr"].attr_text.split("!")[1].replace("$", "")
    book[sheet][cell] = lr
    book.save(target)


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory):
    """name -> (the sheetopt-written file, LibreOffice's recalculated file)."""
    require_soffice()
    src = tmp_path_factory.mktemp("written")
    out = tmp_path_factory.mktemp("recalculated")
    files = {}
    for name in PRESETS:
        files[name] = src / f"{name}.xlsx"
        write_workbook(five_epochs(name), files[name])
    files["extras"] = src / "extras.xlsx"
    write_workbook(parse(EXTRAS), files["extras"])
    if BASIC_EPOCH.exists():
        files["basic-epoch"] = src / "basic-epoch.xlsx"
        write_workbook(basic_epoch_spec(), files["basic-epoch"])
    files["edited"] = src / "edited.xlsx"
    set_lr_with_openpyxl(files["lesson5"], files["edited"], "adam", EDITED_LR)
    files["proof"] = src / "proof.xlsx"
    wrong_cache_workbook(files["proof"])
    outputs = recalculate(list(files.values()), out)
    return {name: (path, lo) for (name, path), lo in zip(files.items(), outputs)}


def formula_cells(path: Path) -> dict:
    """(sheet, row, col) -> cached value, for every formula cell sheetopt wrote."""
    formulas = openpyxl.load_workbook(path, read_only=True)
    values = openpyxl.load_workbook(path, read_only=True, data_only=True)
    out = {}
    for ws in formulas.worksheets:
        cached = list(values[ws.title].iter_rows(values_only=True))
        for i, row in enumerate(ws.iter_rows(values_only=True)):
            for j, text in enumerate(row):
                if isinstance(text, str) and text.startswith("="):
                    out[(ws.title, i, j)] = cached[i][j]
    return out


def sheet_values(path: Path) -> dict[str, list[tuple]]:
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in book.worksheets}


def assert_agrees(found, expected, where) -> None:
    assert isinstance(found, (int, float)), f"{where}: LibreOffice gave {found!r}"
    if expected == 0:
        assert found == 0, f"{where}: LibreOffice {found!r}, engine 0"
    else:
        rel = abs(found - expected) / abs(expected)
        assert rel <= REL, f"{where}: LibreOffice {found!r}, engine {expected!r} (rel {rel:.2g})"


def test_recalculation_is_forced(recalculated):
    _, lo = recalculated["proof"]
    assert sheet_values(lo)["proof"][0][0] == 2


@pytest.mark.parametrize("name", PRESETS + ("extras",))
def test_every_formula_cell_agrees_with_the_engine(recalculated, name):
    written, lo = recalculated[name]
    expected = formula_cells(written)
    found = sheet_values(lo)
    numeric = 0
    for (sheet, i, j), value in expected.items():
        got = found[sheet][i][j] if i < len(found[sheet]) and j < len(found[sheet][i]) else None
        if isinstance(value, str):  # a non-finite engine value is written as an error
            assert got == value, f"{sheet}!{i + 1},{j + 1}: {got!r} != {value!r}"
            continue
        assert_agrees(got, value, f"{name}: {sheet} row {i + 1} col {j + 1}")
        numeric += 1
    assert numeric > 500


def _column(rows: list[tuple], header: str, header_row: int = 7) -> list:
    j = list(rows[header_row]).index(header)
    return [r[j] for r in rows[header_row + 1:] if j < len(r) and r[j] is not None]


def test_basic_epoch_matches_the_lecture_workbook(recalculated):
    require_lecture_files()
    _, lo = recalculated["basic-epoch"]
    rows = sheet_values(lo)["basic"]
    stored = basic_epoch_rows()
    columns = {"x": "x", "y": "y", "b": "intercept", "a": "slope", "pred": "y_pred",
               "err2": "err^2", "est_de_db": "est de/db", "est_de_da": "est de/da",
               "de_db": "de/db", "de_da": "de/da", "new_b": "new b", "new_a": "new a"}
    for key, header in columns.items():
        found = _column(rows, header)[:len(stored)]
        assert len(found) == len(stored) == 29
        for i, (value, row) in enumerate(zip(found, stored)):
            assert_agrees(value, row[key], f"basic {header} row {i + 1}")


def test_editing_lr_recomputes_every_later_row(recalculated):
    written, lo = recalculated["edited"]
    spec = five_epochs("lesson5")
    original = engine.run(spec, "adam")
    start_state = {s: {p: original.start[f"{s}_{p}"] for p in spec.model.params}
                   for s in ("grad_avg", "sqr_avg")}
    edited = replace(spec.sheet("adam"), state=start_state).with_hypers(lr=EDITED_LR)
    rerun = engine.run(replace(spec, sheets=(edited,)), edited)
    rows = sheet_values(lo)["adam"]
    for p in ("a", "b"):
        found = _column(rows, f"new {p}")
        assert len(found) == len(rerun)
        for i, value in enumerate(found):
            assert_agrees(value, float(rerun.steps[f"new_{p}"][i]), f"adam new {p} row {i + 1}")
        assert found[0] != pytest.approx(float(original.steps[f"new_{p}"][0]))
    assert main(["check", str(lo)]) == 0


def test_check_flags_a_tampered_value(recalculated, tmp_path, capsys):
    _, lo = recalculated["lesson5"]
    assert main(["check", str(lo)]) == 0
    tampered = tmp_path / "tampered.xlsx"
    _replace_cached_value(lo, tampered, sheet_index=6, cell="N40", value="123.5")
    capsys.readouterr()
    assert main(["check", str(tampered)]) == 1
    out = capsys.readouterr().out
    assert "adam!N40" in out and "123.5" in out


def _replace_cached_value(source: Path, target: Path, sheet_index: int, cell: str, value: str):
    """Rewrites one cell's stored value inside the xlsx (what a careless edit of the file or a
    broken program would do), leaving its formula alone."""
    name = f"xl/worksheets/sheet{sheet_index}.xml"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == name:
                text = data.decode()
                pattern = re.compile(rf'(<c r="{cell}"[^>]*>.*?<v>)([^<]*)(</v>)', re.S)
                text, count = pattern.subn(lambda m: m.group(1) + value + m.group(3), text, 1)
                assert count == 1, f"{cell} not found in {name}"
                data = text.encode()
            zout.writestr(item, data)
