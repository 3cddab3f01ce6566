"""fastai's fit_one_cycle (``kind = "fastai_one_cycle"``): lr and momentum as a closed form of
the run's position. Not torch's OneCycleLR (whose phases end one step earlier and whose floor
is max_lr / (div_factor * final_div_factor)); that one is ``{ torch = "OneCycleLR" }``."""
from __future__ import annotations

# fastai's fit_one_cycle defaults
ONE_CYCLE_DEFAULTS = {"div": 25.0, "div_final": 1e5, "pct_start": 0.25,
                      "moms": (0.95, 0.85, 0.95)}


def cosine(start, end, pos, ops):
    """fastai's SchedCos: from start (pos = 0) to end (pos = 1) along half a cosine."""
    return start + (1 + ops.cos(ops.pi * (1 - pos))) * (end - start) / 2


def one_cycle(pos, lr_max, schedule, ops):
    """lr and momentum at position pos in [0, 1) of the whole run (fastai's fit_one_cycle)."""
    pct = schedule.option("pct_start")
    low, mid, high = schedule.option("moms")
    first, second = pos / pct, (pos - pct) / (1 - pct)
    lr = ops.where(pos < pct,
                   cosine(lr_max / schedule.option("div"), lr_max, first, ops),
                   cosine(lr_max, lr_max / schedule.option("div_final"), second, ops))
    mom = ops.where(pos < pct, cosine(low, mid, first, ops), cosine(mid, high, second, ops))
    return lr, mom
