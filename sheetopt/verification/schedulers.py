"""torch.optim.lr_scheduler itself, built from a sheet's ``schedule = { torch = ... }``: the
reference the engine's schedules are checked against (replay, torch-suite, tests)."""
from __future__ import annotations

import warnings
from typing import Mapping

from ..schedules import Schedule
from ..executors.torch.device import require_torch


def torch_scheduler(schedule: Schedule, optimizer):
    """The torch scheduler a torch schedule stands for, on ``optimizer`` (None for the other
    kinds). Its arguments are the spec's, as torch spells them; torch fills in the rest."""
    if schedule.node is None:
        return None
    options = {k: v for k, v in schedule.options.items() if k != "per"}
    return _build(options, optimizer)


def _build(table: Mapping, optimizer):
    lr_scheduler = require_torch().optim.lr_scheduler
    args = {k: v for k, v in table.items() if k != "torch"}
    name = table["torch"]
    if "pct_start" in args:  # torch insists on a float
        args["pct_start"] = float(args["pct_start"])
    if name in ("SequentialLR", "ChainedScheduler"):
        children = [_build(child, optimizer) for child in args.pop("schedulers")]
        if name == "ChainedScheduler":
            return lr_scheduler.ChainedScheduler(children, optimizer=optimizer)
        return lr_scheduler.SequentialLR(optimizer, children, **args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "scheduler.step() before optimizer.step()"
        return getattr(lr_scheduler, name)(optimizer, **args)


def group_momentum(group: Mapping) -> float | None:
    """SGD's/RMSprop's momentum or Adam's beta1 in a param group."""
    if "betas" in group:
        return float(group["betas"][0])
    return float(group["momentum"]) if "momentum" in group else None


class Stepper:
    """Calls ``scheduler.step()`` where a training loop does: after every optimizer step
    (``per = "step"``) or after every epoch, ReduceLROnPlateau with the epoch's mean loss."""

    def __init__(self, schedule: Schedule, optimizer):
        self.scheduler = torch_scheduler(schedule, optimizer)
        self.each_step = schedule.per_step  # else after each epoch
        self.plateau = schedule.options.get("torch") == "ReduceLROnPlateau"
        self.loss_sum, self.steps = 0.0, 0

    def after_step(self, loss: float) -> None:
        self.loss_sum += loss
        self.steps += 1
        if self.scheduler is not None and self.each_step:
            self._step()

    def after_epoch(self) -> None:
        if self.scheduler is not None and not self.each_step:
            self._step(self.loss_sum / self.steps if self.plateau else None)
        self.loss_sum, self.steps = 0.0, 0

    def _step(self, metric=None) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if metric is None:
                self.scheduler.step()
            else:
                self.scheduler.step(metric)
