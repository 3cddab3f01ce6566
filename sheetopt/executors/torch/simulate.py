"""The engine's stepping loop on torch tensors shaped (configurations, parameters).

It walks the same plan of rows as ``engine.simulate`` and computes each step with the same
model, gradient, rule and schedule definitions, rendered with the torch ``ops``. Diverged
configurations are masked (their parameters and state stop changing), never fatal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from ...models import gradients
from ...protocol.driver import epoch_metric, schedule_of, walk
from ...protocol.plan import Plan
from ...spec import Sheet, Spec
from .batch import BatchModel, left_to_right_sum, mean
from .ops import torch_ops


@dataclass(kw_only=True)
class TorchResult:
    """Final values per configuration and per-epoch sums, as numpy arrays."""

    params: np.ndarray  # (C, P)
    state: dict[str, np.ndarray]  # name -> (C, P)
    epoch_sum_err2: np.ndarray  # (E, C)
    epoch_rows: np.ndarray  # (E, C)
    diverged_at: np.ndarray  # (C, 2), 0 where it did not diverge
    step_loss: np.ndarray | None = None  # (C,) the loss of the step asked for (see driver.Result)


def to_tensors(values: Mapping[str, np.ndarray], device, dtype) -> dict:
    import torch

    return {k: torch.as_tensor(np.asarray(v), dtype=dtype, device=device) for k, v in values.items()}


def simulate(spec: Spec, sheet: Sheet, hp: Mapping, params, state: Mapping,
             plan: Plan, annealing: bool = True, t0: int = 0,
             on_step: Callable | None = None, capture: int = 0) -> TorchResult:
    """Runs ``plan`` from ``params`` (C, P) and ``state`` (tensors); ``hp`` maps each numeric
    hyperparameter to a (C, 1) tensor. ``on_step(e, k, params, new_params, new_state, alive)``
    is called after each step when given (a replay records with it); ``capture``: the step
    (from 1) whose loss the result keeps. The run protocol is
    ``sheetopt.protocol.driver``'s; this module holds a step's tensor arithmetic."""
    run = _Run(spec, sheet, params, state, plan, on_step)
    if capture:
        run.capture = t0 + capture
        run.step_loss = run.torch.full_like(run.epoch_loss, float("nan"))
    host = lambda v: v.detach().cpu().double().numpy()  # noqa: E731
    stepping = schedule_of(sheet, annealing).start(hp, run.columns, run.ops, host)
    run.on_host = stepping.on_host
    walk(plan, stepping, hp=hp, t0=t0, step=run.step, end_epoch=run.end_epoch, columns=run.columns,
         metric=lambda e, steps: epoch_metric(host(run.epoch_loss), steps))
    return run.result()


class _Run:
    """One batched run's tensors and the arithmetic of its steps."""

    def __init__(self, spec, sheet, params, state, plan, on_step):
        import torch

        self.torch, self.ops = torch, torch_ops()
        self.spec, self.sheet, self.on_step, self.on_host = spec, sheet, on_step, False
        model = spec.model
        self.x = [spec.data.row(model, i) for i in range(len(spec.data))]
        self.y = spec.data.y.tolist()
        self.x_rows, self.y_rows = ([torch.as_tensor(v, dtype=params.dtype, device=params.device)
                                     for v in spec.data.inputs()],
                                    torch.as_tensor(spec.data.y, dtype=params.dtype,
                                                    device=params.device))
        self.batched = BatchModel(spec.model)
        self.names, self.state_names = spec.model.params, sheet.rule.states(sheet.static)
        C, E = params.shape[0], plan.epochs
        self.params = params.clone()
        self.state = {s: state[s].clone() for s in self.state_names}
        self.alive = torch.ones(C, dtype=torch.bool, device=params.device)
        self.diverged_at = torch.zeros((C, 2), dtype=torch.long, device=params.device)
        self.epoch_sum = torch.zeros((E, C), dtype=params.dtype, device=params.device)
        self.epoch_rows = torch.zeros((E, C), dtype=params.dtype, device=params.device)
        self.epoch_loss = torch.zeros(C, dtype=params.dtype, device=params.device)
        self.capture, self.step_loss = 0, None

    def _tensors(self, step_hp: dict) -> dict:
        """The host's numbers (or per-configuration columns) of a clocked schedule as tensors."""
        torch, params = self.torch, self.params
        for n in ("lr", "mom"):
            if n in step_hp and not isinstance(step_hp[n], torch.Tensor):
                step_hp[n] = torch.as_tensor(step_hp[n], dtype=params.dtype,
                                             device=params.device)
        return step_hp

    def _loss(self, p, rows):
        """(loss, sum of the rows' squared errors, gradients) of one batch."""
        model, sheet = self.spec.model, self.sheet
        if len(rows) == 1:  # online: the row's numbers as they are
            xs, ys = [self.x[rows[0]]], [self.y[rows[0]]]
            err2 = model.loss(p, xs[0], ys[0])
            loss, err2_sum = err2, err2
            grads = gradients.gradient(sheet.gradient, model, p, xs, ys, h=sheet.h, loss=loss)
        else:  # every row of the batch at once, shaped (C, rows)
            xs = [model.row([rows_of(column, rows) for column in self.x_rows])]
            ys = [rows_of(self.y_rows, rows)]
            err2 = self.batched.row_losses(p, xs[0], ys[0])
            loss, err2_sum = mean(err2), left_to_right_sum(err2)
            grads = gradients.gradient(sheet.gradient, self.batched, p, xs, ys, h=sheet.h,
                                       loss=loss)
        return loss, err2_sum, grads

    def step(self, e: int, k: int, rows, step_hp: dict, t: int) -> None:
        torch, sheet, rule, ops = self.torch, self.sheet, self.sheet.rule, self.ops
        if self.on_host:
            step_hp = self._tensors(step_hp)
        params, state, alive = self.params, self.state, self.alive
        p = {n: params[:, j] for j, n in enumerate(self.names)}
        loss, err2_sum, grads = self._loss(p, rows)
        # a gradient that does not depend on the parameters (given gradients) is one number
        g = torch.stack([torch.as_tensor(grads[n], dtype=params.dtype, device=params.device)
                         .expand(params.shape[0]) for n in self.names], dim=1)
        at = dict(hp=step_hp, t=t, ops=ops, static=sheet.static)
        new_state = rule.new_state(params, g, state, **at)
        new_params = rule.stepped(params, g, state, new_state, **at)
        bad = alive & ~(torch.isfinite(loss) & (loss <= sheet.diverge_above)
                        & torch.isfinite(new_params).all(dim=1))
        here = torch.tensor([e + 1, k + 1], device=params.device)
        self.diverged_at = torch.where(bad[:, None], here, self.diverged_at)
        alive &= ~bad
        if t == self.capture:
            self.step_loss = torch.where(alive, loss, torch.nan)
        if self.on_step is not None:
            self.on_step(e, k, params, new_params, new_state, alive)
        keep = alive[:, None]
        self.params = torch.where(keep, new_params, params)
        self.state = {s: torch.where(keep, new_state[s], state[s]) for s in self.state_names}
        self.epoch_sum[e] += torch.where(alive, err2_sum, 0.0)
        self.epoch_rows[e] += alive.to(params.dtype) * len(rows)
        self.epoch_loss += torch.where(alive, loss, 0.0)

    def columns(self, name: str) -> list:
        return [self.state[name][:, j] for j in range(len(self.names))]

    def end_epoch(self, e: int, steps: int) -> None:
        self.epoch_loss = self.torch.zeros_like(self.epoch_loss)

    def result(self) -> TorchResult:
        numpy = lambda v: v.detach().cpu().double().numpy()  # noqa: E731
        return TorchResult(params=numpy(self.params),
                           state={s: numpy(v) for s, v in self.state.items()},
                           epoch_sum_err2=numpy(self.epoch_sum), epoch_rows=numpy(self.epoch_rows),
                           diverged_at=self.diverged_at.cpu().numpy(),
                           step_loss=None if self.step_loss is None else numpy(self.step_loss))


def rows_of(values, rows: np.ndarray):
    """The entries of ``values`` at ``rows`` (a view when the rows are consecutive)."""
    first = int(rows[0])
    if int(rows[-1]) - first == len(rows) - 1 and np.all(np.diff(rows) == 1):
        return values[first:first + len(rows)]
    import torch

    return values[torch.as_tensor(rows, device=values.device)]
