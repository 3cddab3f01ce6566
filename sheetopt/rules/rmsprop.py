"""The squared-gradient family of torch.optim: RMSprop, Adagrad and Adadelta. Each divides the
step by the root of an accumulated g^2 (an average for RMSprop and Adadelta, a sum for
Adagrad)."""
from __future__ import annotations

from .pieces import lerp, square_average, torch_grad


# --- RMSprop --------------------------------------------------------------------------------
def rmsprop_states(static):
    names = ["sqr_avg"]
    if static.get("centered"):
        names.append("grad_avg")
    if static.get("mom"):
        names.append("mom_buf")
    return tuple(names)


def _rmsprop_denominator(state, hp, ops, static):
    if static.get("centered"):
        return ops.sqrt(state["sqr_avg"] - state["grad_avg"] * state["grad_avg"]) + hp["eps"]
    return ops.sqrt(state["sqr_avg"]) + hp["eps"]


def rmsprop_state(p, g, state, hp, t, ops, static):
    g = torch_grad(p, g, hp, static)
    new = {"sqr_avg": square_average(state["sqr_avg"], g, hp["sqr_mom"])}
    if static.get("centered"):
        new["grad_avg"] = lerp(state["grad_avg"], g, 1 - hp["sqr_mom"], 1 - static["sqr_mom"])
    if static.get("mom"):
        new["mom_buf"] = state["mom_buf"] * hp["mom"] + g / _rmsprop_denominator(
            new, hp, ops, static)
    return new


def rmsprop_step(p, g, prev, new, hp, t, ops, static):
    if static.get("mom"):
        return p - hp["lr"] * new["mom_buf"]
    g = torch_grad(p, g, hp, static)
    return p - hp["lr"] * g / _rmsprop_denominator(new, hp, ops, static)


# --- Adagrad --------------------------------------------------------------------------------
def adagrad_state(p, g, state, hp, t, ops, static):
    g = torch_grad(p, g, hp, static)
    return {"sum": state["sum"] + g * g}  # addcmul_(g, g, value=1): 1*g is g


def adagrad_step(p, g, prev, new, hp, t, ops, static):
    g = torch_grad(p, g, hp, static)
    clr = hp["lr"] / (1 + (t - 1) * hp["lr_decay"])
    return p - clr * g / (ops.sqrt(new["sum"]) + hp["eps"])


# --- Adadelta -------------------------------------------------------------------------------
def _adadelta_delta(g, acc_delta, sqr_avg, hp, ops):
    """The step before lr: sqrt(acc_delta + eps) / sqrt(sqr_avg + eps) * g, with the
    acc_delta of before this step and the sqr_avg of after it."""
    return ops.sqrt(acc_delta + hp["eps"]) / ops.sqrt(sqr_avg + hp["eps"]) * g


def adadelta_state(p, g, state, hp, t, ops, static):
    g = torch_grad(p, g, hp, static)
    sqr_avg = square_average(state["sqr_avg"], g, hp["rho"])
    delta = _adadelta_delta(g, state["acc_delta"], sqr_avg, hp, ops)
    return {"sqr_avg": sqr_avg, "acc_delta": square_average(state["acc_delta"], delta, hp["rho"])}


def adadelta_step(p, g, prev, new, hp, t, ops, static):
    g = torch_grad(p, g, hp, static)
    return p - hp["lr"] * _adadelta_delta(g, prev["acc_delta"], new["sqr_avg"], hp, ops)
