"""Learning-rate schedules, each written once with arithmetic and ``ops`` (like the rules), so
that it runs in the engine, prints as workbook formulas and drives torch:

- ``constant``;
- ``adam_ann``: the lecture's between-epoch annealing (lecture.py);
- ``fastai_one_cycle`` (old name ``one_cycle``): fastai's fit_one_cycle (fastai.py);
- ``{ torch = "StepLR", ..., per = "step" | "epoch" }``: the torch.optim.lr_scheduler class of
  that name with torch's constructor arguments (torch_decay.py, torch_cosine.py,
  torch_cyclic.py, torch_plateau.py, torch_composite.py; the table is ``TORCH_SCHEDULERS``);
- ``{ keras = "ExponentialDecay", ... }``, ``{ optax = "exponential_decay", ... }``: Keras's and
  optax's schedules, closed forms of the step (library.py; the table is
  ``LIBRARY_SCHEDULES``).
"""
from __future__ import annotations

from typing import Mapping

from .fastai import ONE_CYCLE_DEFAULTS, cosine, one_cycle
from .lecture import anneal, gradient_scale
from .kinds import KIND_ALIASES, KINDS, Schedule, Stepping
from .library import LIBRARIES, LIBRARY_SCHEDULES
from .torch_base import REQUIRED, Clock, Node, TorchScheduler, host_ops
from .torch_table import TORCH_SCHEDULERS, build_node

__all__ = ["SCHEDULES", "TORCH_SCHEDULERS", "LIBRARY_SCHEDULES", "LIBRARIES", "ONE_CYCLE_DEFAULTS", "Schedule", "Clock", "Node",
           "constructed_momentum",
           "TorchScheduler", "Stepping", "KINDS", "anneal", "gradient_scale", "cosine", "one_cycle", "step_hypers",
           "records_mom", "clock_for", "build_node", "host_ops", "REQUIRED",
           "numeric_arguments"]

SCHEDULES = tuple(kind for kind in KINDS if kind not in ("torch", *LIBRARIES))
PERS = ("step", "epoch")

def records_mom(schedule: Schedule, hypers: Mapping) -> bool:
    """Whether the schedule sets the momentum (a trace column ``mom``, the value each step used)."""
    return schedule.records_mom(hypers)


def clock_for(schedule: Schedule | None, hp: Mapping) -> Clock | None:
    """The host clock of a torch schedule, started from the sheet's lr and momentum."""
    if schedule is None or schedule.node is None:
        return None
    return Clock(schedule.node, hp["lr"], hp.get("mom"))


def step_hypers(hp: Mapping, lr, schedule: Schedule | None, done: int, total: int, ops,
                clock: Clock | None = None) -> dict:
    """The hyperparameters of one step (see :meth:`Schedule.hypers`): ``lr`` (the epoch's,
    after any annealing), fastai one-cycle's lr and momentum at the run's position
    ``done / total``, or a torch schedule's current lr (and momentum) from its ``clock``."""
    return (schedule or Schedule()).hypers(hp, lr, done, total, ops, clock)


def numeric_arguments(schedule: Schedule) -> dict[str, float]:
    """The schedule's own numeric arguments by name, given or defaulted (what a sweep may vary
    besides the sheet's hyperparameters); a composite's children's are not among them.

    >>> numeric_arguments(Schedule("torch", {"torch": "StepLR", "step_size": 3, "per": "epoch"}))
    {'step_size': 3.0, 'gamma': 0.1}
    """
    if schedule.kind == "torch":
        values = schedule.node.args
    elif schedule.kind in LIBRARIES:
        values = schedule.arguments
    elif schedule.kind == "fastai_one_cycle":
        values = {key: schedule.option(key) for key in ONE_CYCLE_DEFAULTS}
    else:
        values = {}
    return {key: float(v) for key, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def constructed_momentum(schedule: Schedule, hypers: Mapping) -> float | None:
    """The momentum (SGD's and RMSprop's momentum, Adam's beta1) that torch's scheduler
    constructors leave in the optimizer's param group where they cycle it (OneCycleLR and
    CyclicLR set it to max_momentum, even on an SGD built with momentum 0); None where the
    schedule leaves the momentum alone.

    Example:
        >>> constructed_momentum(Schedule("torch", {"torch": "OneCycleLR", "max_lr": 0.1,
        ...                                         "total_steps": 100, "per": "step"}),
        ...                      {"lr": 0.01, "mom": 0.0})
        0.95
    """
    if schedule.kind != "torch" or not schedule.node.cycles or "mom" not in hypers:
        return None
    return float(Clock(schedule.node, hypers["lr"], hypers["mom"]).mom)
