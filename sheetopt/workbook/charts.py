"""Charts: the data with fitted lines, each sheet's loss per epoch, and all losses together."""
from __future__ import annotations

from typing import Sequence

from ..spec import Spec
from .layout import FIRST_ROW, HEADER_ROW, SheetPlan
from .overview import (DATA_FIRST_ROW, DATA_HEADER_ROW, GRID_COL, GRID_POINTS, compare_layout,
                       true_known)

COLORS = ["#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2",
          "#7F7F7F", "#BCBD22", "#17BECF"]


def data_chart(workbook, spec: Spec, plans: Sequence[SheetPlan]):
    chart = workbook.add_chart({"type": "scatter"})
    n = len(spec.data)
    chart.add_series({"name": "data", "categories": ["data", DATA_FIRST_ROW, 0, DATA_FIRST_ROW + n - 1, 0],
                      "values": ["data", DATA_FIRST_ROW, 1, DATA_FIRST_ROW + n - 1, 1],
                      "marker": {"type": "circle", "size": 5, "fill": {"color": "black"},
                                 "border": {"color": "black"}}})
    titles = [p.title for p in plans] + (["true"] if true_known(spec) else [])
    last = DATA_FIRST_ROW + GRID_POINTS - 1
    for j, title in enumerate(titles):
        col = GRID_COL + 1 + j
        line = {"color": COLORS[j % len(COLORS)], "width": 1.5}
        if title == "true":
            line = {"color": "black", "width": 1.25, "dash_type": "dash"}
        chart.add_series({"name": ["data", DATA_HEADER_ROW, col],
                          "categories": ["data", DATA_FIRST_ROW, GRID_COL, last, GRID_COL],
                          "values": ["data", DATA_FIRST_ROW, col, last, col],
                          "marker": {"type": "none"}, "line": line})
    chart.set_title({"name": f"data and fitted {spec.model.formula}"})
    chart.set_x_axis({"name": spec.data.headers[0]})
    chart.set_y_axis({"name": spec.data.headers[1], "major_gridlines": {"visible": True}})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 640, "height": 400})
    return chart


def epoch_chart(workbook, plan: SheetPlan):
    epochs = len(plan.trace.epochs["epoch"])
    if not epochs:
        return None
    chart = workbook.add_chart({"type": "line"})
    ids = [c.id for c in plan.summary]
    last = FIRST_ROW + epochs - 1
    for name, color in (("lecture_rmse", COLORS[0]), ("rmse", COLORS[1])):
        col = plan.summary_col + ids.index(name)
        chart.add_series({"name": [plan.title, HEADER_ROW, col],
                          "categories": [plan.title, FIRST_ROW, plan.summary_col, last, plan.summary_col],
                          "values": [plan.title, FIRST_ROW, col, last, col],
                          "line": {"color": color}, "marker": {"type": "circle", "size": 4}})
    chart.set_title({"name": f"{plan.title}: loss per epoch"})
    chart.set_x_axis({"name": "epoch"})
    chart.set_y_axis({"name": "loss (log scale)", "log_base": 10,
                      "major_gridlines": {"visible": True}})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 520, "height": 300})
    return chart


def compare_chart(workbook, plans: Sequence[SheetPlan]):
    header_row, epochs = compare_layout(plans)
    if not epochs:
        return None
    chart = workbook.add_chart({"type": "line"})
    last = header_row + epochs
    for j, plan in enumerate(plans):
        chart.add_series({"name": ["compare", header_row, 1 + j],
                          "categories": ["compare", header_row + 1, 0, last, 0],
                          "values": ["compare", header_row + 1, 1 + j, last, 1 + j],
                          "line": {"color": COLORS[j % len(COLORS)], "width": 1.75},
                          "marker": {"type": "circle", "size": 3,
                                     "fill": {"color": COLORS[j % len(COLORS)]},
                                     "border": {"color": COLORS[j % len(COLORS)]}}})
    chart.set_title({"name": "RMSE per epoch, every sheet"})
    chart.set_x_axis({"name": "epoch"})
    chart.set_y_axis({"name": "RMSE (log scale)", "log_base": 10,
                      "major_gridlines": {"visible": True}})
    chart.set_legend({"position": "right"})
    chart.set_size({"width": 720, "height": 420})
    chart.show_blanks_as("gap")
    return chart
