"""Workbooks recalculated by LibreOffice (a spreadsheet program we did not write) agree with
the engine.

All workbooks go through ONE soffice call with recalculation forced (see tests/libreoffice.py).
Comparison rule: LibreOffice saves numbers with 15 significant digits, so its value of a cell
must be within 1e-12 relative of the engine's value (the rounding alone is below 5e-15); where
the engine's value is exactly 0, LibreOffice's must be 0 too.
"""
from __future__ import annotations

import csv
import functools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from xlsxwriter import Workbook
from xlsxwriter.utility import xl_cell_to_rowcol

from gnumeric import Error, defined_names, read_cells
from lecture_files import BASIC_EPOCH, require_lecture_files
from libreoffice import recalculate, require_soffice, rewrite_cell, rewrite_cells
from sheetopt.protocol import engine
from sheetopt.cli import main
from sheetopt.spec import load, parse
from sheetopt.workbook import write_workbook
from sheetopt.workbook.layout import DATA_FIRST_ROW, HEADER_ROW, HYPER_ROW, START_ROW

REL = 1e-12
PRESETS = ("lesson5", "lesson2", "quadratic", "lecture-vs-torch", "torch-optim", "frameworks")
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
        # torch-optim's sign-based and averaging rules on mini-batches (the preset is online)
        {"name": "rprop_batch", "optimizer": "rprop", "flavor": "torch", "lr": 0.001,
         "batch": 4, "epochs": 2, "maximize": False},
        {"name": "asgd_batch", "optimizer": "asgd", "flavor": "torch", "lr": 0.0001, "t0": 5.0,
         "batch": 3, "epochs": 2},
        # the keras, optax and fastai rules the frameworks preset does not use
        {"name": "keras_lion", "optimizer": "lion", "flavor": "keras", "learning_rate": 0.05,
         "batch": 5, "epochs": 2},
        {"name": "keras_adamax", "optimizer": "adamax", "flavor": "keras", "learning_rate": 0.5,
         "batch": 5, "epochs": 2, "weight_decay": 0.01},
        {"name": "optax_adagrad", "optimizer": "adagrad", "flavor": "optax",
         "learning_rate": 0.5, "batch": 5, "epochs": 2},
        {"name": "optax_nadam", "optimizer": "nadam", "flavor": "optax", "learning_rate": 0.5,
         "batch": 5, "epochs": 2},
        {"name": "optax_amsgrad", "optimizer": "amsgrad", "flavor": "optax",
         "learning_rate": 0.5, "batch": 5, "epochs": 2},
        # (not centered AND bias-corrected: at t = 1 its variance g^2 - g^2 is rounding noise,
        # which LibreOffice snaps to 0 and numpy does not)
        {"name": "optax_rmsprop", "optimizer": "rmsprop", "flavor": "optax",
         "learning_rate": 0.05, "centered": True, "momentum": 0.5, "nesterov": True,
         "batch": 5, "epochs": 2},
        {"name": "optax_rmsprop_bc", "optimizer": "rmsprop", "flavor": "optax",
         "learning_rate": 0.05, "bias_correction": True, "eps_in_sqrt": False, "batch": 5,
         "epochs": 2},
        {"name": "fastai_radam", "optimizer": "radam", "flavor": "fastai", "lr": 0.5,
         "batch": 5, "epochs": 2},
        {"name": "fastai_qhadam", "optimizer": "qhadam", "flavor": "fastai", "lr": 0.5,
         "batch": 5, "epochs": 2, "wd": 0.01, "decouple_wd": False},
    ]}
EDITED_LR = 0.25
EDITED_H = 0.001
EDITED_X = (3, 150.5)  # data row 3 (1-based) gets x = 150.5, past the largest x (99)
EDITED_SCHEDULES = [  # (sheet, input, value): a scheduler argument edited in the workbook
    ("StepLR", "sched_gamma", 0.25), ("WarmRestarts", "sched_T_0", 7.0),
    ("OneCycleLR", "sched_max_lr", 0.2), ("ReduceLROnPlateau", "sched_factor", 0.3)]
LONG_EPOCHS = 40  # long enough for 15-digit inputs to make adam_ann drift (see sheetopt check)
LONG_SHEET = "adam_ann"  # the sheet that drifts: the long workbook is lesson5's adam_ann alone


def epochs(name: str, count: int = 5):
    spec = load(name)
    return replace(spec, sheets=tuple(replace(s, epochs=count) for s in spec.sheets))


def long_spec():
    """lesson5's adam_ann sheet alone for LONG_EPOCHS epochs."""
    spec = load("lesson5")
    return replace(spec, sheets=(replace(spec.sheet(LONG_SHEET), epochs=LONG_EPOCHS),))


def five_epochs(name: str):
    return epochs(name, 5)


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


def set_inputs(source: Path, target: Path, edits) -> None:
    """Types values into input cells with the defined names ``<sheet>_<name>``, ``edits`` as
    ``(sheet, name, value)``: edits of different sheets, each a run of its own, share one file
    and one LibreOffice conversion. Every other stored value stays, so only a recalculation
    gives the cells that depend on an edited input their new values."""
    names = defined_names(source)
    rewrite_cells(source, target, [(*names[f"{sheet}_{name}"], repr(float(value)))
                                   for sheet, name, value in edits])


def set_data_x(source: Path, target: Path, row: int, x: float) -> None:
    """Types ``x`` into the data sheet's x cell of data row ``row`` (1-based)."""
    rewrite_cells(source, target, [("data", f"A{DATA_FIRST_ROW + row}", repr(float(x)))])


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory, preset_workbook):
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
    files["edited"] = src / "edited.xlsx"  # adam's lr and basic's h: two sheets, two runs
    set_inputs(files["lesson5"], files["edited"],
               [("adam", "lr", EDITED_LR), ("basic", "h", EDITED_H)])
    files["edited-data"] = src / "edited-data.xlsx"
    set_data_x(files["lesson5"], files["edited-data"], *EDITED_X)
    files["blown-up"] = src / "blown-up.xlsx"  # the book sheet at an lr that blows up
    set_inputs(files["quadratic"], files["blown-up"], [("book", "lr", 1.0)])
    files["edited-mom"] = src / "edited-mom.xlsx"  # torch SGD keeps its buffer formulas
    set_inputs(files["lecture-vs-torch"], files["edited-mom"],
               [("torch_sgd_momentum", "mom", 0.0)])
    files["torch-schedules"] = preset_workbook("torch-schedules")  # the preset as it is
    files["edited-schedules"] = src / "edited-schedules.xlsx"  # one edit on each of 4 sheets
    set_inputs(files["torch-schedules"], files["edited-schedules"], EDITED_SCHEDULES)
    files["long"] = src / "long.xlsx"
    write_workbook(long_spec(), files["long"])
    files["proof"] = src / "proof.xlsx"
    wrong_cache_workbook(files["proof"])
    outputs = recalculate(list(files.values()), out)
    return {name: (path, lo) for (name, path), lo in zip(files.items(), outputs)}


@pytest.fixture(scope="module")
def check_status():
    """``check_status(path)``: the exit status of ``sheetopt check PATH``, run once per file
    (several tests read one recalculated file, each the sheet it edited)."""
    found: dict[Path, int] = {}

    def status(path: Path) -> int:
        if path not in found:
            found[path] = main(["check", str(path)])
        return found[path]

    return status


def _plain(value):
    """A value as openpyxl reads it: an error as its code ("#NUM!")."""
    return value.code if isinstance(value, Error) else value


@functools.lru_cache(maxsize=None)
def _cells(path: Path) -> dict:
    """gnumeric.read_cells of a file, once per file (a regular-expression read of the sheets'
    XML, a fraction of openpyxl's time on these workbooks)."""
    return read_cells(path)


def formula_cells(path: Path) -> dict:
    """(sheet, row, col) -> cached value, for every formula cell sheetopt wrote (0-based)."""
    return {(sheet, *xl_cell_to_rowcol(ref)): _plain(cell.value)
            for sheet, cells in _cells(path).items() for ref, cell in cells.items()
            if cell.formula is not None}


@functools.lru_cache(maxsize=None)
def sheet_values(path: Path) -> dict[str, list[tuple]]:
    """Every sheet's stored values, rows of the sheet's used range (None where empty), read
    once per file (several tests read one recalculated file): read them, never change them."""
    out = {}
    for sheet, cells in _cells(path).items():
        at = {xl_cell_to_rowcol(ref): _plain(cell.value) for ref, cell in cells.items()}
        rows = 1 + max((r for r, _ in at), default=-1)
        cols = 1 + max((c for _, c in at), default=-1)
        out[sheet] = [tuple(at.get((r, c)) for c in range(cols)) for r in range(rows)]
    return out


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


@pytest.mark.parametrize("name", PRESETS + ("extras", "torch-schedules"))
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


def _column(rows: list[tuple], header: str, header_row: int = HEADER_ROW) -> list:
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


def test_editing_lr_recomputes_every_later_row(recalculated, check_status):
    _, lo = recalculated["edited"]
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
    assert check_status(lo) == 0


@pytest.mark.parametrize("sheet, name, value", EDITED_SCHEDULES,
                         ids=[e[0] for e in EDITED_SCHEDULES])
def test_editing_a_scheduler_argument_recomputes_the_whole_run(recalculated, check_status,
                                                               sheet, name, value):
    _, lo = recalculated["edited-schedules"]
    spec = load("torch-schedules")
    original = spec.sheet(sheet)
    arg = name[len("sched_"):]
    edited = replace(original, schedule=replace(original.schedule, options={
        **original.schedule.options, arg: value}))
    rerun, before = engine.run(spec, edited), engine.run(spec, original)
    rows = sheet_values(lo)[sheet]
    per_step = original.schedule.per_step
    found = _column(rows, "lr") if per_step else [r for r in _column(rows, "lr")][:len(
        rerun.epochs["lr"])]
    want = rerun.steps["lr"] if per_step else rerun.epochs["lr"]
    assert len(found) >= len(want)
    for i, expected in enumerate(want):
        assert_agrees(found[i], float(expected), f"{sheet} lr {i + 1}")
    assert not np.array_equal(np.asarray(want), np.asarray(
        before.steps["lr"] if per_step else before.epochs["lr"])), "the edit must change the lr"
    for i, expected in enumerate(rerun.steps["new_b"]):
        assert_agrees(_column(rows, "new b")[i], float(expected), f"{sheet} new b {i + 1}")
    assert check_status(lo) == 0


def test_check_flags_a_tampered_value(recalculated, tmp_path, capsys):
    _, lo = recalculated["lesson5"]
    assert main(["check", str(lo)]) == 0
    tampered = tmp_path / "tampered.xlsx"
    rewrite_cell(lo, tampered, "adam", "N40", "123.5")  # a careless edit of the file itself
    capsys.readouterr()
    assert main(["check", str(tampered)]) == 1
    out = capsys.readouterr().out
    assert "adam!N40" in out and "123.5" in out


def test_check_accepts_a_long_run_saved_by_libreoffice(recalculated, capsys):
    """LibreOffice saves the inputs with 15 significant digits (e.g. the lecture-reset start
    state); rerun from those, adam_ann's 40 epochs would drift by 1e-4 relative."""
    written, lo = recalculated["long"]
    stored = sheet_values(lo)[LONG_SHEET]
    original = sheet_values(written)[LONG_SHEET]
    rounded = [(i, j) for i in (HYPER_ROW + 1, START_ROW + 1) for j, v in enumerate(original[i])
               if isinstance(v, float) and stored[i][j] != v]
    assert rounded, "expected LibreOffice to round some start value"
    capsys.readouterr()
    assert main(["check", str(lo)]) == 0, capsys.readouterr().out


def test_editing_h_changes_the_finite_differences(recalculated, check_status):
    _, lo = recalculated["edited"]
    spec = five_epochs("lesson5")
    basic = replace(spec.sheet("basic"), h=EDITED_H)
    rerun = engine.run(replace(spec, sheets=(basic,)), basic)
    rows = sheet_values(lo)["basic"]
    found = _column(rows, "est de/db")
    assert len(found) == len(rerun)
    for i, value in enumerate(found):
        assert_agrees(value, float(rerun.steps["forward_b"][i]), f"basic est de/db row {i + 1}")
    original = engine.run(spec, "basic")
    assert found[0] != pytest.approx(float(original.steps["forward_b"][0]), rel=1e-6)
    assert check_status(lo) == 0


def test_check_keeps_the_formulas_shape_when_an_edit_would_change_it(recalculated):
    """mom = 0 in the spec means no momentum buffer; edited to 0 in the workbook, the buffer
    formulas stay (buf = 0*buf + g): check reruns that computation."""
    _, lo = recalculated["edited-mom"]
    rows = sheet_values(lo)["torch_sgd_momentum"]
    spec = five_epochs("lecture-vs-torch")
    plain = replace(spec.sheet("torch_sgd_momentum"), flags={}).with_hypers(mom=0.0)
    rerun = engine.run(replace(spec, sheets=(plain,)), plain)  # torch SGD without momentum
    for p in ("a", "b"):
        found = _column(rows, f"new {p}")
        for i, value in enumerate(found):
            assert_agrees(value, float(rerun.steps[f"new_{p}"][i]), f"new {p} row {i + 1}")
    assert main(["check", str(lo)]) == 0


def test_edited_data_moves_the_fitted_lines(recalculated):
    _, lo = recalculated["edited-data"]
    rows = sheet_values(lo)["data"]
    grid = list(rows[DATA_FIRST_ROW - 1]).index("x (for the lines)")
    assert rows[DATA_FIRST_ROW + 24][grid] == EDITED_X[1]
    assert main(["check", str(lo)]) == 0


def test_an_edit_that_blows_up_a_run_is_flagged(recalculated):
    _, lo = recalculated["blown-up"]
    compare = sheet_values(lo)["compare"]
    flags = {r[0]: r[list(compare[3]).index("diverged")] for r in compare[4:6]}
    assert flags["book"].startswith("yes: after an edit")
    assert flags["aloud"] == "no"  # lr 1e-3 needs more than these 5 epochs to blow up
