"""Charts: the data with fitted lines, each sheet's loss per epoch and path of the parameters,
and all losses and all paths together.

Every title, series name and axis name is literal text (``label``): sheet names and column
headers come from users, and XlsxWriter reads any chart text that looks like ``[=]Sheet!A1...``
as a reference to a cell.
"""
from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np
from xlsxwriter.utility import xl_col_to_name

from ..spec import Spec
from . import schedule_cells
from .layout import FIRST_ROW, SheetPlan, display_order, fits_log_scale, loss_words
from .names import clean_text
from .overview import (DATA_FIRST_ROW, GRID_COL, GRID_POINTS, compare_layout, fitted_lines)

COLORS = ["#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2",
          "#7F7F7F", "#BCBD22", "#17BECF"]


# XlsxWriter's test (chart.py, _process_names) for "this chart name is a cell reference"
_LOOKS_LIKE_REFERENCE = re.compile(r"^=?[^!]+!\$?[A-Z]+\$?\d+")
ZERO_WIDTH_SPACE = "\u200b"


def label(text: str) -> dict:
    """A chart text shown as it is, never read as a reference: where XlsxWriter would take it
    for one, an invisible zero-width space after its first ``!`` breaks the pattern."""
    text = clean_text(text)
    if _LOOKS_LIKE_REFERENCE.match(text):
        text = text.replace("!", "!" + ZERO_WIDTH_SPACE, 1)
    return {"name": text}


def data_chart(workbook, spec: Spec, plans: Sequence[SheetPlan]):
    chart = workbook.add_chart({"type": "scatter"})
    n = len(spec.data)
    chart.add_series({**label("data"),
                      "categories": ["data", DATA_FIRST_ROW, 0, DATA_FIRST_ROW + n - 1, 0],
                      "values": ["data", DATA_FIRST_ROW, 1, DATA_FIRST_ROW + n - 1, 1],
                      "marker": {"type": "circle", "size": 5, "fill": {"color": "black"},
                                 "border": {"color": "black"}}})
    last = DATA_FIRST_ROW + GRID_POINTS - 1
    for j, (title, _) in enumerate(fitted_lines(spec, plans)):
        col = GRID_COL + 1 + j
        line = {"color": COLORS[j % len(COLORS)], "width": 1.5}
        if title == "true":
            line = {"color": "black", "width": 1.25, "dash_type": "dash"}
        chart.add_series({**label(f"fit: {title}"),
                          "categories": ["data", DATA_FIRST_ROW, GRID_COL, last, GRID_COL],
                          "values": ["data", DATA_FIRST_ROW, col, last, col],
                          "marker": {"type": "none"}, "line": line})
    title = f"data and fitted {spec.model.formula}"
    diverged = [p.title for p in plans if p.trace.diverged]
    if diverged:
        title += f" (left out, diverged: {', '.join(diverged)})"
    chart.set_title({**label(title), "name_font": {"size": 12}})
    chart.set_x_axis(label(spec.data.headers[0]))
    chart.set_y_axis({**label(spec.data.headers[1]), "major_gridlines": {"visible": True}})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 640, "height": 400})
    return chart


def epoch_chart(workbook, plan: SheetPlan, height: int):
    """The sheet's loss per epoch, sized to sit beside the inputs at the top."""
    epochs = len(plan.trace.epochs["epoch"])
    if not epochs:
        return None
    chart = workbook.add_chart({"type": "line"})
    ids = [c.id for c in plan.summary]
    last = FIRST_ROW + epochs - 1
    figures = plan.spec.model.loss_figures
    for name, color in zip(figures, COLORS):
        col = plan.summary_col + ids.index(name)
        chart.add_series({**label(plan.summary[ids.index(name)].header),
                          "categories": [plan.title, FIRST_ROW, plan.summary_col, last,
                                         plan.summary_col],
                          "values": [plan.title, FIRST_ROW, col, last, col],
                          "line": {"color": color}, "marker": {"type": "circle", "size": 4}})
    first = xl_col_to_name(plan.summary_col)
    chart.set_title({**label(f"{plan.title}: loss per epoch (table: column {first} on)"),
                     "name_font": {"size": 10}})
    chart.set_x_axis({"num_font": {"size": 8}})
    chart.set_y_axis({"major_gridlines": {"visible": True}, "num_font": {"size": 8},
                      **loss_axis(*[plan.trace.epochs[name] for name in figures])})
    chart.set_legend({"position": "right", "font": {"size": 8}})
    chart.set_size({"width": 520, "height": height})
    return chart


def lr_chart(workbook, plan: SheetPlan, height: int):
    """A torch scheduler's lr per step (the step rows' lr column) or per epoch (the summary's),
    beside the loss chart at the top."""
    if not schedule_cells.scheduled(plan.sheet) or not len(plan.trace):
        return None
    chart = workbook.add_chart({"type": "line"})
    if plan.sheet.schedule.lr_cells == "step":
        col, last, x_col = plan.col_of["lr"], FIRST_ROW + plan.n_rows - 1, plan.col_of["t"]
        what = "step"
    else:
        ids = [c.id for c in plan.summary]
        col, x_col = plan.summary_col + ids.index("lr"), plan.summary_col
        last, what = FIRST_ROW + plan.epochs_started() - 1, "epoch"
    chart.add_series({**label("lr"), "categories": [plan.title, FIRST_ROW, x_col, last, x_col],
                      "values": [plan.title, FIRST_ROW, col, last, col],
                      "line": {"color": COLORS[2], "width": 1.5}, "marker": {"type": "none"}})
    chart.set_title({**label(f"{plan.title}: lr per {what} "
                             f"({plan.sheet.schedule.options['torch']})"),
                     "name_font": {"size": 10}})
    chart.set_x_axis({**label(what), "num_font": {"size": 8}})
    chart.set_y_axis({"major_gridlines": {"visible": True}, "num_font": {"size": 8}})
    chart.set_legend({"none": True})
    chart.show_blanks_as("span")
    chart.set_size({"width": 420, "height": height})
    return chart


def compare_chart(workbook, plans: Sequence[SheetPlan]):
    header_row, epochs = compare_layout(plans)
    if not epochs:
        return None
    chart = workbook.add_chart({"type": "line"})
    last = header_row + epochs
    for j, plan in enumerate(plans):
        color = COLORS[j % len(COLORS)]
        chart.add_series({**label(plan.title),
                          "categories": ["compare", header_row + 1, 0, last, 0],
                          "values": ["compare", header_row + 1, 1 + j, last, 1 + j],
                          "line": {"color": color, "width": 1.75},
                          "marker": {"type": "circle", "size": 3, "fill": {"color": color},
                                     "border": {"color": color}}})
    model = plans[0].spec.model
    words, figure = loss_words(model), model.loss_figures[-1]
    axis = loss_axis(*[p.trace.epochs[figure] for p in plans])
    chart.set_title({**label(f"{words} per epoch, every sheet"), "name_font": {"size": 12}})
    chart.set_x_axis(label("epoch"))
    chart.set_y_axis({**label(f"{words} (log scale)" if "log_base" in axis else words),
                      "major_gridlines": {"visible": True}, **axis})
    chart.set_legend({"position": "right"})
    chart.set_size({"width": 640, "height": 380})
    chart.show_blanks_as("gap")
    return chart


# a log axis's labels: 10, 100, ..., 10000, then 1E+05 rather than a row of zeros
LOG_AXIS_FORMAT = "[>=100000]0E+00;General"


def loss_axis(*series) -> dict:
    """A loss chart's y axis: logarithmic (:func:`log_axis_range`), unless a loss is zero or
    negative (given gradients' g.p can be), which a log axis cannot show: then linear."""
    return {"log_base": 10, **log_axis_range(*series)} if fits_log_scale(*series) else {}


def log_axis_range(*series) -> dict:
    """A log axis's lower end at the power of ten just below the smallest value (left alone,
    spreadsheets may start a decade lower); the upper end stays automatic so edits fit."""
    out = {"num_format": LOG_AXIS_FORMAT,
           "minor_gridlines": {"visible": True, "line": {"color": "#E4E4E4", "width": 0.5}}}
    values = np.concatenate([np.asarray(s, dtype=float) for s in series]) if series else []
    values = values[np.isfinite(values) & (values > 0)] if len(values) else values
    if len(values):
        out["min"] = 10.0 ** math.floor(math.log10(float(values.min())))
    return out


# --- the path of the parameters --------------------------------------------------------------
PATH_COLOR = COLORS[2]  # green: neither loss line of the epoch chart beside it uses it
TRUE_COLOR = COLORS[3]


def path_params(spec: Spec) -> tuple[str, str]:
    """The two parameters a path chart draws (x, then y): the sheets' order, intercept first."""
    order = display_order(spec)
    return order[0], order[1]


def path_series(plan: SheetPlan, name: str, color: str, markers: bool) -> dict:
    """The (x, y) parameters after every step: the sheet's 'new' formula cells, so the line
    moves when an input is edited. Batched sheets hold them on each batch's last row; the
    chart spans the blank rows between."""
    px, py = path_params(plan.spec)
    last = FIRST_ROW + max(plan.n_rows, 1) - 1
    cx, cy = plan.col_of[f"new:{px}"], plan.col_of[f"new:{py}"]
    return {**label(name),
            "categories": [plan.title, FIRST_ROW, cx, last, cx],
            "values": [plan.title, FIRST_ROW, cy, last, cy],
            "line": {"color": color, "width": 1.25},
            "marker": ({"type": "circle", "size": 3, "fill": {"color": color},
                        "border": {"color": color}} if markers else {"type": "none"})}


def _point_series(name: str, sheet: str, cells: tuple[tuple[int, int], tuple[int, int]],
                  marker: dict) -> dict:
    (rx, cx), (ry, cy) = cells
    return {**label(name), "categories": [sheet, rx, cx, rx, cx],
            "values": [sheet, ry, cy, ry, cy], "line": {"none": True}, "marker": marker}


def _true_series(spec: Spec) -> dict | None:
    from .overview import TRUE_ROW, true_known

    if not true_known(spec):
        return None
    order = list(display_order(spec))
    px, py = path_params(spec)
    cells = ((TRUE_ROW, 1 + order.index(px)), (TRUE_ROW, 1 + order.index(py)))
    return _point_series("true", "data", cells,
                         {"type": "diamond", "size": 9, "fill": {"color": TRUE_COLOR},
                          "border": {"color": "black"}})


def _path_axes(chart, spec: Spec, title: str, size: int) -> None:
    px, py = path_params(spec)
    if len(spec.model.params) > 2:
        title += f" (projected onto {px}, {py})"
    chart.set_title({**label(title), "name_font": {"size": size}})
    chart.set_x_axis({**label(px), "major_gridlines": {"visible": True},
                      "num_font": {"size": 8}})
    chart.set_y_axis({**label(py), "major_gridlines": {"visible": True},
                      "num_font": {"size": 8}})
    chart.show_blanks_as("span")


def path_chart(workbook, plan: SheetPlan, height: int):
    """The sheet's parameters step by step (XY scatter with lines), its start and the true
    point; it sits beside the epoch chart. A model of one parameter has no path to draw."""
    if not len(plan.trace) or len(plan.spec.model.params) < 2:
        return None
    chart = workbook.add_chart({"type": "scatter", "subtype": "straight_with_markers"})
    chart.add_series(path_series(plan, f"{plan.title}: path", PATH_COLOR, markers=True))
    px, py = path_params(plan.spec)
    start = (plan.inputs[f"start:{px}"], plan.inputs[f"start:{py}"])
    chart.add_series(_point_series("start", plan.title, start,
                                   {"type": "circle", "size": 7, "fill": {"color": "white"},
                                    "border": {"color": "black"}}))
    true = _true_series(plan.spec)
    if true:
        chart.add_series(true)
    _path_axes(chart, plan.spec, f"{plan.title}: path of ({px}, {py}) over the steps", 10)
    chart.set_legend({"position": "bottom", "font": {"size": 8}})
    chart.set_size({"width": 440, "height": height})
    return chart


def compare_path_chart(workbook, spec: Spec, plans: Sequence[SheetPlan]):
    """Every sheet's path in one chart, with the true point."""
    drawn = [p for p in plans if len(p.trace)]
    if not drawn or len(spec.model.params) < 2:
        return None
    chart = workbook.add_chart({"type": "scatter", "subtype": "straight"})
    for j, plan in enumerate(plans):
        if len(plan.trace):
            chart.add_series(path_series(plan, plan.title, COLORS[j % len(COLORS)],
                                         markers=False))
    true = _true_series(spec)
    if true:
        chart.add_series(true)
    px, py = path_params(spec)
    _path_axes(chart, spec, f"every sheet's path of ({px}, {py})", 12)
    chart.set_legend({"position": "right"})
    chart.set_size({"width": 640, "height": 420})
    return chart
