"""The lecture workbook's rules, quirks included (see the lecture SPEC): SGD, damped momentum,
RMSprop dividing by the previous row's average, Adam without bias correction or epsilon."""
from __future__ import annotations

from .pieces import ewma


def sgd_step(p, g, prev, new, hp, t, ops, static):
    return p - hp["lr"] * g


def momentum_state(p, g, state, hp, t, ops, static):
    return {"grad_avg": ewma(state["grad_avg"], g, hp["mom"])}


def momentum_step(p, g, prev, new, hp, t, ops, static):
    return p - hp["lr"] * new["grad_avg"]


def rmsprop_state(p, g, state, hp, t, ops, static):
    return {"sqr_avg": ewma(state["sqr_avg"], g ** 2, hp["sqr_mom"])}


def rmsprop_step(p, g, prev, new, hp, t, ops, static):
    # The lecture's quirk: this row's update divides by the average from BEFORE this row's
    # gradient was added, and there is no epsilon.
    return p - hp["lr"] * g / ops.sqrt(prev["sqr_avg"])


def adam_state(p, g, state, hp, t, ops, static):
    return {"grad_avg": ewma(state["grad_avg"], g, hp["mom"]),
            "sqr_avg": ewma(state["sqr_avg"], g ** 2, hp["sqr_mom"])}


def adam_step(p, g, prev, new, hp, t, ops, static):
    # No bias correction and no epsilon, as in the lecture's sheet.
    return p - hp["lr"] * new["grad_avg"] / ops.sqrt(new["sqr_avg"])


NOTES = {
    "momentum": {"grad_avg": "Lecture flavour: the average is damped, mom*avg + (1 - mom)*g, so "
                             "each step moves by lr times a weighted MEAN of gradients; torch's "
                             "SGD momentum instead keeps mom*buf + g (no 1 - mom), started at "
                             "the first gradient."},
    "rmsprop": {"new_p": "Lecture quirk: divides by the squared-gradient average of the PREVIOUS "
                         "row, not this one, and adds no epsilon."},
    "adam": {"new_p": "Lecture flavour: no bias correction and no epsilon."},
}
