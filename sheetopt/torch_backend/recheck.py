"""The batched re-check: every step of a trace recomputed at once, steps along dimension 0.

A trace records, for each step, the parameters before it and the state after it; the state
before step n is the state after step n-1 (or the trace's start). So every step can be
recomputed on its own from the trace's inputs: the prediction of every row visited, the batch
loss, the gradient by torch autograd (not by the analytic formula), the finite differences, the
optimizer state after the step and the parameters after it -- with the model, gradient and rule
definitions the engine uses, rendered on tensors.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .. import gradients
from ..spec import Sheet, Spec
from ..trace import Trace
from .compare import Difference, difference
from .device import require_torch
from .ops import torch_ops

CHECK = "re-check"


def step_rows(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """For each step, the index of its first row in ``trace.rows`` and its row count."""
    sizes = np.asarray(trace.steps["size"], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return starts, sizes


def state_before(trace: Trace) -> dict[str, np.ndarray]:
    """``<state>_<param>`` before each step: the start, then each previous step's state."""
    out = {}
    for s in trace.state_names:
        for p in trace.params:
            key = f"{s}_{p}"
            after = np.asarray(trace.steps[key], dtype=float)
            out[key] = np.concatenate([[trace.start[key]], after[:-1]])
    return out


def recheck(spec: Spec, sheet: Sheet, trace: Trace, device=None, tol: float = 1e-12,
            dtype=None) -> list[Difference]:
    """Every quantity of every step of ``trace`` recomputed; one Difference per quantity."""
    torch = require_torch()
    dtype = dtype or torch.float64
    device = device or torch.device("cpu")
    tensor = lambda v: torch.as_tensor(np.asarray(v, dtype=float), dtype=dtype, device=device)  # noqa: E731
    numpy = lambda v: v.detach().cpu().double().numpy()  # noqa: E731
    names, steps = spec.model.params, trace.steps
    n = len(trace)
    epoch, step = steps["epoch"], steps["step"]
    diff = lambda q, a, b, scale=0.0, against="": difference(  # noqa: E731
        sheet.name, CHECK, q, a, b, epoch, step, tol, scale, against)
    if n == 0:
        return []
    out = _check_rows(spec, trace, tensor, numpy, tol, sheet.name)
    model_out = _model_quantities(spec, sheet, trace, tensor, numpy)
    out.append(diff("loss", steps["loss"], model_out["loss"], against="loss of the batch"))
    for p in names:
        if sheet.gradient == "analytic":
            out.append(diff(f"grad_{p}", steps[f"grad_{p}"], model_out[f"autograd_{p}"],
                            model_out[f"scale_{p}"], "torch autograd"))
        else:
            out.append(diff(f"grad_{p}", steps[f"grad_{p}"], model_out[f"{sheet.gradient}_{p}"],
                            against=f"{sheet.gradient} difference"))
    for method in sheet.show:
        for p in names:
            out.append(diff(f"{method}_{p}", steps[f"{method}_{p}"], model_out[f"{method}_{p}"],
                            against=f"{method} difference"))
    rule_out = _rule_quantities(sheet, trace, tensor, numpy)
    for key, values in rule_out.items():
        out.append(diff(key, steps[key], values, against="rule on the trace's inputs"))
    return out


def _check_rows(spec, trace, tensor, numpy, tol, sheet_name) -> list[Difference]:
    """The prediction and squared error of every row visited, at its step's parameters."""
    starts, sizes = step_rows(trace)
    of_row = np.repeat(np.arange(len(trace)), sizes)
    params = {p: tensor(np.asarray(trace.steps[p])[of_row]) for p in spec.model.params}
    x, y = tensor(trace.rows["x"]), tensor(trace.rows["y"])
    pred = spec.model.predict(params, x)
    err2 = (y - pred) ** 2
    epoch, step = trace.rows["epoch"], trace.rows["step"]
    return [difference(sheet_name, CHECK, key, trace.rows[key], numpy(value), epoch, step, tol,
                       against="model on the row")
            for key, value in (("pred", pred), ("err2", err2))]


def _model_quantities(spec: Spec, sheet: Sheet, trace: Trace, tensor, numpy) -> dict:
    """Loss, autograd gradient (and the size of its per-row parts) and finite differences,
    one group of equal-sized batches at a time."""
    import torch

    model, names = spec.model, spec.model.params
    starts, sizes = step_rows(trace)
    methods = set(sheet.show) | ({sheet.gradient} - {"analytic"})
    keys = ["loss", *(f"{k}_{p}" for k in ("autograd", "scale", *methods) for p in names)]
    out = {key: np.zeros(len(trace)) for key in keys}
    rows_x, rows_y = np.asarray(trace.rows["x"]), np.asarray(trace.rows["y"])
    for size in np.unique(sizes):
        chosen = np.flatnonzero(sizes == size)
        index = starts[chosen][:, None] + np.arange(size)[None, :]
        xr, yr = tensor(rows_x[index]), tensor(rows_y[index])
        xs, ys = [xr[:, i] for i in range(size)], [yr[:, i] for i in range(size)]
        params = {p: tensor(np.asarray(trace.steps[p])[chosen]) for p in names}
        loss = gradients.batch_loss(model, params, xs, ys)
        out["loss"][chosen] = numpy(loss)
        # each row gets its own copy of the parameters, so autograd hands back every row's part
        leaves = {p: params[p][:, None].repeat(1, size).requires_grad_(True) for p in names}
        row_losses = [model.loss({p: leaves[p][:, i] for p in names}, xs[i], ys[i])
                      for i in range(size)]
        parts = torch.autograd.grad(gradients.mean(row_losses).sum(), [leaves[p] for p in names])
        for p, part in zip(names, parts):
            out[f"autograd_{p}"][chosen] = numpy(part.sum(dim=1))
            out[f"scale_{p}"][chosen] = numpy(part.abs().sum(dim=1))
        for method in methods:
            estimate = gradients.gradient(method, model, params, xs, ys, sheet.h, loss)
            for p in names:
                out[f"{method}_{p}"][chosen] = numpy(estimate[p])
    return out


def _rule_quantities(sheet: Sheet, trace: Trace, tensor, numpy) -> dict[str, np.ndarray]:
    """State after and parameters after each step, from the trace's own inputs to the rule."""
    names, steps, n = trace.params, trace.steps, len(trace)
    stack = lambda cols: torch_stack([tensor(c) for c in cols])  # noqa: E731
    params = stack([steps[p] for p in names])
    grads = stack([steps[f"grad_{p}"] for p in names])
    before = state_before(trace)
    state = {s: stack([before[f"{s}_{p}"] for p in names]) for s in trace.state_names}
    hp = {k: tensor(np.full((n, 1), v)) for k, v in sheet.hypers.items()}
    hp["lr"] = tensor(np.asarray(steps["lr"])[:, None])
    if "mom" in steps and "mom" in hp:
        hp["mom"] = tensor(np.asarray(steps["mom"])[:, None])
    t = tensor(np.arange(1, n + 1, dtype=float)[:, None])
    ops, static, rule = torch_ops(), sheet.static, sheet.rule
    new_state = rule.update_state(params, grads, state, hp, t, ops, static)
    new_params = rule.step(params, grads, state, new_state, hp, t, ops, static)
    out = {f"{s}_{p}": numpy(new_state[s][:, j])
           for s in trace.state_names for j, p in enumerate(names)}
    out.update({f"new_{p}": numpy(new_params[:, j]) for j, p in enumerate(names)})
    return out


def torch_stack(columns):
    import torch

    return torch.stack(columns, dim=1)


def recheck_all(spec: Spec, traces: Mapping[str, Trace], device=None,
                tol: float = 1e-12) -> list[Difference]:
    """The re-check of several sheets' traces, in the spec's order."""
    out = []
    for sheet in spec.sheets:
        if sheet.name in traces:
            out.extend(recheck(spec, sheet, traces[sheet.name], device, tol))
    return out
