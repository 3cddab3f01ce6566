"""The cells of one optimizer sheet, in row order: title, inputs, header, steps, epoch summary."""
from __future__ import annotations

from typing import Iterator

from ..spec import LECTURE_RESET
from ..ops.symbolic import replace_subtree, to_excel, var
from . import formulas, notes, schedule_cells
from .formulas import inp
from .layout import (FIRST_ROW, HEADER_ROW, data_ref, HYPER_ROW, NOTE_ROW, RULE_ROW, START_ROW,
                     STATUS_ROW, TITLE_ROW, Cell, RawRow, SheetPlan, display_order,
                     start_values)
from .templates import ref

FLAVOUR_WORDS = {
    "lecture": "lecture flavour: as the fast.ai spreadsheet computes it (no bias correction, "
               "no epsilon, averages damped by 1 - beta)",
    "torch": "torch flavour: as torch.optim computes it (t counts steps from 1)",
    "keras": "keras flavour: as Keras 3 computes it (t counts steps from 1)",
    "optax": "optax flavour: as optax computes it (t counts steps from 1)",
    "fastai": "fastai flavour: as fastai's optimizers compute it (t counts steps from 1)",
}
# column widths in characters (see the workbook writer)
WIDTH_LABEL, WIDTH_STEP, WIDTH_NUMBER = 15, 6, 11.5
MIN_CHART_COL = 8  # the epoch chart sits at the top, right of the inputs, from this column on


def chart_col(plan: SheetPlan) -> int:
    """The column where the epoch chart starts: right of every input cell."""
    return max(plan.hyper_end, plan.start_end, MIN_CHART_COL - 1) + 1


def text_width(plan: SheetPlan) -> float:
    """Characters that fit in a line across the columns left of the chart."""
    return WIDTH_LABEL + WIDTH_STEP + WIDTH_NUMBER * (chart_col(plan) - 2)


def cells(plan: SheetPlan, xml_style=None) -> Iterator[Cell | RawRow]:
    """Every cell of the sheet, row by row; with ``xml_style`` most step rows come as finished
    XML rows (see SheetPlan.step_rows), the rows beside the epoch summary as cells."""
    yield from top_cells(plan)
    side = _summary_rows(plan)  # one row per epoch, made as the step rows reach it
    side_rows = range(FIRST_ROW, FIRST_ROW + plan.epochs_started())
    pending = next(side, None)
    last = FIRST_ROW - 1
    for row, row_cells in plan.step_rows(xml_style, side_rows):
        if isinstance(row_cells, RawRow):
            yield row_cells
        else:
            yield from row_cells
        if pending is not None and pending[0] == row:
            yield from pending[1]
            pending = next(side, None)
        last = row
    while pending is not None:
        yield from pending[1]
        last = max(last, pending[0])
        pending = next(side, None)
    if plan.trace.diverged:
        epoch, step = plan.trace.diverged_at
        end = FIRST_ROW + plan.n_rows
        yield Cell(max(end, last + 1), 0, "text",
                   f"Diverged at epoch {epoch}, step {step}: the loss left the finite range "
                   f"(or passed {plan.sheet.diverge_above:g}); no rows are written beyond here.",
                   style="warn")


def top_cells(plan: SheetPlan) -> list[Cell]:
    """Title, notes, the input cells and the header row, in row order."""
    sheet, spec = plan.sheet, plan.spec
    end = chart_col(plan) - 1
    out = [Cell(TITLE_ROW, 0, "merged", f"{plan.title}: {sheet.optimizer}, {sheet.flavor} "
                f"flavour", style="title", span=end),
           Cell(RULE_ROW, 0, "merged", f"{sheet.rule.summary}   ({FLAVOUR_WORDS[sheet.flavor]})",
                style="subtitle_wrap", span=end),
           Cell(NOTE_ROW, 0, "merged", "Edit the yellow cells (and the data sheet's rows): "
                "every other number is a formula and recalculates.", style="subtitle",
                span=end),
           Cell(HYPER_ROW, 0, "text", "hyperparameters", style="label")]
    for name, (_, col) in plan.inputs.items():
        if not name.startswith("start:"):
            out.append(Cell(HYPER_ROW, col, "text", _input_label(name), style="input_label",
                            note=notes.H if name == "h" else _schedule_note(name, sheet)))
    for name, (_, col) in plan.fixed.items():
        out.append(Cell(HYPER_ROW, col, "text", f"{_input_label(name)} (fixed)",
                        style="fixed_label",
                        note=notes.FIXED))
    row = []
    for name, (_, col) in plan.inputs.items():
        if not name.startswith("start:"):
            row.append(Cell(HYPER_ROW + 1, col, "number", plan.start_value(name), style="input"))
    for name, (_, col) in plan.fixed.items():
        row.append(Cell(HYPER_ROW + 1, col, "number", plan.start_value(name), style="fixed",
                        note=notes.FIXED))
    out += sorted(row, key=lambda c: c.col)
    out.append(Cell(START_ROW, 0, "text", "start", style="label"))
    starts = [k for k in plan.inputs if k.startswith("start:")]
    for key in starts:
        out.append(Cell(START_ROW, plan.inputs[key][1], "text", _start_label(key),
                        style="input_label"))
    for i, label in enumerate(sheet.schedule.start_labels):
        out.append(Cell(START_ROW, plan.extra_col + i, "text", label, style="input_label",
                        note=notes.START_CELLS[label]))
    for key in starts:
        out.append(Cell(START_ROW + 1, plan.inputs[key][1], "number", plan.start_value(key),
                        style="input"))
    trees = sheet.schedule.start_cells(
        lambda s: [inp(f"start:{s}:{p}") for p in spec.model.params], formulas.ops)
    values = start_values(plan)
    for i, (label, tree) in enumerate(trees.items()):
        out.append(Cell(START_ROW + 1, plan.extra_col + i, "formula",
                        to_excel(tree, lambda n: plan.input_ref(n[3:]))[1:],
                        values[label], style="derived_input"))
    out.append(Cell(STATUS_ROW, 0, "merged", _status(plan),
                    style="warn_wrap" if plan.trace.diverged else "subtitle_wrap", span=end))
    for i, column in enumerate(plan.columns):
        out.append(Cell(HEADER_ROW, i, "text", column.header, style="header", note=column.note))
    for i, column in enumerate(plan.summary):
        out.append(Cell(HEADER_ROW, plan.summary_col + i, "text", column.header,
                        style="header", note=column.note))
    return out


def _input_label(name: str) -> str:
    """A hyperparameter's name; a scheduler argument as torch spells it."""
    return name[len(schedule_cells.PREFIX):] if name.startswith(schedule_cells.PREFIX) else name


def _schedule_note(name: str, sheet) -> str | None:
    if not name.startswith(schedule_cells.PREFIX):
        return None
    return f"An argument of torch.optim.lr_scheduler.{sheet.schedule.options['torch']}."


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
    if sheet.schedule.status:
        words.append(sheet.schedule.status)
    words.append("Epoch summary: right of the steps.")
    if plan.trace.diverged:
        epoch, step = plan.trace.diverged_at
        words.insert(0, f"DIVERGED at epoch {epoch}, step {step}: rows stop there.")
    return " ".join(words)


def _summary_rows(plan: SheetPlan) -> Iterator[tuple[int, list[Cell]]]:
    """The epoch summary table beside the steps: (row, cells) in row order."""
    spec, sheet = plan.spec, plan.sheet
    ids = [c.id for c in plan.summary]
    col = {c: plan.summary_col + i for i, c in enumerate(ids)}
    finished = len(plan.trace.epochs["epoch"])
    values = {c.id: c.values for c in plan.summary}
    for j in range(plan.epochs_started()):
        epoch = j + 1
        row = FIRST_ROW + j
        out = []
        out.append(Cell(row, col["epoch"], "number", epoch, style="int"))
        first_k, last_k = plan.epoch_steps(epoch)
        last_row = plan.last_step_row(last_k)
        if j < finished:
            out += _loss_cells(plan, row, col, (first_k, last_k), values, j)
            for p in display_order(spec):
                out.append(Cell(row, col[p], "formula", ref(last_row, plan.col_of[f"new:{p}"]),
                                float(values[p][j])))
            if "accuracy" in col:
                out.append(_accuracy_cell(plan, row, col, float(values["accuracy"][j])))
            if "distance" in col:
                out.append(_distance_cell(plan, row, col, float(values["distance"][j])))
        if schedule_cells.scheduled(sheet) and sheet.schedule.lr_cells == "epoch":
            out += _schedule_cells(plan, j, row, col=col, last_row=last_row, values=values,
                                   finished=finished)
        else:
            out.append(_lr_cell(plan, j, row, col, first_k, values))
        if sheet.schedule.annealed and j < finished:
            out += _annealing_cells(plan, j, row, col, last_row, values)
        yield row, out


def _loss_cells(plan: SheetPlan, row: int, col: dict, steps: tuple[int, int], values,
                j: int) -> list[Cell]:
    """The epoch's loss figures from its Σ cell: the lecture's sqrt-of-sum and the true RMSE,
    or (a model whose loss is not the squared error) the mean of its step losses."""
    first_k, last_k = steps
    last_row = plan.last_step_row(last_k)
    refs = {"sum": ref(last_row, plan.col_of["epochsum"])}
    if not plan.spec.model.reports_rmse:
        tree = formulas.mean_loss(var("sum"), last_k - first_k + 1)
        return [Cell(row, col["loss"], "formula", to_excel(tree, refs)[1:],
                     float(values["loss"][j]))]
    rows_in_epoch = last_row - plan.block_start(first_k) + 1
    lecture, rmse = formulas.epoch_figures(var("sum"), rows_in_epoch)
    return [Cell(row, col["lecture_rmse"], "formula", to_excel(lecture, refs)[1:],
                 float(values["lecture_rmse"][j])),
            Cell(row, col["rmse"], "formula", to_excel(rmse, refs)[1:],
                 float(values["rmse"][j]))]


def _accuracy_cell(plan: SheetPlan, row: int, col: dict, value: float) -> Cell:
    """A classifier's accuracy with the epoch's parameters (the summary's cells in its row):
    the model's prediction and ``Model.accuracy`` over the data sheet's whole columns."""
    model, rows = plan.spec.model, len(plan.spec.data)
    x = model.row([var(f"d:{c}") for c in model.inputs])
    right = model.accuracy(model.predict({p: var(f"f:{p}") for p in model.params}, x),
                           var("d:y"))
    refs = {f"f:{p}": ref(row, col[p]) for p in model.params}
    for j, column in enumerate(model.columns):  # the data sheet's column, every row
        first, last = data_ref(j, 0), data_ref(j, rows - 1)
        refs[f"d:{column}"] = f"{first}:{last.split('!')[1]}"
    text = f"SUMPRODUCT({to_excel(right, refs)[1:]})/{rows}"
    return Cell(row, col["accuracy"], "formula", text, value)


def _distance_cell(plan: SheetPlan, row: int, col: dict, value: float) -> Cell:
    """The epoch's distance to the truth, from the summary's parameter cells in its row."""
    from .overview import true_ref

    names = plan.spec.model.params
    tree = formulas.distance({p: var(f"f:{p}") for p in names},
                             {p: var(f"t:{p}") for p in names}, names)
    refs = {f"f:{p}": ref(row, col[p]) for p in names}
    refs.update({f"t:{p}": true_ref(plan.spec, p) for p in names})
    return Cell(row, col["distance"], "formula", to_excel(tree, refs)[1:], value)


def _lr_cell(plan: SheetPlan, j: int, row: int, col: dict, first_k: int, values) -> Cell:
    sheet = plan.sheet
    value = float(values["lr"][j])
    if sheet.schedule.lr_cells == "step":
        text = ref(plan.last_step_row(first_k), plan.col_of["lr"])
    elif sheet.schedule.annealed and j > 0:
        # the lr after an epoch, from the scale of that epoch and the best before it
        _, next_lr, _ = _annealing_trees(plan)
        refs = {"lr": ref(row - 1, col["lr"]), "scale": ref(row - 1, col["scale"]),
                "best": plan.start_scale_ref() if j == 1 else ref(row - 2, col["best"])}
        text = to_excel(next_lr, refs)[1:]
    else:
        text = plan.input_ref("lr")
    return Cell(row, col["lr"], "formula", text, value)


def _schedule_cells(plan: SheetPlan, j: int, row: int, col: dict, last_row: int, values,
                    finished: int) -> list[Cell]:
    """A per-epoch torch scheduler's summary cells of epoch j + 1: the constructor's state on
    the first row, then one scheduler step from the row above (ReduceLROnPlateau: the lr from
    the row above's lr, metric and the counters before them; its counters after the epoch
    from this row's)."""
    sheet = plan.sheet
    columns = schedule_cells.state_columns(sheet)

    def text(tree, refs):
        return to_excel(tree, lambda n: plan.input_ref(n[3:]) if n.startswith("in:")
                        else refs[n])[1:]

    def prev(at_row: int, lr_row: int, metric_row: int | None = None) -> dict:
        refs = {f"prev:{c}": ref(at_row, col[c]) for c in columns if c not in ("lr", "mom")}
        refs.update({f"prev:{c}": ref(lr_row, col[c]) for c in ("lr", "mom") if c in col})
        refs["ep"] = ref(lr_row, col["epoch"])
        if metric_row is not None:
            refs["metric"] = ref(metric_row, col[metric])
        return refs

    metric = "metric" if "metric" in col else "loss"  # the summary's mean loss, when it has one
    out = []
    if sheet.schedule.node.cls.lr_scheduler:
        trees = formulas.epoch_schedule_trees(sheet, first=j == 0)
        refs = prev(row - 1, row - 1)
        refs["ep"] = ref(row, col["epoch"])
        for c in columns:
            out.append(Cell(row, col[c], "formula", text(trees[c], refs), float(values[c][j])))
        return out
    if j < finished and metric == "metric":  # the epoch's metric
        steps = plan.epoch_steps(j + 1)[1] - plan.epoch_steps(j + 1)[0] + 1
        tree = formulas.mean_loss(var("sum"), steps)
        out.append(Cell(row, col["metric"], "formula",
                        text(tree, {"sum": ref(last_row, plan.col_of["epochsum"])}),
                        float(values["metric"][j])))
    if j == 0:
        lr = formulas.epoch_schedule_trees(sheet, first=True)["lr"]
        out.append(Cell(row, col["lr"], "formula", text(lr, {}), float(values["lr"][j])))
    else:
        lr = formulas.plateau_counter_trees(sheet, first=j == 1)["lr"]
        out.append(Cell(row, col["lr"], "formula", text(lr, prev(row - 2, row - 1, row - 1)),
                        float(values["lr"][j])))
    if j < finished:
        after = formulas.plateau_counter_trees(sheet, first=j == 0)
        refs = prev(row - 1, row, row)
        for c in columns[1:]:
            out.append(Cell(row, col[c], "formula", text(after[c], refs), float(values[c][j])))
    return out


def _annealing_trees(plan: SheetPlan):
    """adam_ann's (scale, next lr, next best) with the scale read from its own cell."""
    names = plan.spec.model.params
    sqr = [var(f"s:{p}") for p in names]
    scale, next_lr, best = formulas.annealing(var("lr"), sqr, var("best"))
    return (scale, replace_subtree(next_lr, scale, var("scale")),
            replace_subtree(best, scale, var("scale")))


def _annealing_cells(plan: SheetPlan, j: int, row: int, col: dict, last_row: int, values):
    names = plan.spec.model.params
    refs = {f"s:{p}": ref(last_row, plan.col_of[f"state:sqr_avg:{p}"]) for p in names}
    refs.update(scale=ref(row, col["scale"]),
                best=plan.start_scale_ref() if j == 0 else ref(row - 1, col["best"]))
    scale, _, best = _annealing_trees(plan)
    yield Cell(row, col["scale"], "formula", to_excel(scale, refs)[1:], float(values["scale"][j]))
    yield Cell(row, col["best"], "formula", to_excel(best, refs)[1:], float(values["best"][j]))
