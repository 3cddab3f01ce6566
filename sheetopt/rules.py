"""Optimizer rules, each written once, in two flavours: the lecture's and torch.optim's.

A rule is two pure functions of one parameter's values (they work elementwise, so a value may
be a number, an array over configurations and parameters, a tensor or a symbolic cell):

- ``update_state(p, g, state, hp, t, ops, static)`` returns the optimizer state after the step;
- ``step(p, g, prev, new, hp, t, ops, static)`` returns the parameter after the step, reading
  the state from before (``prev``) and after (``new``) this step.

``hp`` holds the numeric hyperparameters (lr, mom, sqr_mom, eps, wd, dampening) as values of the
same kind as ``p``; ``static`` holds the spec's plain Python values of all hyperparameters and
flags, which decide the shape of the computation (nesterov, centered, amsgrad, whether there is a
momentum buffer or weight decay at all). ``t`` is the step number, counted from 1 across epochs.

The torch flavour follows torch.optim's single-tensor code paths operation by operation
(including the order of multiplications inside ``addcmul_``/``addcdiv_`` and the two branches of
``lerp_``), so that float64 results agree to the last bit in practice.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

STATE_NAMES = ("grad_avg", "sqr_avg", "mom_buf", "max_sqr_avg")
FLAVORS = ("lecture", "torch")


@dataclass(frozen=True)
class Reset:
    """The lecture workbook's reset macro: start averages, then warm-up passes over the rows."""

    state: Mapping[str, float]
    passes: int


@dataclass(frozen=True)
class Rule:
    optimizer: str
    flavor: str
    summary: str
    hypers: Mapping[str, float | None]  # numeric hyperparameters and their defaults (None: required)
    flags: Mapping[str, bool]
    state_names: Callable[[Mapping], tuple[str, ...]]
    update_state: Callable
    step: Callable
    reset: Reset | None = None
    notes: Mapping[str, str] = field(default_factory=dict)  # state or column name -> quirk note
    schedule: str = "constant"  # the learning-rate schedule the optimizer's name implies

    def states(self, static: Mapping) -> tuple[str, ...]:
        return self.state_names(static)


def _no_state(static):
    return ()


def _keep(_p, _g, state, *_):
    return dict(state)


# --- the lecture flavour ------------------------------------------------------------------
def ewma(avg, value, beta):
    """The lecture's exponentially weighted average: beta*avg + (1 - beta)*value."""
    return beta * avg + (1 - beta) * value


def _lecture_sgd_step(p, g, prev, new, hp, t, ops, static):
    return p - hp["lr"] * g


def _lecture_momentum_state(p, g, state, hp, t, ops, static):
    return {"grad_avg": ewma(state["grad_avg"], g, hp["mom"])}


def _lecture_momentum_step(p, g, prev, new, hp, t, ops, static):
    return p - hp["lr"] * new["grad_avg"]


def _lecture_rmsprop_state(p, g, state, hp, t, ops, static):
    return {"sqr_avg": ewma(state["sqr_avg"], g ** 2, hp["sqr_mom"])}


def _lecture_rmsprop_step(p, g, prev, new, hp, t, ops, static):
    # The lecture's quirk: this row's update divides by the average from BEFORE this row's
    # gradient was added, and there is no epsilon.
    return p - hp["lr"] * g / ops.sqrt(prev["sqr_avg"])


def _lecture_adam_state(p, g, state, hp, t, ops, static):
    return {"grad_avg": ewma(state["grad_avg"], g, hp["mom"]),
            "sqr_avg": ewma(state["sqr_avg"], g ** 2, hp["sqr_mom"])}


def _lecture_adam_step(p, g, prev, new, hp, t, ops, static):
    # No bias correction and no epsilon, as in the lecture's sheet.
    return p - hp["lr"] * new["grad_avg"] / ops.sqrt(new["sqr_avg"])


_LECTURE_NOTES = {
    "momentum": {"grad_avg": "Lecture flavour: the average is damped, mom*avg + (1 - mom)*g, so "
                             "each step moves by lr times a weighted MEAN of gradients; torch's "
                             "SGD momentum instead keeps mom*buf + g (no 1 - mom), started at "
                             "the first gradient."},
    "rmsprop": {"new_p": "Lecture quirk: divides by the squared-gradient average of the PREVIOUS "
                         "row, not this one, and adds no epsilon."},
    "adam": {"new_p": "Lecture flavour: no bias correction and no epsilon."},
}

LECTURE_RULES = {
    "sgd": Rule("sgd", "lecture", "p -= lr * g", {"lr": None}, {}, _no_state, _keep,
                _lecture_sgd_step),
    "momentum": Rule(
        "momentum", "lecture", "grad_avg = mom*grad_avg + (1-mom)*g; p -= lr * grad_avg",
        {"lr": None, "mom": 0.9}, {}, lambda s: ("grad_avg",), _lecture_momentum_state,
        _lecture_momentum_step, reset=Reset({"grad_avg": 0.0}, passes=1),
        notes=_LECTURE_NOTES["momentum"]),
    "rmsprop": Rule(
        "rmsprop", "lecture",
        "sqr_avg = sqr_mom*sqr_avg + (1-sqr_mom)*g^2; p -= lr * g / sqrt(previous sqr_avg)",
        {"lr": None, "sqr_mom": 0.9}, {}, lambda s: ("sqr_avg",), _lecture_rmsprop_state,
        _lecture_rmsprop_step, reset=Reset({"sqr_avg": 10000.0}, passes=2),
        notes=_LECTURE_NOTES["rmsprop"]),
    "adam": Rule(
        "adam", "lecture",
        "grad_avg and sqr_avg as EWMAs of g and g^2; p -= lr * grad_avg / sqrt(sqr_avg)",
        {"lr": None, "mom": 0.9, "sqr_mom": 0.9}, {}, lambda s: ("grad_avg", "sqr_avg"),
        _lecture_adam_state, _lecture_adam_step,
        reset=Reset({"grad_avg": 0.0, "sqr_avg": 10000.0}, passes=2),
        notes=_LECTURE_NOTES["adam"]),
}


# --- the torch flavour ----------------------------------------------------------------------
def lerp(start, end, weight, static_weight: float):
    """torch's ``lerp_``: which of its two formulas runs depends on the weight's size.

    The branch is chosen from the spec's value (``static_weight``); both are the same average,
    they differ only in rounding.
    """
    if abs(static_weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


def _decayed(p, g, hp, static):
    """torch's coupled weight decay: g + wd*p.

    torch skips it when wd is 0; the term is kept here so that a workbook's wd cell stays live
    (g + 0*p is g exactly for a finite p, and a non-finite p has already stopped the run)."""
    return g + hp["wd"] * p


def _sgd_states(static):
    return ("mom_buf",) if static.get("mom") else ()


def _torch_sgd_state(p, g, state, hp, t, ops, static):
    if not static.get("mom"):
        return {}
    g = _decayed(p, g, hp, static)
    # torch starts the buffer at the first gradient, then buf = mom*buf + (1 - dampening)*g
    later = state["mom_buf"] * hp["mom"] + (1 - hp["dampening"]) * g
    return {"mom_buf": ops.where(ops.eq(t, 1), g, later)}


def _torch_sgd_step(p, g, prev, new, hp, t, ops, static):
    g = _decayed(p, g, hp, static)
    if static.get("mom"):
        g = g + hp["mom"] * new["mom_buf"] if static.get("nesterov") else new["mom_buf"]
    return p - hp["lr"] * g


def _rmsprop_states(static):
    names = ["sqr_avg"]
    if static.get("centered"):
        names.append("grad_avg")
    if static.get("mom"):
        names.append("mom_buf")
    return tuple(names)


def _torch_rmsprop_denominator(state, hp, ops, static):
    if static.get("centered"):
        return ops.sqrt(state["sqr_avg"] - state["grad_avg"] * state["grad_avg"]) + hp["eps"]
    return ops.sqrt(state["sqr_avg"]) + hp["eps"]


def _torch_rmsprop_state(p, g, state, hp, t, ops, static):
    g = _decayed(p, g, hp, static)
    new = {"sqr_avg": state["sqr_avg"] * hp["sqr_mom"] + (1 - hp["sqr_mom"]) * g * g}
    if static.get("centered"):
        new["grad_avg"] = lerp(state["grad_avg"], g, 1 - hp["sqr_mom"], 1 - static["sqr_mom"])
    if static.get("mom"):
        new["mom_buf"] = state["mom_buf"] * hp["mom"] + g / _torch_rmsprop_denominator(
            new, hp, ops, static)
    return new


def _torch_rmsprop_step(p, g, prev, new, hp, t, ops, static):
    if static.get("mom"):
        return p - hp["lr"] * new["mom_buf"]
    g = _decayed(p, g, hp, static)
    return p - hp["lr"] * g / _torch_rmsprop_denominator(new, hp, ops, static)


def _adam_states(static):
    return ("grad_avg", "sqr_avg", "max_sqr_avg") if static.get("amsgrad") else (
        "grad_avg", "sqr_avg")


def _torch_adam_state(p, g, state, hp, t, ops, static):
    if not static.get("decoupled"):
        g = _decayed(p, g, hp, static)
    new = {"grad_avg": lerp(state["grad_avg"], g, 1 - hp["mom"], 1 - static["mom"]),
           "sqr_avg": state["sqr_avg"] * hp["sqr_mom"] + (1 - hp["sqr_mom"]) * g * g}
    if static.get("amsgrad"):
        new["max_sqr_avg"] = ops.maximum(state["max_sqr_avg"], new["sqr_avg"])
    return new


def _torch_adam_step(p, g, prev, new, hp, t, ops, static):
    if static.get("decoupled"):
        p = p * (1 - hp["lr"] * hp["wd"])  # AdamW decays the parameter first (exact when wd is 0)
    step_size = hp["lr"] / (1 - ops.power(hp["mom"], t))
    second = new["max_sqr_avg"] if static.get("amsgrad") else new["sqr_avg"]
    denom = ops.sqrt(second) / ops.sqrt(1 - ops.power(hp["sqr_mom"], t)) + hp["eps"]
    return p - step_size * new["grad_avg"] / denom


_ADAM_HYPERS = {"lr": 0.001, "mom": 0.9, "sqr_mom": 0.999, "eps": 1e-8, "wd": 0.0}

TORCH_RULES = {
    "sgd": Rule(
        "sgd", "torch", "torch.optim.SGD(lr, momentum=mom, dampening, nesterov, weight_decay=wd)",
        {"lr": None, "mom": 0.0, "dampening": 0.0, "wd": 0.0}, {"nesterov": False},
        _sgd_states, _torch_sgd_state, _torch_sgd_step,
        notes={"mom_buf": "torch: the buffer starts at the first gradient (no (1-mom) damping)."}),
    "rmsprop": Rule(
        "rmsprop", "torch",
        "torch.optim.RMSprop(lr, alpha=sqr_mom, eps, weight_decay=wd, momentum=mom, centered)",
        {"lr": 0.01, "sqr_mom": 0.99, "eps": 1e-8, "wd": 0.0, "mom": 0.0}, {"centered": False},
        _rmsprop_states, _torch_rmsprop_state, _torch_rmsprop_step),
    "adam": Rule(
        "adam", "torch", "torch.optim.Adam(lr, betas=(mom, sqr_mom), eps, weight_decay=wd, amsgrad)",
        _ADAM_HYPERS, {"amsgrad": False}, _adam_states, _torch_adam_state, _torch_adam_step,
        notes={"new_p": "torch: bias-corrected by 1 - beta^t, epsilon added after the sqrt."}),
    "adamw": Rule(
        "adamw", "torch", "torch.optim.AdamW(lr, betas=(mom, sqr_mom), eps, weight_decay=wd, amsgrad)",
        dict(_ADAM_HYPERS, wd=0.01), {"amsgrad": False, "decoupled": True}, _adam_states,
        _torch_adam_state, _torch_adam_step,
        notes={"new_p": "torch AdamW: p is first multiplied by (1 - lr*wd)."}),
}
# "momentum" in the torch flavour: torch.optim.SGD with a momentum buffer (mom 0.9 by default)
TORCH_RULES["momentum"] = replace(
    TORCH_RULES["sgd"], optimizer="momentum",
    summary="torch.optim.SGD(lr, momentum=mom, dampening, nesterov, weight_decay=wd), mom 0.9",
    hypers={**TORCH_RULES["sgd"].hypers, "mom": 0.9})

OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam", "adam_ann", "adamw")


def rule_for(optimizer: str, flavor: str) -> Rule:
    """The rule behind an optimizer name; adam_ann is adam with the annealing schedule."""
    table = LECTURE_RULES if flavor == "lecture" else TORCH_RULES
    if optimizer == "adam_ann":
        base = table["adam"]
        return Rule(**{**base.__dict__, "optimizer": "adam_ann", "schedule": "adam_ann"})
    if optimizer not in table:
        raise KeyError(optimizer)
    return table[optimizer]
