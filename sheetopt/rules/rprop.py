"""torch.optim.Rprop: each parameter moves by its own step size in the direction of -sign(g);
the step size grows by eta_plus while the gradient keeps its sign and shrinks by eta_minus when
it flips (and that step is skipped)."""
from __future__ import annotations

from .pieces import maximized


def update_state(p, g, state, hp, t, ops, static):
    g = maximized(g, static)
    sign = ops.sign(g * state["prev"])
    factor = ops.where(sign > 0, hp["eta_plus"], ops.where(sign < 0, hp["eta_minus"], 1))
    size = ops.minimum(ops.maximum(state["step_size"] * factor, hp["step_min"]), hp["step_max"])
    return {"prev": ops.where(sign < 0, 0, g), "step_size": size}


def step(p, g, prev, new, hp, t, ops, static):
    return p - ops.sign(new["prev"]) * new["step_size"]
