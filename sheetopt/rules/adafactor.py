"""torch.optim.Adafactor, its unfactored branch (sheetopt's parameters are scalars).

Adafactor is not elementwise in torch: ``param.norm()`` and ``update.norm()`` run over the whole
tensor. For a scalar parameter each norm is the absolute value, which is what this rule computes;
torch gives the same numbers only when every parameter is its own tensor (the replay does so).
"""
from __future__ import annotations

from .pieces import decoupled_decay, lerp_at, maximized


def update_state(p, g, state, hp, t, ops, static):
    g = maximized(g, static)
    # variance.lerp_(g*g, t^beta2_decay): the weight changes with the step, and so may the
    # branch of lerp_
    return {"sqr_avg": lerp_at(state["sqr_avg"], g * g, ops.power(t, hp["beta2_decay"]), ops)}


def step(p, g, prev, new, hp, t, ops, static):
    g = maximized(g, static)
    rho = ops.minimum(hp["lr"], 1 / ops.power(t, 0.5))
    alpha = ops.maximum(hp["eps2"], ops.abs(p)) * rho  # |p| is the norm of a scalar tensor
    p = decoupled_decay(p, hp)
    update = 1 / ops.sqrt(ops.maximum(new["sqr_avg"], hp["eps1"] * hp["eps1"])) * g
    denom = ops.maximum(1.0, ops.abs(update) / hp["d"])
    return p - alpha / denom * update
