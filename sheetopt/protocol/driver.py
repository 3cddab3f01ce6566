"""The run protocol written once: the driver that every executor's run goes through.

An executor supplies its arithmetic (a step of the rule on its arrays, what it keeps after an
epoch); the driver walks the batch plan, asks the sheet's schedule for each step's
hyperparameters and tells it after each step and epoch (``sheetopt.schedules.Stepping``).
The compiled executor runs many epochs a kernel call and walks the calls with
:func:`walk_calls`; the numpy and torch executors step one batch at a time with :func:`walk`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..schedules import Schedule, Stepping
from .plan import Plan


def per_configuration(value, configs: int) -> np.ndarray:
    """A step's hyperparameter (a number, or a (configs, 1) column as the schedule gives it) as
    a new (configs,) array of floats.

    >>> per_configuration(0.1, 3), per_configuration(np.array([[1.0], [2.0]]), 2)
    (array([0.1, 0.1, 0.1]), array([1., 2.]))
    """
    out = np.empty((configs, 1))
    out[...] = value
    return out[:, 0]


@dataclass(kw_only=True)
class Result:
    """A batched run: final values per configuration and per-epoch summaries."""

    params: np.ndarray  # (C, P) after the last step that did not diverge
    state: dict[str, np.ndarray]  # name -> (C, P)
    epoch_sum_err2: np.ndarray  # (E, C) sum of per-row squared errors in each epoch
    epoch_rows: np.ndarray  # (E, C) rows counted in that sum
    # (E, C) lr at the first step of each epoch; None in a summary run (engine.simulate)
    epoch_lr: np.ndarray | None
    epoch_params: np.ndarray | None  # (E, C, P) parameters at each epoch's end; None: summary
    diverged_at: np.ndarray  # (C, 2) epoch and step counted from 1; 0 where it did not diverge
    # (E, C) sum of the per-step (batch mean) losses; None in a summary run
    epoch_loss: np.ndarray | None = None
    steps: dict[str, np.ndarray] | None = None  # (N, C) per step when recorded
    rows: dict[str, np.ndarray] | None = None  # (R, C) per data row visited when recorded
    # (C,) the loss of the step a run was asked to keep (``capture``, from 1): the trace's loss
    # at that step; NaN where that step diverged or came after a divergence
    step_loss: np.ndarray | None = None


def schedule_of(sheet, annealing: bool = True) -> Schedule:
    """The schedule a run follows: the sheet's, or constant lr (``annealing`` False: the
    lecture's reset passes run at constant lr)."""
    return sheet.schedule if annealing else Schedule()


def epoch_mean_loss(loss_sum, steps: int):
    """An epoch's mean loss, as a training loop logs it: the sum of its per-step losses (each
    step's loss the mean of its rows'), added step by step from the first, divided by the
    number of steps (one step: the sum itself). Numbers, arrays or formula trees.

    >>> epoch_mean_loss(0.5 + 0.25 + 0.75, 3)
    0.5
    """
    return loss_sum if steps == 1 else loss_sum / steps


def epoch_metric(loss_sum: np.ndarray, steps: int) -> np.ndarray:
    """ReduceLROnPlateau's metric: the epoch's mean loss (:func:`epoch_mean_loss`), per
    configuration."""
    return epoch_mean_loss(np.array(loss_sum, dtype=float), steps)[:, None]  # a copy


def walk(plan: Plan, stepping: Stepping, *, hp, t0: int, step: Callable, end_epoch: Callable,
         columns: Callable, metric: Callable) -> None:
    """Runs ``plan`` one batch at a time: ``step(e, k, rows, step_hp, t)`` does the arithmetic
    of a step (``t`` counted from 1, after ``t0`` earlier steps); after each epoch the schedule
    is told (``columns(state)``: the state's per-parameter arrays; ``metric(e, steps)``: the
    epoch's metric), then ``end_epoch(e, steps)``."""
    total, t = plan.steps, t0
    for e, epoch in enumerate(plan):
        for k, rows in enumerate(epoch):
            step_hp = stepping.hypers(hp, t - t0, total)
            t += 1
            step(e, k, rows, step_hp, t)
            stepping.after_step()
        stepping.after_epoch(columns, lambda: metric(e, len(epoch)))
        end_epoch(e, len(epoch))


def walk_calls(plan: Plan, stepping: Stepping, per_call: int, call: Callable,
               columns: Callable, metric: Callable) -> None:
    """Runs ``plan`` ``per_call`` epochs at a time: ``call(e0, epochs)`` runs them (one epoch
    a call when the schedule changes lr between epochs); the schedule is told after each call."""
    for e0 in range(0, plan.epochs, per_call):
        call(e0, min(per_call, plan.epochs - e0))
        stepping.after_epoch(columns, lambda: metric(e0, plan.steps_per_epoch))
