"""The compiled executor's host side: the arrays a kernel reads and writes, the per-step tables
computed before each call, the schedule's events between calls, and the Result."""
from __future__ import annotations

import dataclasses
import math
from typing import Mapping

import numpy as np

from ...errors import interrupt_kept
from ...ops import numpy_ops
from ...ops.symbolic import Expr
from ...protocol.driver import Result, epoch_metric, per_configuration, schedule_of, walk_calls
from .cache import kernel_for
from .codegen import Kernel, KernelCall, Unsupported
from .native import HAVE_NUMBA
from .spare import SPARES

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


def _tables(kernel: Kernel, *, kbase: int, K: int, t0: int, total: int, hp_cols: Mapping,
            lr: np.ndarray, scheduled: Mapping):
    """The per-step tables of the next K steps: (tables, K, width), width 1 when every table
    is the same for every configuration, else C (each table broadcast to it). ``scheduled``:
    the schedule's host-computed per-step values (a torch scheduler's sched_lr and sched_mom),
    (K, 1) or (K, C) each."""
    if not kernel.tables:
        return np.zeros((0, 1, 1))
    steps = kbase + np.arange(K, dtype=np.int64)
    env = {"t": (t0 + steps + 1)[:, None], "pos": (steps / total)[:, None], **scheduled}
    for name, column in hp_cols.items():
        env[f"hp_{name}"] = column[0] if np.all(column == column[0]) else column[None, :]
    if "lr_s" not in kernel.defs:
        env["lr_s"] = lr[0] if np.all(lr == lr[0]) else lr[None, :]
    with np.errstate(all="ignore"):
        values = [np.asarray(_evaluate_table(name, expr, env, kernel.defs), dtype=float)
                  for name, expr in kernel.tables]
    width = max(v.shape[1] if v.ndim == 2 else 1 for v in values)
    out = np.empty((len(values), K, width))
    for i, v in enumerate(values):
        out[i] = v  # broadcast: (K, 1), (1, C), (K, C) or a number
    return out


def _evaluate_table(name, expr, env, defs):
    value = _host_eval(expr, env, defs)
    env[name] = value
    return value


TABLE_CELLS = 1 << 18  # per kernel call: steps x table width (and shuffled rows) at most this


PROGRESS_CALLS = 20  # a long run reports its progress this many times at least


def _epochs_per_call(plan, width: int, between_epochs: bool,
                     calls: int = PROGRESS_CALLS) -> int:
    """How many epochs one kernel call runs: one when the schedule changes lr between epochs
    on the host (adam_ann's annealing, a torch schedule stepped per epoch), else as many as
    keep the per-call arrays small and, in at least ``calls`` calls, the progress bar moving
    (a run without a bar or trace, a sweep: 1, each call of a threaded kernel starts and
    stops its threads)."""
    if between_epochs:
        return 1
    per_epoch = max(plan.steps_per_epoch * width, plan.rows if plan.shuffle else 1)
    return max(1, min(-(-plan.epochs // calls), TABLE_CELLS // per_epoch))


def supports(spec, sheet, annealing: bool = True, record: bool = False) -> bool:
    """Whether the compiled executor can run this sheet (numba present, rule traceable)."""
    if not HAVE_NUMBA or spec.data.x.dtype != np.float64 or spec.data.y.dtype != np.float64:
        return False
    try:
        kernel_for(spec, sheet, schedule=schedule_of(sheet, annealing), record=record,
                   online=False, parallel=False, hyper_names=tuple(sheet.hypers), load=False)
    except Unsupported:
        return False
    return True


def table_bytes(spec, sheet, plan) -> int:
    """The memory of one kernel call's per-step tables (t-dependent terms such as bias
    corrections, a schedule's lr) in a recorded run of one configuration, with the temporaries
    of computing them: about a table's worth more per table.

    >>> table_bytes(spec, sheet, plan)  # doctest: +SKIP
    """
    kernel = kernel_for(spec, sheet, schedule=sheet.schedule, record=True,
                        online=plan.size == 1, parallel=False,
                        hyper_names=tuple(sheet.hypers), load=False)
    per_call = _epochs_per_call(plan, 1, False) * plan.steps_per_epoch
    return 2 * 8 * len(kernel.tables) * per_call


def simulate(spec, sheet, hp: Mapping[str, np.ndarray], params: np.ndarray,
             state: Mapping[str, np.ndarray], plan, record: bool = False,
             annealing: bool = True, t0: int = 0, progress=None, parallel: bool | None = None,
             capture: int = 0, summary: bool = False):
    """engine.simulate on the compiled kernel; returns an identical engine.Result
    (``capture``: the step, from 1, whose loss it keeps; ``summary``: no per-epoch lr,
    parameters or losses, see engine.simulate)."""
    state_names = sheet.rule.states(sheet.static)
    C, P = params.shape
    K = plan.steps_per_epoch
    schedule = schedule_of(sheet, annealing)
    kernel = kernel_for(spec, sheet, schedule=schedule, record=record, online=plan.size == 1,
                        parallel=C >= PARALLEL_FROM if parallel is None else parallel,
                        hyper_names=tuple(hp), capture=capture > 0)
    hp_cols = {n: per_configuration(hp[n], C) for n in hp}
    run = _kernel_call(spec, sheet, kernel, plan, params=params, state=state, hp_cols=hp_cols,
                       t0=t0, capture=capture, record=record, summary=summary)
    ST, LR = run.ST, run.LR
    # one row a step: each step's loss is its row's squared error, so the losses are the sums
    losses = run.esum if kernel.loss_is_sum else run.eloss

    def columns(name: str) -> list:  # a state's per-parameter (C,) arrays, for the schedule
        return [ST[state_names.index(name), j] for j in range(P)]

    stepping = schedule.start(hp, columns, numpy_ops)
    width = C if kernel.tables and any(not np.all(v == v.flat[0]) for v in hp_cols.values()) else 1
    orders = plan.orders()
    idx = next(orders) if not plan.shuffle else None

    def call(e0: int, ne: int) -> None:
        LR[...] = per_configuration(stepping.lr, C)
        tab = _tables(kernel, kbase=e0 * K, K=ne * K, t0=t0, total=plan.steps,
                          hp_cols=hp_cols, lr=LR, scheduled=stepping.tables(ne * K))
        epochs = slice(e0, e0 + ne)
        _call(kernel.function, *dataclasses.replace(
            run, idx=np.concatenate([next(orders) for _ in range(ne)]) if plan.shuffle else idx,
            esum=run.esum[epochs], elr=run.elr[epochs],
            eloss=run.eloss[epochs], EP=run.EP[epochs], tab=tab, kbase=e0 * K,
            rbase=e0 * plan.rows).values())
        if kernel.host_lr and not summary:  # the lr of each epoch's first step: this call's
            run.elr[epochs] = LR
        if progress is not None:
            progress(ne * K)

    with np.errstate(all="ignore"):
        calls = PROGRESS_CALLS if progress is not None or record else 1
        walk_calls(plan, stepping, _epochs_per_call(plan, width, schedule.between_epochs, calls),
                   call, columns, lambda e0, steps: epoch_metric(losses[e0], steps))
    result = _result(run, plan, state_names, losses=losses, summary=summary)
    if record:
        result.steps, result.rows = _recorded(spec, kernel, plan, run)
    return result


def _kernel_call(spec, sheet, kernel: Kernel, plan, *, params, state, hp_cols, t0: int,
                 capture: int, record: bool, summary: bool) -> KernelCall:
    """The arrays of a run's kernel calls: the start copied into the kernel's (P, C) layout,
    and the per-epoch records, each (E, 0) or (E, 0, C) where nothing fills it (the kernel
    leaves elr to the host, eloss to esum: Kernel) or nothing reads it (a summary run)."""
    state_names = sheet.rule.states(sheet.static)
    C, P = params.shape
    E = plan.epochs
    ST = _zeros((len(state_names), P, C), fill=False)  # every row written below
    for i, s in enumerate(state_names):
        ST[i] = np.asarray(state[s], dtype=float).T
    HP = _zeros((len(hp_cols), C), fill=False)
    for i, column in enumerate(hp_cols.values()):
        HP[i] = column
    # 64-bit lanes, as the doubles; written here, not only allocated zeroed: the kernel stores
    # a diverging step with a masked store, and a masked store to a page still mapped to the
    # kernel's shared zero page (read-only until first written) is several times slower on
    # x86 (an assist each time, not one page fault): 49 ms instead of 7 for the 29 steps of
    # a warm-up pass over 100,000 configurations
    dstep = _zeros(C, np.int64, fill=False)
    dstep.fill(0)
    lr_kept = not kernel.host_lr or not summary
    return KernelCall(
        X=spec.data.x, Y=spec.data.y, idx=None, istride=plan.rows if plan.shuffle else 0,
        starts=plan.bounds(), PT=_aligned(np.asarray(params, dtype=float).T),  # a copy
        ST=ST, HP=HP, LR=_zeros(C, fill=False), dstep=dstep,  # LR: written before each call
        esum=_zeros((E, C)), elr=_zeros((E, C if lr_kept else 0)),
        eloss=_zeros((E, 0 if kernel.loss_is_sum else C)),
        EP=_zeros((E, 0 if summary else P, C)), tab=None, kbase=0,
        t0=t0, total=plan.steps, h=float(sheet.h), bound=float(sheet.diverge_above),
        RS=np.empty((len(kernel.columns), plan.steps, C)) if record else np.zeros((0, 0, 0)),
        RR=np.empty((2, E * plan.rows, C)) if record else np.zeros((0, 0, 0)), rbase=0,
        W=CHUNK, pe=np.array(kernel.pow_exponents + [0.0]), cap=capture,
        CL=_aligned(np.full(C, np.nan)) if capture else np.zeros(0))


def _result(run: KernelCall, plan, state_names, *, losses, summary: bool) -> Result:
    """The engine's Result of a finished run: (C, P) views of the kernel's (P, C) arrays (a
    sweep's copies would cost as much as its steps); a summary run's without the per-epoch
    lr, parameters and losses."""
    return Result(params=run.PT.T, state={s: run.ST[i].T for i, s in enumerate(state_names)},
                  epoch_sum_err2=run.esum, epoch_rows=_epoch_rows(run.dstep, plan),
                  epoch_lr=None if summary else run.elr,
                  epoch_params=None if summary else run.EP.transpose(0, 2, 1),
                  diverged_at=_diverged_at(run.dstep, plan.steps_per_epoch),
                  epoch_loss=None if summary else losses,
                  step_loss=run.CL if run.cap else None)


def _aligned(values: np.ndarray) -> np.ndarray:
    """A C-ordered copy starting on a 64-byte boundary: rows of whole vector registers, so no
    vector load of the kernel's loop over configurations straddles two cache lines."""
    values = np.asarray(values)
    out = _zeros(values.shape, values.dtype, fill=False)
    out[...] = values
    return out


def _zeros(shape, dtype=float, fill: bool = True) -> np.ndarray:
    """Zeros (or, ``fill`` False, memory to be written) starting on a 64-byte boundary, as
    :func:`_aligned`, in memory an earlier run's arrays left (spare.SPARES) or new memory
    zeroed by the allocator (calloc), so no page is touched before the kernel writes it: a
    sweep's per-epoch arrays are megabytes, and faulting them in twice (zeros, then a copy)
    took a sixth of a 100,000-configuration sweep."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = SPARES.take(nbytes + 64, zeroed=fill)
    start = -raw.ctypes.data % 64
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def _call(function, *args) -> None:
    """Calls a kernel; its first call compiles it with LLVM's SLP vectorizer on (numba leaves
    it off by default) beside the loop vectorizer, which packs what is left of the scalar code
    (a parameter's pair of updates) into vector instructions. Vector instructions round
    exactly as scalar ones; nothing is reassociated. Ctrl-C during that compile is kept and
    raised once it returns (:func:`interrupt_kept`)."""
    if function.signatures:
        function(*args)
        return
    from numba.core import config

    saved = config.SLP_VECTORIZE
    config.SLP_VECTORIZE = 1
    try:
        with interrupt_kept():
            function(*args)
    finally:
        config.SLP_VECTORIZE = saved


def _epoch_rows(dstep: np.ndarray, plan) -> np.ndarray:
    """(E, C) rows of each epoch's steps that each configuration lived through (the steps
    before its diverging step ``dstep``, 0: none), as floats: the sums the numpy executor adds
    up step by step (whole numbers, so exactly these)."""
    E, K = plan.epochs, plan.steps_per_epoch
    bounds = plan.bounds()
    whole = float(bounds[K] - bounds[0])
    hit = np.flatnonzero(dstep > 0)
    if not len(hit):  # every configuration lived through every epoch: one value (read-only)
        return np.broadcast_to(whole, (E, len(dstep)))
    rows = _zeros((E, len(dstep)), fill=False)
    rows.fill(whole)
    lived = np.clip(dstep[hit] - 1 - K * np.arange(E)[:, None], 0, K)  # steps, (E, hit)
    rows[:, hit] = bounds[lived] - bounds[0]
    return rows


def _diverged_at(dstep: np.ndarray, K: int) -> np.ndarray:
    """Epoch and step (from 1) of each configuration's diverging step ``dstep`` (0: none)."""
    out = np.zeros((len(dstep), 2), dtype=int)
    hit = dstep > 0
    out[hit, 0] = (dstep[hit] - 1) // K + 1
    out[hit, 1] = (dstep[hit] - 1) % K + 1
    return out


def _recorded(spec, kernel: Kernel, plan, run: KernelCall):
    """The recorded tables, cut where the last configuration stopped (as the numpy recorder)."""
    dstep, RS, RR = run.dstep, run.RS, run.RR
    total, K = plan.steps, plan.steps_per_epoch
    N = total if np.any(dstep == 0) else int(dstep.max()) - 1
    if N == 0:
        return {}, {}
    y = spec.data.y
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
    # a data row's columns (a surface's x and y are its parameters, recorded by the kernel)
    columns = dict(zip(spec.model.columns, [*spec.data.inputs(), y]))
    for name, values in columns.items():
        steps[name] = np.where(single, values[first], np.nan)[:N]
    for i, name in enumerate(kernel.columns):
        steps[name] = RS[i, :N]
    sizes = size.astype(np.int64)
    rows = {"epoch": np.repeat(epoch, sizes)[:R], "step": np.repeat(step, sizes)[:R],
            "row": (idx + 1.0)[:R],
            **{name: values[idx][:R].astype(float) for name, values in columns.items()},
            "pred": RR[0, :R], "err2": RR[1, :R]}
    return steps, rows
