"""What a sweep varies, by name: any numeric hyperparameter of the sheet (lr, mom, eps, wd...)
and any numeric argument of its schedule (max_lr, pct_start, gamma...). Each value is checked as
the spec's own would be; a name the run does not use is refused, naming what to sweep instead;
the configurations are split into groups that each run with one sheet (see :func:`groups`).

>>> from sheetopt.spec import Spec
>>> sorted(sweepable(Spec.load("lesson5").sheet("adam")))
['lr', 'mom', 'sqr_mom']
"""
from __future__ import annotations

import difflib
from dataclasses import replace
from typing import Mapping

import numpy as np

from ..errors import SheetoptError, option
from ..ops import numpy_ops, symbolic_ops
from ..ops.symbolic import lift, to_python, var
from ..rules import HYPER_RANGES
from ..schedules import clock_for, numeric_arguments, step_hypers
from ..schedules.parse import with_argument
from ..spec import LECTURE_RESET, Sheet, Spec

OWN_OPTIONS = ("lr", "mom", "sqr_mom")  # the sweep command's own options; the rest go by --set


def named(name: str) -> str:
    """How a message names a swept value: ``--lr``/``--set max_lr`` on the command line,
    ``lr``/``max_lr`` in Python."""
    said = option(name)
    return f"--set {name}" if said.startswith("--") and name not in OWN_OPTIONS else said


def sweepable(sheet: Sheet) -> dict[str, str]:
    """Every name a sweep of ``sheet`` may vary: "hyperparameter" or "schedule argument"."""
    names = {n: "hyperparameter" for n in sheet.hypers}
    for n in numeric_arguments(sheet.schedule):
        names.setdefault(n, "schedule argument")
    return names


def check_names(spec: Spec, sheet: Sheet, names) -> None:
    """Refuses, in one line, a name the sheet does not have or a value its run does not use."""
    known = sweepable(sheet)
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise SheetoptError(f"{named(name)}: sheet {sheet.name!r} ({sheet.optimizer}, "
                                f"{sheet.flavor}, schedule {sheet.schedule.label}) has no "
                                f"numeric hyperparameter or schedule argument {name}{hint}; "
                                f"it can sweep {', '.join(known)}")
    for name in names:
        if known[name] == "hyperparameter" and _set_by_schedule(spec, sheet, name):
            raise SheetoptError(_unused(sheet, name))


def _set_by_schedule(spec: Spec, sheet: Sheet, name: str) -> bool:
    """Whether the schedule replaces the sheet's ``name`` (lr, mom) from its own arguments, so
    that the value never reaches a step: two values probed give the same first step. (The
    lecture's reset replays its warm-up passes with the sheet's own lr and mom: used there.)"""
    if name not in ("lr", "mom") or (sheet.state == LECTURE_RESET and sheet.rule.reset):
        return False
    seen = []
    for value in (0.25, 0.5):
        hp = {n: np.array([[v]]) for n, v in sheet.hypers.items()}
        hp[name] = np.array([[value]])
        with np.errstate(all="ignore"):
            step = step_hypers(hp, hp["lr"], sheet.schedule, done=0, total=spec.steps(sheet),
                               ops=numpy_ops, clock=clock_for(sheet.schedule, hp))
        seen.append(np.asarray(step[name], dtype=float).ravel().tolist())
    return seen[0] == seen[1]


def _unused(sheet: Sheet, name: str) -> str:
    own = list(numeric_arguments(sheet.schedule))
    related = [a for a in own if (name == "lr" and "lr" in a) or (name == "mom" and "mom" in a)]
    instead = related or own
    what = (f"sweep {' or '.join(named(a) for a in instead)} instead" if instead else
            "change the schedule in the spec instead")
    return (f"{named(name)}: sheet {sheet.name!r} does not use its {name}: its schedule "
            f"({sheet.schedule.label}) sets {name} every step from its own arguments; {what}")


def check_values(spec: Spec, sheet: Sheet, name: str, values: np.ndarray) -> None:
    """Each value of ``name`` checked as the spec's would be (one line naming the first bad
    one): finite, in the hyperparameter's range and the rule's relations, or a schedule
    argument the schedule parser accepts."""
    if not np.isfinite(values).all():
        raise SheetoptError(f"{named(name)}: values must be finite")
    if name in sheet.hypers:
        # a range and the rule's relations with the other values are intervals: the ends tell
        ends = sorted({float(values.min()), float(values.max())})
        test, words = HYPER_RANGES[name]
        bad = [v for v in ends if not test(v)]
        if bad and name == "lr":
            raise SheetoptError(f"{named('lr')}: every learning rate must be > 0 "
                                f"(got {min(bad):g})")
        if bad:
            raise SheetoptError(f"{named(name)}: values must be {words} (got {bad[0]:g})")
        for value in ends:
            changed = {**sheet.hypers, name: value}
            problem = sheet.rule.check(changed) if sheet.rule.check else None
            if problem:
                raise SheetoptError(f"{named(name)} {value:g}: {sheet.rule.optimizer} {problem}")
        if name == "mom" and sheet.flags.get("nesterov") and ends[0] <= 0:
            raise SheetoptError(f"{named('mom')}: sheet {sheet.name!r} uses nesterov, which "
                                f"needs mom > 0 (as torch.optim.SGD does); got {ends[0]:g}")
        return
    for value in np.unique(values).tolist():
        _with_argument(spec, sheet, name, value)


def _with_argument(spec: Spec, sheet: Sheet, name: str, value: float) -> Sheet:
    return replace(sheet, schedule=with_argument(sheet.schedule, name, value, rule=sheet.rule,
                                                 static=sheet.static, steps=spec.steps(sheet),
                                                 epochs=sheet.epochs,
                                                 where=f"sheet {sheet.name!r}",
                                                 label=f"{named(name)} {value:g}"))


def groups(spec: Spec, sheet: Sheet, grid: Mapping[str, np.ndarray]) -> list[tuple[np.ndarray,
                                                                                  Sheet]]:
    """The configurations of ``grid`` in groups, each with the sheet it runs with: the schedule
    with the group's own arguments, and hyperparameters that give the rule's formulas the same
    shape. A rule reads its values to decide what exists (mom = 0 switches torch's momentum
    buffer off, weight decay 0 drops its term, a beta above 0.5 picks the other of torch's two
    lerp formulas): values whose rendered formulas match run together, with the first one's
    sheet; the others are per configuration."""
    count = len(next(iter(grid.values()))) if grid else 1
    codes = np.zeros((count, 0), dtype=np.int64)
    for name, values in grid.items():
        values = np.asarray(values, dtype=float)
        if name == "lr":  # per configuration in every executor, whatever its value
            continue
        if name in sheet.hypers:
            column = _shape_classes(sheet, name, values)
        else:
            column = np.unique(values, return_inverse=True)[1].reshape(-1)
        codes = np.column_stack([codes, column])
    if codes.shape[1] == 0 or not codes.any():
        return [(np.arange(count), _sheet_for(spec, sheet, grid, 0))]
    _, which = np.unique(codes, axis=0, return_inverse=True)
    which = which.reshape(-1)
    out = []
    for group in range(which.max() + 1):
        chosen = np.flatnonzero(which == group)
        out.append((chosen, _sheet_for(spec, sheet, grid, int(chosen[0]))))
    return out


def _sheet_for(spec: Spec, sheet: Sheet, grid, i: int) -> Sheet:
    """The sheet configuration ``i`` runs with (its lr stays the sheet's: lr is per
    configuration in every executor)."""
    hypers = {n: float(v[i]) for n, v in grid.items() if n in sheet.hypers and n != "lr"}
    own = sheet.with_hypers(**hypers)
    for name, values in grid.items():
        if name not in sheet.hypers:
            own = _with_argument(spec, own, name, float(values[i]))
    return own


def _shape_classes(sheet: Sheet, name: str, values: np.ndarray) -> np.ndarray:
    """A class per value of hyperparameter ``name``: values in one class give the rule's
    formulas the same shape. Values are first split by sign, zero, above 0.5 and at least 1
    (the comparisons rules make); a part whose smallest and largest values render differently
    (a value baked into a formula) is split into its single values."""
    parts = (values < 0) * 1 + (values == 0) * 2 + (values > 0.5) * 4 + (values >= 1) * 8
    classes = np.zeros(len(values), dtype=np.int64)
    shapes: dict[str, int] = {}
    following = 0  # the next class number
    for part in np.unique(parts):
        inside = parts == part
        low, high = values[inside].min(), values[inside].max()
        shape = _shape(sheet, name, low)
        if shape != _shape(sheet, name, high):
            inverse = np.unique(values[inside], return_inverse=True)[1].reshape(-1)
            classes[inside] = following + inverse
            following += int(inverse.max()) + 1
            continue
        if shape not in shapes:
            shapes[shape], following = following, following + 1
        classes[inside] = shapes[shape]
    return classes


def _shape(sheet: Sheet, name: str, value: float) -> str:
    """The rule's update rendered as text with ``name`` at ``value`` (hyperparameters as
    symbols, so only the shape they give the formulas shows)."""
    rule = sheet.rule
    static = {**sheet.static, name: value}
    try:
        names = rule.states(static)
        hp = {n: var(f"hp_{n}") for n in sheet.hypers}
        state = {s: var(f"s_{s}") for s in names}
        at = dict(hp=hp, t=var("t"), ops=symbolic_ops, static=static)
        new = rule.updated(var("p"), var("g"), state, **at)
        step = rule.stepped(var("p"), var("g"), state, {s: var(f"n_{s}") for s in names}, **at)
        return repr((names, [to_python(lift(new[s])) for s in names], to_python(lift(step))))
    except Exception:  # a shape that cannot be rendered: a class of its own
        return f"unrendered {value!r}"
