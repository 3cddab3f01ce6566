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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..protocol import engine
from ..errors import SheetoptError
from ..models import kinds, model_for
from ..spec import Spec
from ..workbook import check_size, optimizer_sheet, overview, plan_sheets, schedule_cells
from ..workbook.layout import DATA_FIRST_ROW, Cell, model_order
from ..workbook.metadata import MARKER, META_SHEET, model_of, read_document, spec_from_json
from ..workbook.overview import TRUE_ROW
from ..workbook.templates import ref
from .xlsx import MAX_COL, MAX_ROW, Book, CellDate, CellError, Worksheet, open_xlsx

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
    plain: int = 0  # formula cells that hold a plain value instead (saved "as values")

    @property
    def ok(self) -> bool:
        return self.bad == 0 and self.plain == 0


def open_workbook(path: str | Path) -> Book:
    """The workbook's sheets, read with sheetopt's own guarded reader (see xlsx.py): a
    damaged, truncated or bomb file is refused in one line before anything is inflated."""
    return open_xlsx(path)


def read_spec(book: Book, label: str, seen: list | None = None) -> tuple[Spec, list[dict]]:
    """The spec a workbook holds, with the data and inputs as its cells now say (the
    metadata's full-precision value where a cell holds it rounded as a spreadsheet saves it).
    Also the metadata's raw sheet entries (worksheet, input cells, original values); with
    ``seen``, a list, each sheet's input values as read, by key, are appended to it."""
    document = read_metadata(book, label)
    data = document["data"]
    model = model_of(document)
    if model.has_data:
        x, y = _read_data(book, data, model, label)
    else:  # a test surface: its one unread row is not on the data sheet (the minima are)
        x, y = np.array(data["x"], dtype=float), np.array(data["y"], dtype=float)
    true = _read_true(book, data["true"], model, label)
    spec, raw_sheets = spec_from_json(document, x, y, true,
                                      f"{label}: hidden sheet '{META_SHEET}'")
    try:
        check_size(spec)  # edited epochs or rows a worksheet cannot hold
    except SheetoptError as exc:
        raise SheetoptError(f"{label}: hidden sheet '{META_SHEET}': "
                            f"{str(exc).removeprefix(spec.label + ': ')}") from None
    sheets = []
    for sheet, raw in zip(spec.sheets, raw_sheets):
        values = {}
        sheets.append(_with_inputs(book, sheet, raw, spec, label, values))
        if seen is not None:
            seen.append(values)
    return replace(spec, sheets=tuple(sheets)), raw_sheets


def read_metadata(book: Book, label: str) -> dict:
    """The document of the workbook's hidden metadata sheet, checked."""
    if META_SHEET not in book.sheetnames:
        raise SheetoptError(f"{label}: not a workbook written by sheetopt (no '{META_SHEET}' sheet)")
    texts = [values[0] if values else None for _, values, _ in book[META_SHEET].rows()]
    if len(texts) < 2 or texts[0] != MARKER or type(texts[1]) is not str:
        raise SheetoptError(f"{label}: not a workbook written by sheetopt (no metadata)")
    text = "".join(itertools.takewhile(lambda t: type(t) is str, texts[1:]))
    document = read_document(text, label)
    problem = metadata_problem(document)
    if problem:
        raise SheetoptError(f"{label}: the workbook's sheetopt metadata (hidden sheet "
                            f"'{META_SHEET}') is damaged: {problem}")
    return document


def load_spec(path: str | Path) -> Spec:
    """The spec a sheetopt workbook holds, its input cells as they are now.

    >>> load_spec("lesson5.xlsx").sheets[0].hypers["lr"]  # doctest: +SKIP
    0.0001
    """
    with open_workbook(path) as book:
        return read_spec(book, str(path))[0]


def _is_number(value) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float))
            and math.isfinite(value))


def _rows_problem(data: dict, width: int) -> str | None:
    """What is wrong with the data rows (x: numbers, or lists of ``width`` numbers), or None."""
    for key in ("x", "y"):
        if not isinstance(data.get(key), list) or not data[key]:
            return f"data.{key} is not a list of numbers"
    xs = data["x"]
    if width > 1:
        if not all(isinstance(row, list) and len(row) == width for row in xs):
            return f"data.x is not a list of rows of {width} numbers"
        xs = [v for row in xs for v in row]
    for key, values in (("x", xs), ("y", data["y"])):
        if not all(_is_number(v) for v in values):
            return f"data.{key} holds something that is not a finite number"
    if len(data["x"]) != len(data["y"]):
        return "data.x and data.y differ in length"
    return None


def metadata_problem(document: dict) -> str | None:
    """What is wrong with the metadata document's shape, or None; the spec parser then
    checks the values (epochs, hyperparameters, ...)."""
    data = document.get("data")
    if not isinstance(data, dict):
        return "no 'data' table"
    if not isinstance(document.get("model"), str) or document["model"] not in kinds():
        return f"model {_short(document.get('model'))} is not one of {', '.join(kinds())}"
    keys = document.get("model_keys", {})
    model = model_for(document["model"])
    if not (isinstance(keys, dict) and all(
            k in model.keys and (isinstance(v, str) if isinstance(model.keys[k], str)
                                 else _is_number(v)) for k, v in keys.items())):
        return f"model_keys is not a table of the {document['model']} model's keys"
    headers = data.get("headers")
    if not (isinstance(headers, list) and all(isinstance(h, str) for h in headers)):
        return "data.headers is not a list of column names"
    try:  # its parameters may depend on its keys and on the data's columns
        model = model_of(document)
    except (ValueError, SheetoptError) as exc:
        return f"data.headers: {exc}"
    if len(headers) != len(model.columns):
        return f"data.headers is not the {len(model.columns)} column names"
    problem = _rows_problem(data, len(model.inputs) if model.has_data else 1)
    if problem:
        return problem
    true = data.get("true")
    if not isinstance(true, dict) or not all(k in model.params and _is_number(v)
                                             for k, v in true.items()):
        return "data.true is not a table of the model's parameters"
    if not isinstance(data.get("source"), str):
        return "data.source is not text"
    for key in ("title", "description"):
        if not isinstance(document.get(key), str):
            return f"{key} is not text"
    sheets = document.get("sheets")
    if not isinstance(sheets, list) or not sheets:
        return "no sheets"
    for number, raw in enumerate(sheets, start=1):
        problem = _raw_sheet_problem(raw)
        if problem:
            return f"sheet {number}: {problem}"
    return None


def _raw_sheet_problem(raw) -> str | None:
    if not isinstance(raw, dict):
        return "not a table"
    if not isinstance(raw.get("worksheet"), str):
        return "'worksheet' is not text"
    inputs = raw.get("inputs")
    if not isinstance(inputs, dict) or not inputs:
        return "'inputs' is not a table of cells"
    for key, pos in inputs.items():
        if not (isinstance(pos, list) and len(pos) == 2
                and all(isinstance(i, int) and not isinstance(i, bool) for i in pos)
                and 0 <= pos[0] < MAX_ROW and 0 <= pos[1] < MAX_COL):
            return f"inputs.{key} is not a cell position"
    originals = raw.get("originals", {})
    if not isinstance(originals, dict) or not all(_is_number(v) for v in originals.values()):
        return "'originals' is not a table of numbers"
    return None


def _short(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


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
    if _is_number(value):
        return float(value)
    if value is None:
        problem = "is empty; it needs a number"
    elif isinstance(value, CellError):
        problem = f"holds the error {str(value)!r}, not a number"
    elif isinstance(value, CellDate):
        problem = f"holds a date ({value}), not a number"
    elif isinstance(value, bool):
        problem = f"holds {str(value).upper()}, not a number"
    elif isinstance(value, str):
        problem = f"{_short(value)} is not a number"
    else:
        problem = f"{_short(value)} is not a finite number"
    raise SheetoptError(f"{label}: {where}: {problem}")


def _sheet(book: Book, title: str, label: str):
    if title not in book.sheetnames:
        raise SheetoptError(f"{label}: the sheet {title!r} is missing")
    return book[title]


def _read_data(book: Book, data: dict, model, label: str) -> tuple[np.ndarray, np.ndarray]:
    """The data rows as the data sheet's input cells say: the inputs (one column, or a
    (rows, inputs) array), then y (the metadata's zeros for rows without one)."""
    width = len(model.inputs)
    original = np.asarray(data["x"], dtype=float).reshape(len(data["x"]), width)
    columns = [*original.T, *([np.asarray(data["y"], dtype=float)] if model.target else [])]
    headers = list(model.columns)
    count = len(original)
    stored = {row: values for row, values, _ in
              _sheet(book, "data", label).rows(max_row=DATA_FIRST_ROW + count + 1)}
    read = np.empty((count, len(columns)))
    for i in range(count):
        row = DATA_FIRST_ROW + 1 + i  # 1-based
        if row - 1 not in stored:
            raise SheetoptError(f"{label}: data!A{row}: the data rows end at row "
                                f"{DATA_FIRST_ROW + i} (the workbook was written with {count})")
        cells = list(stored[row - 1]) + [None] * len(columns)
        for j, column in enumerate(columns):
            read[i, j] = input_value(cells[j], column[i], f"data!{ref(row - 1, j)} "
                                     f"({headers[j]})", label)
    x = read[:, 0].copy() if width == 1 else np.ascontiguousarray(read[:, :width])
    y = read[:, width].copy() if model.target else np.asarray(data["y"], dtype=float)
    return x, y


def _read_true(book: Book, original: dict, model, label: str) -> dict:
    """The true parameters as the data sheet's input cells say."""
    if not original:
        return {}
    order = model_order(model)
    row = next((values for r, values, _ in _sheet(book, "data", label).rows(TRUE_ROW + 1)
                if r == TRUE_ROW), [])
    out = {}
    for i, p in enumerate(order):
        if p in original:
            stored = row[1 + i] if 1 + i < len(row) else None
            out[p] = input_value(stored, float(original[p]), f"data!{ref(TRUE_ROW, 1 + i)} "
                                 f"(true {p})", label)
    return out


def _with_inputs(book: Book, sheet, raw: dict, spec: Spec, label: str, seen: dict):
    """The sheet with its hyperparameters, h and start values as its input cells say; a
    hyperparameter the formulas do not read (fixed) keeps the metadata's value."""
    title = raw["worksheet"]
    positions = {key: tuple(pos) for key, pos in raw["inputs"].items()}
    originals = raw.get("originals", {})
    top = max(row for row, _ in positions.values()) + 1
    grid = {row: values for row, values, _ in _sheet(book, title, label).rows(max_row=top)}

    def value(key):
        if key not in positions:
            raise SheetoptError(f"{label}: the workbook's sheetopt metadata (hidden sheet "
                                f"'{META_SHEET}') is damaged: sheet {title!r} has no input "
                                f"cell for {key!r}")
        row, col = positions[key]
        cells = grid.get(row, [])
        found = cells[col] if col < len(cells) else None
        seen[key] = input_value(found, originals.get(key), f"{title}!{ref(row, col)} ({key})",
                                label)
        return seen[key]

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


def compare_sheet(worksheet: Worksheet, title: str, cells: Iterable[Cell]) -> SheetResult:
    """Every formula cell's stored value against the engine's; a cell that holds a plain
    value where a formula should be (the sheet saved "as values") is counted apart."""
    result = SheetResult(title)
    formulas = (c for c in cells if c.kind == "formula")
    stored_rows = worksheet.rows()
    current, values, live = -1, [], []
    for row, group in itertools.groupby(formulas, key=lambda c: c.row):
        while current < row:
            stored = next(stored_rows, None)
            if stored is None:  # the sheet ends here: the engine's further rows are missing
                cell = next(group)
                _bad(result, f"{title}!{ref(cell.row, cell.col)}: the sheet ends at row "
                             f"{current + 1}; the engine has rows below it")
                result.cells += 1
                return result  # (not compared further: the cost stays that of the file)
            current, values, live = stored
        if current != row:
            here, here_live = [], []
        else:
            here, here_live = values, live
        for cell in group:
            found = here[cell.col] if cell.col < len(here) else None
            if found is not None and not here_live[cell.col]:
                result.plain += 1
            _compare(result, title, cell, found)
    return result


def _compare(result: SheetResult, title: str, cell: Cell, found) -> None:
    result.cells += 1
    expected = cell.value
    if found is None:
        result.empty += 1
    if isinstance(found, CellError) and (
            str(found) == expected or (isinstance(expected, float) and not math.isfinite(expected))):
        return  # the error cell (#NUM!) a spreadsheet shows for a value past float64's range
    if isinstance(expected, str) or not _is_number(found):
        if found != expected:
            _bad(result, f"{_where(title, cell)}: stored {found!r}, engine {expected!r}")
        return
    diff = abs(found - expected)
    rel = diff / abs(expected) if expected else (0.0 if diff <= ABS_TOL else math.inf)
    result.max_abs = max(result.max_abs, diff)
    result.max_rel = max(result.max_rel, rel)
    if rel > REL_TOL and diff > ABS_TOL:
        _bad(result, f"{_where(title, cell)}: stored {found!r}, engine {expected!r}")


def _where(title: str, cell: Cell) -> str:
    """The cell's place in messages (made only for a cell that disagrees: most agree)."""
    return f"{title}!{ref(cell.row, cell.col)}"


def _bad(result: SheetResult, message: str) -> None:
    result.bad += 1
    if result.first_bad is None:
        result.first_bad = message


NO_VALUES = ("holds no computed values (saved without calculating, e.g. by a script); open "
             "it in a spreadsheet program and save it there first")


def check_workbook(path: str | Path) -> list[SheetResult]:
    """Compares every formula cell of a sheetopt workbook with a fresh engine run.

    Raises SheetoptError (one line naming the part, sheet and cell) for a file that is not a
    sheetopt workbook, is damaged or refused as a zip or XML bomb, holds a cell the reader
    cannot convert or an input that is not a number, or whose formula cells hold no values
    at all (nothing to compare).

    >>> [r.ok for r in check_workbook("lesson5.xlsx")]  # doctest: +SKIP
    [True, True, True, True, True, True, True]
    """
    label = str(path)
    with open_workbook(path) as book:
        spec, _ = read_spec(book, label)
        results = []
        for title, cells in expected_cells(spec):
            results.append(compare_sheet(_sheet(book, title, label), title, cells))
    cells = sum(r.cells for r in results)
    if cells and sum(r.empty for r in results) == cells:
        raise SheetoptError(f"{label}: {NO_VALUES}")
    return results


# --- what was edited, and what it changed --------------------------------------------------
@dataclass(frozen=True)
class Edit:
    """An input cell whose value differs from the one the workbook was written with."""

    where: str  # the cell, as "adam!C4 (lr)"
    written: float
    now: float


@dataclass(frozen=True)
class Outcome:
    """A sheet's result as written and with the inputs as they are now: final parameters,
    the last epoch's RMSE (``rmse``; ``mean loss`` for a model whose loss is not the squared
    error) and the distance to the truth (None where unknown)."""

    sheet: str
    written: dict
    now: dict


def edits(path: str | Path) -> tuple[list[Edit], list[Outcome]]:
    """The input cells that differ from the spec the workbook was written from, and (when
    there are any) each sheet's results before and after: both specs rerun by the engine.

    >>> edits("lesson5.xlsx")  # doctest: +SKIP
    ([Edit(where='adam!C4 (lr)', written=1.0, now=0.5)], [Outcome(sheet='basic', ...), ...])
    """
    from ..protocol import report

    label = str(path)
    seen: list[dict] = []
    with open_workbook(path) as book:
        document = read_metadata(book, label)
        now, raw_sheets = read_spec(book, label, seen)
    data = document["data"]
    written, _ = spec_from_json(document, np.asarray(data["x"], dtype=float),
                                np.asarray(data["y"], dtype=float), data["true"],
                                f"{label}: hidden sheet '{META_SHEET}'")
    found = _data_edits(written, now)
    for raw, values in zip(raw_sheets, seen):
        for key, value in values.items():
            original = raw.get("originals", {}).get(key)
            if original is not None and value != float(original):
                row, col = raw["inputs"][key]
                found.append(Edit(f"{raw['worksheet']}!{ref(row, col)} ({key})",
                                  float(original), value))
    if not found:
        return [], []
    outcomes = []
    before = report.summarize(written, engine.run_all(written))
    after = report.summarize(now, engine.run_all(now))
    for b, a in zip(before, after):
        outcomes.append(Outcome(b.name, _outcome(b, written.model), _outcome(a, now.model)))
    return found, outcomes


def _outcome(summary, model) -> dict:
    key, name = ("rmse", "rmse") if model.reports_rmse else ("loss", "mean loss")
    figures = summary.epochs[key]
    return {**summary.final, name: figures[-1] if figures else math.nan,
            "distance": summary.distance}


def _data_edits(written: Spec, now: Spec) -> list[Edit]:
    out = []
    model = written.model
    columns = list(zip(model.columns, [*written.data.inputs(), written.data.y],
                       [*now.data.inputs(), now.data.y]))
    for i in range(len(written.data)):
        for j, (name, before, after) in enumerate(columns):
            if before[i] != after[i]:
                out.append(Edit(f"data!{ref(DATA_FIRST_ROW + i, j)} ({name})",
                                float(before[i]), float(after[i])))
    for i, p in enumerate(model_order(written.model)):
        if p in written.data.true and written.data.true[p] != now.data.true.get(p):
            out.append(Edit(f"data!{ref(TRUE_ROW, 1 + i)} (true {p})",
                            float(written.data.true[p]), float(now.data.true[p])))
    return out
