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
from ...protocol.engine import Plan, epoch_metric
from ...schedules import anneal, clock_for, gradient_scale, step_hypers
from ...spec import Sheet, Spec
from .batch import BatchModel, left_to_right_sum, mean
from .ops import torch_ops


@dataclass
class TorchResult:
    """Final values per configuration and per-epoch sums, as numpy arrays."""

    params: np.ndarray  # (C, P)
    state: dict[str, np.ndarray]  # name -> (C, P)
    epoch_sum_err2: np.ndarray  # (E, C)
    epoch_rows: np.ndarray  # (E, C)
    diverged_at: np.ndarray  # (C, 2), 0 where it did not diverge


def to_tensors(values: Mapping[str, np.ndarray], device, dtype) -> dict:
    import torch

    return {k: torch.as_tensor(np.asarray(v), dtype=dtype, device=device) for k, v in values.items()}


def simulate(spec: Spec, sheet: Sheet, hp: Mapping, params, state: Mapping,
             plan: Plan, annealing: bool = True, t0: int = 0,
             on_step: Callable | None = None) -> TorchResult:
    """Runs ``plan`` from ``params`` (C, P) and ``state`` (tensors); ``hp`` maps each numeric
    hyperparameter to a (C, 1) tensor. ``on_step(e, k, params, new_params, new_state, alive)``
    is called after each step when given (a replay records with it)."""
    import torch

    ops = torch_ops()
    model, rule, static = spec.model, sheet.rule, sheet.static
    x, y = spec.data.x.tolist(), spec.data.y.tolist()
    x_rows, y_rows = (torch.as_tensor(v, dtype=params.dtype, device=params.device)
                      for v in (spec.data.x, spec.data.y))
    batched = BatchModel(model)
    names, state_names = model.params, rule.states(static)
    C, P = params.shape
    E, total = plan.epochs, plan.steps
    params = params.clone()
    state = {s: state[s].clone() for s in state_names}
    alive = torch.ones(C, dtype=torch.bool, device=params.device)
    diverged_at = torch.zeros((C, 2), dtype=torch.long, device=params.device)
    epoch_sum = torch.zeros((E, C), dtype=params.dtype, device=params.device)
    epoch_rows = torch.zeros((E, C), dtype=params.dtype, device=params.device)
    here_at = lambda e, k: torch.tensor([e, k], device=params.device)  # noqa: E731
    lr = hp["lr"]
    schedule = sheet.schedule if annealing else None
    best = None
    if schedule is not None and schedule.kind == "adam_ann":
        best = gradient_scale([state["sqr_avg"][:, j] for j in range(P)], ops)[:, None]
    host = lambda v: v.detach().cpu().double().numpy()  # noqa: E731
    clock = clock_for(schedule, {n: host(v) for n, v in hp.items()})
    epoch_loss = torch.zeros(C, dtype=params.dtype, device=params.device)
    t = t0
    for e, epoch in enumerate(plan):
        for k, rows in enumerate(epoch):
            step_hp = step_hypers(hp, lr, schedule, t - t0, total, ops, clock)
            if clock is not None:  # the host's numbers (or per-configuration columns) as tensors
                for n in ("lr", "mom"):
                    if n in step_hp and not isinstance(step_hp[n], torch.Tensor):
                        step_hp[n] = torch.as_tensor(step_hp[n], dtype=params.dtype,
                                                     device=params.device)
            t += 1
            p = {n: params[:, j] for j, n in enumerate(names)}
            if len(rows) == 1:  # online: the row's numbers as they are
                xs, ys = [x[rows[0]]], [y[rows[0]]]
                err2 = model.loss(p, xs[0], ys[0])
                loss, err2_sum = err2, err2
                grads = gradients.gradient(sheet.gradient, model, p, xs, ys, sheet.h, loss)
            else:  # every row of the batch at once, shaped (C, rows)
                xs, ys = [rows_of(x_rows, rows)], [rows_of(y_rows, rows)]
                err2 = batched.row_losses(p, xs[0], ys[0])
                loss, err2_sum = mean(err2), left_to_right_sum(err2)
                grads = gradients.gradient(sheet.gradient, batched, p, xs, ys, sheet.h, loss)
            g = torch.stack([grads[n] for n in names], dim=1)
            new_state = rule.new_state(params, g, state, step_hp, t, ops, static)
            new_params = rule.step(params, g, state, new_state, step_hp, t, ops, static)
            bad = alive & ~(torch.isfinite(loss) & (loss <= sheet.diverge_above)
                            & torch.isfinite(new_params).all(dim=1))
            diverged_at = torch.where(bad[:, None], here_at(e + 1, k + 1), diverged_at)
            alive &= ~bad
            if on_step is not None:
                on_step(e, k, params, new_params, new_state, alive)
            keep = alive[:, None]
            params = torch.where(keep, new_params, params)
            state = {s: torch.where(keep, new_state[s], state[s]) for s in state_names}
            epoch_sum[e] += torch.where(alive, err2_sum, 0.0)
            epoch_rows[e] += alive.to(params.dtype) * len(rows)
            epoch_loss += torch.where(alive, loss, 0.0)
            if clock is not None and schedule.per == "step":
                clock.advance()
        if best is not None:
            scale = gradient_scale([state["sqr_avg"][:, j] for j in range(P)], ops)
            lr, best = anneal(lr, scale[:, None], best, ops)
        if clock is not None and schedule.per == "epoch":
            clock.advance(epoch_metric(host(epoch_loss), len(epoch)))
        epoch_loss = torch.zeros_like(epoch_loss)
    numpy = lambda v: v.detach().cpu().double().numpy()  # noqa: E731
    return TorchResult(numpy(params), {s: numpy(v) for s, v in state.items()},
                       numpy(epoch_sum), numpy(epoch_rows), diverged_at.cpu().numpy())


def rows_of(values, rows: np.ndarray):
    """The entries of ``values`` at ``rows`` (a view when the rows are consecutive)."""
    first = int(rows[0])
    if int(rows[-1]) - first == len(rows) - 1 and np.all(np.diff(rows) == 1):
        return values[first:first + len(rows)]
    import torch

    return values[torch.as_tensor(rows, device=values.device)]
