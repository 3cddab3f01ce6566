"""A sheet's ``schedule`` key checked: the kinds, fastai's options, and a torch scheduler's
class and constructor arguments (each refusal one line naming the sheet and the key)."""
from __future__ import annotations

import difflib
from typing import Mapping

from ..errors import SheetoptError
from ..spec.numbers import number as _number, whole as _whole
from . import (KIND_ALIASES, LIBRARIES, LIBRARY_SCHEDULES, PERS, SCHEDULES, TORCH_SCHEDULERS,
               Schedule, build_node)
from .library import NONNEGATIVE, REQUIRED as LIBRARY_REQUIRED
from .fastai import ONE_CYCLE_DEFAULTS
from .torch_base import REQUIRED
from .torch_cyclic import one_cycle_phases, one_cycle_total

WHOLE = {"step_size", "T_max", "T_0", "T_mult", "total_iters", "total_steps", "epochs",
         "steps_per_epoch", "step_size_up", "step_size_down", "patience", "cooldown"}
AT_LEAST_ONE = {"step_size", "T_max", "T_0", "T_mult", "total_steps", "epochs",
                "steps_per_epoch", "step_size_up"}  # (torch takes step_size_down = 0)
FLAGS = {"cycle_momentum", "three_phase"}
CHOICES = {("CyclicLR", "mode"): ("triangular", "triangular2", "exp_range"),
           ("ReduceLROnPlateau", "mode"): ("min", "max"),
           ("CyclicLR", "scale_mode"): ("cycle", "iterations"),
           ("OneCycleLR", "anneal_strategy"): ("cos", "linear"),
           ("ReduceLROnPlateau", "threshold_mode"): ("rel", "abs")}
RANGES = {  # (class, argument) -> (test, words), torch's own checks
    # (torch's constructor takes factor 0, then divides by it at step total_iters)
    ("ConstantLR", "factor"): (lambda v: 0 < v <= 1, "in (0, 1]"),
    ("LinearLR", "start_factor"): (lambda v: 0 < v <= 1, "in (0, 1]"),
    ("LinearLR", "end_factor"): (lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("LinearLR", "total_iters"): (lambda v: v >= 0, ">= 0"),  # (torch: 0 leaves lr alone)
    ("PolynomialLR", "total_iters"): (lambda v: v >= 0, ">= 0"),
    ("ReduceLROnPlateau", "factor"): (lambda v: 0 <= v < 1, "in [0, 1)"),
    ("OneCycleLR", "pct_start"): (lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("OneCycleLR", "div_factor"): (lambda v: v > 0, "> 0"),
    ("OneCycleLR", "final_div_factor"): (lambda v: v > 0, "> 0"),
    ("ConstantLR", "total_iters"): (lambda v: v >= 0, ">= 0"),
}


def _suggest(word, choices) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_schedule(value, rule, static: Mapping, steps: int, epochs: int, where: str,
                   label: str) -> Schedule:
    """The sheet's schedule: a kind's name, ``{ kind = ..., options }`` or ``{ torch = ... }``.
    ``steps``/``epochs``: the run's, for OneCycleLR's total_steps."""
    if isinstance(value, dict) and "torch" in value:
        return _parse_torch(dict(value), rule, static, steps=steps, epochs=epochs, where=where,
                            label=label)
    if isinstance(value, dict) and any(library in value for library in LIBRARIES):
        return _parse_library(dict(value), rule, static, where, label)
    options = {}
    if isinstance(value, dict):
        options = dict(value)
        value = options.pop("kind", "constant")
    value = KIND_ALIASES.get(value, value) if isinstance(value, str) else value
    if not isinstance(value, str) or value not in SCHEDULES:
        raise SheetoptError(f"{label}: {where}: schedule {value!r} is not one of "
                            f"{', '.join(SCHEDULES)} or a table {{ torch = \"StepLR\", ... }}"
                            f"{_suggest(value, SCHEDULES)}")
    if value == "adam_ann" and "sqr_avg" not in rule.states(static):
        raise SheetoptError(f"{label}: {where}: the adam_ann schedule needs a rule with sqr_avg")
    allowed = ONE_CYCLE_DEFAULTS if value == "fastai_one_cycle" else {}
    for key, option in options.items():
        if key not in allowed:
            raise SheetoptError(f"{label}: {where}: unknown key schedule.{key}{_suggest(key, allowed)}")
        if key == "moms":
            if not (isinstance(option, list) and len(option) == 3):
                raise SheetoptError(f"{label}: {where}: schedule.moms must be three numbers")
            options[key] = tuple(_number(m, f"{where}: schedule.moms", label) for m in option)
            if not all(0 <= m < 1 for m in options[key]):
                raise SheetoptError(f"{label}: {where}: schedule.moms must each be in [0, 1) "
                                    f"(got {option})")
        else:
            options[key] = _number(option, f"{where}: schedule.{key}", label)
            if key in ("div", "div_final") and options[key] <= 0:
                raise SheetoptError(f"{label}: {where}: schedule.{key} must be > 0 "
                                    f"(got {options[key]:g})")
    if value == "fastai_one_cycle" and not 0 < options.get("pct_start", 0.25) < 1:
        raise SheetoptError(f"{label}: {where}: schedule.pct_start must be in (0, 1)")
    return Schedule(value, options)


def with_argument(schedule: Schedule, name: str, value: float, rule, static: Mapping, steps: int,
                  epochs: int, where: str, label: str) -> Schedule:
    """``schedule`` with its numeric argument ``name`` at ``value``, checked as the spec's own
    would be (a whole number where torch wants one)."""
    if name in WHOLE and float(value).is_integer():
        value = int(value)
    if schedule.kind in ("torch", *LIBRARIES):
        return parse_schedule({**schedule.options, name: value}, rule, static, steps=steps,
                              epochs=epochs, where=where, label=label)
    options = {k: list(v) if isinstance(v, tuple) else v for k, v in schedule.options.items()}
    return parse_schedule({"kind": schedule.kind, **options, name: value}, rule, static,
                          steps=steps, epochs=epochs, where=where, label=label)


def _parse_library(table: dict, rule, static, where: str, label: str) -> Schedule:
    """``{ keras = "ExponentialDecay", decay_steps = 10, ... }``: the library's schedule with its
    own argument names; the one that starts the schedule is the sheet's learning rate."""
    library = next(lib for lib in LIBRARIES if lib in table)
    if len([lib for lib in LIBRARIES if lib in table]) > 1 or "torch" in table:
        raise SheetoptError(f"{label}: {where}: schedule names more than one library")
    name = table.pop(library)
    names = [n for lib, n in LIBRARY_SCHEDULES if lib == library]
    if (library, name) not in LIBRARY_SCHEDULES:
        raise SheetoptError(f"{label}: {where}: schedule.{library} {name!r} is not one of "
                            f"{', '.join(names)}{_suggest(name, names)}")
    if rule.reset is not None:
        raise SheetoptError(f"{label}: {where}: {rule.optimizer} ({rule.flavor}) counts its "
                            f"steps from the lecture's warm-up passes; a {library} schedule "
                            f"counts the optimizer's: use a torch, keras, optax or fastai "
                            f"flavour")
    if rule.schedule != "constant":
        raise SheetoptError(f"{label}: {where}: {rule.optimizer} already anneals its lr "
                            f"({rule.schedule}); a {library} schedule cannot drive it too")
    spec = LIBRARY_SCHEDULES[library, name]
    args = {}
    for arg, value in table.items():
        here = f"{where}: schedule.{arg}"
        if arg == spec.lr_arg.split("[")[0] and arg not in spec.defaults:
            raise SheetoptError(f"{label}: {here}: {name}'s {spec.lr_arg} is the sheet's "
                                f"learning rate (lr); give it there")
        if arg not in spec.defaults:
            raise SheetoptError(f"{label}: {where}: unknown key schedule.{arg} for {library} "
                                f"{name}{_suggest(arg, spec.defaults)}; it takes "
                                f"{', '.join(spec.defaults)}")
        args[arg] = _library_value(arg, value, spec, here, label)
        if arg in NONNEGATIVE and any(v < 0 for v in (
                args[arg] if isinstance(args[arg], tuple) else (args[arg] or 0,))):
            raise SheetoptError(f"{label}: {here} must be >= 0: it would make lr negative "
                                f"(got {value})")
    missing = [a for a, d in spec.defaults.items() if d is LIBRARY_REQUIRED and a not in args]
    if missing:
        raise SheetoptError(f"{label}: {where}: {library} {name} needs schedule."
                            f"{', schedule.'.join(missing)}")
    problem = spec.check(spec.arguments(args))
    if problem:
        raise SheetoptError(f"{label}: {where}: {library} {name}: {problem}")
    if name == "PiecewiseConstantDecay" and args["values"][0] != static["lr"]:
        raise SheetoptError(f"{label}: {where}: schedule.values: the first value is the "
                            f"learning rate the run starts from: the sheet's lr is "
                            f"{static['lr']:g}, values[0] is {args['values'][0]:g}; give "
                            f"learning_rate = {args['values'][0]!r}")
    return Schedule(library, {library: name, **args})


def _library_value(arg: str, value, spec, where: str, label: str):
    """One argument of a library schedule, checked for its kind of value."""
    if arg in spec.flags:
        if not isinstance(value, bool):
            raise SheetoptError(f"{label}: {where} must be true or false")
        return value
    if arg in ("boundaries", "values"):
        if not isinstance(value, list) or not value:
            raise SheetoptError(f"{label}: {where} must be a list of numbers")
        return tuple(_number(v, where, label) for v in value)
    if arg == "boundaries_and_scales":
        if not isinstance(value, dict):
            raise SheetoptError(f"{label}: {where} must be a table of step = scale, e.g. "
                                f"{{ 20 = 0.5, 40 = 0.1 }}")
        out = {}
        for step, scale in value.items():
            try:
                count = int(step)
            except ValueError:
                raise SheetoptError(f"{label}: {where}: {step!r} is not a step count") from None
            out[count] = _number(scale, f"{where}.{step}", label)
        return out
    if arg in ("warmup_target", "end_value") and value is None:
        return None
    number = _number(value, where, label)
    if arg in spec.whole:
        if not float(number).is_integer():
            raise SheetoptError(f"{label}: {where} must be a whole number of steps "
                                f"(got {number:g})")
        return int(number)
    return number


def _parse_torch(table: dict, rule, static, steps, epochs, where, label) -> Schedule:
    per = table.pop("per", None)
    if per not in PERS:
        said = "is missing" if per is None else f"is {per!r}"
        raise SheetoptError(f"{label}: {where}: schedule.per {said}; say when scheduler.step() "
                            f"runs: per = \"step\" (after every optimizer step) or \"epoch\"")
    if rule.schedule != "constant":
        raise SheetoptError(f"{label}: {where}: {rule.optimizer} already anneals its lr "
                            f"({rule.schedule}); a torch scheduler cannot drive it too: use "
                            f"optimizer = \"adam\" with this schedule")
    checked = _check_table(table, "schedule", where, label, top=True)
    schedule = Schedule("torch", {**checked, "per": per})
    node = schedule.node
    name = checked["torch"]
    if name == "ReduceLROnPlateau" and per != "epoch":
        raise SheetoptError(f"{label}: {where}: schedule.per must be \"epoch\" for "
                            f"ReduceLROnPlateau (its metric is the epoch's mean loss)")
    if node.cycles and "mom" not in rule.hypers:
        # (torch accepts mom = 0: the constructor sets the group's momentum to max_momentum,
        # and the sheet follows, see constructed_momentum; torch refuses an optimizer with
        # neither momentum nor betas, as here)
        raise SheetoptError(f"{label}: {where}: schedule.cycle_momentum: {rule.optimizer} "
                            f"({rule.flavor}) has no momentum; or set cycle_momentum = false")
    count, unit = (steps, "optimizer steps") if per == "step" else (epochs, "epochs")
    for path, child in _one_cycles(node, "schedule"):
        total = one_cycle_total(child.args)
        if total < count:
            raise SheetoptError(f"{label}: {where}: {path}.total_steps = {total} is smaller "
                                f"than the run's {count} scheduler steps ({unit}); torch "
                                f"raises when stepped past it")
    return schedule


def _one_cycles(node, path):
    if node.cls.name == "OneCycleLR":
        yield path, node
    for i, child in enumerate(node.children):
        yield from _one_cycles(child, f"{path}.schedulers[{i}]")


def _check_table(table: Mapping, path: str, where: str, label: str, top: bool) -> dict:
    name = table.get("torch")
    if not isinstance(name, str) or name not in TORCH_SCHEDULERS:
        raise SheetoptError(f"{label}: {where}: {path}.torch {name!r} is not a torch scheduler "
                            f"sheetopt has{_suggest(name, TORCH_SCHEDULERS)}; it has "
                            f"{', '.join(TORCH_SCHEDULERS)}")
    cls = TORCH_SCHEDULERS[name]
    out = {"torch": name}
    for key, value in table.items():
        if key == "torch":
            continue
        if key == "per" and not top:
            raise SheetoptError(f"{label}: {where}: {path}.per: give per once, on the outer "
                                f"schedule")
        if key not in cls.args:
            raise SheetoptError(f"{label}: {where}: {path}: {name} has no argument "
                                f"{key!r}{_suggest(key, cls.args)}; it takes "
                                f"{', '.join(cls.args)}")
        out[key] = _check_arg(cls, key, value, f"{path}.{key}", where, label)
    for key, default in cls.args.items():
        if default is REQUIRED and key not in out:
            raise SheetoptError(f"{label}: {where}: {path}: {name} needs {key}")
    if name == "OneCycleLR":
        _check_one_cycle(out, path, where, label)
    if cls.composite:
        children = []
        for i, child in enumerate(out["schedulers"]):
            if not isinstance(child, dict):
                raise SheetoptError(f"{label}: {where}: {path}.schedulers[{i}] must be a table "
                                    f"like {{ torch = \"LinearLR\", ... }}")
            checked = _check_table(child, f"{path}.schedulers[{i}]", where, label, top=False)
            kind = TORCH_SCHEDULERS[checked["torch"]]
            if kind.composite or not kind.lr_scheduler:
                raise SheetoptError(f"{label}: {where}: {path}.schedulers[{i}]: {name} cannot "
                                    f"hold {kind.name} (torch refuses it)")
            children.append(checked)
        if not children:
            raise SheetoptError(f"{label}: {where}: {path}.schedulers is empty")
        out["schedulers"] = children
        if name == "SequentialLR" and len(out["milestones"]) != len(children) - 1:
            raise SheetoptError(f"{label}: {where}: {path}.milestones: {len(children)} "
                                f"schedulers need {len(children) - 1} milestones (got "
                                f"{len(out['milestones'])})")
    return out


def _check_arg(cls, key, value, path, where, label):
    at = f"{where}: {path}"
    if key == "schedulers":
        if not isinstance(value, list):
            raise SheetoptError(f"{label}: {at} must be a list of scheduler tables")
        return value
    if key == "milestones":
        if not isinstance(value, list):
            raise SheetoptError(f"{label}: {at} must be a list of whole numbers")
        values = [_whole(v, at, label) for v in value]
        if cls.name == "SequentialLR" and values != sorted(values):
            raise SheetoptError(f"{label}: {at} must be increasing (got {values})")
        return values
    if key in FLAGS:
        if not isinstance(value, bool):
            raise SheetoptError(f"{label}: {at} must be true or false")
        return value
    if (cls.name, key) in CHOICES:
        choices = CHOICES[(cls.name, key)]
        if value not in choices:
            raise SheetoptError(f"{label}: {at} {value!r} is not one of {', '.join(choices)}"
                                f"{_suggest(value, choices)}")
        return value
    if key in WHOLE:
        number = _whole(value, at, label)
        low = 1 if key in AT_LEAST_ONE else 0
        if number < low:
            raise SheetoptError(f"{label}: {at} must be >= {low} (got {number})")
    else:
        number = _number(value, at, label)
    if (cls.name, key) in RANGES:
        test, words = RANGES[(cls.name, key)]
        if not test(number):
            raise SheetoptError(f"{label}: {at} must be {words} (got {number:g})")
    return number


def _check_one_cycle(args: dict, path, where, label):
    if "total_steps" not in args and not ("epochs" in args and "steps_per_epoch" in args):
        raise SheetoptError(f"{label}: {where}: {path}: OneCycleLR needs total_steps (or epochs "
                            f"and steps_per_epoch)")
    node = build_node(args)
    total = one_cycle_total(node.args)
    start = 0.0
    for end, *_ in one_cycle_phases(node.args, total):
        if end == start:
            raise SheetoptError(f"{label}: {where}: {path}.pct_start: with total_steps {total} "
                                f"a phase has no steps (torch divides by zero)")
        start = end
