"""Learning-rate schedules: constant, the lecture's adam_ann annealing, and fastai's one-cycle.

Like the rules, each is written once with arithmetic and ``ops`` so it can be evaluated with
numpy or printed as a formula.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

SCHEDULES = ("constant", "adam_ann", "one_cycle")

# fastai's fit_one_cycle defaults
ONE_CYCLE_DEFAULTS = {"div": 25.0, "div_final": 1e5, "pct_start": 0.25,
                      "moms": (0.95, 0.85, 0.95)}


@dataclass(frozen=True)
class Schedule:
    kind: str = "constant"
    options: Mapping = field(default_factory=dict)

    def option(self, name: str):
        return self.options.get(name, ONE_CYCLE_DEFAULTS.get(name))

    @property
    def per_step(self) -> bool:
        """True when lr (and momentum) change every step rather than between epochs."""
        return self.kind == "one_cycle"


# --- adam_ann: the lecture's between-epoch annealing ------------------------------------------
def gradient_scale(sqr_avgs: Sequence, ops):
    """sqrt(s_b) + sqrt(s_a) + ...: the size of the squared-gradient averages, in model order."""
    total = ops.sqrt(sqr_avgs[0])
    for s in sqr_avgs[1:]:
        total = total + ops.sqrt(s)
    return total


def anneal(lr, scale, best, ops):
    """After an epoch: divide lr by 4 when the gradient scale has more than doubled over the best
    seen; then remember the smaller scale. Returns (next lr, next best)."""
    return ops.where(scale / best > 2, lr / 4, lr), ops.minimum(best, scale)


# --- one-cycle ---------------------------------------------------------------------------------
def cosine(start, end, pos, ops):
    """fastai's SchedCos: from start (pos = 0) to end (pos = 1) along half a cosine."""
    return start + (1 + ops.cos(ops.pi * (1 - pos))) * (end - start) / 2


def one_cycle(pos, lr_max, schedule: Schedule, ops):
    """lr and momentum at position pos in [0, 1) of the whole run (fastai's fit_one_cycle)."""
    pct = schedule.option("pct_start")
    low, mid, high = schedule.option("moms")
    first, second = pos / pct, (pos - pct) / (1 - pct)
    lr = ops.where(pos < pct,
                   cosine(lr_max / schedule.option("div"), lr_max, first, ops),
                   cosine(lr_max, lr_max / schedule.option("div_final"), second, ops))
    mom = ops.where(pos < pct, cosine(low, mid, first, ops), cosine(mid, high, second, ops))
    return lr, mom


def step_hypers(hp: Mapping, lr, schedule: Schedule | None, done: int, total: int, ops) -> dict:
    """The hyperparameters of one step: ``lr`` (the epoch's, after any annealing), or one-cycle's
    lr and momentum at the run's position ``done / total``."""
    step_hp = dict(hp, lr=lr)
    if schedule is not None and schedule.per_step:
        step_hp["lr"], mom = one_cycle(done / total, hp["lr"], schedule, ops)
        if "mom" in hp:
            step_hp["mom"] = mom
    return step_hp
