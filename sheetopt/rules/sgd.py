"""torch.optim.SGD: plain, with momentum (dampening, nesterov), weight decay and maximize."""
from __future__ import annotations

from .pieces import torch_grad


def states(static):
    return ("mom_buf",) if static.get("mom") else ()


def update_state(p, g, state, hp, t, ops, static):
    if not static.get("mom"):
        return {}
    g = torch_grad(p, g, hp, static)
    # torch starts the buffer at the first gradient, then buf = mom*buf + (1 - dampening)*g
    later = state["mom_buf"] * hp["mom"] + (1 - hp["dampening"]) * g
    return {"mom_buf": ops.where(ops.eq(t, 1), g, later)}


def step(p, g, prev, new, hp, t, ops, static):
    g = torch_grad(p, g, hp, static)
    if static.get("mom"):
        g = g + hp["mom"] * new["mom_buf"] if static.get("nesterov") else new["mom_buf"]
    return p - hp["lr"] * g
