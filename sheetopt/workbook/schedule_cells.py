"""A torch scheduler in a workbook: its numeric arguments as input cells, and the lr (with the
momentum it cycles and counters such as T_cur) as formulas of the previous step's (or epoch's)
cells, from the same scheduler definitions the engine steps (sheetopt/schedules/).

Names: the input of argument ``gamma`` is ``sched:gamma`` (``sched:1.T_max`` for the second
scheduler of a SequentialLR); the state columns are ``lr``, ``mom`` and ``sched:<child>.<name>``.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable, Mapping

import numpy as np

from ..ops import symbolic_ops
from ..schedules import Clock, Node, Schedule
from ..spec import Sheet
from ..ops.symbolic import Expr, lift, var

PREFIX = "sched:"
_MAXF = 1.7976931348623157e308  # stands for torch's inf start (see first_step)


def scheduled(sheet: Sheet) -> bool:
    """Whether the sheet's schedule is a torch scheduler, whose state these cells carry."""
    return sheet.schedule.node is not None


def _children(node: Node) -> list[Node]:
    return list(node.children) if node.cls.composite else [node]


def _arg_name(node: Node, index: int | None, arg: str) -> str:
    return f"{PREFIX}{'' if index is None else f'{index}.'}{arg}"


def inputs(sheet: Sheet) -> dict[str, float]:
    """The scheduler's numeric arguments (torch's defaults filled in) as input names -> values."""
    if not scheduled(sheet):
        return {}
    node = sheet.schedule.node
    out = {}
    for i, child in enumerate(_children(node)):
        index = i if node.cls.composite else None
        for arg in child.cls.numeric:
            value = child.args.get(arg)
            if value is not None and not isinstance(value, bool):
                out[_arg_name(node, index, arg)] = float(value)
    return out


def symbolic_node(node: Node, leaf: Callable[[str], Expr]) -> Node:
    """The node with each numeric argument read from its input cell."""
    def swap(child: Node, index):
        args = dict(child.args)
        for arg in child.cls.numeric:
            if args.get(arg) is not None and not isinstance(args[arg], bool):
                args[arg] = leaf(_arg_name(node, index, arg))
        return replace(child, args=args)
    if not node.cls.composite:
        return swap(node, None)
    return replace(node, children=tuple(swap(c, i) for i, c in enumerate(node.children)))


def with_inputs(schedule: Schedule, values: Mapping[str, float]) -> Schedule:
    """The schedule with its arguments as a workbook's input cells now say."""
    options = dict(schedule.options)
    for name, value in values.items():
        path, _, arg = name[len(PREFIX):].rpartition(".")
        if path:
            children = [dict(c) for c in options["schedulers"]]
            children[int(path)][arg] = value
            options["schedulers"] = children
        else:
            options[arg] = value
    return Schedule(schedule.kind, options)


def state_columns(sheet: Sheet) -> list[str]:
    """The columns the scheduler's state takes: lr, mom (when it cycles), then its counters."""
    node = sheet.schedule.node
    out = ["lr"] + (["mom"] if node.cycles else [])
    for i, child in enumerate(_children(node)):
        out += [f"{PREFIX}{i}.{name}" for name in child.cls.dynamic]
    return out


def _flatten(node: Node, g: dict, state: list) -> dict:
    out = {"lr": g["lr"]}
    if "mom" in g:
        out["mom"] = g["mom"]
    for i, child in enumerate(_children(node)):
        for name in child.cls.dynamic:
            out[f"{PREFIX}{i}.{name}"] = state[i][name]
    return out


def _start(sheet: Sheet, leaf: Callable[[str], Expr]):
    node = symbolic_node(sheet.schedule.node, leaf)
    g = {"lr": leaf("lr")}
    if node.cycles:
        g["mom"] = leaf("mom") if "mom" in sheet.hypers else 0.0
    g, state = node.construct(g, symbolic_ops)
    return node, g, state


def first_step(sheet: Sheet, leaf: Callable[[str], Expr]) -> dict[str, Expr]:
    """Trees of the state the first step (or epoch) uses: the constructor's."""
    node, g, state = _start(sheet, leaf)
    return {c: lift(v) for c, v in _flatten(node, g, state).items()}


def next_step(sheet: Sheet, leaf: Callable[[str], Expr], previous: Callable[[str], Expr], k,
              metric=None, first: bool = False) -> dict[str, Expr]:
    """Trees of the state after one more scheduler step, at count ``k`` (a tree), from the
    ``previous`` cells of each state column; ``first``: the previous state is the
    constructor's (ReduceLROnPlateau's best starts at inf, which no cell holds: the largest
    finite number stands in, and compares the same with any finite metric)."""
    node, g, state = _start(sheet, leaf)
    g = dict(g)
    state = [dict(p) for p in state]
    for column in state_columns(sheet):
        if column in ("lr", "mom"):
            g[column] = previous(column)
            continue
        i, name = column[len(PREFIX):].split(".", 1)
        value = state[int(i)][name]
        if first and isinstance(value, float) and not math.isfinite(value):
            state[int(i)][name] = math.copysign(_MAXF, value)
        elif not first:
            state[int(i)][name] = previous(column)
    g, state = node.step(g, state, k, symbolic_ops, metric)
    return {c: lift(v) for c, v in _flatten(node, g, state).items()}


def host_values(sheet: Sheet, count: int, metrics=None) -> dict[str, np.ndarray]:
    """The state columns' values, ``count`` steps (or epochs) of them, stepped on the host as
    the engine does (``metrics``: per epoch, for ReduceLROnPlateau). Entry j is the state
    that step j uses; for ReduceLROnPlateau (whose counters change with the metric) the
    counters are those after step j, as the summary shows them."""
    hp = dict(sheet.hypers)
    clock = Clock(sheet.schedule.node, hp["lr"], hp.get("mom"))
    columns = state_columns(sheet)
    plateau = not sheet.schedule.node.cls.lr_scheduler
    out = {c: np.zeros(count) for c in columns}
    for j in range(count):
        values = _flatten(clock.node, clock.group, clock.state)
        out["lr"][j] = _number(values["lr"])
        if "mom" in values:
            out["mom"][j] = _number(values["mom"])
        metric = None if metrics is None or j >= len(metrics) else metrics[j]
        if plateau and metric is None:
            break
        clock.advance(None if metric is None else np.array([[metric]]))
        after = _flatten(clock.node, clock.group, clock.state) if plateau else values
        for c in columns[1 + ("mom" in values):]:
            out[c][j] = _number(after[c])
    return out


def _number(value) -> float:
    return float(np.asarray(value, dtype=float).reshape(-1)[0])


def leaf_var(name: str) -> Expr:
    return var(f"in:{name}")
