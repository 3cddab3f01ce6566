"""Sequential replay: a sheet rerun step by step, and its whole trajectory compared.

Torch-flavour sheets are rerun with the torch.optim classes themselves (the class and its
arguments from the rules registry, ``Rule.torch``; "momentum" is SGD), one ``optimizer.step()`` per engine
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
from ..schedules import anneal, gradient_scale, records_mom, step_hypers
from ..spec import Sheet, Spec
from ..trace import Trace
from .batch import BatchModel
from .compare import Difference, difference, running_scale
from .device import require_torch
from .recheck import recheck_all, step_rows
from .schedulers import Stepper, group_momentum
from .simulate import simulate, to_tensors

CHECK = "replay"


def torch_optimizer(sheet: Sheet, weights):
    """The torch.optim optimizer a torch-flavour sheet stands for, on ``weights``: one tensor
    holding every parameter, or a list of tensors (one per parameter, what ``parameter_tensors``
    makes). The class, its arguments and its code path come from the rules registry
    (``Rule.torch``); the single-tensor for-loop path (``foreach=False``) is the reference the
    rules follow. A class whose update is not elementwise (Adafactor's norms) needs one tensor
    per parameter: a tensor of several is refused (ValueError)."""
    torch = require_torch()
    info = _torch_class(sheet)
    tensors = _tensors(weights)
    if not info.elementwise and any(t.numel() > 1 for t in tensors):
        raise ValueError(f"torch.optim.{info.name} is not elementwise (its norms run over a "
                         f"whole tensor): give each parameter its own tensor "
                         f"(replay.parameter_tensors)")
    args = info.constructor_args({**sheet.hypers, **sheet.flags})
    optimizer = getattr(torch.optim, info.name)(tensors, **args, foreach=False)
    if info.float64_default and tensors[0].dtype == torch.float64:
        optimizer.step = _in_float64(optimizer.step, torch)
    return optimizer


def parameter_tensors(sheet: Sheet, values, dtype=None) -> list:
    """One leaf tensor of one element per parameter, starting at ``values`` (in model order)."""
    torch = require_torch()
    return [torch.tensor([float(v)], dtype=dtype or torch.float64, requires_grad=True)
            for v in values]


def _torch_class(sheet: Sheet):
    info = sheet.rule.torch
    if info is None:
        raise ValueError(f"sheet {sheet.name!r}: the {sheet.flavor} flavour's "
                         f"{sheet.optimizer} has no torch.optim class")
    return info


def _tensors(weights) -> list:
    return list(weights) if isinstance(weights, (list, tuple)) else [weights]


def _in_float64(step, torch):
    """``step`` run with float64 as torch's default dtype: ASGD rebuilds eta and mu each step
    with ``torch.as_tensor(float)``, and NAdam's first step makes mu_product with
    ``_get_scalar_dtype()``: both round to the default dtype (float32 unless set), a
    difference of 1e-8 in a float64 run (``_preload``, which starts the state in float64
    itself, hides NAdam's)."""
    def stepped(*args, **kwargs):
        saved = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            return step(*args, **kwargs)
        finally:
            torch.set_default_dtype(saved)
    return stepped


def _preload(optimizer, sheet: Sheet, weights, trace: Trace) -> None:
    """Starts the optimizer's state at the trace's start values (torch's own starts unless the
    spec gives others: zeros, Rprop's step size at lr, Adagrad's sum at
    initial_accumulator_value...); SGD's buffer always starts at the first gradient.
    ``weights``: as given to ``torch_optimizer``; a tensor holds the parameters in model order."""
    torch = require_torch()
    info = _torch_class(sheet)
    if not info.preload or not trace.state_names:
        return
    tensors = _tensors(weights)
    names = list(trace.params)
    held = [names] if len(tensors) == 1 and len(names) > 1 else [[n] for n in names]
    for tensor, params in zip(tensors, held):
        state = optimizer.state[tensor]
        state["step"] = torch.tensor(0.0, dtype=torch.float64 if tensor.dtype == torch.float64
                                     else torch.float32)
        for s in trace.state_names:
            values = [trace.start[f"{s}_{p}"] for p in params]
            value = torch.tensor(values, dtype=tensor.dtype).reshape(tensor.shape)
            state[_state_key(sheet, s)] = value[0].reshape(()) if s in info.scalar_states \
                else value


def _state_key(sheet: Sheet, name: str) -> str:
    """The key of ``optimizer.state[p]`` that holds sheetopt's state ``name``."""
    return _torch_class(sheet).state_keys[name]


def state_value(optimizer, sheet: Sheet, tensor, state: str, index: int = 0) -> float:
    """The value of sheetopt's ``state`` for element ``index`` of ``tensor`` in torch's
    optimizer state (a state torch keeps once per tensor, like ASGD's eta, is that one value)."""
    value = optimizer.state[tensor][_state_key(sheet, state)]
    return value.reshape(-1)[0 if value.numel() == 1 else index].item()


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
    hands torch.optim the trace's own gradient instead; see ``replay``). Each parameter is its
    own tensor (Adafactor's norms need it; the other classes are elementwise)."""
    torch = require_torch()
    names, model = spec.model.params, BatchModel(spec.model)
    leaves = parameter_tensors(sheet, [trace.start[p] for p in names])
    optimizer = torch_optimizer(sheet, leaves)
    _preload(optimizer, sheet, leaves, trace)
    stepper = Stepper(sheet.schedule, optimizer)  # torch's own scheduler, for torch schedules
    torch_schedule = stepper.scheduler is not None
    starts, sizes = step_rows(trace)
    rows_x, rows_y = (torch.as_tensor(np.asarray(trace.rows[k], dtype=float)) for k in "xy")
    n, schedule, autograd = len(trace), sheet.schedule, sheet.gradient == "analytic"
    total = sum(len(e) for e in engine.batches(len(spec.data), sheet.batch_size, sheet.epochs,
                                                  sheet.shuffle, sheet.seed))
    lr, best = sheet.hypers["lr"], None
    if schedule.kind == "adam_ann":
        best = float(gradient_scale([trace.start[f"sqr_avg_{p}"] for p in names], numpy_ops))
    kinds = ("grad", "new") if autograd else ("new",)
    out = {k: np.zeros(n) for k in ["loss", *(f"{c}_{p}" for c in kinds for p in names),
                                    *(f"{s}_{p}" for s in trace.state_names for p in names)]}
    if torch_schedule:
        out["lr"] = np.zeros(n)
        if records_mom(schedule, sheet.hypers):
            out["mom"] = np.zeros(n)
    epochs = np.asarray(trace.steps["epoch"])
    given = np.stack([np.asarray(trace.steps[f"grad_{p}"], dtype=float) for p in names], axis=1)
    for i in range(n):
        if torch_schedule:
            group = optimizer.param_groups[0]
            out["lr"][i] = group["lr"]
            if "mom" in out:
                out["mom"][i] = group_momentum(group)
        else:
            step_hp = step_hypers(sheet.hypers, lr, schedule, i, total, numpy_ops)
            _set_schedule(optimizer, sheet, float(step_hp["lr"]), float(step_hp["mom"])
                          if schedule.per_step and "mom" in step_hp else None)
        batch = slice(starts[i], starts[i] + sizes[i])
        optimizer.zero_grad()
        params = dict(zip(names, leaves))
        loss = model.loss(params, rows_x[batch], rows_y[batch])[0]
        if autograd:
            loss.backward()
        else:
            for j, leaf in enumerate(leaves):
                leaf.grad = torch.as_tensor(given[i, j:j + 1])
        out["loss"][i] = loss.item()
        if autograd:
            for j, p in enumerate(names):
                out[f"grad_{p}"][i] = leaves[j].grad.item()
        optimizer.step()
        stepper.after_step(out["loss"][i])
        if i + 1 == n or epochs[i + 1] != epochs[i]:
            stepper.after_epoch()
        for j, p in enumerate(names):
            out[f"new_{p}"][i] = leaves[j].item()
            for s in trace.state_names:
                out[f"{s}_{p}"][i] = state_value(optimizer, sheet, leaves[j], s)
        if best is not None and (i + 1 == n or epochs[i + 1] != epochs[i]):
            scale = gradient_scale([state_value(optimizer, sheet, leaf, "sqr_avg")
                                    for leaf in leaves], numpy_ops)
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
    return f"torch.optim.{_torch_class(sheet).name}"


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
