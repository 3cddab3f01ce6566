"""The compiled executor's host side: the arrays a kernel reads and writes, the per-step tables
computed before each call, the schedule's events between calls, and the Result."""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from ...ops import numpy_ops
from ...schedules import anneal, clock_for, gradient_scale
from ...ops.symbolic import Expr
from .cache import kernel_for
from .codegen import Kernel, Unsupported
from .native import HAVE_NUMBA

if HAVE_NUMBA:
    from .native import libm

CHUNK = 128  # configurations per block of the kernel's config loop
PARALLEL_FROM = 4096  # use the multi-threaded kernel from this many configurations on


def _host_eval(expr: Expr, env: dict, defs: Mapping[str, Expr]):
    """Evaluates a table expression with numpy, as the numpy executor computes it."""
    op = expr.op
    if op == "var":
        name = expr.args[0]
        if name not in env:
            env[name] = _host_eval(defs[name], env, defs)
        return env[name]
    if op == "const":
        return math.pi if expr.args[0] == "pi" else expr.args[0]
    if op == "call":
        name, *args = expr.args
        values = [_host_eval(a, env, defs) for a in args]
        if HAVE_NUMBA and name in ("power", "cos"):
            return libm(name, *values)
        return getattr(numpy_ops, name)(*values)
    if op == "where":
        cond, yes, no = (_host_eval(a, env, defs) for a in expr.args)
        return np.where(cond, yes, no)
    if op == "neg":
        return -_host_eval(expr.args[0], env, defs)
    a, b = (_host_eval(arg, env, defs) for arg in expr.args)
    return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
            "^": lambda: a ** b, "<": lambda: a < b, ">": lambda: a > b, "<=": lambda: a <= b,
            ">=": lambda: a >= b, "=": lambda: np.equal(a, b)}[op]()


def _tables(kernel: Kernel, kbase: int, K: int, t0: int, total: int, hp_cols: Mapping,
            lr: np.ndarray, C: int, scheduled: Mapping | None = None):
    """The per-step tables of one epoch: (tables, K, width) and each table's column stride.
    ``scheduled``: a torch schedule's per-step values (sched_lr, sched_mom), (K, 1) or (K, C)."""
    if not kernel.tables:
        return np.zeros((0, 1, 1)), np.zeros(0, dtype=np.int64)
    steps = kbase + np.arange(K, dtype=np.int64)
    env = {"t": (t0 + steps + 1)[:, None], "pos": (steps / total)[:, None], **(scheduled or {})}
    for name, column in hp_cols.items():
        env[f"hp_{name}"] = column[0] if np.all(column == column[0]) else column[None, :]
    if "lr_s" not in kernel.defs:
        env["lr_s"] = lr[0] if np.all(lr == lr[0]) else lr[None, :]
    with np.errstate(all="ignore"):
        values = [np.asarray(_evaluate_table(name, expr, env, kernel.defs), dtype=float)
                  for name, expr in kernel.tables]
    width = max(v.shape[1] if v.ndim == 2 else 1 for v in values)
    out = np.empty((len(values), K, width))
    strides = np.zeros(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        v = np.broadcast_to(v, (K, v.shape[1] if v.ndim == 2 else 1))
        out[i, :, :v.shape[1]] = v
        strides[i] = 1 if v.shape[1] > 1 else 0
    return out, strides


def _evaluate_table(name, expr, env, defs):
    value = _host_eval(expr, env, defs)
    env[name] = value
    return value


TABLE_CELLS = 1 << 18  # per kernel call: steps x table width (and shuffled rows) at most this


PROGRESS_CALLS = 20  # a long run reports its progress this many times at least


def _epochs_per_call(plan, width: int, anneals: bool) -> int:
    """How many epochs one kernel call runs: one when lr changes between epochs on the host
    (adam_ann's annealing, a torch schedule stepped per epoch), else as many as keep the per-call arrays small and the
    progress bar moving."""
    if anneals:
        return 1
    per_epoch = max(plan.steps_per_epoch * width, plan.rows if plan.shuffle else 1)
    return max(1, min(-(-plan.epochs // PROGRESS_CALLS), TABLE_CELLS // per_epoch))


def supports(spec, sheet, annealing: bool = True, record: bool = False) -> bool:
    """Whether the compiled executor can run this sheet (numba present, rule traceable)."""
    if not HAVE_NUMBA or spec.data.x.dtype != np.float64 or spec.data.y.dtype != np.float64:
        return False
    try:
        schedule = sheet.schedule if annealing else None
        kernel_for(spec, sheet, schedule, record, False, False, tuple(sheet.hypers), load=False)
    except Unsupported:
        return False
    return True


def table_bytes(spec, sheet, plan) -> int:
    """The memory of one kernel call's per-step tables (t-dependent terms such as bias
    corrections, a schedule's lr) in a recorded run of one configuration, with the temporaries
    of computing them: about a table's worth more per table.

    >>> table_bytes(spec, sheet, plan)  # doctest: +SKIP
    """
    kernel = kernel_for(spec, sheet, sheet.schedule, True, plan.size == 1, False,
                        tuple(sheet.hypers), load=False)
    per_call = _epochs_per_call(plan, 1, False) * plan.steps_per_epoch
    return 2 * 8 * len(kernel.tables) * per_call


def simulate(spec, sheet, hp: Mapping[str, np.ndarray], params: np.ndarray,
             state: Mapping[str, np.ndarray], plan, record: bool = False,
             annealing: bool = True, t0: int = 0, progress=None, parallel: bool | None = None):
    """engine.simulate on the compiled kernel; returns an identical engine.Result."""
    from ...protocol.driver import Result, epoch_metric

    model, rule, static = spec.model, sheet.rule, sheet.static
    names, state_names = model.params, rule.states(static)
    C, P = params.shape
    hyper_names = tuple(hp)
    E, K, total = plan.epochs, plan.steps_per_epoch, plan.steps
    online = plan.size == 1
    if parallel is None:
        parallel = C >= PARALLEL_FROM
    schedule = sheet.schedule if annealing else None
    kernel = kernel_for(spec, sheet, schedule, record, online, parallel, hyper_names)

    PT = _aligned(np.asarray(params, dtype=float).T)  # a copy: the kernel writes it
    ST = _aligned(np.zeros((len(state_names), P, C)))
    for i, s in enumerate(state_names):
        ST[i] = np.asarray(state[s], dtype=float).T
    hp_cols = {n: np.broadcast_to(np.asarray(hp[n], dtype=float), (C, 1))[:, 0] for n in hp}
    HP = _aligned(np.stack([hp_cols[n] for n in hyper_names]) if hyper_names
                  else np.zeros((0, C)))
    lr = hp["lr"]
    best = None
    if schedule is not None and schedule.kind == "adam_ann":
        s = state_names.index("sqr_avg")
        best = gradient_scale([ST[s, j] for j in range(P)], numpy_ops)[:, None]
    alive = _aligned(np.ones(C, dtype=np.int64))  # 64-bit lanes, as the doubles beside it
    dstep = _aligned(np.zeros(C, dtype=np.int64))
    epoch_sum, epoch_rows, epoch_lr, epoch_loss = (_aligned(np.zeros((E, C))) for _ in range(4))
    clock = clock_for(schedule, hp)
    epoch_params = np.zeros((E, P, C))
    RS = np.empty((len(kernel.columns), total, C)) if record else np.zeros((0, 0, 0))
    RR = np.empty((2, E * plan.rows, C)) if record else np.zeros((0, 0, 0))
    pe = np.array(kernel.pow_exponents + [0.0])
    starts = plan.bounds()
    width = C if kernel.tables and any(not np.all(v == v.flat[0]) for v in hp_cols.values()) else 1
    per_call = _epochs_per_call(plan, width, best is not None or (
        clock is not None and schedule.per == "epoch"))
    orders = plan.orders()
    idx = next(orders) if not plan.shuffle else None
    for e0 in range(0, E, per_call):
        ne = min(per_call, E - e0)
        if plan.shuffle:
            idx = np.concatenate([next(orders) for _ in range(ne)])
        LR = _aligned(np.broadcast_to(np.asarray(lr, dtype=float), (C, 1))[:, 0])
        tab, ts = _tables(kernel, e0 * K, ne * K, t0, total, hp_cols, LR, C,
                          _scheduled(clock, schedule, ne * K))
        _call(kernel.function, spec.data.x, spec.data.y, idx, plan.rows if plan.shuffle else 0,
              starts, PT, ST, HP, LR, alive, dstep, epoch_sum[e0:e0 + ne],
              epoch_rows[e0:e0 + ne], epoch_lr[e0:e0 + ne], epoch_loss[e0:e0 + ne],
              epoch_params[e0:e0 + ne], tab, ts, e0 * K, t0, total, float(sheet.h),
              float(sheet.diverge_above), RS, RR, e0 * plan.rows,
              CHUNK, pe)
        if progress is not None:
            progress(ne * K)
        if best is not None:
            with np.errstate(all="ignore"):
                scale = gradient_scale([ST[s, j] for j in range(P)], numpy_ops)
                lr, best = anneal(lr, scale[:, None], best, numpy_ops)
        if clock is not None and schedule.per == "epoch":  # one epoch a call (per_call)
            clock.advance(epoch_metric(epoch_loss[e0], K))
    # (C, P) views of the kernel's (P, C) arrays: a sweep's copies cost as much as its steps
    result = Result(params=PT.T, state={s: ST[i].T for i, s in enumerate(state_names)},
                    epoch_sum_err2=epoch_sum, epoch_rows=epoch_rows, epoch_lr=epoch_lr, epoch_params=epoch_params.transpose(0, 2, 1),
                    diverged_at=_diverged_at(dstep, K), epoch_loss=epoch_loss)
    if record:
        result.steps, result.rows = _recorded(spec, sheet, kernel, plan, dstep, RS, RR)
    return result


def _scheduled(clock, schedule, K: int) -> dict:
    """A torch schedule's lr (and momentum) for the K steps of the next epoch: stepped after
    every step (per = "step"), or the epoch's values repeated."""
    if clock is None:
        return {}
    if schedule.per == "step":
        lrs, moms = clock.table(K)
    else:
        lrs, moms = [clock.lr] * K, [clock.mom] * K
    out = {"sched_lr": _steps_table(lrs)}
    if clock.mom is not None:
        out["sched_mom"] = _steps_table(moms)
    return out


def _steps_table(values: list) -> np.ndarray:
    if all(isinstance(v, float) for v in values):
        return np.array(values, dtype=float)[:, None]
    return np.stack([np.broadcast_to(np.asarray(v, dtype=float).reshape(-1), (
        max(np.size(u) for u in values),)) for v in values])


def _aligned(values: np.ndarray) -> np.ndarray:
    """A C-ordered copy starting on a 64-byte boundary: rows of whole vector registers, so no
    vector load of the kernel's loop over configurations straddles two cache lines."""
    values = np.asarray(values)
    raw = np.empty(values.nbytes + 64, dtype=np.uint8)
    start = -raw.ctypes.data % 64
    out = raw[start:start + values.nbytes].view(values.dtype).reshape(values.shape)
    out[...] = values
    return out


def _call(function, *args) -> None:
    """Calls a kernel; its first call compiles it with LLVM's SLP vectorizer on (numba leaves
    it off by default) beside the loop vectorizer, which packs what is left of the scalar code
    (a parameter's pair of updates) into vector instructions. Vector instructions round
    exactly as scalar ones; nothing is reassociated."""
    if function.signatures:
        function(*args)
        return
    from numba.core import config

    saved = config.SLP_VECTORIZE
    config.SLP_VECTORIZE = 1
    try:
        function(*args)
    finally:
        config.SLP_VECTORIZE = saved


def _diverged_at(dstep: np.ndarray, K: int) -> np.ndarray:
    """Epoch and step (from 1) of each configuration's diverging step ``dstep`` (0: none)."""
    out = np.zeros((len(dstep), 2), dtype=int)
    hit = dstep > 0
    out[hit, 0] = (dstep[hit] - 1) // K + 1
    out[hit, 1] = (dstep[hit] - 1) % K + 1
    return out


def _recorded(spec, sheet, kernel: Kernel, plan, dstep, RS, RR):
    """The recorded tables, cut where the last configuration stopped (as the numpy recorder)."""
    total, K = plan.steps, plan.steps_per_epoch
    N = total if np.any(dstep == 0) else int(dstep.max()) - 1
    if N == 0:
        return {}, {}
    x, y = spec.data.x, spec.data.y
    bounds = plan.bounds()
    idx = np.concatenate(list(plan.orders())) if plan.shuffle else np.tile(
        np.arange(plan.rows, dtype=np.int64), plan.epochs)
    first = idx.reshape(plan.epochs, plan.rows)[:, bounds[:-1]].ravel()
    size = np.tile(np.diff(bounds), plan.epochs).astype(float)
    epoch = np.repeat(np.arange(1, plan.epochs + 1, dtype=float), K)
    step = np.tile(np.arange(1, K + 1, dtype=float), plan.epochs)
    single = size == 1
    R = int(size[:N].sum())
    steps = {"epoch": epoch[:N], "step": step[:N], "row": (first + 1.0)[:N], "size": size[:N]}
    if spec.model.has_data:  # a surface's x and y are its parameters, recorded by the kernel
        steps.update(x=np.where(single, x[first], np.nan)[:N],
                     y=np.where(single, y[first], np.nan)[:N])
    for i, name in enumerate(kernel.columns):
        steps[name] = RS[i, :N]
    sizes = size.astype(np.int64)
    rows = {"epoch": np.repeat(epoch, sizes)[:R], "step": np.repeat(step, sizes)[:R],
            "row": (idx + 1.0)[:R], "x": x[idx][:R].astype(float), "y": y[idx][:R].astype(float),
            "pred": RR[0, :R], "err2": RR[1, :R]}
    return steps, rows
