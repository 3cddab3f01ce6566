"""The sheets around the optimizer sheets: intro, data (with fitted lines) and compare."""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from ..ops import numpy_ops
from ..rules import LECTURE_RULES
from ..spec import Spec
from ..symbolic import to_excel, var
from . import formulas
from .layout import DATA_FIRST_ROW, FIRST_ROW, Cell, SheetPlan, display_order
from .names import quoted
from .styles import number_style
from .templates import ref

GRID_POINTS = 25
DATA_HEADER_ROW = DATA_FIRST_ROW - 1  # 0-based
TRUE_ROW = 3
GRID_COL = 3


# --- intro -------------------------------------------------------------------------------------
def intro_cells(spec: Spec, plans: Sequence[SheetPlan]) -> Iterator[Cell]:
    lines: list[tuple[str, str]] = [
        (spec.title, "title"),
        (spec.description, "subtitle"),
        ("", "text"),
        ("What this workbook shows", "bold"),
        ("Gradient descent, one row per step: every number below the yellow input cells is a live "
         "formula, derived from the same rule definitions that sheetopt's engine runs, and it "
         "stores the engine's value, so the workbook shows numbers even before recalculating.",
         "wrap"),
        (f"Model: {spec.model.formula}. Loss per row: err^2 = (y - pred)^2 (no mean, no 1/2); "
         f"a batch of rows uses the mean of its rows' err^2 and gradients.", "wrap"),
        (f"Data: {spec.data.source} ({len(spec.data)} rows), on the 'data' sheet.", "wrap"),
        ("", "text"),
        ("The sheets", "bold"),
    ]
    for plan in plans:
        sheet = plan.sheet
        lines.append((f"{plan.title}: {sheet.optimizer} ({sheet.flavor}), "
                      + ", ".join(f"{k} = {v:g}" for k, v in sheet.hypers.items())
                      + f"; {sheet.epochs} epochs. {sheet.rule.summary}", "wrap"))
    lines.append(("compare: every sheet's loss per epoch in one chart, final parameters, "
                  "distance to the truth.", "wrap"))
    lines += [
        ("", "text"),
        ("How to play", "bold"),
        ("Change a yellow cell (lr, a momentum, a start value, a data row) and watch every later "
         "row, the epoch summaries and the charts recompute. Each epoch's first row reads the "
         "previous epoch's last row: parameters and optimizer state carry over, as the lecture's "
         "'onestep' macro did, but with formulas only (no macros).", "wrap"),
        ("Excel recalculates on opening; in LibreOffice choose Data > Calculate > Recalculate "
         "Hard if the numbers look stale. 'sheetopt check FILE.xlsx' re-runs the engine on the "
         "inputs and compares every stored value.", "wrap"),
        ("", "text"),
        ("The two flavours", "bold"),
        ("lecture: the fast.ai spreadsheet's formulas. Averages are damped, "
         "avg = beta*avg + (1 - beta)*g; Adam has no bias correction and no epsilon; RMSProp's "
         "update divides by the PREVIOUS row's average; 'lecture-reset' starts the averages the "
         "way the reset button did (warm-up passes from a = b = 1).", "wrap"),
        ("torch: torch.optim's formulas. SGD momentum starts its buffer at the first gradient "
         "(no damping); Adam divides by 1 - beta^t (t counts steps from 1) and adds eps after "
         "the square root; state starts at zero.", "wrap"),
    ]
    notes = [f"{name}: {note}" for name, rule in LECTURE_RULES.items()
             for note in rule.notes.values()]
    if notes:
        lines += [("", "text"), ("Quirks (also as notes on the header cells)", "bold")]
        lines += [(note, "wrap") for note in notes]
    for row, (text, style) in enumerate(lines):
        if text:
            yield Cell(row, 0, "text", text, style=style)


# --- data --------------------------------------------------------------------------------------
def data_cells(spec: Spec, plans: Sequence[SheetPlan]) -> Iterator[Cell]:
    cells = list(_data_top(spec)) + list(_data_rows(spec)) + list(_fitted_lines(spec, plans))
    cells.sort(key=lambda c: (c.row, c.col))
    return iter(cells)


def true_known(spec: Spec) -> bool:
    return all(p in spec.data.true for p in spec.model.params)


def true_ref(spec: Spec, p: str) -> str:
    col = 1 + list(display_order(spec)).index(p)
    return f"{quoted('data')}!{ref(TRUE_ROW, col, absolute=True)}"


def _data_top(spec: Spec) -> Iterator[Cell]:
    yield Cell(0, 0, "text", "data", style="title")
    yield Cell(1, 0, "text", f"{spec.data.source}; {len(spec.data)} rows. The rows are plain "
               "values (edit them: every sheet reads its x and y from here).", style="subtitle")
    if spec.data.true:
        yield Cell(TRUE_ROW - 1, 0, "text", "true", style="label")
        for i, p in enumerate(display_order(spec)):
            if p in spec.data.true:
                yield Cell(TRUE_ROW - 1, 1 + i, "text", p, style="input_label")
                yield Cell(TRUE_ROW, 1 + i, "number", float(spec.data.true[p]), style="input")


def _data_rows(spec: Spec) -> Iterator[Cell]:
    hx, hy = spec.data.headers
    yield Cell(DATA_HEADER_ROW, 0, "text", hx, style="header")
    yield Cell(DATA_HEADER_ROW, 1, "text", hy, style="header")
    for i, (x, y) in enumerate(zip(spec.data.x, spec.data.y)):
        yield Cell(DATA_FIRST_ROW + i, 0, "number", float(x), style="input")
        yield Cell(DATA_FIRST_ROW + i, 1, "number", float(y), style="input")


def grid(spec: Spec) -> np.ndarray:
    x = spec.data.x
    return np.linspace(float(x.min()), float(x.max()), GRID_POINTS)


def final_refs(plan: SheetPlan) -> dict[str, tuple[str, float]]:
    """Where each final parameter sits on the plan's sheet, and its value."""
    out = {}
    final = plan.trace.final()
    for p in plan.spec.model.params:
        if len(plan.trace):
            cell = ref(plan.last_step_row(len(plan.trace) - 1), plan.col_of[f"new:{p}"], True)
        else:
            cell = plan.input_ref(f"start:{p}")
        out[p] = (f"{quoted(plan.title)}!{cell}", final[p])
    return out


def _fitted_lines(spec: Spec, plans: Sequence[SheetPlan]) -> Iterator[Cell]:
    xs = grid(spec)
    hx = spec.data.headers[0]
    yield Cell(DATA_HEADER_ROW, GRID_COL, "text", f"{hx} (for the lines)", style="header")
    lines = [(plan.title, final_refs(plan)) for plan in plans]
    if true_known(spec):
        lines.append(("true", {p: (true_ref(spec, p), spec.data.true[p]) for p in spec.model.params}))
    for j, (title, params) in enumerate(lines):
        yield Cell(DATA_HEADER_ROW, GRID_COL + 1 + j, "text", f"fit: {title}", style="header")
    fit_style = number_style(np.concatenate([
        np.asarray(spec.model.predict({p: params[p][1] for p in spec.model.params}, xs), float)
        for _, params in lines]) if lines else spec.data.y)
    for i, x in enumerate(xs):
        row = DATA_FIRST_ROW + i
        yield Cell(row, GRID_COL, "number", float(x), style=number_style(xs))
        for j, (_, params) in enumerate(lines):
            leaves = {p: var(p) for p in spec.model.params}
            tree = spec.model.predict(leaves, var("x"))
            refs = {p: params[p][0] for p in spec.model.params}
            refs["x"] = ref(row, GRID_COL)
            value = spec.model.predict({p: params[p][1] for p in spec.model.params}, float(x))
            yield Cell(row, GRID_COL + 1 + j, "formula", to_excel(tree, refs)[1:],
                       _plain(value), fit_style)


def _plain(value) -> float | str:
    value = float(value)
    return value if np.isfinite(value) else "#NUM!"


# --- compare -----------------------------------------------------------------------------------
COMPARE_HEADER_ROW = 3


def compare_layout(plans: Sequence[SheetPlan]) -> tuple[int, int]:
    """(row of the per-epoch header, how many epoch rows)."""
    epochs = max((len(p.summary[0].values) for p in plans), default=0)
    return COMPARE_HEADER_ROW + len(plans) + 3, epochs


def compare_cells(spec: Spec, plans: Sequence[SheetPlan]) -> Iterator[Cell]:
    names = display_order(spec)
    yield Cell(0, 0, "text", "compare", style="title")
    yield Cell(1, 0, "text", "Final parameters of every sheet, their distance to the true "
               "values, and each epoch's RMSE (the chart's scale is logarithmic).", style="subtitle")
    headers = ["sheet", "optimizer", "flavour", "epochs"] + [f"final {p}" for p in names]
    headers += ["distance to truth"] if true_known(spec) else []
    headers += ["diverged"]
    for col, text in enumerate(headers):
        yield Cell(COMPARE_HEADER_ROW, col, "text", text, style="header")
    final_styles = {p: number_style([plan.trace.final()[p] for plan in plans]) for p in names}
    rmse_style = number_style(np.concatenate([plan.trace.epochs["rmse"] for plan in plans]))
    for i, plan in enumerate(plans):
        row = COMPARE_HEADER_ROW + 1 + i
        finals = final_refs(plan)
        yield Cell(row, 0, "text", plan.title, style="bold")
        yield Cell(row, 1, "text", plan.sheet.optimizer)
        yield Cell(row, 2, "text", plan.sheet.flavor)
        yield Cell(row, 3, "number", plan.sheet.epochs, style="int")
        for j, p in enumerate(names):
            yield Cell(row, 4 + j, "formula", finals[p][0], _plain(finals[p][1]), final_styles[p])
        col = 4 + len(names)
        if true_known(spec):
            leaves = {p: var(f"f:{p}") for p in names}
            truth = {p: var(f"t:{p}") for p in names}
            tree = formulas.distance(leaves, truth, spec.model.params)
            refs = {f"f:{p}": ref(row, 4 + j) for j, p in enumerate(names)}
            refs.update({f"t:{p}": true_ref(spec, p) for p in names})
            value = formulas.distance({p: finals[p][1] for p in names}, spec.data.true,
                                      spec.model.params, numpy_ops)
            yield Cell(row, col, "formula", to_excel(tree, refs)[1:], _plain(value), rmse_style)
            col += 1
        diverged = plan.trace.diverged_at
        yield Cell(row, col, "text", f"yes: epoch {diverged[0]}, step {diverged[1]}"
                   if diverged else "no", style="flag" if diverged else "ok")
    header_row, epochs = compare_layout(plans)
    yield Cell(header_row - 1, 0, "text", "RMSE per epoch", style="bold")
    yield Cell(header_row, 0, "text", "epoch", style="header")
    for j, plan in enumerate(plans):
        yield Cell(header_row, 1 + j, "text", plan.title, style="header")
    for e in range(epochs):
        row = header_row + 1 + e
        yield Cell(row, 0, "number", e + 1, style="int")
        for j, plan in enumerate(plans):
            done = len(plan.trace.epochs["epoch"])
            if e < done:
                col = plan.summary_col + [c.id for c in plan.summary].index("rmse")
                target = f"{quoted(plan.title)}!{ref(FIRST_ROW + e, col, True)}"
                yield Cell(row, 1 + j, "formula", target, float(plan.trace.epochs["rmse"][e]),
                           rmse_style)
