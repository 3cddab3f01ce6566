"""Reading a sheetopt workbook back: its inputs rerun through the engine, its values compared.

The workbook may have been edited and saved by a spreadsheet program since sheetopt wrote it.
Its input cells (data rows, hyperparameters, start values) are read from the sheets, the spec
it was written from (very hidden sheet ``sheetopt``) says everything else; every formula
cell's stored value is then compared with the value the engine gives for it.
"""
from __future__ import annotations

import itertools
import math
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..errors import SheetoptError
from ..spec import Spec
from . import optimizer_sheet, overview, plan_sheets, run_traces
from .layout import DATA_FIRST_ROW, Cell
from .metadata import MARKER, META_SHEET, spec_from_json
from .templates import ref

REL_TOL = 1e-10  # a file saved by LibreOffice keeps 15 significant digits
ABS_TOL = 1e-300


@dataclass
class SheetResult:
    sheet: str
    cells: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    first_bad: str | None = None  # e.g. "adam!M40: stored 1.5, engine 1.25"
    bad: int = 0

    @property
    def ok(self) -> bool:
        return self.bad == 0


def open_workbook(path: str | Path):
    """openpyxl in read-only mode, values only (openpyxl parses with defusedxml when it is
    installed, which guards against XML bombs)."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException
    from openpyxl.xml import DEFUSEDXML

    if not DEFUSEDXML:
        raise SheetoptError("reading workbooks needs defusedxml (pip install defusedxml)")
    path = Path(path)
    if not path.is_file():
        raise SheetoptError(f"{path}: no such file")
    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError,
            TypeError) as exc:  # defusedxml's refusals are ValueErrors
        raise SheetoptError(f"{path}: not an .xlsx workbook ({exc.__class__.__name__})") from None


def read_spec(book, label: str) -> tuple[Spec, list[dict]]:
    """The spec a workbook holds, with the data and inputs as its cells now say."""
    if META_SHEET not in book.sheetnames:
        raise SheetoptError(f"{label}: not a workbook written by sheetopt (no '{META_SHEET}' sheet)")
    meta = book[META_SHEET]
    rows = list(itertools.islice(meta.iter_rows(max_col=1, values_only=True), 2))
    if len(rows) < 2 or rows[0][0] != MARKER or not isinstance(rows[1][0], str):
        raise SheetoptError(f"{label}: not a workbook written by sheetopt (no metadata)")
    import json
    try:
        count = int(json.loads(rows[1][0])["data"]["rows"])
    except (ValueError, KeyError, TypeError):
        raise SheetoptError(f"{label}: the workbook's sheetopt metadata is damaged") from None
    x, y = _read_data(book, count, label)
    spec, raw_sheets = spec_from_json(rows[1][0], x, y, label)
    sheets = []
    for sheet, raw in zip(spec.sheets, raw_sheets):
        sheets.append(_with_inputs(book, sheet, raw, spec, label))
    return replace(spec, sheets=tuple(sheets)), raw_sheets


def _number(value, where: str, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SheetoptError(f"{label}: {where} must be a number (found {value!r})")
    return float(value)


def _read_data(book, count: int, label: str) -> tuple[np.ndarray, np.ndarray]:
    if "data" not in book.sheetnames:
        raise SheetoptError(f"{label}: the 'data' sheet is missing")
    rows = book["data"].iter_rows(min_row=DATA_FIRST_ROW + 1, max_row=DATA_FIRST_ROW + count,
                                  max_col=2, values_only=True)
    xs, ys = [], []
    for i, row in enumerate(rows):
        cells = list(row) + [None, None]
        xs.append(_number(cells[0], f"data!A{DATA_FIRST_ROW + 1 + i}", label))
        ys.append(_number(cells[1], f"data!B{DATA_FIRST_ROW + 1 + i}", label))
    if len(xs) != count:
        raise SheetoptError(f"{label}: the data sheet has {len(xs)} rows, expected {count}")
    return np.array(xs), np.array(ys)


def _with_inputs(book, sheet, raw: dict, spec: Spec, label: str):
    title = raw["worksheet"]
    if title not in book.sheetnames:
        raise SheetoptError(f"{label}: the sheet {title!r} is missing")
    positions = {key: tuple(pos) for key, pos in raw["inputs"].items()}
    top = max(row for row, _ in positions.values()) + 1
    grid = [list(r) for r in book[title].iter_rows(max_row=top, values_only=True)]

    def value(key):
        row, col = positions[key]
        found = grid[row][col] if row < len(grid) and col < len(grid[row]) else None
        return _number(found, f"{title}!{ref(row, col)} ({key})", label)

    hypers = {name: value(name) for name in sheet.hypers}
    init = {p: value(f"start:{p}") for p in spec.model.params}
    state = {s: {p: value(f"start:{s}:{p}") for p in spec.model.params}
             for s in sheet.rule.states(sheet.static)}
    return replace(sheet, hypers=hypers, init=init, state=state)


def expected_cells(spec: Spec) -> Iterator[tuple[str, Iterable[Cell]]]:
    """Every sheet's cells as a fresh run of the engine writes them."""
    plans = plan_sheets(spec, run_traces(spec))
    yield "data", overview.data_cells(spec, plans)
    for plan in plans:
        yield plan.title, optimizer_sheet.cells(plan)
    yield "compare", overview.compare_cells(spec, plans)


def compare_sheet(worksheet, title: str, cells: Iterable[Cell]) -> SheetResult:
    result = SheetResult(title)
    formulas = (c for c in cells if c.kind == "formula")
    stored_rows = worksheet.iter_rows(values_only=True)
    current, stored = -1, ()
    for row, group in itertools.groupby(formulas, key=lambda c: c.row):
        while current < row:
            stored = next(stored_rows, None)
            current += 1
            if stored is None:
                stored = ()
        for cell in group:
            found = stored[cell.col] if cell.col < len(stored) else None
            _compare(result, title, cell, found)
    return result


def _compare(result: SheetResult, title: str, cell: Cell, found) -> None:
    result.cells += 1
    expected = cell.value
    where = f"{title}!{ref(cell.row, cell.col)}"
    if isinstance(expected, str) or not isinstance(found, (int, float)) or isinstance(found, bool):
        if found != expected:
            _bad(result, f"{where}: stored {found!r}, engine {expected!r}")
        return
    diff = abs(found - expected)
    rel = diff / abs(expected) if expected else (0.0 if diff <= ABS_TOL else math.inf)
    result.max_abs = max(result.max_abs, diff)
    result.max_rel = max(result.max_rel, rel)
    if rel > REL_TOL and diff > ABS_TOL:
        _bad(result, f"{where}: stored {found!r}, engine {expected!r}")


def _bad(result: SheetResult, message: str) -> None:
    result.bad += 1
    if result.first_bad is None:
        result.first_bad = message


def check_workbook(path: str | Path) -> list[SheetResult]:
    """Compares every formula cell of a sheetopt workbook with a fresh engine run."""
    label = str(path)
    book = open_workbook(path)
    try:
        spec, _ = read_spec(book, label)
        results = []
        for title, cells in expected_cells(spec):
            if title not in book.sheetnames:
                raise SheetoptError(f"{label}: the sheet {title!r} is missing")
            results.append(compare_sheet(book[title], title, cells))
        return results
    finally:
        book.close()
