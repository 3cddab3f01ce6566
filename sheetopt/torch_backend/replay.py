"""Sequential replay: a sheet rerun step by step, and its whole trajectory compared.

Torch-flavour sheets are rerun with the torch.optim classes themselves (SGD, RMSprop, Adam,
AdamW, options mapped from the sheet; "momentum" is SGD), one ``optimizer.step()`` per engine
step over the same rows, the gradient by autograd of the batch's mean loss. A sheet that steps
with a finite difference (``gradient = "forward"`` or ``"central"``) hands torch.optim the
trace's gradient of each step instead: the re-check has already recomputed that gradient from
the step's own inputs, and a difference quotient would turn the last-bit differences of
torch's fused kernels in the parameters into differences of 1e-9 in the gradient (its
subtraction cancels most digits), failing sheets that are right. Lecture-flavour sheets, which torch.optim
does not have, are replayed with the torch rendering of the rules (``simulate``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import engine
from ..ops import numpy_ops
from ..schedules import anneal, gradient_scale, step_hypers
from ..spec import Sheet, Spec
from ..trace import Trace
from .batch import BatchModel
from .compare import Difference, difference, running_scale
from .device import require_torch
from .recheck import recheck_all, step_rows
from .simulate import simulate, to_tensors

CHECK = "replay"
# torch.optim's state names for ours
TORCH_STATE = {"mom_buf": "momentum_buffer", "sqr_avg": "square_avg", "grad_avg": "grad_avg"}
ADAM_STATE = {"grad_avg": "exp_avg", "sqr_avg": "exp_avg_sq", "max_sqr_avg": "max_exp_avg_sq"}


def torch_optimizer(sheet: Sheet, weights):
    """The torch.optim optimizer a torch-flavour sheet stands for, on the tensor ``weights``."""
    torch = require_torch()
    hp, flags = sheet.hypers, sheet.flags
    common = {"foreach": False}  # the single-tensor code path the rules follow
    if sheet.optimizer in ("sgd", "momentum"):
        return torch.optim.SGD([weights], lr=hp["lr"], momentum=hp["mom"],
                               dampening=hp["dampening"], nesterov=flags["nesterov"],
                               weight_decay=hp["wd"], **common)
    if sheet.optimizer == "rmsprop":
        return torch.optim.RMSprop([weights], lr=hp["lr"], alpha=hp["sqr_mom"], eps=hp["eps"],
                                   weight_decay=hp["wd"], momentum=hp["mom"],
                                   centered=flags["centered"], **common)
    kind = torch.optim.AdamW if sheet.optimizer == "adamw" else torch.optim.Adam
    return kind([weights], lr=hp["lr"], betas=(hp["mom"], hp["sqr_mom"]), eps=hp["eps"],
                weight_decay=hp["wd"], amsgrad=flags["amsgrad"], **common)


def _state_key(sheet: Sheet, name: str) -> str:
    return ADAM_STATE[name] if sheet.optimizer in ("adam", "adam_ann", "adamw") else TORCH_STATE[name]


def _preload(optimizer, sheet: Sheet, weights, trace: Trace) -> None:
    """Starts Adam's and RMSprop's averages at the trace's start values (torch's zeros unless
    the spec gives others); SGD's buffer always starts at the first gradient."""
    torch = require_torch()
    if sheet.optimizer in ("sgd", "momentum") or not trace.state_names:
        return
    state = optimizer.state[weights]
    state["step"] = torch.tensor(0.0, dtype=torch.float64 if weights.dtype == torch.float64
                                 else torch.float32)
    for s in trace.state_names:
        values = [trace.start[f"{s}_{p}"] for p in trace.params]
        state[_state_key(sheet, s)] = torch.tensor(values, dtype=weights.dtype)


def _set_schedule(optimizer, sheet: Sheet, lr: float, mom: float | None) -> None:
    group = optimizer.param_groups[0]
    group["lr"] = lr
    if mom is not None:
        if "betas" in group:
            group["betas"] = (mom, group["betas"][1])
        else:
            group["momentum"] = mom


def replay_torch_optim(spec: Spec, sheet: Sheet, trace: Trace) -> dict[str, np.ndarray]:
    """The trace's steps redone with torch.optim: loss, state after and params after, and the
    gradient by autograd of the batch's mean loss (a sheet that steps with a finite difference
    hands torch.optim the trace's own gradient instead; see ``replay``)."""
    torch = require_torch()
    names, model = spec.model.params, BatchModel(spec.model)
    weights = torch.tensor([trace.start[p] for p in names], dtype=torch.float64,
                           requires_grad=True)
    optimizer = torch_optimizer(sheet, weights)
    _preload(optimizer, sheet, weights, trace)
    starts, sizes = step_rows(trace)
    rows_x, rows_y = (torch.as_tensor(np.asarray(trace.rows[k], dtype=float)) for k in "xy")
    n, schedule, autograd = len(trace), sheet.schedule, sheet.gradient == "analytic"
    total = engine.batches(len(spec.data), sheet.batch_size, sheet.epochs, sheet.shuffle,
                           sheet.seed).steps
    lr, best = sheet.hypers["lr"], None
    if schedule.kind == "adam_ann":
        best = float(gradient_scale([trace.start[f"sqr_avg_{p}"] for p in names], numpy_ops))
    kinds = ("grad", "new") if autograd else ("new",)
    out = {k: np.zeros(n) for k in ["loss", *(f"{c}_{p}" for c in kinds for p in names),
                                    *(f"{s}_{p}" for s in trace.state_names for p in names)]}
    epochs = np.asarray(trace.steps["epoch"])
    given = np.stack([np.asarray(trace.steps[f"grad_{p}"], dtype=float) for p in names], axis=1)
    for i in range(n):
        step_hp = step_hypers(sheet.hypers, lr, schedule, i, total, numpy_ops)
        _set_schedule(optimizer, sheet, float(step_hp["lr"]),
                      float(step_hp["mom"]) if schedule.per_step and "mom" in step_hp else None)
        batch = slice(starts[i], starts[i] + sizes[i])
        optimizer.zero_grad()
        params = {p: weights[j:j + 1] for j, p in enumerate(names)}
        loss = model.loss(params, rows_x[batch], rows_y[batch])[0]
        if autograd:
            loss.backward()
        else:
            weights.grad = torch.as_tensor(given[i])
        out["loss"][i] = loss.item()
        if autograd:
            for j, p in enumerate(names):
                out[f"grad_{p}"][i] = weights.grad[j].item()
        optimizer.step()
        state = optimizer.state[weights]
        for j, p in enumerate(names):
            out[f"new_{p}"][i] = weights[j].item()
            for s in trace.state_names:
                out[f"{s}_{p}"][i] = state[_state_key(sheet, s)][j].item()
        if best is not None and (i + 1 == n or epochs[i + 1] != epochs[i]):
            scale = gradient_scale([state["exp_avg_sq"][j].item() for j in range(len(names))],
                                   numpy_ops)
            with np.errstate(all="ignore"):
                lr, best = (float(v) for v in anneal(lr, scale, best, numpy_ops))
    return out


def replay_rules(spec: Spec, sheet: Sheet, trace: Trace) -> dict[str, np.ndarray]:
    """The trace's steps redone by the torch rendering of the rules, one step at a time."""
    torch = require_torch()
    names, n = spec.model.params, len(trace)
    start = to_tensors({"params": [[trace.start[p] for p in names]]}, "cpu", torch.float64)
    state = to_tensors({s: [[trace.start[f"{s}_{p}"] for p in names]] for s in trace.state_names},
                       "cpu", torch.float64)
    hp = to_tensors({k: [[v]] for k, v in sheet.hypers.items()}, "cpu", torch.float64)
    plan = engine.batches(len(spec.data), sheet.batch_size, sheet.epochs, sheet.shuffle,
                          sheet.seed)
    recorded: list[dict] = []

    def record(e, k, params, new_params, new_state, alive):
        row = {f"new_{p}": new_params[0, j].item() for j, p in enumerate(names)}
        row.update({f"{s}_{p}": new_state[s][0, j].item()
                    for s in trace.state_names for j, p in enumerate(names)})
        recorded.append(row)

    simulate(spec, sheet, hp, start["params"], state, plan, on_step=record)
    return {key: np.array([row[key] for row in recorded[:n]]) for key in recorded[0]}


def replay(spec: Spec, sheet: Sheet, trace: Trace, tol: float = 1e-12) -> list[Difference]:
    """The whole trajectory replayed and compared with the trace, one Difference per column."""
    if len(trace) == 0:
        return []
    if sheet.flavor == "torch":
        values, against = replay_torch_optim(spec, sheet, trace), _torch_name(sheet)
        if sheet.gradient != "analytic":
            against += f" fed the trace's {sheet.gradient} differences"
    else:
        values, against = replay_rules(spec, sheet, trace), "torch rendering of the rules"
    epoch, step = trace.steps["epoch"], trace.steps["step"]
    return [difference(sheet.name, CHECK, key, trace.steps[key], value, epoch, step, tol,
                       running_scale(trace.steps[key]), against) for key, value in values.items()]


def _torch_name(sheet: Sheet) -> str:
    name = {"sgd": "SGD", "momentum": "SGD", "rmsprop": "RMSprop", "adamw": "AdamW"}
    return f"torch.optim.{name.get(sheet.optimizer, 'Adam')}"


def verify(spec: Spec, runs: Sequence[tuple[Sheet, Trace]], device=None,
           tol: float = 1e-12) -> list[Difference]:
    """What `sheetopt verify` checks: the re-check of all runs' steps at once, then each run
    replayed; the differences sheet by sheet (its re-check, then its replay)."""
    rechecked = recheck_all(spec, runs, device, tol)
    out = []
    for sheet, trace in runs:
        out.extend(d for d in rechecked if d.sheet == sheet.name)
        out.extend(replay(spec, sheet, trace, tol))
    return out
