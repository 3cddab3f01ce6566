"""Learning-rate schedules, each written once with arithmetic and ``ops`` (like the rules), so
that it runs in the engine, prints as workbook formulas and drives torch:

- ``constant``;
- ``adam_ann``: the lecture's between-epoch annealing (lecture.py);
- ``fastai_one_cycle`` (old name ``one_cycle``): fastai's fit_one_cycle (fastai.py);
- ``{ torch = "StepLR", ..., per = "step" | "epoch" }``: the torch.optim.lr_scheduler class of
  that name with torch's constructor arguments (torch_decay.py, torch_cosine.py,
  torch_cyclic.py, torch_plateau.py, torch_composite.py; the table is ``TORCH_SCHEDULERS``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping

from . import torch_composite, torch_cosine, torch_cyclic, torch_decay, torch_plateau
from .fastai import ONE_CYCLE_DEFAULTS, cosine, one_cycle
from .lecture import anneal, gradient_scale
from .torch_base import REQUIRED, Clock, Node, TorchScheduler, host_ops

__all__ = ["SCHEDULES", "TORCH_SCHEDULERS", "ONE_CYCLE_DEFAULTS", "Schedule", "Clock", "Node",
           "TorchScheduler", "anneal", "gradient_scale", "cosine", "one_cycle", "step_hypers",
           "records_mom", "clock_for", "build_node", "host_ops", "REQUIRED", "numeric_arguments"]

SCHEDULES = ("constant", "adam_ann", "fastai_one_cycle")
KIND_ALIASES = {"one_cycle": "fastai_one_cycle"}
PERS = ("step", "epoch")

# every torch.optim.lr_scheduler class sheetopt has, by torch's name
TORCH_SCHEDULERS: dict[str, TorchScheduler] = {
    cls.name: cls for cls in (*torch_decay.CLASSES, *torch_cosine.CLASSES,
                              *torch_cyclic.CLASSES, *torch_plateau.CLASSES,
                              *torch_composite.CLASSES)}


@dataclass(frozen=True)
class Schedule:
    """A sheet's schedule. ``kind`` "torch": ``options`` holds ``torch`` (the class), ``per``
    and the constructor's arguments as the spec gave them (``schedulers`` as a list of such
    tables for the composites).

    >>> Schedule("torch", {"torch": "StepLR", "step_size": 10, "per": "epoch"}).per_step
    False
    """

    kind: str = "constant"
    options: Mapping = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "kind", KIND_ALIASES.get(self.kind, self.kind))

    def option(self, name: str):
        return self.options.get(name, ONE_CYCLE_DEFAULTS.get(name))

    @property
    def per_step(self) -> bool:
        """True when lr (and momentum) change every step rather than between epochs."""
        return self.kind == "fastai_one_cycle" or (self.kind == "torch"
                                                   and self.options.get("per") == "step")

    @property
    def per(self) -> str | None:
        return self.options.get("per") if self.kind == "torch" else None

    @cached_property
    def node(self) -> Node | None:
        """The torch scheduler this schedule stands for (None for the other kinds)."""
        return build_node(self.options) if self.kind == "torch" else None

    @property
    def label(self) -> str:
        if self.kind != "torch":
            return self.kind
        return f"torch {self.options['torch']} per {self.options['per']}"


def build_node(table: Mapping) -> Node:
    """A spec's scheduler table (already checked) as a Node with torch's defaults filled in."""
    cls = TORCH_SCHEDULERS[table["torch"]]
    args = {key: table.get(key, default) for key, default in cls.args.items()}
    children = ()
    if cls.composite:
        children = tuple(build_node(child) for child in table["schedulers"])
        args.pop("schedulers")
    return Node(cls, args, children)


def numeric_arguments(schedule: Schedule) -> dict[str, float]:
    """The schedule's own numeric arguments by name, given or defaulted (what a sweep may vary
    besides the sheet's hyperparameters); a composite's children's are not among them.

    >>> numeric_arguments(Schedule("torch", {"torch": "StepLR", "step_size": 3, "per": "epoch"}))
    {'step_size': 3.0, 'gamma': 0.1}
    """
    if schedule.kind == "torch":
        values = schedule.node.args
    elif schedule.kind == "fastai_one_cycle":
        values = {key: schedule.option(key) for key in ONE_CYCLE_DEFAULTS}
    else:
        values = {}
    return {key: float(v) for key, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def records_mom(schedule: Schedule, hypers: Mapping) -> bool:
    """Whether the schedule sets the momentum (a trace column ``mom``, the value each step used)."""
    if schedule.kind == "fastai_one_cycle":
        return "mom" in hypers
    return schedule.node is not None and schedule.node.cycles


def clock_for(schedule: Schedule | None, hp: Mapping) -> Clock | None:
    """The host clock of a torch schedule, started from the sheet's lr and momentum."""
    if schedule is None or schedule.node is None:
        return None
    return Clock(schedule.node, hp["lr"], hp.get("mom"))


def step_hypers(hp: Mapping, lr, schedule: Schedule | None, done: int, total: int, ops,
                clock: Clock | None = None) -> dict:
    """The hyperparameters of one step: ``lr`` (the epoch's, after any annealing), fastai
    one-cycle's lr and momentum at the run's position ``done / total``, or a torch schedule's
    current lr (and momentum) from its ``clock``."""
    step_hp = dict(hp, lr=lr)
    if clock is not None:
        step_hp["lr"] = clock.lr
        if clock.mom is not None:
            step_hp["mom"] = clock.mom
    elif schedule is not None and schedule.kind == "fastai_one_cycle":
        step_hp["lr"], mom = one_cycle(done / total, hp["lr"], schedule, ops)
        if "mom" in hp:
            step_hp["mom"] = mom
    return step_hp
