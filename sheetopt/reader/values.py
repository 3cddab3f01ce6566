"""A workbook's stored values read back as trace columns, one table per optimizer sheet.

The cells hold what was last calculated: the engine's values as sheetopt wrote them, or a
spreadsheet program's after an edit and a save. Where each value sits comes from the layout
(``layout.columns_for``: which column holds which quantity, at which row of a step's block);
the spec the workbook was written from (its hidden metadata, read by ``check.read_spec``) says
which sheets, model and rows there are. A step's block is the run of rows that share its epoch
and step numbers.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..protocol import engine
from ..errors import SheetoptError
from ..spec import Sheet, Spec
from ..protocol.trace import _frame
from .check import NO_VALUES, open_workbook, read_spec
from ..workbook.layout import FIRST_ROW, HEADER_ROW, Column, columns_for

PER_STEP = ("first", "last")


def trace_key(column: Column, data: tuple[str, ...] = ("x", "y")) -> str | None:
    """The trace column a sheet column holds (``p:a`` -> ``a``, ``state:sqr_avg:b`` ->
    ``sqr_avg_b``, a data row's column by its name: ``data``, the model's ``columns``), or None
    for the sheet's own working columns (running sums, t, ...)."""
    kind, _, rest = column.id.partition(":")
    if not rest:
        return kind if kind in ("epoch", "step", "row", *data, "pred", "loss", "lr", "mom",
                                "err2") else None
    if kind == "p":
        return rest
    if kind in ("grad", "new", "analytic", "forward", "central"):
        return f"{kind}_{rest}"
    if kind == "state":
        state, _, param = rest.rpartition(":")
        return f"{state}_{param}"
    return None


def read_values(path: str | Path) -> dict:
    """Every optimizer sheet's stored values: sheet name -> DataFrame with the columns of
    the sheet's trace (``engine.step_columns``), one row per step the sheet holds."""
    label = str(path)
    book = open_workbook(path)
    try:
        spec, raw_sheets = read_spec(book, label)
        tables = {}
        for sheet, raw in zip(spec.sheets, raw_sheets):
            title = raw["worksheet"]
            grid = [list(r) for r in book[title].iter_rows(min_row=HEADER_ROW + 1,
                                                          values_only=True)]
            tables[sheet.name] = _frame(_steps(spec, sheet, grid, f"{label}: sheet {title!r}"))
    except (KeyError, TypeError, IndexError):
        raise SheetoptError(f"{label}: the workbook's layout does not match its sheetopt "
                            f"metadata (sheets or columns moved?)") from None
    finally:
        book.close()
    return tables


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan  # empty, or a spreadsheet error such as #NUM!
    return float(value)


def _steps(spec: Spec, sheet: Sheet, grid: list[list], where: str) -> dict[str, np.ndarray]:
    """The trace columns of one sheet's grid (rows from the header row on)."""
    columns = columns_for(spec, sheet)
    header = grid[0] if grid else []
    body = grid[FIRST_ROW - HEADER_ROW:]
    blocks = _blocks(body)
    if not blocks:
        return {key: np.zeros(0) for key in engine.step_columns(spec, sheet)}
    found: dict[str, np.ndarray] = {}
    for index, column in enumerate(columns):
        key = trace_key(column, spec.model.columns)
        if key is None:
            continue
        at = [first if column.level == "first" else last for first, last in blocks]
        if column.level == "row" and sheet.batch_size > 1:
            at = [first for first, _ in blocks]  # the trace keeps a batch's first row only
        found[key] = np.array([_number(_cell(body, row, index)) for row in at])
    if np.isnan(found[f"new_{spec.model.params[0]}"]).all():
        raise SheetoptError(f"{where}: {NO_VALUES}")
    sizes = np.array([last - first + 1 for first, last in blocks], dtype=float)
    out = {"size": sizes, "row": _first_rows(spec, sheet, found, len(blocks))}
    if sheet.batch_size > 1:
        out.update({k: np.full(len(blocks), math.nan) for k in (*spec.model.columns, "pred")})
    else:
        found.setdefault("loss", found.get("err2"))
    if spec.model.pred_is_loss:  # its prediction is its loss: one column holds both
        found.setdefault("pred", found.get("err2"))
    if "lr" not in found:
        found["lr"] = _epoch_lr(body, header, len(columns), found["epoch"], where)
    for key in engine.step_columns(spec, sheet):
        if key not in out:
            if key not in found or found[key] is None:
                raise SheetoptError(f"{where}: no column holds the trace's {key!r}")
            out[key] = found[key]
    return {key: out[key] for key in engine.step_columns(spec, sheet)}


def _cell(body: list[list], row: int, col: int):
    cells = body[row]
    return cells[col] if col < len(cells) else None


def _blocks(body: list[list]) -> list[tuple[int, int]]:
    """(first, last) row of each step's block: the rows sharing its epoch and step numbers."""
    blocks: list[tuple[int, int]] = []
    current = None
    for i, cells in enumerate(body):
        key = tuple(cells[:2]) if len(cells) >= 2 else (None, None)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in key):
            break  # the table ends where the epoch and step numbers do
        if key == current:
            blocks[-1] = (blocks[-1][0], i)
        else:
            blocks.append((i, i))
            current = key
    return blocks


def _first_rows(spec: Spec, sheet: Sheet, found: dict, count: int) -> np.ndarray:
    """Each step's first data row (from 1): the sheet's "data row" column when it has one,
    else the order the spec's batch plan visits the rows in."""
    if "row" in found:
        return found["row"]
    plan = engine.plan_for(spec, sheet)
    firsts = [int(rows[0]) + 1 for epoch in plan for rows in epoch][:count]
    return np.array(firsts, dtype=float)


def _epoch_lr(body: list[list], header: list, step_columns: int, epochs: np.ndarray,
              where: str) -> np.ndarray:
    """Each step's lr from the epoch summary beside the steps (its "lr" column)."""
    summary = list(header[step_columns + 1:])
    if "lr" not in summary:
        raise SheetoptError(f"{where}: the epoch summary has no lr column")
    col = step_columns + 1 + summary.index("lr")
    per_epoch = {}
    for epoch in np.unique(epochs).astype(int):
        per_epoch[epoch] = _number(_cell(body, epoch - 1, col))
    return np.array([per_epoch[int(e)] for e in epochs])
