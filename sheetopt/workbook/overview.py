"""The sheets around the optimizer sheets: intro, data (with fitted lines) and compare."""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from ..ops import numpy_ops
from ..rules import LECTURE_RULES
from ..spec import Spec
from ..ops.symbolic import evaluate, to_excel, var
from . import formulas, notes
from .layout import (DATA_FIRST_ROW, FIRST_ROW, Cell, SheetPlan, display_order, fits_log_scale,
                     loss_figures, loss_words)
from .names import quoted
from .templates import ref

GRID_POINTS = 25
DATA_HEADER_ROW = DATA_FIRST_ROW - 1  # 0-based
TRUE_ROW = 3
GRID_COL = 3


# --- intro -------------------------------------------------------------------------------------
MEAN_LOSS_WORDS = (" Each epoch summary reports the epoch's mean loss (its steps' losses summed, "
                   "divided by the number of steps), not an RMSE: this loss is not a squared "
                   "error.")


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
        *([(f"Model: {spec.model.formula}. Loss per row: {spec.model.loss_name}; a batch of "
            f"rows uses the mean of its rows' {'err^2' if spec.model.reports_rmse else 'losses'}"
            f" and gradients.{MEAN_LOSS_WORDS if not spec.model.reports_rmse else ''}", "wrap"),
           (f"Data: {spec.data.source} ({len(spec.data)} rows), on the 'data' sheet.", "wrap")]
          if spec.model.has_data else
          [(f"Model: {spec.model.formula}, a test surface without data: each step evaluates "
            f"the function at the parameters x and y (its column f(x, y) is each step's loss, "
            f"the de/d columns its gradient).{MEAN_LOSS_WORDS} Its minima are on the 'data' "
            f"sheet.", "wrap")]),
        ("", "text"),
        ("The sheets", "bold"),
    ]
    for plan in plans:
        sheet = plan.sheet
        lines.append((f"{plan.title}: {sheet.optimizer} ({sheet.flavor}), "
                      + ", ".join(f"{k} = {v:g}" for k, v in sheet.hypers.items())
                      + f"; {sheet.epochs} epochs. {sheet.rule.summary}", "wrap"))
    lines.append(("compare: every sheet's loss per epoch in one chart, final parameters, "
                  "distance to the truth." if spec.model.has_data else "compare: every "
                  "sheet's loss per step in one chart and its final parameters.", "wrap"))
    lines += [
        ("", "text"),
        ("How to play", "bold"),
        ("Change a yellow cell (lr, a momentum, the finite-difference step h, a start value, a "
         "data row) and watch every later row, the epoch summaries and the charts recompute. "
         "Each epoch's first row reads the previous epoch's last row: parameters and optimizer "
         "state carry over, as the lecture's 'onestep' macro did, but with formulas only (no "
         "macros).", "wrap"),
        ("A grey cell marked '(fixed)' is a hyperparameter that the sheet's formulas do not use: "
         "the spec's value decided the shape of the computation (torch's SGD with mom = 0 has no "
         "momentum buffer at all). Change it in the spec and write the workbook again.", "wrap"),
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
    used = {f"{p.sheet.rule.optimizer} ({p.sheet.flavor})": p.sheet.rule for p in plans
            if p.sheet.flavor != "lecture" and p.sheet.rule.notes}
    quirks = list(dict.fromkeys(notes.quirk_lines(LECTURE_RULES) + notes.quirk_lines(used)))
    if quirks:
        lines += [("", "text"), ("Quirks (also as notes on the header cells)", "bold")]
        lines += [(quirk, "wrap") for quirk in quirks]
    for row, (text, style) in enumerate(lines):
        if text:
            yield Cell(row, 0, "text", text, style=style)


# --- data --------------------------------------------------------------------------------------
def data_cells(spec: Spec, plans: Sequence[SheetPlan]) -> Iterator[Cell]:
    if not spec.model.has_data:
        return _surface_cells(spec)
    cells = list(_data_top(spec)) + list(_data_rows(spec))
    if spec.model.fits_a_curve:
        cells += list(_fitted_lines(spec, plans))
    cells.sort(key=lambda c: (c.row, c.col))
    return iter(cells)


def _surface_cells(spec: Spec) -> Iterator[Cell]:
    """A test surface's "data" sheet: the function and its known minima (it has no rows)."""
    yield Cell(0, 0, "text", spec.model.kind, style="title")
    yield Cell(1, 0, "text", f"{spec.model.formula}. No data: every step of every sheet "
               "evaluates the whole function at the parameters x and y.", style="subtitle")
    yield Cell(DATA_HEADER_ROW, 0, "text", "minimum x", style="header")
    yield Cell(DATA_HEADER_ROW, 1, "text", "minimum y", style="header")
    for i, minimum in enumerate(spec.model.minima):
        yield Cell(DATA_FIRST_ROW + i, 0, "number", minimum["x"])
        yield Cell(DATA_FIRST_ROW + i, 1, "number", minimum["y"])


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
    """The rows' columns as input cells: the inputs, then y (``layout.data_ref``'s order)."""
    columns = [*spec.data.inputs(), *([spec.data.y] if spec.model.target else [])]
    for j, header in enumerate(spec.data.headers):
        yield Cell(DATA_HEADER_ROW, j, "text", header, style="header")
    for i, row in enumerate(zip(*(column.tolist() for column in columns))):
        for j, value in enumerate(row):
            yield Cell(DATA_FIRST_ROW + i, j, "number", value, style="input")


def grid_refs(spec: Spec) -> dict[str, str]:
    """The smallest and largest x of the data rows, as formulas (the lines follow edits)."""
    column = (f"{quoted('data')}!$A${DATA_FIRST_ROW + 1}:"
              f"$A${DATA_FIRST_ROW + len(spec.data)}")
    return {"lo": f"MIN({column})", "hi": f"MAX({column})"}


def grid_trees() -> list:
    """GRID_POINTS evenly spaced x from the smallest to the largest, as numpy.linspace computes
    them (lo + i * step with step = (hi - lo) / (points - 1), the last one hi itself)."""
    lo, hi = var("lo"), var("hi")
    step = (hi - lo) / (GRID_POINTS - 1)
    return [lo, *[lo + i * step for i in range(1, GRID_POINTS - 1)], hi]


def grid(spec: Spec) -> list[float]:
    values = {"lo": float(np.min(spec.data.x)), "hi": float(np.max(spec.data.x))}
    return [float(evaluate(tree, values)) for tree in grid_trees()]


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


def fitted_lines(spec: Spec, plans: Sequence[SheetPlan]) -> list[tuple[str, dict]]:
    """(title, parameter -> (reference, value)) of each line the data chart draws: every sheet
    that did not diverge (a diverged fit would stretch the axis until the data look flat),
    then the truth when known."""
    if not spec.model.fits_a_curve:
        return []
    lines = [(plan.title, final_refs(plan)) for plan in plans if not plan.trace.diverged]
    if true_known(spec):
        lines.append(("true", {p: (true_ref(spec, p), spec.data.true[p])
                               for p in spec.model.params}))
    return lines


def _fitted_lines(spec: Spec, plans: Sequence[SheetPlan]) -> Iterator[Cell]:
    hx = spec.data.headers[0]
    yield Cell(DATA_HEADER_ROW, GRID_COL, "text", f"{hx} (for the lines)", style="header",
               note="Evenly spaced from the smallest to the largest x of the rows (formulas: "
                    "they follow edits of the data).")
    lines = fitted_lines(spec, plans)
    for j, (title, _) in enumerate(lines):
        yield Cell(DATA_HEADER_ROW, GRID_COL + 1 + j, "text", f"fit: {title}", style="header")
    refs = grid_refs(spec)
    xs = grid(spec)
    leaves = {p: var(p) for p in spec.model.params}
    line = spec.model.predict(leaves, var("x"))
    for i, (tree, x) in enumerate(zip(grid_trees(), xs)):
        row = DATA_FIRST_ROW + i
        yield Cell(row, GRID_COL, "formula", to_excel(tree, refs)[1:], x)
        for j, (_, params) in enumerate(lines):
            names = {p: params[p][0] for p in spec.model.params}
            names["x"] = ref(row, GRID_COL)
            value = spec.model.predict({p: params[p][1] for p in spec.model.params}, x)
            yield Cell(row, GRID_COL + 1 + j, "formula", to_excel(line, names)[1:],
                       _plain(value))


def _plain(value) -> float | str:
    value = float(value)
    return value if np.isfinite(value) else "#NUM!"


# --- compare -----------------------------------------------------------------------------------
COMPARE_HEADER_ROW = 3


def compare_layout(plans: Sequence[SheetPlan]) -> tuple[int, int]:
    """(row of the per-epoch header, how many epoch rows)."""
    epochs = max((len(p.summary[0].values) for p in plans), default=0)
    return COMPARE_HEADER_ROW + len(plans) + 3, epochs


def compare_columns(spec: Spec) -> list[str]:
    names = display_order(spec)
    headers = ["sheet", "optimizer", "flavour", "epochs"] + [f"final {p}" for p in names]
    return headers + (["distance to truth"] if true_known(spec) else []) + ["diverged"]


def compare_cells(spec: Spec, plans: Sequence[SheetPlan]) -> Iterator[Cell]:
    names = display_order(spec)
    words, figure = loss_words(spec.model), loss_figures(spec.model)[-1]
    yield Cell(0, 0, "text", "compare", style="title")
    yield Cell(1, 0, "text", "Final parameters of every sheet, their distance to the true "
               f"values, and each epoch's {words}" + (" (the chart's scale is logarithmic)."
               if fits_log_scale(*[p.trace.epochs[figure] for p in plans]) else "."),
               style="subtitle")
    for col, text in enumerate(compare_columns(spec)):
        yield Cell(COMPARE_HEADER_ROW, col, "text", text, style="header")
    for i, plan in enumerate(plans):
        row = COMPARE_HEADER_ROW + 1 + i
        finals = final_refs(plan)
        yield Cell(row, 0, "text", plan.title, style="bold")
        yield Cell(row, 1, "text", plan.sheet.optimizer)
        yield Cell(row, 2, "text", plan.sheet.flavor)
        yield Cell(row, 3, "number", plan.sheet.epochs, style="int")
        for j, p in enumerate(names):
            yield Cell(row, 4 + j, "formula", finals[p][0], _plain(finals[p][1]))
        col = 4 + len(names)
        if true_known(spec):
            leaves = {p: var(f"f:{p}") for p in names}
            truth = {p: var(f"t:{p}") for p in names}
            tree = formulas.distance(leaves, truth, spec.model.params)
            refs = {f"f:{p}": ref(row, 4 + j) for j, p in enumerate(names)}
            refs.update({f"t:{p}": true_ref(spec, p) for p in names})
            value = formulas.distance({p: finals[p][1] for p in names}, spec.data.true,
                                      spec.model.params, numpy_ops)
            yield Cell(row, col, "formula", to_excel(tree, refs)[1:], _plain(value))
            col += 1
        yield diverged_flag(plan, row, col)
    header_row, epochs = compare_layout(plans)
    yield Cell(header_row - 1, 0, "text", f"{words} per epoch", style="bold")
    yield Cell(header_row, 0, "text", "epoch", style="header")
    for j, plan in enumerate(plans):
        yield Cell(header_row, 1 + j, "text", plan.title, style="header")
    for e in range(epochs):
        row = header_row + 1 + e
        yield Cell(row, 0, "number", e + 1, style="int")
        for j, plan in enumerate(plans):
            done = len(plan.trace.epochs["epoch"])
            if e < done:
                col = plan.summary_col + [c.id for c in plan.summary].index(figure)
                target = f"{quoted(plan.title)}!{ref(FIRST_ROW + e, col, True)}"
                yield Cell(row, 1 + j, "formula", target, float(plan.trace.epochs[figure][e]))


EDITED_DIVERGED = "yes: after an edit, the loss blew up"


def diverged_flag(plan: SheetPlan, row: int, col: int) -> Cell:
    """Whether the sheet diverged. A run that diverged when written stops there (text: no edit
    brings its rows back); otherwise a formula watches what the engine watches: every step's
    loss finite and at most diverge_above, every new parameter finite."""
    if plan.trace.diverged:
        epoch, step = plan.trace.diverged_at
        return Cell(row, col, "text", f"yes: epoch {epoch}, step {step} (rows stop there)",
                    style="flag")
    if not len(plan.trace):
        return Cell(row, col, "text", "no", style="ok")
    first, last = FIRST_ROW, FIRST_ROW + plan.n_rows - 1
    sheet = quoted(plan.title)

    def column(cid: str) -> str:
        c = plan.col_of[cid]
        return f"{sheet}!{ref(first, c, True)}:{ref(last, c, True)}"

    loss = column("loss" if "loss" in plan.col_of else "err2")
    params = [column(f"new:{p}") for p in plan.spec.model.params]
    errors = ",".join(f"ISERROR(MAX({r}))" for r in [loss, *params])
    limit = formulas.literal(plan.sheet.diverge_above)
    text = (f'IF(OR({errors}),"{EDITED_DIVERGED}",'
            f'IF(MAX({loss})>{limit},"{EDITED_DIVERGED}","no"))')
    return Cell(row, col, "formula", text, "no", style="ok")
