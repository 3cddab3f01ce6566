"""torch.optim.ASGD: SGD with a decaying step size eta and a running average ``ax`` of the
parameters (the average starts once the step count passes t0)."""
from __future__ import annotations

from .pieces import torch_grad


def _stepped(p, g, eta, hp, static):
    """``param.mul_(1 - lambd*eta)`` then ``param.add_(grad, alpha=-eta)``."""
    g = torch_grad(p, g, hp, static)
    return p * (1 - hp["lambd"] * eta) - eta * g


def update_state(p, g, state, hp, t, ops, static):
    new_p = _stepped(p, g, state["eta"], hp, static)
    mu, ax = state["mu"], state["ax"]
    return {
        # torch copies the parameter while mu is 1 (ax + (p - ax)*1 need not be p exactly)
        "ax": ops.where(ops.eq(mu, 1), new_p, ax + (new_p - ax) * mu),
        "eta": hp["lr"] / ops.power(1 + hp["lambd"] * hp["lr"] * t, hp["alpha"]),
        "mu": 1 / ops.maximum(1, t - hp["t0"]),
    }


def step(p, g, prev, new, hp, t, ops, static):
    return _stepped(p, g, prev["eta"], hp, static)
