"""The row-wise engine: walks the data one row (or batch) at a time and applies a rule.

All arithmetic runs on arrays shaped (configurations, parameters), so one pass can run many
configurations of one sheet (a sweep); a normal run is the case of one configuration.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Iterator, Mapping

import numpy as np

from ..models import gradients
from . import memory
from ..ops import numpy_ops as ops
from .progress import Progress
from .driver import Result, epoch_mean_loss, epoch_metric  # noqa: F401  (the engine's names)
from .plan import Plan, batches, plan_for  # noqa: F401
from ..errors import SheetoptError
from ..spec import LECTURE_RESET, Sheet, Spec
from .trace import Trace


def hyper_arrays(sheet: Sheet, configs: int = 1, grid: Mapping[str, np.ndarray] | None = None):
    """Each numeric hyperparameter as a (C, 1) column; ``grid`` overrides some per configuration."""
    out = {}
    for name, value in sheet.hypers.items():
        if grid and name in grid:
            column = np.asarray(grid[name], dtype=float).reshape(configs)
        else:
            column = np.full(configs, value, dtype=float)
        out[name] = column[:, None]
    return out


def start_state(spec: Spec, sheet: Sheet, hp: Mapping[str, np.ndarray],
                executor: str = "auto") -> dict[str, np.ndarray]:
    """The optimizer state the sheet starts from: explicit values (missing ones start where
    the rule's torch class starts them: 0, or e.g. Rprop's step size at lr; see
    ``Rule.start_value``), or the lecture's reset macro replayed (see SPEC.md and rules.Reset)
    on ``executor`` (a sweep's: the one its whole run takes; "auto": chosen by the passes'
    size)."""
    configs = next(iter(hp.values())).shape[0]
    names = sheet.rule.states(sheet.static)
    P = len(spec.model.params)
    if sheet.state != LECTURE_RESET:
        state = {}
        for s in names:
            values = np.array(np.broadcast_to(sheet.rule.start_value(s, hp), (configs, P)),
                              dtype=float)
            for j, p in enumerate(spec.model.params):
                if p in sheet.state.get(s, {}):
                    values[:, j] = sheet.state[s][p]
            state[s] = values
        return state
    reset = sheet.rule.reset
    if reset is None or not reset.passes:
        return {s: np.full((configs, P), reset.state[s] if reset else 0.0) for s in names}
    # read-only views, no memory of their own: every executor copies what it starts from
    state = {s: np.broadcast_to(float(reset.state[s]), (configs, P)) for s in names}
    ones = np.broadcast_to(1.0, (configs, P))
    if executor == "compiled":  # where the compiled executor runs these passes too
        executor = executor_for(spec, sheet, COMPILE_FROM, annealing=False)
    for _ in range(reset.passes):
        # each warm-up pass restarts from a = b = 1 with constant lr; only the averages are kept
        plan = plan_for(spec, sheet, epochs=1, shuffle=False)
        state = simulate(spec, sheet, hp, ones, state, plan, annealing=False,
                         executor=executor, summary=True).state
    return state


def simulate(spec: Spec, sheet: Sheet, hp: Mapping[str, np.ndarray], params: np.ndarray,
             state: Mapping[str, np.ndarray], plan: Plan, record: bool = False,
             annealing: bool = True, t0: int = 0, progress=None, executor: str = "auto",
             capture: int = 0, summary: bool = False) -> Result:
    """Runs the epochs of ``plan`` from ``params`` and ``state``; see :class:`Result`.
    ``capture``: a step (from 1) whose loss the Result keeps (``step_loss``; 0: none).
    ``summary``: the Result without the per-epoch lr, parameters and losses (None), what a
    sweep and the lecture's reset passes never read: the compiled executor then neither stores
    nor allocates them.

    ``progress``, when given, is called with the number of steps done after each epoch.
    ``executor``: "numpy" (sheetopt.executors.numpy), "compiled" (sheetopt.executors.compiled,
    the same arithmetic compiled by numba; identical results) or "auto" (compiled when numba is
    installed and the case is supported: :func:`executor_for` this run)."""
    executor = executor_for(spec, sheet, work(plan.steps, len(params), step_work(spec, sheet)),
                            annealing, record, executor)
    if executor == "compiled":
        from ..executors import compiled

        return compiled.simulate(spec, sheet, hp, params, state, plan, record=record,
                                 annealing=annealing, t0=t0, progress=progress, capture=capture,
                                 summary=summary)
    from ..executors import numpy as numpy_executor

    return numpy_executor.simulate(spec, sheet, hp, params, state, plan, record=record,
                                   annealing=annealing, t0=t0, progress=progress, capture=capture,
                                   summary=summary)


# A job of less work than this runs on the numpy executor: it is done before numba and a kernel
# would have loaded (about 1 s of CPU in a fresh process, several when a kernel is compiled for
# the first time), the numpy executor taking 0.15 to 0.35 ms a step (benchmarks/startup.py).
COMPILE_FROM = 5_000
CONFIGS_PER_STEP = 2_000  # a step of this many configurations costs numpy twice one's
# A step of the lecture's model costs the numpy executor as much as this many evaluations of a
# parameter's term: one model evaluation (a prediction and its loss) costs it about 1.7 us per
# parameter (100 features, forward differences: 17 ms a step), the lecture's step 0.25 ms.
TERMS_PER_STEP = 150
# model evaluations per row of each gradient method, P parameters: the analytic gradient is a
# prediction and its derivative; a finite difference adds one shifted loss (two: central) per
# parameter to the row's loss
EVALUATIONS = {"analytic": lambda P: 2, "forward": lambda P: 1 + P, "central": lambda P: 1 + 2 * P}


def work(steps: int, configs: int = 1, per_step: float = 1.0) -> float:
    """A job's size in the numpy executor's single-configuration steps of the lecture's model;
    ``per_step``: what a step of this sheet costs in those (:func:`step_work`).

    >>> work(145), work(145, 100_000), round(work(200, 1, 68.34))
    (145.0725, 7395.0, 13675)
    """
    return steps * per_step * (1.0 + configs / CONFIGS_PER_STEP)


def step_work(spec: Spec, sheet: Sheet) -> float:
    """What one step of ``sheet`` costs the numpy executor, in the lecture's steps: its
    bookkeeping (1) and the model's work, rows per step x model evaluations per row (by the
    gradient methods it computes) x parameters, TERMS_PER_STEP to a step. A wide model's
    finite differences are most of it: 100 features, forward differences, one row a step, 68.

    >>> spec = Spec.load("lesson5")
    >>> round(step_work(spec, spec.sheet("adam")), 3)  # 1 + 1 row x 2 evaluations x 2 / 150
    1.027
    """
    P = len(spec.model.params)
    rows = min(sheet.batch_size, len(spec.data)) if spec.model.has_data else 1
    evaluations = sum(EVALUATIONS[m](P) for m in dict.fromkeys((sheet.gradient, *sheet.show)))
    return 1.0 + rows * evaluations * P / TERMS_PER_STEP


def executor_for(spec: Spec, sheet: Sheet, job: float, annealing: bool = True,
                 record: bool = False, executor: str = "auto") -> str:
    """The executor that runs ``sheet`` in a job of size ``job`` (:func:`work`): "compiled"
    when numba is installed, the case is supported and the job is big enough to repay loading
    it, else "numpy"; the same results either way, bit for bit. The environment variable
    SHEETOPT_EXECUTOR (numpy or compiled) overrides the choice by size.

    >>> spec = Spec.load("lesson5")
    >>> executor_for(spec, spec.sheet("adam"), work(145))
    'numpy'
    """
    forced = os.environ.get("SHEETOPT_EXECUTOR", "auto")
    if executor == "numpy" or forced == "numpy":
        return "numpy"
    if executor == "compiled":
        return executor
    if (forced != "compiled" and job < COMPILE_FROM) or not _numba_installed():
        return "numpy"
    from ..executors import compiled

    return "compiled" if compiled.supports(spec, sheet, annealing, record) else "numpy"


def _numba_installed() -> bool:
    import importlib.util

    return "numba" in sys.modules or importlib.util.find_spec("numba") is not None


# What a recorded run takes, per cell of its trace (one float64 of a step's or a visited row's
# column): the compiled executor writes each cell once and builds the columns with a few
# temporary ones (SPARE); the numpy executor keeps each step's values (one-element arrays and
# numbers, about 140 bytes a cell measured) while it records, then stacks them.
# tests/test_memory_estimate.py measures peaks against this.
CELL_BYTES = 8
NUMPY_CELL_BYTES = 144
STEP_SPARE, ROW_SPARE = 5, 3  # the compiled recorder's index and temporary columns


@dataclass(frozen=True, kw_only=True)
class RunBytes:
    """The memory of a recorded run: what its trace keeps once it is done, and what the run
    takes on top of that while it runs (its peak is the sum)."""

    kept: int
    working: int


def run_bytes(spec: Spec, sheet: Sheet, executor: str = "auto") -> RunBytes:
    """The memory a recorded run of ``sheet`` keeps and needs at its peak (see :class:`RunBytes`):
    every step's columns and every visited row's, the temporaries of building them, the batch
    plan and the compiled executor's per-call tables. ``executor``: the one that runs it
    (default: :func:`executor_for` its size).

    >>> from sheetopt.spec import load
    >>> spec = load("lesson5")
    >>> run_bytes(spec, spec.sheet("adam")).kept  # 8 x (145 steps x 19 columns + 145 rows x 7)
    30160
    """
    steps, rows = spec.steps(sheet), sheet.epochs * len(spec.data)
    if executor == "auto":
        executor = executor_for(spec, sheet, work(steps, 1, step_work(spec, sheet)), record=True)
    cells = steps * len(step_columns(spec, sheet)) + rows * len(row_columns(spec))
    plan = batches(len(spec.data), sheet.batch_size, sheet.epochs, sheet.shuffle, sheet.seed)
    if executor == "compiled":
        from ..executors import compiled

        spare = CELL_BYTES * (steps * STEP_SPARE + rows * ROW_SPARE)
        working = spare + plan.nbytes + compiled.table_bytes(spec, sheet, plan)
    else:
        working = (NUMPY_CELL_BYTES - CELL_BYTES) * cells + plan.nbytes
    return RunBytes(kept=CELL_BYTES * cells, working=working)


def peak_bytes(spec: Spec, sheets, executors: Mapping[str, str] | None = None) -> int:
    """The peak memory of recorded runs of ``sheets`` one after the other, each trace kept:
    every trace's cells and the largest run's working memory.

    >>> from sheetopt.spec import load
    >>> spec = load("lesson5")
    >>> peak_bytes(spec, spec.sheets) < 5 * peak_bytes(spec, spec.sheets[:1])
    True
    """
    sizes = [run_bytes(spec, sheet, (executors or {}).get(sheet.name, "auto"))
             for sheet in sheets]
    return sum(s.kept for s in sizes) + max((s.working for s in sizes), default=0)


RECORDS = ("step", "epoch", "summary")


def epoch_trace_bytes(spec: Spec, sheet: Sheet) -> int:
    """A generous estimate of a run recorded per epoch only: the per-epoch arrays (sums, lr,
    losses, parameters) and the plan; the steps are not kept."""
    return 8 * 8 * sheet.epochs * (6 + len(spec.model.params)) + plan_for(spec, sheet).nbytes


def require_memory(spec: Spec, sheets, executors: Mapping[str, str] | None = None,
                   record: str = "step") -> None:
    """Refuses, in one line, recorded runs of ``sheets`` that would not fit in memory, naming
    the sheet that takes most and its larger factor (epochs or rows) to cut; ``executors``:
    the executor of each sheet by name (default: each chosen by its own size); ``record``:
    "step", or "epoch" ("summary" is checked as "epoch": see :func:`_cut_short`)."""
    sheets = list(sheets)
    if record == "step":
        sizes = [run_bytes(spec, sheet, (executors or {}).get(sheet.name, "auto"))
                 for sheet in sheets]
        peak = peak_bytes(spec, sheets, executors)
        biggest = sheets[max(range(len(sheets)),
                             key=lambda i: sizes[i].kept + sizes[i].working)]
    else:
        sizes = [epoch_trace_bytes(spec, sheet) for sheet in sheets]
        peak = sum(sizes)
        biggest = sheets[max(range(len(sheets)), key=sizes.__getitem__)]
    recorded = "every step recorded" if record == "step" else "each epoch recorded"
    what = (f"{spec.label}: sheet {biggest.name!r} ({biggest.epochs:,} epochs of "
            f"{len(spec.data):,} rows, {recorded})")
    if len(sheets) > 1:
        what = f"{spec.label}: {len(sheets)} sheets (the largest, {what.split(': ', 1)[1]})"
    memory.require(peak, what,
                   memory.fewer(epochs=biggest.epochs, rows=len(spec.data)))


def run_all(spec: Spec, record: str = "step", progress: bool | None = None) -> dict[str, Trace]:
    """Runs every sheet of a spec, each on the executor the whole job's size calls for
    (:func:`executor_for`), with a progress bar (see :mod:`sheetopt.protocol.progress`: by
    default on a terminal's command line and in a notebook; ``progress`` decides instead);
    ``record`` as in :func:`run`, or "summary": what a comparison reads, per epoch, and every
    step of a sheet that diverges within an epoch (run again; see :func:`_cut_short`)."""
    _check_record(record)
    job = sum(work(spec.steps(sheet), 1, step_work(spec, sheet)) for sheet in spec.sheets)
    executors = {sheet.name: executor_for(spec, sheet, job, record=True)
                 for sheet in spec.sheets}
    require_memory(spec, spec.sheets, executors, record)
    traces = {}
    with Progress(sum(spec.steps(sheet) for sheet in spec.sheets), show=progress) as bar:
        for sheet in spec.sheets:
            advance = lambda units, name=sheet.name: bar.advance(units, name)  # noqa: E731
            traces[sheet.name] = run(spec, sheet, progress=advance,
                                     executor=executors[sheet.name], record=record)
    return traces


def _cut_short(spec: Spec, sheet: Sheet, trace: Trace, executor: str) -> bool:
    """Whether a sheet run per epoch diverged within an epoch (after its first step) and its
    steps fit in memory: ``record="summary"`` then runs it again, recording its steps, for the
    figures of the epoch the divergence cut short (summed row by row, as a recorded run sums
    them; the same run again, bit for bit)."""
    if not trace.diverged_at or trace.diverged_at[1] == 1:
        return False
    try:
        require_memory(spec, [sheet], {sheet.name: executor}, "step")
    except SheetoptError:
        return False
    return True


def _check_record(record) -> None:
    if record not in RECORDS:
        raise SheetoptError(f"record must be one of {', '.join(RECORDS)} (got {record!r})")


def run(spec: Spec, sheet: Sheet | str, progress=None, executor: str = "auto",
        record: str = "step") -> Trace:
    """Runs one sheet and returns its trace: every step and row visited (``record="step"``),
    or per epoch only (``"epoch"``: the epoch table and the final parameters and state, for
    runs too long to keep every step; no steps, no rows, no partial epoch of a divergence),
    or "summary": per epoch, unless the run diverges within an epoch (:func:`_cut_short`)."""
    _check_record(record)
    if isinstance(sheet, str):
        sheet = spec.sheet(sheet)
    if executor == "auto":
        executor = executor_for(spec, sheet, work(spec.steps(sheet), 1, step_work(spec, sheet)),
                                record=True)
    if record == "summary":
        trace = run(spec, sheet, progress, executor, "epoch")
        return run(spec, sheet, None, executor) if _cut_short(spec, sheet, trace, executor) \
            else trace
    require_memory(spec, [sheet], {sheet.name: executor}, record)
    hp = hyper_arrays(sheet)
    state = start_state(spec, sheet, hp)
    params = np.array([[sheet.init[p] for p in spec.model.params]], dtype=float)
    plan = plan_for(spec, sheet)
    result = simulate(spec, sheet, hp, params, state, plan, record=record == "step",
                      progress=progress, executor=executor)
    trace = to_trace(spec, sheet, params, state, result)
    trace.executor = executor
    if record == "epoch":
        trace.end = {p: float(result.params[0, j]) for j, p in enumerate(spec.model.params)}
        trace.end.update({f"{s}_{p}": float(result.state[s][0, j]) for s in trace.state_names
                          for j, p in enumerate(spec.model.params)})
        trace.meta["record"] = "epoch"
    return trace


ROW_COLUMNS = ("epoch", "step", "row", "x", "y", "pred", "err2")  # the lecture's x,y model's


def row_columns(spec: Spec) -> tuple[str, ...]:
    """The trace's per-row columns: the counters, the data row's columns, pred and err2."""
    return ("epoch", "step", "row", *spec.model.columns, "pred", "err2")


def step_columns(spec: Spec, sheet: Sheet) -> tuple[str, ...]:
    """The trace's per-step columns, in order (the recorders of both executors fill these)."""
    names = spec.model.params
    columns = ["epoch", "step", "row", "size", *spec.model.columns]
    columns += [f"{kind}{p}" for p in names for kind in ("", "grad_", "new_")]
    columns += ["pred", "loss", "lr"]
    if sheet.schedule.records_mom(sheet.hypers):
        columns.append("mom")
    columns += [f"{m}_{p}" for m in sheet.show for p in names]
    columns += [f"{s}_{p}" for s in sheet.rule.states(sheet.static) for p in names]
    return tuple(columns)


def to_trace(spec: Spec, sheet: Sheet, params: np.ndarray, state: Mapping[str, np.ndarray],
             result: Result, config: int = 0) -> Trace:
    """The trace of one configuration of a recorded batched result."""
    names = spec.model.params
    state_names = sheet.rule.states(sheet.static)
    epoch_at, step_at = (int(v) for v in result.diverged_at[config])
    diverged = (epoch_at, step_at) if epoch_at else None
    steps = {k: v[:, config] if v.ndim > 1 else v for k, v in (result.steps or {}).items()}
    rows = {k: v[:, config] if v.ndim > 1 else v for k, v in (result.rows or {}).items()}
    if diverged:  # drop the rows recorded for other configurations after this one stopped
        n = (np.where((steps["epoch"] == epoch_at) & (steps["step"] == step_at))[0][:1]
             if len(steps.get("epoch", [])) else [])
        if len(n):
            cut = int(n[0])
            steps = {k: v[:cut] for k, v in steps.items()}
            rows_cut = int(np.sum(steps["size"])) if cut else 0
            rows = {k: v[:rows_cut] for k, v in rows.items()}
    empty = np.zeros(0)  # a run that diverged on its first step recorded nothing
    steps = {k: steps.get(k, empty) for k in step_columns(spec, sheet)}
    rows = {k: rows.get(k, empty) for k in row_columns(spec)}
    start = {p: float(params[config, j]) for j, p in enumerate(names)}
    start.update({f"{s}_{p}": float(state[s][config, j])
                  for s in state_names for j, p in enumerate(names)})
    start["lr"] = float(sheet.hypers["lr"])
    epochs = epoch_table(spec, result, config, -(-len(spec.data) // sheet.batch_size))
    return Trace(sheet=sheet.name, params=names, state_names=state_names, steps=steps, rows=rows,
                 epochs=epochs, start=start, diverged_at=diverged,
                 meta={"optimizer": sheet.optimizer, "flavor": sheet.flavor,
                       "gradient": sheet.gradient, "batch_size": sheet.batch_size})


def epoch_losses(sum_err2, rows, ops):
    """An epoch's loss figures from its sum of squared errors: the lecture's sqrt(SUM err^2)
    (a root of the sum, not of the mean) and the true RMSE sqrt(SUM err^2 / rows)."""
    return ops.sqrt(sum_err2), ops.sqrt(sum_err2 / rows)


def epoch_table(spec: Spec, result: Result, config: int = 0,
                steps_per_epoch: int = 1) -> dict[str, np.ndarray]:
    """Per finished epoch: the model's loss figures (``Model.loss_figures``: the lecture's
    sqrt-of-sum and the true RMSE, or the mean loss), lr and the parameters."""
    epoch_at = int(result.diverged_at[config, 0])
    finished = epoch_at - 1 if epoch_at else result.epoch_sum_err2.shape[0]
    table = {"epoch": np.arange(1, finished + 1, dtype=float)}
    if spec.model.reports_rmse:
        table["lecture_rmse"], table["rmse"] = epoch_losses(
            result.epoch_sum_err2[:finished, config], result.epoch_rows[:finished, config], ops)
    else:  # the mean of the epoch's per-step losses (a surface: its value before the step)
        table["loss"] = epoch_mean_loss(result.epoch_loss[:finished, config], steps_per_epoch)
    table["lr"] = result.epoch_lr[:finished, config]
    for j, p in enumerate(spec.model.params):
        table[p] = result.epoch_params[:finished, config, j]
    if spec.model.accuracy is not None:  # a classifier: all rows, at the epoch's end
        from ..models.logistic import share_right

        table["accuracy"] = share_right(spec.model, {p: table[p] for p in spec.model.params},
                                        spec.data)
    return table
