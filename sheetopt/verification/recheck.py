"""The batched re-check: every step of a trace recomputed at once, steps along dimension 0.

A trace records, for each step, the parameters before it and the state after it; the state
before step n is the state after step n-1 (or the trace's start). So every step can be
recomputed on its own from the trace's inputs: the prediction of every row visited, the batch
loss, the gradient by torch autograd (not by the analytic formula), the finite differences, the
optimizer state after the step and the parameters after it -- with the model, gradient and rule
definitions the engine uses, rendered on tensors. Because each step is checked from its own
inputs, the links between steps are checked too (``continuity``): parameters before a step are
the previous step's parameters after, and each row's x and y are the spec's data.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..models import gradients
from ..spec import Sheet, Spec
from ..protocol.trace import Trace
from ..executors.torch.batch import BatchModel, mean as batch_mean
from .compare import Difference, difference
from ..executors.torch.device import require_torch
from ..executors.torch.ops import torch_ops

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
    return recheck_all(spec, [(sheet, trace)], device, tol, dtype)


def recheck_all(spec: Spec, runs: Sequence[tuple[Sheet, Trace]], device=None,
                tol: float = 1e-12, dtype=None) -> list[Difference]:
    """The re-check of several sheets' traces at once: the model's quantities (predictions,
    losses, autograd gradients, finite differences) for the steps of all sheets together, one
    tensor per quantity; each sheet's rule on its own steps. Differences in the order given."""
    torch = require_torch()
    dtype = dtype or torch.float64
    device = device or torch.device("cpu")
    tensor = lambda v: torch.as_tensor(np.asarray(v, dtype=float), dtype=dtype, device=device)  # noqa: E731
    numpy = lambda v: v.detach().cpu().double().numpy()  # noqa: E731
    runs = [(sheet, trace) for sheet, trace in runs if len(trace)]
    if not runs:
        return []
    stacked = _Stacked.of(spec, runs)
    rows_out = _row_quantities(spec, stacked, tensor, numpy)
    model_out = _model_quantities(spec, stacked, tensor, numpy)
    out = []
    for i, (sheet, trace) in enumerate(runs):
        steps, rows = stacked.steps[i], stacked.rows[i]
        out.extend(continuity(spec, sheet, trace, tol))
        for key in ("pred", "err2"):
            out.append(difference(sheet.name, CHECK, key, trace.rows[key], rows_out[key][rows],
                                  epoch=trace.rows["epoch"], step=trace.rows["step"], tol=tol,
                                  against="model on the row"))
        mine = {key: values[steps] for key, values in model_out.items()}
        out.extend(_model_differences(spec, sheet, trace, mine, tol))
        for key, values in _rule_quantities(sheet, trace, tensor, numpy).items():
            out.append(difference(sheet.name, CHECK, key, trace.steps[key], values,
                                  epoch=trace.steps["epoch"], step=trace.steps["step"], tol=tol,
                                  against="rule on the trace's inputs"))
    return out


def continuity(spec: Spec, sheet: Sheet, trace: Trace, tol: float = 1e-12) -> list[Difference]:
    """The links between steps, which the per-step checks take on trust: each step's
    parameters before it equal the previous step's parameters after it (the run's start at the
    first step), across epoch boundaries too, and each visited row's x and y are the spec's
    data at that row. (The state before a step is not a column of its own: it is read as the
    previous step's state after, or the start, so it is continuous by construction.)"""
    steps, rows = trace.steps, trace.rows
    out = []
    for p in trace.params:
        before = np.concatenate([[trace.start[p]], np.asarray(steps[f"new_{p}"], float)[:-1]])
        out.append(difference(sheet.name, CHECK, p, steps[p], before, epoch=steps["epoch"],
                              step=steps["step"], tol=tol,
                              against=f"previous step's new_{p} (the start at the first step)"))
    index = np.asarray(rows["row"], dtype=np.int64) - 1
    data = dict(zip(spec.model.columns, [*spec.data.inputs(), spec.data.y]))
    for key, column in data.items():
        inside = (index >= 0) & (index < len(column))
        data = np.where(inside, np.asarray(column, float)[np.clip(index, 0, len(column) - 1)],
                        np.nan)
        out.append(difference(sheet.name, CHECK, key, rows[key], data, epoch=rows["epoch"],
                              step=rows["step"], tol=tol, against="the spec's data at the row"))
    return out


@dataclass
class _Stacked:
    """The steps (and rows) of several traces end to end, with where each trace's lie."""

    params: dict[str, np.ndarray]  # parameter -> value before each step
    h: np.ndarray  # each step's finite-difference step size
    starts: np.ndarray  # each step's first row in the stacked rows
    sizes: np.ndarray  # each step's row count
    x: list[np.ndarray]  # the stacked rows: each input column
    y: np.ndarray  # their targets (zeros for a model without one)
    methods: tuple[str, ...]  # the finite differences any sheet records or steps with
    steps: list[slice]  # per trace: its steps in the stack
    rows: list[slice]  # per trace: its rows in the stack

    @classmethod
    def of(cls, spec: Spec, runs) -> "_Stacked":
        traces = [trace for _, trace in runs]
        counts = np.cumsum([0] + [len(t) for t in traces])
        row_counts = np.cumsum([0] + [len(t.rows["row"]) for t in traces])
        join = lambda values: np.concatenate([np.asarray(v, dtype=float) for v in values])  # noqa: E731
        sizes = np.concatenate([step_rows(t)[1] for t in traces])
        methods = sorted({m for sheet, _ in runs
                          for m in (*sheet.show, sheet.gradient) if m != "analytic"})
        return cls(
            params={p: join(t.steps[p] for t in traces) for p in spec.model.params},
            h=join(np.full(len(t), sheet.h) for sheet, t in runs),
            starts=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64), sizes=sizes,
            x=[join(t.rows[key] for t in traces) for key in spec.model.inputs],
            y=(join(t.rows["y"] for t in traces) if spec.model.target
               else np.zeros(row_counts[-1])),
            methods=tuple(methods),
            steps=[slice(a, b) for a, b in zip(counts[:-1], counts[1:])],
            rows=[slice(a, b) for a, b in zip(row_counts[:-1], row_counts[1:])])


def _row_quantities(spec: Spec, stacked: _Stacked, tensor, numpy) -> dict[str, np.ndarray]:
    """The prediction and row loss of every row visited, at its step's parameters."""
    of_row = np.repeat(np.arange(len(stacked.sizes)), stacked.sizes)
    params = {p: tensor(values[of_row]) for p, values in stacked.params.items()}
    x, y = spec.model.row([tensor(column) for column in stacked.x]), tensor(stacked.y)
    pred = spec.model.predict(params, x)
    return {"pred": numpy(pred), "err2": numpy(spec.model.row_loss(pred, y))}


def _model_quantities(spec: Spec, stacked: _Stacked, tensor, numpy) -> dict[str, np.ndarray]:
    """Loss, autograd gradient (and the size of its per-row parts) and finite differences,
    one group of equal-sized batches at a time, all rows of a group at once: tensors shaped
    (steps, rows), reduced over the rows in the engine's left-to-right order."""
    import torch

    model, names = BatchModel(spec.model), spec.model.params
    starts, sizes = stacked.starts, stacked.sizes
    keys = ["loss", *(f"{k}_{p}" for k in ("autograd", "scale", *stacked.methods) for p in names)]
    out = {key: np.zeros(len(sizes)) for key in keys}
    for size in np.unique(sizes):
        chosen = np.flatnonzero(sizes == size)
        index = starts[chosen][:, None] + np.arange(size)[None, :]
        # one batch per step
        xs = [spec.model.row([tensor(column[index]) for column in stacked.x])]
        ys = [tensor(stacked.y[index])]
        params = {p: tensor(stacked.params[p][chosen]) for p in names}
        loss = gradients.batch_loss(model, params, xs, ys)
        out["loss"][chosen] = numpy(loss)
        # each row gets its own copy of the parameters, so autograd hands back every row's part
        leaves = {p: params[p][:, None].repeat(1, size).requires_grad_(True) for p in names}
        row_losses = spec.model.loss(leaves, xs[0], ys[0])
        parts = torch.autograd.grad(batch_mean(row_losses).sum(), [leaves[p] for p in names])
        for p, part in zip(names, parts):
            out[f"autograd_{p}"][chosen] = numpy(part.sum(dim=1))
            out[f"scale_{p}"][chosen] = numpy(part.abs().sum(dim=1))
        h = tensor(stacked.h[chosen])
        for method in stacked.methods:
            estimate = gradients.gradient(method, model, params, xs, ys, h=h, loss=loss)
            for p in names:
                out[f"{method}_{p}"][chosen] = numpy(estimate[p])
    return out


def _model_differences(spec: Spec, sheet: Sheet, trace: Trace, values: dict, tol: float):
    """The trace's loss, gradient and finite-difference columns against the recomputed ones."""
    steps = trace.steps

    def diff(q: str, b, scale=0.0, against: str = "") -> Difference:
        return difference(sheet.name, CHECK, q, steps[q], b, epoch=steps["epoch"],
                          step=steps["step"], tol=tol, scale=scale, against=against)

    out = [diff("loss", values["loss"], against="loss of the batch")]
    for p in spec.model.params:
        if sheet.gradient == "analytic":
            out.append(diff(f"grad_{p}", values[f"autograd_{p}"], values[f"scale_{p}"],
                            "torch autograd"))
        else:
            out.append(diff(f"grad_{p}", values[f"{sheet.gradient}_{p}"],
                            against=f"{sheet.gradient} difference"))
    for method in sheet.show:
        for p in spec.model.params:
            if method == "analytic":  # the analytic gradient shown beside another method's
                out.append(diff(f"analytic_{p}", values[f"autograd_{p}"], values[f"scale_{p}"],
                                "torch autograd"))
            else:
                out.append(diff(f"{method}_{p}", values[f"{method}_{p}"],
                                against=f"{method} difference"))
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
    new_state = rule.new_state(params, grads, state, hp=hp, t=t, ops=ops, static=static)
    new_params = rule.stepped(params, grads, state, new_state, hp=hp, t=t, ops=ops,
                              static=static)
    out = {f"{s}_{p}": numpy(new_state[s][:, j])
           for s in trace.state_names for j, p in enumerate(names)}
    out.update({f"new_{p}": numpy(new_params[:, j]) for j, p in enumerate(names)})
    return out


def torch_stack(columns):
    import torch

    return torch.stack(columns, dim=1)

