"""Formula trees of the workbook, derived from the engine's own definitions.

Nothing here writes formula text by hand. A step of a sheet is computed by calling the model,
``gradients``, the rule and the schedules with symbolic leaves (``symbolic.var``): the trees
are exactly what the engine evaluates with numpy. Each tree is then cut into cells: a subtree
that another cell already computes is replaced by a reference to that cell (so ``de/db`` reads
the ``pred`` cell rather than repeating the model), which keeps every IEEE operation and its
order, only spread over several cells.

Leaf names: ``cell:<column>:<offset>`` is a cell of the current block of rows (offset 0 is the
block's first row; -1 is the last row of the block before), ``in:<name>`` an input cell (a
hyperparameter, ``h`` the finite-difference step, ``start:...`` a start value),
``data:<column>`` the data sheet's row (``data:x``, ``data:y`` for the lecture's model; every
input column of a model that reads several), ``epoch:lr`` the lr of the block's epoch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from .. import ops as ops_module
from ..models import gradients
from ..protocol.engine import epoch_losses, epoch_mean_loss
from ..ops import symbolic_ops as ops
from ..schedules import anneal, gradient_scale
from ..spec import Sheet, Spec
from ..ops.symbolic import (Expr, deep_trees, python_texts, substitute, to_excel, var,
                            variables)
from . import schedule_cells


def cell(column: str, offset: int) -> Expr:
    return var(f"cell:{column}:{offset}")


def inp(name: str) -> Expr:
    return var(f"in:{name}")


@dataclass(frozen=True)
class BlockShape:
    """What decides a block's formulas: its row count and where it sits in the run."""

    size: int
    first_of_run: bool
    first_of_epoch: bool


def fold_sum(values: Sequence):
    """Left-to-right sum without a leading zero (0 + v is v exactly)."""
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total


def methods_needing_rows(sheet: Sheet) -> list[str]:
    """The finite-difference methods whose shifted losses the sheet shows per row."""
    return [m for m in dict.fromkeys([sheet.gradient, *sheet.show]) if m != "analytic"]


def shown_methods(sheet: Sheet) -> list[str]:
    """Gradient estimates shown beside the one the rule uses (the engine records both)."""
    return [m for m in dict.fromkeys(sheet.show) if m != sheet.gradient]


def hyper_leaves(sheet: Sheet, step_row: int) -> dict:
    """The hyperparameters as the rule sees them: inputs, or the schedule's per-step cells."""
    hp = {name: inp(name) for name in sheet.hypers}
    per_step = sheet.schedule.lr_cells == "step"
    for name in sheet.schedule.sets(sheet.hypers):
        hp[name] = cell(name, step_row) if per_step else var(f"epoch:{name}")
    return hp


def block_trees(spec: Spec, sheet: Sheet, shape: BlockShape, total_steps: int) -> dict:
    """Every formula cell of one block as (column, offset) -> tree, in dependency order."""
    model, n = spec.model, shape.size
    names, states = model.params, sheet.rule.states(sheet.static)
    last = n - 1
    trees: dict[tuple[str, int], Expr] = {}
    for i in range(n):
        for column in model.columns:
            trees[(column, i)] = var(f"data:{column}")
    for p in names:
        trees[(f"p:{p}", 0)] = inp(f"start:{p}") if shape.first_of_run else cell(f"new:{p}", -1)
    params = {p: cell(f"p:{p}", 0) for p in names}
    xs = [model.row([cell(column, i) for column in model.inputs]) for i in range(n)]
    ys = [cell("y", i) if model.target else 0.0 for i in range(n)]
    trees.update(prediction_trees(model, params, xs))
    for i in range(n):
        trees[("err2", i)] = model.loss(params, xs[i], ys[i])
    if sheet.batch_size > 1 and sheet.gradient == "analytic":
        for i in range(n):
            row_grad = model.gradient(params, xs[i], ys[i])
            for p in names:
                trees[(f"rowgrad:{p}", i)] = row_grad[p]
    h = inp("h")  # the finite-difference step is an input cell, so a learner can change it
    for method in methods_needing_rows(sheet):
        for p in names:
            for sign, delta in (("+", h), ("-", -h))[:2 if method == "central" else 1]:
                shifted = dict(params, **{p: params[p] + delta})
                for i in range(n):
                    trees[(f"shift{sign}:{p}", i)] = model.loss(shifted, xs[i], ys[i])
    if sheet.batch_size > 1:
        summed = [c for (c, i) in list(trees) if i == 0 and (c == "err2" or c.startswith(("rowgrad", "shift")))]
        for column in summed:
            for i in range(1, n):
                trees[(f"sum:{column}", i)] = fold_sum([trees[(column, k)] for k in range(i + 1)])
    if schedule_cells.scheduled(sheet) and sheet.schedule.lr_cells == "step":
        # the scheduler's state on the step's row: the constructor's on the first step, then
        # one scheduler step from the row above, at count t - 1
        values = (schedule_cells.first_step(sheet, inp) if shape.first_of_run else
                  schedule_cells.next_step(sheet, inp, lambda c: cell(c, -1),
                                           cell("t", last) - 1))
    else:  # the engine's (t - t0) / total, t0 = 0
        values = sheet.schedule.step_cells(sheet.hypers, leaf=inp, t=cell("t", last),
                                           total=total_steps, ops=ops)
    for column, tree in values.items():
        trees[(column, last)] = tree
    loss = gradients.mean([trees[("err2", i)] for i in range(n)])
    if sheet.batch_size > 1:
        trees[("loss", last)] = loss
    grads = gradients.gradient(sheet.gradient, model, params, xs, ys, h=h, loss=loss)
    for p in names:
        trees[(f"grad:{p}", last)] = grads[p]
    for method in shown_methods(sheet):
        shown = gradients.gradient(method, model, params, xs, ys, h=h, loss=loss)
        for p in names:
            trees[(f"{method}:{p}", last)] = shown[p]
    hp = hyper_leaves(sheet, last)
    t = cell("t", last)
    for p in names:
        g = cell(f"grad:{p}", last)
        prev = {s: inp(f"start:{s}:{p}") if shape.first_of_run else cell(f"state:{s}:{p}", -1)
                for s in states}
        new = sheet.rule.updated(params[p], g, prev, hp=hp, t=t, ops=ops, static=sheet.static)
        for s in states:
            trees[(f"state:{s}:{p}", last)] = new[s]
        new_cells = {s: cell(f"state:{s}:{p}", last) for s in states}
        trees[(f"new:{p}", last)] = sheet.rule.stepped(params[p], g, prev, new_cells, hp=hp, t=t,
                                                       ops=ops, static=sheet.static)
    # the engine's epoch total, 0 and then + each step's term: the batch's sum of squared
    # errors (the RMSE's), or the step's loss (the mean loss's)
    term = fold_sum([trees[("err2", i)] for i in range(n)]) if model.reports_rmse else loss
    trees[("epochsum", last)] = term if shape.first_of_epoch else cell("epochsum", -1) + term
    return trees


def prediction_trees(model, params: Mapping, xs: Sequence) -> dict:
    """Each row's prediction cells: the model's parts (a ReLU unit's activation) that feed
    its pred, the pred (unless it is the row's loss: one column), then what the model derives
    from the pred (a classifier's p), which reads it."""
    trees = {}
    for i, x in enumerate(xs):
        for column, tree in (model.parts(params, x) if model.parts else {}).items():
            trees[(f"model:{column}", i)] = tree
    if not model.pred_is_loss:
        for i, x in enumerate(xs):
            trees[("pred", i)] = model.predict(params, x)
    for i, x in enumerate(xs):
        derived = model.derived(model.predict(params, x)) if model.derived else {}
        for column, tree in derived.items():
            trees[(f"model:{column}", i)] = tree
    return trees


def inputs_read(spec: Spec, sheet: Sheet, total_steps: int) -> set[str]:
    """The input cells (``in:`` leaves) that a sheet's formulas read: the step formulas of
    every kind of block, and the epoch summary's lr (which reads the lr input unless the lr
    changes every step). A hyperparameter outside this set is fixed by the spec's value."""
    # rows of a block differ only in their data; two rows read what a thousand would
    size = min(sheet.batch_size, len(spec.data), 2)
    per_epoch = schedule_cells.scheduled(sheet) and sheet.schedule.lr_cells == "epoch"
    found = set() if per_epoch or sheet.schedule.lr_cells == "step" else {"lr"}
    if per_epoch:
        for tree in [*epoch_schedule_trees(sheet, first=True).values(),
                     *epoch_schedule_trees(sheet, first=False).values()]:
            found |= {name[3:] for name in variables(tree) if name.startswith("in:")}
    for first_of_run, first_of_epoch in ((True, True), (False, True), (False, False)):
        shape = BlockShape(size, first_of_run, first_of_epoch)
        for tree in block_trees(spec, sheet, shape, total_steps).values():
            found |= {name[3:] for name in variables(tree) if name.startswith("in:")}
    return found


def cut_into_cells(trees: Mapping[tuple[str, int], Expr]) -> dict[tuple[str, int], Expr]:
    """Replaces, in each tree, every subtree that an earlier cell computes by that cell."""
    known: dict[str, Expr] = {}
    out = {}
    text_of = python_texts()
    with deep_trees():
        for key, tree in trees.items():
            out[key] = substitute(tree, known, root=True, text_of=text_of)
            text = text_of(tree)
            if tree.op != "var" and text not in known:
                known[text] = cell(*key)
    return out


# --- the epoch summary ---------------------------------------------------------------------
def epoch_figures(epoch_sum: Expr, rows: int) -> tuple[Expr, Expr]:
    """The lecture's sqrt-of-sum figure and the true RMSE of an epoch, as the engine has them."""
    return epoch_losses(epoch_sum, rows, ops)


def mean_loss(loss_sum: Expr, steps: int) -> Expr:
    """An epoch's mean loss from the sum of its step losses (``engine.epoch_mean_loss``): what
    a model whose loss is not the squared error reports, and ReduceLROnPlateau's metric."""
    return epoch_mean_loss(loss_sum, steps)


def annealing(lr: Expr, sqr_avgs: Sequence[Expr], best: Expr) -> tuple[Expr, Expr, Expr]:
    """adam_ann after an epoch: (gradient scale, next lr, next best)."""
    scale = gradient_scale(list(sqr_avgs), ops)
    next_lr, next_best = anneal(lr, scale, best, ops)
    return scale, next_lr, next_best


def distance(final: Mapping, true: Mapping, names: Sequence[str], ops=ops):
    """The distance of the final parameters to the true ones (``sheetopt.ops.distance``), as
    a formula by default."""
    return ops_module.distance(final, true, names, ops)


def literal(value: float) -> str:
    """A number as formula text, the way the rule printer writes constants."""
    return to_excel(value, {})[1:]


def epoch_schedule_trees(sheet: Sheet, first: bool) -> dict:
    """A per-epoch torch scheduler's summary cells: the state epoch 1 uses (``first``), or one
    scheduler step from the ``prev:<column>`` cells at count ``ep - 1`` (``ep`` the epoch's
    number), ReduceLROnPlateau's with the ``metric`` cell."""
    if first:
        return schedule_cells.first_step(sheet, inp)
    return schedule_cells.next_step(sheet, inp, lambda c: var(f"prev:{c}"), var("ep") - 1,
                                    var("metric"))


def plateau_counter_trees(sheet: Sheet, first: bool) -> dict:
    """ReduceLROnPlateau after an epoch: its counters from the epoch's lr and ``metric`` and
    the counters before (``prev:<column>``; the constructor's for the first epoch)."""
    return schedule_cells.next_step(sheet, inp, lambda c: var(f"prev:{c}"), var("ep"),
                                    var("metric"), first=first)
