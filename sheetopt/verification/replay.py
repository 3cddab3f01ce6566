"""The replay: every step of a torch-flavour trace redone by torch.optim itself, and the
whole trajectory's drift.

**The verdict, step by step.** Each step is handed to torch.optim (the class and its
arguments from the rules registry, ``Rule.torch``; "momentum" is SGD) from the trace's own
state before it: the parameters before the step, the optimizer state after the previous step (the spec's start at
the first), the step count, the schedule's lr and the step's gradient from the trace (which
the re-check has recomputed by autograd from the step's rows). All steps go at once, in one
``optimizer.step()``: when torch's update does not depend on the step count (SGD, RMSprop)
and is elementwise, all steps stacked in one tensor; else one parameter tensor per step
(torch.optim's own loop over parameters), or one per step and model parameter for a class
that keeps a value per tensor (ASGD's eta, NAdam's mu_product) or is not elementwise
(Adafactor). Each value torch.optim computes is compared with the trace's
relative to the size of its operands (the larger of the value before the step and after it),
so a correct step of a chaotic run passes wherever it lies in the run. Lecture-flavour sheets,
which torch.optim does not have, get their per-step check from the re-check (the torch
rendering of the rules on the trace's inputs).

**The drift, as information.** A run replayed from its start alone, step after step, cannot
stay within 1e-12 of the trace forever: torch sums a batch's gradient in another order, and a
chaotic trajectory amplifies the last bit (3,000 epochs of lecture-vs-torch drift to 4e-11;
Adam on mini-batches of 7 over 100,000 rows differs by 28% after 4,400 steps). The first
``drift_steps`` steps are replayed so (torch.optim with autograd's gradient for torch sheets,
the torch rendering of the rules for lecture ones); the largest relative difference and how
fast it grows are reported, never as a failure.
"""
from __future__ import annotations

import types

from typing import Sequence

import numpy as np

from ..protocol import engine
from ..errors import SheetoptError
from ..ops import numpy_ops
from ..protocol.plan import plan_for
from ..schedules import records_mom
from ..spec import Sheet, Spec
from ..protocol.trace import Trace
from ..executors.torch.batch import BatchModel
from .compare import Difference, difference, relative, running_scale
from ..executors.torch.device import require_torch
from .recheck import recheck_all, state_before, step_rows
from .schedulers import Stepper, group_momentum
from ..executors.torch.simulate import simulate, to_tensors

CHECK = "replay"
DRIFT = "drift"
DRIFT_STEPS = 2000  # steps of the sequential replay that measures the drift (information)
CHUNK = 65_536  # steps handed to torch.optim at once


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
        # a bound method, as torch's schedulers expect (they wrap step.__func__)
        optimizer.step = types.MethodType(_in_float64(optimizer.step, torch), optimizer)
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
    def stepped(self, *args, **kwargs):
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
    _set_group(optimizer.param_groups[0], lr, mom)


def _set_group(group: dict, lr: float, mom: float | None) -> None:
    group["lr"] = lr
    if mom is not None:
        if "betas" in group:
            group["betas"] = (mom, group["betas"][1])
        else:
            group["momentum"] = mom


def replay_torch_optim(spec: Spec, sheet: Sheet, trace: Trace,
                       steps: int | None = None) -> dict[str, np.ndarray]:
    """The trace's first ``steps`` steps (default all) redone with torch.optim from the start
    alone: loss, state after and params after, and the gradient by autograd of the batch's
    mean loss (a sheet that steps with a finite difference hands torch.optim the trace's own
    gradient instead: a difference quotient would turn torch's last-bit differences in the
    parameters into differences of 1e-9 in the gradient). Each parameter is its own tensor
    (Adafactor's norms need it; the other classes are elementwise)."""
    torch = require_torch()
    names, model = spec.model.params, BatchModel(spec.model)
    leaves = parameter_tensors(sheet, [trace.start[p] for p in names])
    optimizer = torch_optimizer(sheet, leaves)
    _preload(optimizer, sheet, leaves, trace)
    stepper = Stepper(sheet.schedule, optimizer)  # torch's own scheduler, for torch schedules
    torch_schedule = stepper.scheduler is not None
    starts, sizes = step_rows(trace)
    columns = {k: torch.as_tensor(np.asarray(trace.rows[k], dtype=float))
               for k in spec.model.columns}
    n, schedule, autograd = len(trace), sheet.schedule, sheet.gradient == "analytic"
    n = n if steps is None else min(n, steps)
    total = plan_for(spec, sheet).steps
    stepping = schedule.start(sheet.hypers, lambda s: [trace.start[f"{s}_{p}"] for p in names],
                              numpy_ops)
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
            step_hp = stepping.hypers(sheet.hypers, i, total)
            _set_schedule(optimizer, sheet, float(step_hp["lr"]), float(step_hp["mom"])
                          if schedule.records_mom(sheet.hypers) else None)
        batch = slice(starts[i], starts[i] + sizes[i])
        optimizer.zero_grad()
        params = dict(zip(names, leaves))
        loss = model.loss(params, *spec.model.data_of(columns, lambda v: v[batch]))[0]
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
        if not torch_schedule and (i + 1 == n or epochs[i + 1] != epochs[i]):
            with np.errstate(all="ignore"):
                stepping.after_epoch(lambda s: [state_value(optimizer, sheet, leaf, s)
                                                for leaf in leaves], None)
    return out


def replay_rules(spec: Spec, sheet: Sheet, trace: Trace,
                 steps: int | None = None) -> dict[str, np.ndarray]:
    """The trace's first ``steps`` steps (default all) redone by the torch rendering of the
    rules from the start alone, one step at a time."""
    torch = require_torch()
    names, n = spec.model.params, len(trace) if steps is None else min(len(trace), steps)
    start = to_tensors({"params": [[trace.start[p] for p in names]]}, "cpu", torch.float64)
    state = to_tensors({s: [[trace.start[f"{s}_{p}"] for p in names]] for s in trace.state_names},
                       "cpu", torch.float64)
    hp = to_tensors({k: [[v]] for k, v in sheet.hypers.items()}, "cpu", torch.float64)
    full = plan_for(spec, sheet)
    plan = engine.Plan(full.rows, full.size, -(-n // full.steps_per_epoch), full.shuffle,
                       full.seed)  # the epochs the first n steps lie in
    recorded: list[dict] = []

    def record(e, k, params, new_params, new_state, alive):
        row = {f"new_{p}": new_params[0, j].item() for j, p in enumerate(names)}
        row.update({f"{s}_{p}": new_state[s][0, j].item()
                    for s in trace.state_names for j, p in enumerate(names)})
        recorded.append(row)

    simulate(spec, sheet, hp, start["params"], state, plan, on_step=record)
    return {key: np.array([row[key] for row in recorded[:n]]) for key in recorded[0]}


def replay(spec: Spec, sheet: Sheet, trace: Trace, tol: float = 1e-12,
           drift_steps: int = DRIFT_STEPS) -> list[Difference]:
    """Every step of a torch-flavour trace through torch.optim from the trace's own state (one
    Difference per column, a failure naming its first step), then the drift of the first
    ``drift_steps`` steps replayed from the start alone (one Difference, information only)."""
    if len(trace) == 0:
        return []
    out = check_steps(spec, sheet, trace, tol) if sheet.flavor == "torch" else []
    if drift_steps > 0:
        out.append(drift(spec, sheet, trace, drift_steps))
    return out


def drift(spec: Spec, sheet: Sheet, trace: Trace, steps: int = DRIFT_STEPS) -> Difference:
    """How far a replay of the first ``steps`` steps from the start alone strays from the
    trace: the largest relative difference over its columns (each judged against the largest
    size it has had so far), where, and its growth in decades per 1,000 steps. Information,
    never a failure (``first_bad`` is None)."""
    if sheet.flavor == "torch":
        values, against = replay_torch_optim(spec, sheet, trace, steps), _torch_name(sheet)
        if sheet.gradient != "analytic":
            against += f" fed the trace's {sheet.gradient} differences"
    else:
        values, against = replay_rules(spec, sheet, trace, steps), "torch rendering of the rules"
    n = len(next(iter(values.values())))
    rel = np.zeros(n)
    worst_key = next(iter(values))
    for key, value in values.items():
        mine = np.asarray(trace.steps[key], dtype=float)[:n]
        column = relative(mine, value, running_scale(mine))
        if column.max(initial=0.0) > rel.max(initial=0.0):
            worst_key = key
        rel = np.maximum(rel, column)
    epoch, step = trace.steps["epoch"], trace.steps["step"]
    worst = int(np.argmax(rel)) if n else 0
    gap = float(np.max(rel)) if n else 0.0
    return Difference(sheet=sheet.name, check=DRIFT, quantity=f"{worst_key} (trajectory)",
                      max_abs=gap, max_rel=gap,
                      worst_at=(int(epoch[worst]), int(step[worst])) if n else None,
                      first_bad=None, count=n, against=f"{against}, from the start alone",
                      info=True, growth=growth(rel))


def growth(rel: np.ndarray) -> float | None:
    """Decades per 1,000 steps the running maximum of ``rel`` climbs from its first nonzero
    value to its end (None when it never leaves 0 or the run is too short to tell)."""
    reach = np.maximum.accumulate(np.where(np.isfinite(rel), rel, 0.0)) if len(rel) else rel
    nonzero = np.flatnonzero(reach > 0)
    if len(nonzero) == 0 or nonzero[0] == len(reach) - 1:
        return None
    first = int(nonzero[0])
    last = len(reach) - 1
    return float(np.log10(reach[last] / reach[first]) / (last - first) * 1000)


def check_steps(spec: Spec, sheet: Sheet, trace: Trace, tol: float = 1e-12) -> list[Difference]:
    """Each step of a torch-flavour trace through torch.optim from the trace's state before it
    (see the module's notes): parameters and state after every step, and the schedule's lr."""
    names, n = trace.params, len(trace)
    steps = trace.steps
    lrs, moms = step_schedule(spec, sheet, trace)
    before = {p: np.asarray(steps[p], dtype=float) for p in names}
    before.update(state_before(trace))
    values = _torch_steps(sheet, trace, lrs, moms)
    against = f"{_torch_name(sheet)}, each step from the trace's state and gradient"
    epoch, step = steps["epoch"], steps["step"]
    out = [difference(sheet.name, CHECK, "lr", steps["lr"], lrs, epoch=epoch, step=step, tol=tol,
                      against="the sheet's schedule")]
    if moms is not None and "mom" in steps:
        out.append(difference(sheet.name, CHECK, "mom", steps["mom"], moms, epoch=epoch, step=step,
                              tol=tol, against="the sheet's schedule"))
    for key, value in values.items():
        origin = key[4:] if key.startswith("new_") else key
        mine = np.asarray(steps[key], dtype=float)
        scale = np.maximum(np.abs(before[origin]), np.abs(mine))  # the operands' size
        out.append(difference(sheet.name, CHECK, key, mine, value, epoch=epoch, step=step, tol=tol,
                              scale=np.where(np.isfinite(scale), scale, 0.0), against=against))
    return out


def step_schedule(spec: Spec, sheet: Sheet, trace: Trace):
    """Each step's lr (and one-cycle's momentum, else None) from the sheet's schedule; adam_ann
    anneals between epochs from the trace's squared averages at each epoch's end."""
    n, names, schedule = len(trace), trace.params, sheet.schedule
    scheduled = _torch_scheduled(sheet, trace)
    if scheduled is not None:
        return scheduled
    total = plan_for(spec, sheet).steps
    epochs = np.asarray(trace.steps["epoch"], dtype=np.int64)
    ends = [*(np.flatnonzero(np.diff(epochs)) + 1).tolist(), n]  # where each epoch ends
    stepping = schedule.start(sheet.hypers, lambda s: [trace.start[f"{s}_{p}"] for p in names],
                              numpy_ops)
    lr, mom = np.zeros(n), np.zeros(n) if schedule.records_mom(sheet.hypers) else None
    begin = 0
    for end in ends:
        step_hp = stepping.hypers(sheet.hypers, np.arange(begin, end), total)
        lr[begin:end] = np.broadcast_to(np.asarray(step_hp["lr"], dtype=float), (end - begin,))
        if mom is not None:
            mom[begin:end] = np.broadcast_to(np.asarray(step_hp["mom"], dtype=float),
                                             (end - begin,))
        with np.errstate(all="ignore"):
            stepping.after_epoch(lambda s: [float(trace.steps[f"{s}_{p}"][end - 1])
                                            for p in names], None)
        begin = end
    return lr, mom


def _torch_scheduled(sheet: Sheet, trace: Trace):
    """A torch lr_scheduler's lr (and momentum) for each step, as a training loop gets them:
    torch's own scheduler stepped after each step or epoch (ReduceLROnPlateau with the epoch's
    mean loss from the trace); None for the sheet's own schedules."""
    optimizer = torch_optimizer(sheet, parameter_tensors(sheet, [0.0] * len(trace.params)))
    stepper = Stepper(sheet.schedule, optimizer)
    if stepper.scheduler is None:
        return None
    n, group = len(trace), optimizer.param_groups[0]
    losses = np.asarray(trace.steps["loss"], dtype=float)
    ends = np.append(np.diff(np.asarray(trace.steps["epoch"])) != 0, True)
    lrs = np.zeros(n)
    moms = np.zeros(n) if records_mom(sheet.schedule, sheet.hypers) else None
    for i in range(n):
        lrs[i] = group["lr"]
        if moms is not None:
            moms[i] = group_momentum(group)
        stepper.after_step(float(losses[i]))
        if ends[i]:
            stepper.after_epoch()
    return lrs, moms


def _torch_steps(sheet: Sheet, trace: Trace, lrs, moms) -> dict[str, np.ndarray]:
    """torch.optim's parameters and state after each step, each from the trace's own."""
    torch = require_torch()
    info, names, n = _torch_class(sheet), trace.params, len(trace)
    keys = {s: _state_key(sheet, s) for s in trace.state_names}
    column = lambda key: np.asarray(trace.steps[key], dtype=float)  # noqa: E731
    params = np.stack([column(p) for p in names], axis=1)
    grads = np.stack([column(f"grad_{p}") for p in names], axis=1)
    before = state_before(trace)
    state = {s: np.stack([before[f"{s}_{p}"] for p in names], axis=1) for s in keys}
    out_params = np.zeros_like(params)
    out_state = {s: np.zeros_like(v) for s, v in state.items()}
    # the first step exactly as a run starts (SGD's buffer then starts at the gradient)
    leaves = parameter_tensors(sheet, params[0])
    optimizer = torch_optimizer(sheet, leaves)
    _preload(optimizer, sheet, leaves, trace)
    _set_group(optimizer.param_groups[0], float(lrs[0]), None if moms is None else float(moms[0]))
    for j, leaf in enumerate(leaves):
        leaf.grad = torch.tensor(grads[0, j:j + 1], dtype=torch.float64)
    optimizer.step()
    out_params[0] = [leaf.item() for leaf in leaves]
    for s in keys:
        out_state[s][0] = [state_value(optimizer, sheet, leaf, s) for leaf in leaves]
    kept = optimizer.state[leaves[0]]
    unknown = set(kept) - set(keys.values()) - {"step"}
    if unknown:
        raise SheetoptError(f"sheet {sheet.name!r}: torch.optim keeps state the trace does not "
                            f"record ({', '.join(sorted(unknown))}); cannot replay its steps")
    counter = kept.get("step")
    per_tensor = {s for s in keys if s in info.scalar_states}
    layout = "cells" if per_tensor or not info.elementwise else "rows"
    if layout == "rows" and counter is not None and _counts_matter(
            sheet, params, grads, state=state, keys=keys, lrs=lrs, per_tensor=per_tensor):
        layout = "steps"
    for a in range(1, n, CHUNK):
        b = min(n, a + CHUNK)
        done = _step_chunk(sheet, params[a:b], grads[a:b],
                           state={s: v[a:b] for s, v in state.items()}, keys=keys,
                           per_tensor=per_tensor, lrs=lrs[a:b],
                           moms=None if moms is None else moms[a:b], done=np.arange(a, b),
                           counter=counter, layout=layout)
        out_params[a:b] = done[0]
        for s in keys:
            out_state[s][a:b] = done[1][s]
    out = {f"new_{p}": out_params[:, j] for j, p in enumerate(names)}
    out.update({f"{s}_{p}": out_state[s][:, j] for s in keys for j, p in enumerate(names)})
    return out


def _step_chunk(sheet, params, grads, state, keys, per_tensor, lrs, moms, done, counter,
                layout):
    """torch.optim's step of each row of ``params`` (steps x model parameters) from its state,
    after ``done`` steps, all in one ``optimizer.step()`` with a parameter group per distinct lr
    (and momentum). ``layout``: "rows", the steps stacked in one tensor (an elementwise update
    that does not depend on the step count); "steps", one tensor per step; "cells", one tensor
    per step and model parameter (a class that keeps a value per tensor, or is not
    elementwise). ``per_tensor``: the states torch keeps once per tensor."""
    torch = require_torch()
    as_tensor = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    P, G = as_tensor(params), as_tensor(grads)
    S = {s: as_tensor(v) for s, v in state.items()}
    width = params.shape[1]
    settings = np.stack([lrs, moms if moms is not None else np.zeros(len(lrs))], axis=1)
    groups, which = np.unique(settings, axis=0, return_inverse=True)
    which = which.reshape(-1)
    optimizer = torch_optimizer(sheet, [P[0, :1].clone()])
    template = dict(optimizer.param_groups[0])
    optimizer.param_groups.clear()
    optimizer.state.clear()
    if layout == "rows":
        split = lambda values, scalar=False: [values]  # noqa: E731
    elif layout == "steps":
        split = lambda values, scalar=False: list(values.unbind(0))  # noqa: E731
    else:
        split = lambda values, scalar=False: list(  # noqa: E731
            (values.reshape(-1) if scalar else values.reshape(-1, 1)).unbind(0))
    placed = []  # (the rows, their parameter tensors)
    for (lr, mom), rows in zip(groups, _members(which, len(groups))):
        group = dict(template, params=[])
        _set_group(group, float(lr), None if moms is None else float(mom))
        tensors = split(P[rows])
        states = {key: split(S[s][rows], s in per_tensor) for s, key in keys.items()}
        if counter is not None:
            count = np.repeat(done[rows], width) if layout == "cells" else done[rows]
            count = torch.tensor(count.astype(float), dtype=counter.dtype)
            states["step"] = [count[0].clone()] if layout == "rows" else list(count.unbind(0))
        for i, (tensor, grad) in enumerate(zip(tensors, split(G[rows]))):
            tensor.grad = grad
            optimizer.state[tensor] = {key: values[i] for key, values in states.items()}
        group["params"] = tensors
        optimizer.param_groups.append(group)
        placed.append((rows, tensors))
    optimizer.step()
    out_params = np.zeros_like(params)
    out_state = {s: np.zeros_like(v) for s, v in state.items()}
    for rows, tensors in placed:
        gather = lambda values: torch.stack(values).reshape(len(rows), width).numpy()  # noqa: E731
        out_params[rows] = gather([t.detach() for t in tensors])
        for s, key in keys.items():
            out_state[s][rows] = gather([optimizer.state[t][key].detach().reshape(-1)
                                         for t in tensors])
    return out_params, out_state


def _members(which: np.ndarray, groups: int) -> list[np.ndarray]:
    """The indices of each group, given each entry's group."""
    order = np.argsort(which, kind="stable")
    return np.split(order, np.cumsum(np.bincount(which, minlength=groups))[:-1])


def _counts_matter(sheet, params, grads, state, keys, lrs, per_tensor) -> bool:
    """Whether torch.optim's update depends on the step count (Adam's bias correction does,
    SGD's and RMSprop's do not): one step of the same values after 1 and after 7 steps."""
    torch = require_torch()
    i = min(1, len(params) - 1)
    counter = torch.tensor(0.0, dtype=torch.float64)
    one = lambda done: _step_chunk(sheet, params[i:i + 1], grads[i:i + 1],  # noqa: E731
                                   state={s: v[i:i + 1] for s, v in state.items()}, keys=keys,
                                   per_tensor=per_tensor, lrs=lrs[i:i + 1], moms=None,
                                   done=np.array([done]), counter=counter, layout="rows")
    a, b = one(1), one(7)
    return not (np.array_equal(a[0], b[0]) and all(np.array_equal(a[1][s], b[1][s]) for s in keys))


def _torch_name(sheet: Sheet) -> str:
    return f"torch.optim.{_torch_class(sheet).name}"


def verify(spec: Spec, runs: Sequence[tuple[Sheet, Trace]], device=None,
           tol: float = 1e-12, drift_steps: int = DRIFT_STEPS) -> list[Difference]:
    """What `sheetopt verify` checks: the re-check of all runs' steps at once, then each run's
    steps through torch.optim from the trace's own state, and its drift (information: its
    ``first_bad`` is always None); the differences sheet by sheet."""
    rechecked = recheck_all(spec, runs, device, tol)
    out = []
    for sheet, trace in runs:
        out.extend(d for d in rechecked if d.sheet == sheet.name)
        out.extend(replay(spec, sheet, trace, tol, drift_steps))
    return out
