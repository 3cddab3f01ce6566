"""torch's ReduceLROnPlateau, stepped after each epoch with that epoch's mean per-step loss."""
from __future__ import annotations

import math

from .torch_base import TorchScheduler, pick, with_lr


def _setup(g, p, a, ops):
    worse = math.inf if a["mode"] == "min" else -math.inf
    return g, dict(p, best=worse, num_bad_epochs=0, cooldown_counter=0)


def is_better(current, best, a):
    """torch's ``_is_better`` for the four mode/threshold_mode pairs."""
    threshold = a["threshold"]
    if a["mode"] == "min":
        return current < (best * (1.0 - threshold) if a["threshold_mode"] == "rel"
                          else best - threshold)
    return current > (best * (threshold + 1.0) if a["threshold_mode"] == "rel"
                      else best + threshold)


def _step(g, p, metric, a, ops):
    better = is_better(metric, p["best"], a)
    best = pick(better, lambda: metric, lambda: p["best"], ops)
    bad = pick(better, lambda: 0, lambda: p["num_bad_epochs"] + 1, ops)
    cooling = p["cooldown_counter"] > 0
    cooldown = pick(cooling, lambda: p["cooldown_counter"] - 1, lambda: p["cooldown_counter"], ops)
    bad = pick(cooling, lambda: 0, lambda: bad, ops)
    reduce = bad > a["patience"]
    old = g["lr"]
    new = ops.maximum(old * a["factor"], a["min_lr"])
    lr = pick(reduce, lambda: pick(old - new > a["eps"], lambda: new, lambda: old, ops),
              lambda: old, ops)
    cooldown = pick(reduce, lambda: a["cooldown"], lambda: cooldown, ops)
    bad = pick(reduce, lambda: 0, lambda: bad, ops)
    return with_lr(g, lr), dict(p, best=best, num_bad_epochs=bad, cooldown_counter=cooldown)


ReduceLROnPlateau = TorchScheduler(
    "ReduceLROnPlateau", "lr * factor when the epoch's mean loss stops improving",
    {"mode": "min", "factor": 0.1, "patience": 10, "threshold": 1e-4, "threshold_mode": "rel",
     "cooldown": 0, "min_lr": 0.0, "eps": 1e-8},
    _step, setup=_setup, lr_scheduler=False,
    dynamic=("best", "num_bad_epochs", "cooldown_counter"),
    numeric=("factor", "patience", "threshold", "cooldown", "min_lr", "eps"),
    example={"patience": 0, "factor": 0.5, "threshold": 0.5})

CLASSES = (ReduceLROnPlateau,)
