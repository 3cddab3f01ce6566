"""torch's cycles: CyclicLR and OneCycleLR, closed forms of the step count that overwrite the
optimizer's lr (and, with ``cycle_momentum``, SGD's momentum or Adam's beta1)."""
from __future__ import annotations

import math

from .torch_base import REQUIRED, TorchScheduler, floor, pick, with_lr


# --- CyclicLR ------------------------------------------------------------------------------
def _cyclic_setup(g, p, a, ops):
    g = dict(g, lr=a["base_lr"])
    if a["cycle_momentum"]:
        g["mom"] = a["max_momentum"]
    return g, p


def _cyclic_after(g, p, a, ops):
    # torch's first step used base_lrs = initial_lr; from then on they are base_lr
    return g, dict(p, base=a["base_lr"])


def _cyclic_lr(g, p, k, a, ops, initial):
    up = float(a["step_size_up"]) if isinstance(a["step_size_up"], int) else a["step_size_up"]
    down = a["step_size_down"] if a["step_size_down"] is not None else up
    down = float(down) if isinstance(down, int) else down
    total = up + down
    ratio = up / total
    cycle = floor(1 + k / total, ops)
    x = 1.0 + k / total - cycle
    factor = pick(x <= ratio, lambda: x / ratio, lambda: (x - 1) / (ratio - 1), ops)
    mode = a["mode"]
    if mode == "triangular":
        scale = 1.0
    elif mode == "triangular2":
        scale = 1 / ops.power(2.0, cycle - 1)
    else:  # exp_range scales by gamma ** iterations
        scale = ops.power(a["gamma"], k)
    lr = p["base"] + (a["max_lr"] - p["base"]) * factor * scale
    mom = None
    if a["cycle_momentum"]:
        top = a["max_momentum"]
        mom = top - (top - a["base_momentum"]) * factor * scale
    return with_lr(g, lr, mom), p


# --- OneCycleLR ----------------------------------------------------------------------------
def one_cycle_total(a) -> int:
    return a["total_steps"] if a["total_steps"] is not None else a["epochs"] * a["steps_per_epoch"]


def one_cycle_phases(a, total) -> list[tuple]:
    """torch's phases: (end step, start lr, end lr, start momentum, end momentum)."""
    pct = a["pct_start"]
    if a["three_phase"]:
        return [(float(pct * total) - 1, "initial_lr", "max_lr", "max_m", "base_m"),
                (float(2 * pct * total) - 2, "max_lr", "initial_lr", "base_m", "max_m"),
                (total - 1, "initial_lr", "min_lr", "max_m", "max_m")]
    return [(float(pct * total) - 1, "initial_lr", "max_lr", "max_m", "base_m"),
            (total - 1, "max_lr", "min_lr", "base_m", "max_m")]


def _one_cycle_setup(g, p, a, ops):
    initial = a["max_lr"] / a["div_factor"]
    g = dict(g, initial_lr=initial)
    p = dict(p, max_lr=a["max_lr"], min_lr=initial / a["final_div_factor"])
    if a["cycle_momentum"]:
        g["mom"] = a["max_momentum"]
        p.update(max_m=a["max_momentum"], base_m=a["base_momentum"])
    return g, p


def _anneal(start, end, pct, strategy, ops):
    if strategy == "cos":
        cos_out = ops.cos(math.pi * pct) + 1
        return end + (start - end) / 2.0 * cos_out
    return (end - start) * pct + start


def _one_cycle_lr(g, p, k, a, ops, initial):
    values = dict(p, initial_lr=g["initial_lr"])
    phases = one_cycle_phases(a, one_cycle_total(a))

    def phase(i, start_step):
        end_step, lr0, lr1, m0, m1 = phases[i]

        def here():
            pct = (k - start_step) / (end_step - start_step)
            lr = _anneal(values[lr0], values[lr1], pct, a["anneal_strategy"], ops)
            mom = (_anneal(values[m0], values[m1], pct, a["anneal_strategy"], ops)
                   if a["cycle_momentum"] else None)
            return with_lr(g, lr, mom), p
        if i == len(phases) - 1:
            return here()
        return pick(k <= end_step, here, lambda: phase(i + 1, end_step), ops)
    return phase(0, 0.0)


def _cycles(a) -> bool:
    return bool(a["cycle_momentum"])


CyclicLR = TorchScheduler(
    name="CyclicLR",
    summary="triangles between base_lr and max_lr (triangular, triangular2, exp_range)",
    args={"base_lr": REQUIRED, "max_lr": REQUIRED, "step_size_up": 2000, "step_size_down": None,
          "mode": "triangular", "gamma": 1.0, "scale_mode": "cycle", "cycle_momentum": True,
          "base_momentum": 0.8, "max_momentum": 0.9},
    get_lr=_cyclic_lr, zero=None, setup=_cyclic_setup, after=_cyclic_after, cycles=_cycles,
    numeric=("base_lr", "max_lr", "step_size_up", "step_size_down", "gamma", "base_momentum",
             "max_momentum"),
    example={"base_lr": 0.002, "max_lr": 0.02, "step_size_up": 10, "step_size_down": 15,
             "mode": "triangular2"})
OneCycleLR = TorchScheduler(
    "OneCycleLR", "up from max_lr/div_factor to max_lr, then down to max_lr/(div_factor*final_div_factor)",
    {"max_lr": REQUIRED, "total_steps": None, "epochs": None, "steps_per_epoch": None,
     "pct_start": 0.3, "anneal_strategy": "cos", "cycle_momentum": True, "base_momentum": 0.85,
     "max_momentum": 0.95, "div_factor": 25.0, "final_div_factor": 1e4, "three_phase": False},
    _one_cycle_lr, None, _one_cycle_setup, cycles=_cycles,
    numeric=("max_lr", "base_momentum", "max_momentum", "div_factor", "final_div_factor"),
    example={"max_lr": 0.02, "total_steps": "RUN"})  # RUN: the run's step count

CLASSES = (CyclicLR, OneCycleLR)
