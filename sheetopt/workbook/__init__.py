"""Workbooks like the lecture's: live formulas derived from the rules, cached engine values.

``write_workbook(spec, path)`` runs every sheet of a spec and writes an .xlsx with an intro,
the data, one sheet per spec sheet, and a comparison; ``write_trace(spec, trace, path)`` writes
the workbook of one recorded run. See ``check`` for reading one back.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Mapping, Sequence

from xlsxwriter.utility import xl_col_to_name

from ..protocol import engine
from ..errors import SheetoptError
from ..files import atomic_output
from ..spec import Spec
from ..protocol.trace import Trace
from ..ops.symbolic import text_length, var
from . import charts, optimizer_sheet, overview
from .layout import (FIRST_ROW, HEADER_ROW, MAX_COLS, MAX_FORMULA, MAX_ROWS, TITLE_ROW,
                     SheetPlan, columns_for, row_count)
from .metadata import MARKER, META_SHEET, pieces, spec_to_json
from .names import clean_text, quoted, sheet_names
from .templates import ref
from .writer import add_sheet, new_workbook, write_cells

RESERVED = ("intro", "data", "compare", META_SHEET)
INTRO_WIDTH = 100  # characters


@dataclass(frozen=True)
class Written:
    path: Path
    sheets: int
    formulas: int


def check_size(spec: Spec) -> None:
    """A clear error, before any work, for a run longer (or a model wider) than a sheet can
    hold; ``check_plans`` checks the exact width and the formulas' length once planned."""
    for sheet in spec.sheets:
        needed = row_count(spec, sheet)
        if needed > MAX_ROWS:
            raise SheetoptError(
                f"{spec.label}: sheet {sheet.name!r} needs {needed:,} rows ({sheet.epochs} epochs "
                f"x {len(spec.data)} data rows), more than a worksheet holds ({MAX_ROWS:,}); "
                f"use fewer epochs or rows")
        # the step table, a gap, and at least the summary's epoch, loss figures and parameters
        width = len(columns_for(spec, sheet)) + 4 + len(spec.model.params)
        _check_width(spec, sheet, width)
        _check_formula(spec, sheet, _row_loss_length(spec, width, needed))


def _row_loss_length(spec: Spec, width: int, rows: int) -> int:
    """About how long a row's loss formula is (the longest a model's rows have: its
    prediction and loss, or a finite difference's shifted loss), every cell reference as long
    as the sheet's last: measured on the model's tree before any formula is printed."""
    model = spec.model
    params = {p: var(f"p:{p}") for p in model.params}
    x = model.row([var(f"x:{column}") for column in model.inputs] or [var("x")])
    ref = len(xl_col_to_name(width)) + len(str(rows))
    return text_length(model.loss(params, x, var("y")), lambda name: ref)


def _check_formula(spec: Spec, sheet, length: int) -> None:
    if length > MAX_FORMULA:
        raise SheetoptError(
            f"{spec.label}: sheet {sheet.name!r} would hold a formula of about {length:,} "
            f"characters (a {spec.model.kind} model of {len(spec.model.params):,} parameters), "
            f"longer than a spreadsheet formula may be ({MAX_FORMULA:,} characters); use fewer "
            f"features or parameters")


def _check_width(spec: Spec, sheet, width: int) -> None:
    if width > MAX_COLS:
        raise SheetoptError(
            f"{spec.label}: sheet {sheet.name!r} needs {width:,} columns (a {spec.model.kind} "
            f"model of {len(spec.model.params):,} parameters), more than a worksheet holds "
            f"({MAX_COLS:,} columns); use fewer features or parameters")


def check_plans(spec: Spec, plans: Sequence[SheetPlan]) -> None:
    """Refuses, before a file is written, a sheet wider than a worksheet or a formula longer
    than a spreadsheet takes."""
    for plan in plans:
        _check_width(spec, plan.sheet, plan.width)
        _check_formula(spec, plan.sheet, plan.longest_formula())


def _check_annealing_start(spec: Spec, sheet, trace: Trace) -> None:
    """adam_ann's first annealing divides by the start state's gradient scale: where that is 0
    (torch's zero start state) a spreadsheet computes #DIV/0! and every later cell with it,
    while the engine anneals; such a workbook could never agree with its own values."""
    problem = sheet.schedule.start_problem(
        lambda state: [trace.start.get(f"{state}_{p}") for p in spec.model.params])
    if problem:
        raise SheetoptError(f"{spec.label}: sheet {sheet.name!r}: {problem}")


def plan_sheets(spec: Spec, traces: Mapping[str, Trace]) -> list[SheetPlan]:
    for sheet in spec.sheets:
        _check_annealing_start(spec, sheet, traces[sheet.name])
    titles = sheet_names([s.name for s in spec.sheets], set(RESERVED))
    plans = [SheetPlan(spec, sheet, title, traces[sheet.name])
             for sheet, title in zip(spec.sheets, titles)]
    taken: set[str] = set()
    for plan in plans:
        plan.define_names(taken)
    return plans


def write_workbook(spec: Spec, path: str | Path, force: bool = False,
                   traces: Mapping[str, Trace] | None = None, extra=None) -> Written:
    """Runs the spec (unless ``traces`` are given, one per sheet name) and writes the
    workbook atomically; refuses to overwrite ``path`` unless ``force``. ``extra(workbook,
    formats, plans)``, when given, adds a sheet after the comparison (translate's
    differences) and returns its formula count."""
    check_size(spec)
    with atomic_output(path, force) as temp:
        plans = plan_sheets(spec, traces if traces is not None else engine.run_all(spec))
        check_plans(spec, plans)
        count = write_plans(spec, plans, temp, extra)
    return Written(Path(path), len(plans), count)


def write_trace(spec: Spec, trace: Trace, path: str | Path, force: bool = False) -> Written:
    """Writes the workbook of one recorded run: ``trace`` is ``engine.run(spec, name)`` (or
    any trace of the sheet ``trace.sheet`` of ``spec``); the workbook has that one optimizer
    sheet, with the data, intro and comparison around it. A Trace records its sheet's name
    but not the spec (data, model, hyperparameters), which the formulas need."""
    sheet = spec.sheet(trace.sheet)
    return write_workbook(replace(spec, sheets=(sheet,)), path, force, {sheet.name: trace})


def write_plans(spec: Spec, plans: Sequence[SheetPlan], path: Path, extra=None) -> int:
    """Writes the workbook file; returns the number of formula cells."""
    workbook, formats = new_workbook(path)
    count = 0
    intro = add_sheet(workbook, "intro")
    intro.set_column(0, 0, INTRO_WIDTH)
    _print_setup(intro)
    intro_cells = list(overview.intro_cells(spec, plans))
    for cell in intro_cells:  # wrapped paragraphs get the height of their lines
        if cell.style == "wrap":
            intro.set_row(cell.row, 15 * _lines(cell.payload, INTRO_WIDTH * 0.85))
    write_cells(intro, intro_cells, formats)
    count += _write_data(workbook, formats, spec, plans)
    for plan in plans:
        count += _write_optimizer_sheet(workbook, formats, plan)
    count += _write_compare(workbook, formats, spec, plans)
    if extra is not None:
        count += extra(workbook, formats, plans)
    _write_metadata(workbook, spec, plans)
    for plan in plans:
        for hyper, name in plan.names.items():
            row, col = plan.inputs[hyper]
            workbook.define_name(name, f"={quoted(plan.title)}!{ref(row, col, absolute=True)}")
    # a fixed creation date: regenerating a workbook gives the same bytes
    workbook.set_properties({"created": datetime(2000, 1, 1), "title": clean_text(spec.title),
                             "subject": "sheetopt workbook",
                             "comments": "Generated by sheetopt: live formulas with cached values."})
    workbook.close()
    return count


def _lines(text: str, width: float) -> int:
    """Lines a wrapped text takes in a cell about ``width`` characters wide."""
    return max(1, -(-len(str(text)) // max(1, int(width))))


def _write_data(workbook, formats, spec: Spec, plans: Sequence[SheetPlan]) -> int:
    data = add_sheet(workbook, "data")
    data.set_column(0, 1, 12)
    lines = len(overview.fitted_lines(spec, plans))
    data.set_column(overview.GRID_COL, overview.GRID_COL + lines, 13)
    data.freeze_panes(overview.DATA_FIRST_ROW, 0)
    _print_setup(data)
    count = write_cells(data, overview.data_cells(spec, plans), formats)
    if not spec.model.fits_a_curve:  # a surface's sheet lists its minima; no curve to chart
        return count
    # beside the tables, below the subtitle (which it would hide)
    data.insert_chart(overview.DATA_HEADER_ROW, overview.GRID_COL + lines + 2,
                      charts.data_chart(workbook, spec, plans), {"x_offset": 10})
    return count


def _write_optimizer_sheet(workbook, formats, plan: SheetPlan) -> int:
    sheet = add_sheet(workbook, plan.title)
    heights = _shape_sheet(sheet, plan)
    count = write_cells(sheet, optimizer_sheet.cells(plan, sheet.style_attr(formats)),
                        formats, last_col=len(plan.columns) - 1)
    height = round(sum(heights) * 4 / 3) - 4
    chart = charts.epoch_chart(workbook, plan, height=height)
    if chart is not None:  # at the top, right of the inputs: seen without scrolling
        sheet.insert_chart(TITLE_ROW, optimizer_sheet.chart_col(plan), chart,
                           {"x_offset": 4, "y_offset": 2, "object_position": 3})
    path = charts.path_chart(workbook, plan, height=height)
    if path is not None:  # beside the epoch chart
        sheet.insert_chart(TITLE_ROW, optimizer_sheet.chart_col(plan), path,
                           {"x_offset": 4 + 520 + 8, "y_offset": 2, "object_position": 3})
    chart = charts.lr_chart(workbook, plan, height=height)
    if chart is not None:  # beside the path chart
        sheet.insert_chart(TITLE_ROW, optimizer_sheet.chart_col(plan), chart,
                           {"x_offset": 4 + 520 + 8 + (440 + 8 if path is not None else 0),
                            "y_offset": 2, "object_position": 3})
    return count


def _shape_sheet(sheet, plan: SheetPlan) -> list[float]:
    """Column widths, row heights of the top rows (returned, in points), frozen header."""
    o = optimizer_sheet
    sheet.set_column(0, 0, o.WIDTH_LABEL)  # epoch, and the input labels above it
    sheet.set_column(1, 1, o.WIDTH_STEP)
    last = max(len(plan.columns), o.chart_col(plan)) - 1
    sheet.set_column(2, last, o.WIDTH_NUMBER)
    sheet.set_column(plan.summary_col, plan.summary_col + len(plan.summary) - 1, o.WIDTH_NUMBER)
    width = o.text_width(plan)
    texts = {cell.row: cell.payload for cell in o.top_cells(plan) if cell.kind == "merged"}
    heights = []
    for row in range(HEADER_ROW):
        height = 21.0 if row == TITLE_ROW else 15.0 * (_lines(texts[row], width)
                                                        if row in texts else 1)
        sheet.set_row(row, height)
        heights.append(height)
    sheet.set_row(HEADER_ROW, 30)
    sheet.freeze_panes(FIRST_ROW, 2)
    _print_setup(sheet)
    return heights


def _write_compare(workbook, formats, spec: Spec, plans: Sequence[SheetPlan]) -> int:
    compare = add_sheet(workbook, "compare")
    compare.set_column(0, 0, 22)
    compare.set_row(overview.COMPARE_HEADER_ROW, 30)
    columns = overview.compare_columns(spec)
    compare.set_column(1, max(len(columns) - 1, len(plans)), 14)
    compare.set_column(len(columns) - 1, len(columns) - 1, 16)  # "diverged": text, left-aligned
    _print_setup(compare)
    count = write_cells(compare, overview.compare_cells(spec, plans), formats)
    chart = charts.compare_chart(workbook, plans)
    if chart is not None:  # beside the loss-per-epoch table that it draws
        header_row, _ = overview.compare_layout(plans)
        compare.insert_chart(header_row - 1, len(plans) + 1, chart, {"x_offset": 16})
    paths = charts.compare_path_chart(workbook, spec, plans)
    if paths is not None:  # below the loss chart
        header_row, _ = overview.compare_layout(plans)
        compare.insert_chart(header_row - 1, len(plans) + 1, paths,
                             {"x_offset": 16, "y_offset": 380 + 16})
    return count


def _write_metadata(workbook, spec: Spec, plans: Sequence[SheetPlan]) -> None:
    meta = add_sheet(workbook, META_SHEET)
    meta.write_string(0, 0, MARKER)
    for i, piece in enumerate(pieces(spec_to_json(spec, plans))):
        meta.write_string(1 + i, 0, piece)
    meta.very_hidden()


def _print_setup(sheet) -> None:
    """Printed (or exported to PDF): landscape, one page wide."""
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.fit_to_pages(1, 0)
    sheet.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
