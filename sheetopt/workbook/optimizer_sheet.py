"""The cells of one optimizer sheet, in row order: title, inputs, header, steps, epoch summary."""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ..spec import LECTURE_RESET
from . import formulas
from .formulas import inp
from .layout import (FIRST_ROW, HEADER_ROW, HYPER_ROW, NOTE_ROW, START_ROW, STATUS_ROW,
                     TITLE_ROW, Cell, RawRow, SheetPlan, display_order, start_scale_value)
from .templates import ref
from ..symbolic import to_excel, var

FLAVOUR_WORDS = {
    "lecture": "lecture flavour: as the fast.ai spreadsheet computes it (no bias correction, "
               "no epsilon, averages damped by 1 - beta)",
    "torch": "torch flavour: as torch.optim computes it (t counts steps from 1)",
}


def cells(plan: SheetPlan, xml_style=None) -> Iterator[Cell | RawRow]:
    """Every cell of the sheet, row by row; with ``xml_style`` most step rows come as finished
    XML rows (see SheetPlan.step_rows)."""
    yield from _top(plan)
    side = _summary_cells(plan)
    last = FIRST_ROW - 1
    for row, row_cells in plan.step_rows(xml_style, frozenset(side)):
        if isinstance(row_cells, RawRow):
            yield row_cells
        else:
            yield from row_cells
        yield from side.pop(row, [])
        last = row
    for row in sorted(side):
        yield from side[row]
        last = max(last, row)
    if plan.trace.diverged:
        epoch, step = plan.trace.diverged_at
        end = FIRST_ROW + plan.n_rows
        yield Cell(max(end, last + 1), 0, "text",
                   f"Diverged at epoch {epoch}, step {step}: the loss left the finite range "
                   f"(or passed {plan.sheet.diverge_above:g}); no rows are written beyond here.",
                   style="warn")


def _top(plan: SheetPlan) -> Iterator[Cell]:
    sheet, spec = plan.sheet, plan.spec
    yield Cell(TITLE_ROW, 0, "text", f"{plan.title}: {sheet.optimizer} ({sheet.flavor} flavour)"
               f"   {sheet.rule.summary}", style="title")
    yield Cell(NOTE_ROW, 0, "text", "Edit the yellow cells (hyperparameters, start values, and "
               "the data sheet); every other number is a formula and recalculates. "
               + FLAVOUR_WORDS[sheet.flavor] + ".", style="subtitle")
    yield Cell(HYPER_ROW, 0, "text", "hyperparameters", style="label")
    for name in sheet.hypers:
        row, col = plan.inputs[name]
        yield Cell(HYPER_ROW, col, "text", name, style="input_label")
    for name in sheet.hypers:
        row, col = plan.inputs[name]
        yield Cell(row, col, "number", plan.start_value(name), style="input")
    yield Cell(START_ROW, 0, "text", "start", style="label")
    starts = [k for k in plan.inputs if k.startswith("start:")]
    for key in starts:
        _, col = plan.inputs[key]
        yield Cell(START_ROW, col, "text", _start_label(key), style="input_label")
    adam_ann = sheet.schedule.kind == "adam_ann"
    if adam_ann:
        yield Cell(START_ROW, plan.extra_col, "text", "start gradient scale", style="input_label")
    for key in starts:
        row, col = plan.inputs[key]
        yield Cell(row, col, "number", plan.start_value(key), style="input")
    if adam_ann:
        tree = formulas.start_scale([inp(f"start:sqr_avg:{p}") for p in spec.model.params])
        yield Cell(START_ROW + 1, plan.extra_col, "formula",
                   to_excel(tree, lambda n: plan.input_ref(n[3:]))[1:], start_scale_value(plan),
                   style="derived_input")
    yield Cell(STATUS_ROW, 0, "text", _status(plan), style="warn" if plan.trace.diverged else "subtitle")
    for i, column in enumerate(plan.columns):
        yield Cell(HEADER_ROW, i, "text", column.header, style="header", note=column.note)
    for i, column in enumerate(plan.summary):
        yield Cell(HEADER_ROW, plan.summary_col + i, "text", column.header, style="header")


def _start_label(key: str) -> str:
    parts = key.split(":")
    if len(parts) == 2:
        return parts[1]
    return f"{parts[1]} {parts[2]}"


def _status(plan: SheetPlan) -> str:
    sheet = plan.sheet
    words = []
    if sheet.state == LECTURE_RESET and sheet.rule.reset is not None:
        words.append(f"Start state: the averages after the lecture's reset ({sheet.rule.reset.passes} "
                     f"warm-up pass{'es' if sheet.rule.reset.passes > 1 else ''} from a = b = 1).")
    size = "online (one row per step)" if sheet.batch_size == 1 else (
        f"batches of {sheet.batch_size} rows: a step's gradient is the mean of its rows' "
        f"(running sums Σ, then / rows), on the batch's last row")
    words.append(f"{sheet.epochs} epochs, {size}; gradient: {sheet.gradient}.")
    if sheet.schedule.kind == "adam_ann":
        words.append("lr per epoch: the summary's lr column (annealed: / 4 when the gradient "
                     "scale doubles over the best).")
    if plan.trace.diverged:
        epoch, step = plan.trace.diverged_at
        words.insert(0, f"DIVERGED at epoch {epoch}, step {step}: rows stop there.")
    return " ".join(words)


def _summary_cells(plan: SheetPlan) -> dict[int, list[Cell]]:
    """The epoch summary table beside the steps: row -> cells."""
    side: dict[int, list[Cell]] = {}
    trace, spec, sheet = plan.trace, plan.spec, plan.sheet
    steps = trace.steps
    ids = [c.id for c in plan.summary]
    col = {c: plan.summary_col + i for i, c in enumerate(ids)}
    epochs_started = plan.summary[0].values
    finished = len(trace.epochs["epoch"])
    epochsum_col = plan.col_of["epochsum"]
    values = {c.id: c.values for c in plan.summary}
    style = {c.id: c.style for c in plan.summary}
    for j, epoch in enumerate(epochs_started):
        epoch = int(epoch)
        row = FIRST_ROW + j
        out = side.setdefault(row, [])
        out.append(Cell(row, col["epoch"], "number", epoch, style="int"))
        where = np.where(steps["epoch"] == epoch)[0]
        first_k, last_k = int(where[0]), int(where[-1])
        last_row = plan.last_step_row(last_k)
        if j < finished:
            rows_in_epoch = int(steps["size"][where].sum())
            lecture, rmse = formulas.epoch_figures(var("sum"), rows_in_epoch)
            refs = {"sum": ref(last_row, epochsum_col)}
            out.append(Cell(row, col["lecture_rmse"], "formula", to_excel(lecture, refs)[1:],
                            float(values["lecture_rmse"][j]), style["lecture_rmse"]))
            out.append(Cell(row, col["rmse"], "formula", to_excel(rmse, refs)[1:],
                            float(values["rmse"][j]), style["rmse"]))
            for p in display_order(spec):
                out.append(Cell(row, col[p], "formula", ref(last_row, plan.col_of[f"new:{p}"]),
                                float(values[p][j]), style[p]))
        lr = _lr_cell(plan, j, row, col, first_k, values)
        lr.style = style["lr"]
        out.append(lr)
        if sheet.schedule.kind == "adam_ann" and j < finished:
            out += _annealing_cells(plan, j, row, col, last_row, values)
    return side


def _lr_cell(plan: SheetPlan, j: int, row: int, col: dict, first_k: int, values) -> Cell:
    sheet = plan.sheet
    value = float(values["lr"][j])
    if sheet.schedule.per_step:
        text = ref(plan.last_step_row(first_k), plan.col_of["lr"])
    elif sheet.schedule.kind == "adam_ann" and j > 0:
        # the lr after an epoch, from the scale of that epoch and the best before it
        _, next_lr, _ = _annealing_trees(plan)
        refs = {"lr": ref(row - 1, col["lr"]), "scale": ref(row - 1, col["scale"]),
                "best": plan.start_scale_ref() if j == 1 else ref(row - 2, col["best"])}
        text = to_excel(next_lr, refs)[1:]
    else:
        text = plan.input_ref("lr")
    return Cell(row, col["lr"], "formula", text, value)


def _annealing_trees(plan: SheetPlan):
    """adam_ann's (scale, next lr, next best) with the scale read from its own cell."""
    names = plan.spec.model.params
    sqr = [var(f"s:{p}") for p in names]
    scale, next_lr, best = formulas.annealing(var("lr"), sqr, var("best"))
    return (scale, formulas.replace_subtree(next_lr, scale, var("scale")),
            formulas.replace_subtree(best, scale, var("scale")))


def _annealing_cells(plan: SheetPlan, j: int, row: int, col: dict, last_row: int, values):
    names = plan.spec.model.params
    refs = {f"s:{p}": ref(last_row, plan.col_of[f"state:sqr_avg:{p}"]) for p in names}
    refs.update(scale=ref(row, col["scale"]),
                best=plan.start_scale_ref() if j == 0 else ref(row - 1, col["best"]))
    scale, _, best = _annealing_trees(plan)
    yield Cell(row, col["scale"], "formula", to_excel(scale, refs)[1:], float(values["scale"][j]),
               plan.summary[-2].style)
    yield Cell(row, col["best"], "formula", to_excel(best, refs)[1:], float(values["best"][j]),
               plan.summary[-1].style)
