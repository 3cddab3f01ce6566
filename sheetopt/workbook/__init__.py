"""Workbooks like the lecture's: live formulas derived from the rules, cached engine values.

``write_workbook(spec, path)`` runs every sheet of a spec and writes an .xlsx with an intro,
the data, one sheet per spec sheet, and a comparison. See ``check`` for reading one back.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Mapping, Sequence

from .. import engine
from ..errors import SheetoptError
from ..files import atomic_output
from ..progress import Progress
from ..spec import Spec
from ..trace import Trace
from . import charts, optimizer_sheet, overview
from .layout import MAX_ROWS, SheetPlan, row_count
from .metadata import MARKER, META_SHEET, spec_to_json
from .names import quoted, sheet_names
from .templates import ref
from .writer import add_sheet, new_workbook, write_cells

RESERVED = ("intro", "data", "compare", META_SHEET)


@dataclass(frozen=True)
class Written:
    path: Path
    sheets: int
    formulas: int


def check_size(spec: Spec) -> None:
    """A clear error, before any work, for a run longer than a sheet can hold."""
    for sheet in spec.sheets:
        needed = row_count(spec, sheet)
        if needed > MAX_ROWS:
            raise SheetoptError(
                f"{spec.label}: sheet {sheet.name!r} needs {needed:,} rows ({sheet.epochs} epochs "
                f"x {len(spec.data)} data rows), more than a worksheet holds ({MAX_ROWS:,}); "
                f"use fewer epochs or rows")


def run_traces(spec: Spec) -> dict[str, Trace]:
    """Runs every sheet, with a progress bar on a terminal."""
    total = sum(s.epochs * -(-len(spec.data) // s.batch_size) for s in spec.sheets)
    bar = Progress(total)
    traces = {}
    for sheet in spec.sheets:
        bar.label = sheet.name
        traces[sheet.name] = engine.run(spec, sheet, progress=bar.advance)
    bar.close()
    return traces


def plan_sheets(spec: Spec, traces: Mapping[str, Trace]) -> list[SheetPlan]:
    titles = sheet_names([s.name for s in spec.sheets], set(RESERVED))
    plans = [SheetPlan(spec, sheet, title, traces[sheet.name])
             for sheet, title in zip(spec.sheets, titles)]
    taken: set[str] = set()
    for plan in plans:
        plan.define_names(taken)
    return plans


def write_workbook(spec: Spec, path: str | Path, force: bool = False,
                   traces: Mapping[str, Trace] | None = None) -> Written:
    """Runs the spec (unless ``traces`` are given) and writes the workbook atomically."""
    check_size(spec)
    with atomic_output(path, force) as temp:
        plans = plan_sheets(spec, traces if traces is not None else run_traces(spec))
        count = write_plans(spec, plans, temp)
    return Written(Path(path), len(plans), count)


def write_plans(spec: Spec, plans: Sequence[SheetPlan], path: Path) -> int:
    """Writes the workbook file; returns the number of formula cells."""
    workbook, formats = new_workbook(path)
    count = 0
    intro = add_sheet(workbook, "intro")
    intro.set_column(0, 0, 120)
    _print_setup(intro)
    intro_cells = list(overview.intro_cells(spec, plans))
    for cell in intro_cells:  # wrapped paragraphs get the height of their lines
        if cell.style == "wrap":
            intro.set_row(cell.row, 15 * max(1, -(-len(cell.payload) // 105)))
    write_cells(intro, intro_cells, formats)
    data = add_sheet(workbook, "data")
    data.set_column(0, 1, 12)
    data.set_column(overview.GRID_COL, overview.GRID_COL + len(plans) + 1, 14)
    data.freeze_panes(overview.DATA_FIRST_ROW, 0)
    _print_setup(data)
    count += write_cells(data, overview.data_cells(spec, plans), formats)
    data.insert_chart(1, overview.GRID_COL + len(plans) + 3, charts.data_chart(workbook, spec, plans))
    for plan in plans:
        sheet = add_sheet(workbook, plan.title)
        _shape_sheet(sheet, plan)
        count += write_cells(sheet, optimizer_sheet.cells(plan, sheet.style_attr(formats)),
                             formats, last_col=len(plan.columns) - 1)
        chart = charts.epoch_chart(workbook, plan)
        if chart is not None:
            sheet.insert_chart(optimizer_sheet.HEADER_ROW + 1,
                               plan.summary_col + len(plan.summary) + 1, chart)
    compare = add_sheet(workbook, "compare")
    compare.set_column(0, 0, 22)
    compare.set_row(overview.COMPARE_HEADER_ROW, 30)
    compare.set_column(1, max(len(plans), 7) + 1, 14)
    _print_setup(compare)
    count += write_cells(compare, overview.compare_cells(spec, plans), formats)
    chart = charts.compare_chart(workbook, plans)
    if chart is not None:
        compare.insert_chart(overview.COMPARE_HEADER_ROW, max(len(plans), 8) + 2, chart)
    meta = add_sheet(workbook, META_SHEET)
    meta.write_string(0, 0, MARKER)
    meta.write_string(1, 0, spec_to_json(spec, plans))
    meta.very_hidden()
    for plan in plans:
        for hyper, name in plan.names.items():
            row, col = plan.inputs[hyper]
            workbook.define_name(name, f"={quoted(plan.title)}!{ref(row, col, absolute=True)}")
    # a fixed creation date: regenerating a workbook gives the same bytes
    workbook.set_properties({"created": datetime(2000, 1, 1), "title": spec.title,
                             "subject": "sheetopt workbook",
                             "comments": "Generated by sheetopt: live formulas with cached values."})
    workbook.close()
    return count


def _shape_sheet(sheet, plan: SheetPlan) -> None:
    """Column widths, frozen header, zoom."""
    sheet.set_column(0, 0, 15)  # epoch, and the input labels above it
    sheet.set_column(1, 1, 6)
    sheet.set_column(2, len(plan.columns) - 1, 12.5)
    sheet.set_column(plan.summary_col, plan.summary_col + len(plan.summary) - 1, 12.5)
    sheet.set_row(optimizer_sheet.HEADER_ROW, 30)
    sheet.freeze_panes(optimizer_sheet.FIRST_ROW, 2)
    _print_setup(sheet)


def _print_setup(sheet) -> None:
    """Printed (or exported to PDF): landscape, one page wide."""
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.fit_to_pages(1, 0)
    sheet.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
