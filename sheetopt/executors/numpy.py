"""The numpy executor: a step of the rule on arrays shaped (configurations, parameters).

The run protocol (plan, schedule, epochs) is ``sheetopt.protocol.driver``'s; this module holds
the arithmetic of a step and what it keeps per epoch.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..models import gradients
from ..ops import numpy_ops as ops
from ..protocol.driver import Result, epoch_metric, per_configuration, schedule_of, walk
from ..protocol.plan import Plan
from ..protocol.recorder import Recorder


class _Run:
    """One batched run's arrays and the arithmetic of its steps."""

    def __init__(self, spec, sheet, params, state, plan: Plan, record: bool):
        self.spec, self.sheet, self.rule = spec, sheet, sheet.rule
        self.names, self.state_names = spec.model.params, sheet.rule.states(sheet.static)
        C, P = params.shape
        E = plan.epochs
        self.params = params.astype(float, copy=True)
        self.state = {s: np.array(state[s], dtype=float) for s in self.state_names}
        self.alive = np.ones(C, dtype=bool)
        self.diverged_at = np.zeros((C, 2), dtype=int)
        self.epoch_sum, self.epoch_rows, self.epoch_lr, self.epoch_loss = (
            np.zeros((E, C)) for _ in range(4))
        self.epoch_params = np.zeros((E, C, P))
        self.recorder = (Recorder(sheet, self.names, self.state_names, C, spec.model)
                         if record else None)
        self.capture, self.step_loss = 0, None

    def step(self, e: int, k: int, rows, step_hp: dict, t: int) -> None:
        spec, sheet, model, names = self.spec, self.sheet, self.spec.model, self.names
        params, state, alive = self.params, self.state, self.alive
        p = {n: params[:, j] for j, n in enumerate(names)}
        xs, ys = [spec.data.row(model, i) for i in rows], [spec.data.y[i] for i in rows]
        preds = [model.predict(p, xi) for xi in xs]
        err2 = [model.row_loss(pred, yi) for yi, pred in zip(ys, preds)]
        loss = gradients.mean(err2)
        grads = gradients.gradient(sheet.gradient, model, p, xs, ys, h=sheet.h, loss=loss)
        shown = {m: gradients.gradient(m, model, p, xs, ys, h=sheet.h, loss=loss)
                 for m in sheet.show}
        # a gradient that does not depend on the parameters (given gradients) is one number
        g = np.empty((len(alive), len(names)), dtype=np.result_type(*grads.values()))
        for j, n in enumerate(names):
            g[:, j] = grads[n]
        at = dict(hp=step_hp, t=t, ops=ops, static=sheet.static)
        new_state = self.rule.new_state(params, g, state, **at)
        new_params = self.rule.stepped(params, g, state, new_state, **at)
        bad = alive & ~(np.isfinite(loss) & (loss <= sheet.diverge_above)
                        & np.isfinite(new_params).all(axis=1))
        if bad.any():
            self.diverged_at[bad] = (e + 1, k + 1)
            alive &= ~bad
        if t == self.capture:
            self.step_loss = np.where(alive, loss, np.nan)
        living = None if alive.all() else alive  # None: every configuration lives, no masks
        if self.recorder is not None and (living is None or living.any()):
            self.recorder.add(e=e, k=k, rows=rows, xs=xs, ys=ys, params=params, g=g,
                              new_params=new_params, preds=preds, err2=err2, loss=loss, hp=step_hp,
                              shown=shown, state=new_state)
        self._keep(living, new_params, new_state)
        self._add_to_epoch(e, living, sum(err2), len(rows), loss)
        if k == 0:
            self.epoch_lr[e] = per_configuration(step_hp["lr"], len(alive))

    def _keep(self, alive, new_params, new_state) -> None:
        """The step's parameters and state where the configuration lives (``alive`` None: all
        of them; see :func:`_kept`)."""
        self.params = _kept(alive, new_params, self.params)
        self.state = {s: _kept(alive, new_state[s], self.state[s]) for s in self.state_names}

    def _add_to_epoch(self, e: int, alive, err2_sum, rows: int, loss) -> None:
        """Adds a step's squared errors, rows and loss to its epoch's sums (``alive`` None:
        every configuration's)."""
        def masked(value, zero):
            return value if alive is None else np.where(alive, value, zero)
        self.epoch_sum[e] += masked(err2_sum, 0.0)
        self.epoch_rows[e] += masked(rows, 0)
        self.epoch_loss[e] += masked(loss, 0.0)

    def columns(self, name: str) -> list:
        return [self.state[name][:, j] for j in range(len(self.names))]

    def metric(self, e: int, steps: int):
        return epoch_metric(self.epoch_loss[e], steps)

    def result(self, summary: bool = False) -> Result:
        result = Result(params=self.params, state=self.state, epoch_sum_err2=self.epoch_sum,
                        epoch_rows=self.epoch_rows,
                        epoch_lr=None if summary else self.epoch_lr,
                        epoch_params=None if summary else self.epoch_params,
                        diverged_at=self.diverged_at,
                        epoch_loss=None if summary else self.epoch_loss,
                        step_loss=self.step_loss)
        if self.recorder is not None:
            result.steps, result.rows = self.recorder.arrays()
        return result


def _kept(alive, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """``new`` where a configuration is alive, else ``old`` (``alive`` None: all are). Taken
    as it is only when np.where would copy it unchanged and it is an array of the step's own
    (writable: not a broadcast view, which the results must not hand on)."""
    if alive is None and new.__class__ is np.ndarray and new.shape == old.shape \
            and new.dtype == old.dtype and new.flags.writeable:
        return new
    return np.where(True if alive is None else alive[:, None], new, old)


def simulate(spec, sheet, hp: Mapping[str, np.ndarray], params: np.ndarray,
             state: Mapping[str, np.ndarray], plan: Plan, record: bool = False,
             annealing: bool = True, t0: int = 0, progress=None, capture: int = 0,
             summary: bool = False) -> Result:
    """Runs the epochs of ``plan`` from ``params`` and ``state`` with numpy; see ``Result``
    (``capture``: the step, from 1, whose loss it keeps; ``summary``: see engine.simulate)."""
    run = _Run(spec, sheet, params, state, plan, record)
    if capture:
        run.capture, run.step_loss = t0 + capture, np.full(len(params), np.nan)

    def end_epoch(e: int, steps: int) -> None:
        run.epoch_params[e] = run.params
        if progress is not None:
            progress(steps)

    with np.errstate(all="ignore"):
        stepping = schedule_of(sheet, annealing).start(hp, run.columns, ops)
        walk(plan, stepping, hp=hp, t0=t0, step=run.step, end_epoch=end_epoch, columns=run.columns,
             metric=run.metric)
    return run.result(summary)
