"""torch's cosine schedules: CosineAnnealingLR (recursive, as torch steps it) and
CosineAnnealingWarmRestarts (from its T_cur and T_i counters)."""
from __future__ import annotations

import math

from .torch_base import REQUIRED, TorchScheduler, divides, pick, with_lr


def _cosine_lr(g, p, k, a, ops, initial):
    lr, base, eta, T = g["lr"], p["base"], a["eta_min"], a["T_max"]
    if initial:
        return g, p
    lr = pick(divides(2 * T, k - 1 - T, ops),
              lambda: lr + (base - eta) * (1 - ops.cos(math.pi / T)) / 2,
              lambda: (1 + ops.cos(math.pi * k / T)) / (1 + ops.cos(math.pi * (k - 1) / T))
              * (lr - eta) + eta, ops)
    return with_lr(g, lr), p


def _cosine_zero(g, p, a, ops):
    eta = a["eta_min"]
    return with_lr(g, eta + (p["base"] - eta) * (1 + ops.cos(math.pi * 0 / a["T_max"])) / 2), p


def _restart_value(g, p, a, ops):
    eta = a["eta_min"]
    return with_lr(g, eta + (p["base"] - eta) * (1 + ops.cos(math.pi * p["T_cur"] / p["T_i"]))
                   / 2), p


def _restarts_lr(g, p, k, a, ops, initial):
    if initial:  # torch's first step() is step(epoch=0): T_i = T_0, T_cur = 0
        p = dict(p, T_i=a["T_0"], T_cur=0)
    else:
        t_cur = p["T_cur"] + 1
        wrap = t_cur >= p["T_i"]
        # T_cur % T_i where T_cur has just reached T_i: 0
        p = dict(p, T_cur=pick(wrap, lambda: 0, lambda: t_cur, ops),
                 T_i=pick(wrap, lambda: p["T_i"] * a["T_mult"], lambda: p["T_i"], ops))
    return _restart_value(g, p, a, ops)


CosineAnnealingLR = TorchScheduler(
    "CosineAnnealingLR", "half a cosine from lr to eta_min over T_max steps, recursively",
    {"T_max": REQUIRED, "eta_min": 0.0}, _cosine_lr, _cosine_zero,
    numeric=("T_max", "eta_min"), example={"T_max": 30, "eta_min": 1e-4})
CosineAnnealingWarmRestarts = TorchScheduler(
    "CosineAnnealingWarmRestarts", "cosine from lr to eta_min, restarted after T_0, T_0*T_mult, ...",
    {"T_0": REQUIRED, "T_mult": 1, "eta_min": 0.0}, _restarts_lr, _restart_value,
    dynamic=("T_cur", "T_i"), numeric=("T_0", "T_mult", "eta_min"),
    example={"T_0": 10, "T_mult": 2, "eta_min": 1e-4})

CLASSES = (CosineAnnealingLR, CosineAnnealingWarmRestarts)
