"""Reading a sheetopt workbook back: its inputs rerun through the engine, its values compared.

The workbook may have been edited and saved by a spreadsheet program since sheetopt wrote it.
Its input cells (data rows, true values, hyperparameters, h, start values) are read from the
sheets, the spec it was written from (very hidden sheet ``sheetopt``) says everything else;
every formula cell's stored value is then compared with the value the engine gives for it.
A program that saves numbers with 15 significant digits rounds the inputs; where a cell holds
exactly the rounded original, the original's full precision is used (a long chaotic run
started from rounded inputs would drift away), while a real edit still counts.
"""
from __future__ import annotations

import itertools
import math
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from defusedxml import DefusedXmlException, EntitiesForbidden

from .. import engine
from ..errors import SheetoptError
from ..models import MODELS
from ..spec import Spec
from . import optimizer_sheet, overview, plan_sheets, schedule_cells
from .layout import DATA_FIRST_ROW, Cell, model_order
from .metadata import MARKER, META_SHEET, read_document, spec_from_json
from .overview import TRUE_ROW
from .templates import ref

REL_TOL = 1e-10  # a file saved by LibreOffice keeps 15 significant digits
ABS_TOL = 1e-300
SAVED_DIGITS = 15  # what spreadsheet programs keep when they save a number


@dataclass
class SheetResult:
    sheet: str
    cells: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    first_bad: str | None = None  # e.g. "adam!M40: stored 1.5, engine 1.25"
    bad: int = 0
    empty: int = 0  # formula cells stored without a value

    @property
    def ok(self) -> bool:
        return self.bad == 0


def _refusal(path: Path, exc: Exception) -> SheetoptError:
    """A clear line for a file that defusedxml refuses to parse."""
    if isinstance(exc, EntitiesForbidden):
        return SheetoptError(f"{path}: refused: the file's XML declares entities "
                             f"(possible XML bomb)")
    return SheetoptError(f"{path}: refused: the file's XML has constructs that could attack "
                         f"the reader ({exc.__class__.__name__})")


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
            TypeError) as exc:
        refused = _defused_cause(exc)
        if refused is not None:  # openpyxl wraps defusedxml's refusal in a ValueError
            raise _refusal(path, refused) from None
        raise SheetoptError(f"{path}: not an .xlsx workbook ({exc.__class__.__name__})") from None


def _defused_cause(exc: BaseException | None) -> DefusedXmlException | None:
    """defusedxml's refusal behind ``exc``, if any (following the chain of causes)."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, DefusedXmlException):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def read_spec(book, label: str) -> tuple[Spec, list[dict]]:
    """The spec a workbook holds, with the data and inputs as its cells now say (the
    metadata's full-precision value where a cell holds it rounded as a spreadsheet saves it)."""
    if META_SHEET not in book.sheetnames:
        raise SheetoptError(f"{label}: not a workbook written by sheetopt (no '{META_SHEET}' sheet)")
    texts = [row[0] for row in book[META_SHEET].iter_rows(max_col=1, values_only=True)]
    if len(texts) < 2 or texts[0] != MARKER or not isinstance(texts[1], str):
        raise SheetoptError(f"{label}: not a workbook written by sheetopt (no metadata)")
    document = read_document("".join(itertools.takewhile(lambda t: isinstance(t, str), texts[1:])),
                             label)
    try:
        data = document["data"]
        x, y = _read_data(book, data["x"], data["y"], label)
        true = _read_true(book, data["true"], document["model"], label)
    except (KeyError, TypeError, ValueError):
        raise SheetoptError(f"{label}: the workbook's sheetopt metadata is damaged") from None
    spec, raw_sheets = spec_from_json(document, x, y, true, label)
    sheets = []
    for sheet, raw in zip(spec.sheets, raw_sheets):
        sheets.append(_with_inputs(book, sheet, raw, spec, label))
    return replace(spec, sheets=tuple(sheets)), raw_sheets


def saved_as(value: float, original: float) -> bool:
    """Whether ``value`` is ``original`` as a program that keeps 15 significant digits saves
    it: equal to it in every digit but the last kept one, which may be rounded either way."""
    if value == original:
        return True
    if original == 0 or not math.isfinite(original):
        return False
    unit = 10.0 ** (math.floor(math.log10(abs(original))) - (SAVED_DIGITS - 1))
    return abs(value - original) <= unit


def input_value(stored, original: float | None, where: str, label: str) -> float:
    """The number an input cell means: its full-precision original when the cell holds the
    original as saved with 15 significant digits; otherwise (a real edit) the cell's own."""
    value = _number(stored, where, label)
    if original is not None and saved_as(value, float(original)):
        return float(original)
    return value


def _number(value, where: str, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SheetoptError(f"{label}: {where} must be a number (found {value!r})")
    return float(value)


def _read_data(book, xs_original: list, ys_original: list, label: str
               ) -> tuple[np.ndarray, np.ndarray]:
    if "data" not in book.sheetnames:
        raise SheetoptError(f"{label}: the 'data' sheet is missing")
    count = len(xs_original)
    rows = book["data"].iter_rows(min_row=DATA_FIRST_ROW + 1, max_row=DATA_FIRST_ROW + count,
                                  max_col=2, values_only=True)
    xs, ys = [], []
    for i, row in enumerate(rows):
        cells = list(row) + [None, None]
        xs.append(input_value(cells[0], xs_original[i], f"data!A{DATA_FIRST_ROW + 1 + i}", label))
        ys.append(input_value(cells[1], ys_original[i], f"data!B{DATA_FIRST_ROW + 1 + i}", label))
    if len(xs) != count:
        raise SheetoptError(f"{label}: the data sheet has {len(xs)} rows, expected {count}")
    return np.array(xs), np.array(ys)


def _read_true(book, original: dict, model: str, label: str) -> dict:
    """The true parameters as the data sheet's input cells say."""
    if not original:
        return {}
    order = model_order(MODELS[model])
    row = next(book["data"].iter_rows(min_row=TRUE_ROW + 1, max_row=TRUE_ROW + 1,
                                      values_only=True), ())
    out = {}
    for i, p in enumerate(order):
        if p in original:
            stored = row[1 + i] if 1 + i < len(row) else None
            out[p] = input_value(stored, float(original[p]), f"data!{ref(TRUE_ROW, 1 + i)} "
                                 f"(true {p})", label)
    return out


def _with_inputs(book, sheet, raw: dict, spec: Spec, label: str):
    """The sheet with its hyperparameters, h and start values as its input cells say; a
    hyperparameter the formulas do not read (fixed) keeps the metadata's value."""
    title = raw["worksheet"]
    if title not in book.sheetnames:
        raise SheetoptError(f"{label}: the sheet {title!r} is missing")
    positions = {key: tuple(pos) for key, pos in raw["inputs"].items()}
    originals = raw.get("originals", {})
    top = max(row for row, _ in positions.values()) + 1
    grid = [list(r) for r in book[title].iter_rows(max_row=top, values_only=True)]

    def value(key):
        row, col = positions[key]
        found = grid[row][col] if row < len(grid) and col < len(grid[row]) else None
        return input_value(found, originals.get(key), f"{title}!{ref(row, col)} ({key})", label)

    hypers = {name: value(name) if name in positions else float(number)
              for name, number in sheet.hypers.items()}
    init = {p: value(f"start:{p}") for p in spec.model.params}
    state = {s: {p: value(f"start:{s}:{p}") for p in spec.model.params}
             for s in sheet.rule.states(sheet.static)}
    h = value("h") if "h" in positions else sheet.h
    schedule = schedule_cells.with_inputs(sheet.schedule, {
        key: value(key) for key in positions if key.startswith(schedule_cells.PREFIX)})
    # The formulas' shape (which state exists, nesterov, torch's lerp branch) was decided by
    # the spec's values when the workbook was written: an edited mom of 0 still runs through
    # the momentum buffer there. The rerun keeps that shape and computes with the cells'
    # values.
    return replace(sheet, hypers=hypers, init=init, state=state, h=h, schedule=schedule,
                   shape=sheet.static)


def expected_cells(spec: Spec) -> Iterator[tuple[str, Iterable[Cell]]]:
    """Every sheet's cells as a fresh run of the engine writes them."""
    plans = plan_sheets(spec, engine.run_all(spec))
    yield "data", overview.data_cells(spec, plans)
    for plan in plans:
        yield plan.title, optimizer_sheet.cells(plan)
    yield "compare", overview.compare_cells(spec, plans)


def compare_sheet(worksheet, title: str, cells: Iterable[Cell]) -> SheetResult:
    """Every formula cell's stored value against the engine's."""
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
    if found is None:
        result.empty += 1
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


NO_VALUES = ("holds no computed values (saved without calculating, e.g. by a script); open "
             "it in a spreadsheet program and save it there first")


def check_workbook(path: str | Path) -> list[SheetResult]:
    """Compares every formula cell of a sheetopt workbook with a fresh engine run.

    Raises SheetoptError for a file that is not a sheetopt workbook, that defusedxml refuses,
    or whose formula cells hold no values at all (nothing to compare)."""
    label = str(path)
    book = open_workbook(path)
    try:
        spec, _ = read_spec(book, label)
        results = []
        for title, cells in expected_cells(spec):
            if title not in book.sheetnames:
                raise SheetoptError(f"{label}: the sheet {title!r} is missing")
            results.append(compare_sheet(book[title], title, cells))
    except (DefusedXmlException, ValueError) as exc:
        refused = _defused_cause(exc)
        if refused is None:
            raise
        raise _refusal(Path(path), refused) from None
    finally:
        book.close()
    cells = sum(r.cells for r in results)
    if cells and sum(r.empty for r in results) == cells:
        raise SheetoptError(f"{label}: {NO_VALUES}")
    return results
