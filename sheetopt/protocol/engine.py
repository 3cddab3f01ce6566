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
from .driver import Result, epoch_metric  # noqa: F401  (the engine's names for them)
from .plan import Plan, batches, plan_for  # noqa: F401
from ..errors import SheetoptError
from ..spec import LECTURE_RESET, Sheet, Spec
from .trace import Trace


def hyper_arrays(sheet: Sheet, configs: int = 1, grid: Mapping[str, np.ndarray] | None = None):
    """Each numeric hyperparameter as a (C, 1) column; ``grid`` overrides some per configuration."""
    out = {}
    for name, value in sheet.hypers.items():
        column = np.full(configs, value, dtype=float)
        if grid and name in grid:
            column = np.asarray(grid[name], dtype=float).reshape(configs)
        out[name] = column[:, None]
    return out


def start_state(spec: Spec, sheet: Sheet, hp: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The optimizer state the sheet starts from: explicit values (missing ones start where
    the rule's torch class starts them: 0, or e.g. Rprop's step size at lr; see
    ``Rule.start_value``), or the lecture's reset macro replayed (see SPEC.md and rules.Reset)."""
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
    state = {s: np.full((configs, P), reset.state[s] if reset else 0.0) for s in names}
    if reset is None:
        return state
    ones = np.ones((configs, P))
    for _ in range(reset.passes):
        # each warm-up pass restarts from a = b = 1 with constant lr; only the averages are kept
        plan = plan_for(spec, sheet, epochs=1, shuffle=False)
        state = simulate(spec, sheet, hp, ones, state, plan, annealing=False).state
    return state


def simulate(spec: Spec, sheet: Sheet, hp: Mapping[str, np.ndarray], params: np.ndarray,
             state: Mapping[str, np.ndarray], plan: Plan, record: bool = False,
             annealing: bool = True, t0: int = 0, progress=None, executor: str = "auto") -> Result:
    """Runs the epochs of ``plan`` from ``params`` and ``state``; see :class:`Result`.

    ``progress``, when given, is called with the number of steps done after each epoch.
    ``executor``: "numpy" (sheetopt.executors.numpy), "compiled" (sheetopt.executors.compiled,
    the same arithmetic compiled by numba; identical results) or "auto" (compiled when numba is
    installed and the case is supported: :func:`executor_for` this run)."""
    executor = executor_for(spec, sheet, work(plan.steps, len(params)), annealing, record,
                            executor)
    if executor == "compiled":
        from ..executors import compiled

        return compiled.simulate(spec, sheet, hp, params, state, plan, record, annealing,
                                 t0, progress)
    from ..executors import numpy as numpy_executor

    return numpy_executor.simulate(spec, sheet, hp, params, state, plan, record, annealing,
                                   t0, progress)


# A job of less work than this runs on the numpy executor: it is done before numba and a kernel
# would have loaded (about 1 s of CPU in a fresh process, several when a kernel is compiled for
# the first time), the numpy executor taking 0.15 to 0.35 ms a step (benchmarks/startup.py).
COMPILE_FROM = 5_000
CONFIGS_PER_STEP = 2_000  # a step of this many configurations costs numpy twice one's


def work(steps: int, configs: int = 1) -> float:
    """A job's size in the numpy executor's single-configuration steps.

    >>> work(145), work(145, 100_000)
    (145.0, 7395.0)
    """
    return steps * (1.0 + configs / CONFIGS_PER_STEP)


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


def epoch_metric(loss_sum: np.ndarray, steps: int) -> np.ndarray:
    """ReduceLROnPlateau's metric: the epoch's mean per-step loss, as a training loop logs it
    (the losses summed step by step, then divided by the number of steps), per configuration."""
    return (np.asarray(loss_sum, dtype=float) / steps)[:, None]


class _Recorder:
    """Collects the per-step and per-row columns of a recorded run (configuration 0 onward)."""

    def __init__(self, sheet: Sheet, names, state_names, configs: int):
        self.sheet, self.names, self.state_names = sheet, names, state_names
        self.steps: dict[str, list] = {}
        self.rows: dict[str, list] = {}

    def _put(self, table, key, value):
        table.setdefault(key, []).append(np.array(value, dtype=float, copy=True))

    def add(self, e, k, rows, xs, ys, params, g, new_params, preds, err2, loss, hp, shown, state):
        single = len(rows) == 1
        put = lambda key, value: self._put(self.steps, key, value)  # noqa: E731
        put("epoch", e + 1)
        put("step", k + 1)
        put("row", rows[0] + 1)
        put("size", len(rows))
        put("x", xs[0] if single else np.nan)
        put("y", ys[0] if single else np.nan)
        for j, n in enumerate(self.names):
            put(n, params[:, j])
            put(f"grad_{n}", g[:, j])
            put(f"new_{n}", new_params[:, j])
        put("pred", preds[0] if single else np.full_like(loss, np.nan))
        put("loss", loss)
        put("lr", np.broadcast_to(hp["lr"], (len(loss), 1))[:, 0])
        if records_mom(self.sheet.schedule, self.sheet.hypers):
            put("mom", np.broadcast_to(hp["mom"], (len(loss), 1))[:, 0])
        for method, values in shown.items():
            for n in self.names:
                put(f"{method}_{n}", values[n])
        for s in self.state_names:
            for j, n in enumerate(self.names):
                put(f"{s}_{n}", state[s][:, j])
        for i, row in enumerate(rows):
            self._put(self.rows, "epoch", e + 1)
            self._put(self.rows, "step", k + 1)
            self._put(self.rows, "row", row + 1)
            self._put(self.rows, "x", xs[i])
            self._put(self.rows, "y", ys[i])
            self._put(self.rows, "pred", preds[i])
            self._put(self.rows, "err2", err2[i])

    def arrays(self):
        def stack(table):
            return {key: np.array(np.broadcast_arrays(*values)) for key, values in table.items()}
        return stack(self.steps), stack(self.rows)


def trace_bytes(spec: Spec, sheet: Sheet, executor: str = "auto") -> int:
    """A generous estimate of the memory a recorded run of ``sheet`` takes (measured: about
    500 bytes a step for online Adam on the compiled executor, ten times that on numpy's),
    its batch plan and the compiled executor's per-call tables included."""
    steps = spec.steps(sheet)
    if executor == "auto":
        executor = executor_for(spec, sheet, work(steps), record=True)
    per_step_columns = 10 + len(spec.model.params) * (3 + len(sheet.show)
                                                      + len(sheet.rule.states(sheet.static)))
    values = steps * per_step_columns + sheet.epochs * len(spec.data) * 7
    plan = batches(len(spec.data), sheet.batch_size, sheet.epochs, sheet.shuffle, sheet.seed)
    if executor == "numpy":
        return 200 * values + 200 * steps + plan.nbytes
    from ..executors import compiled

    return 24 * values + 200 * steps + plan.nbytes + 8 * 4 * compiled.TABLE_CELLS


RECORDS = ("step", "epoch")


def epoch_trace_bytes(spec: Spec, sheet: Sheet) -> int:
    """A generous estimate of a run recorded per epoch only: the per-epoch arrays (sums, lr,
    losses, parameters) and the plan; the steps are not kept."""
    return 8 * 8 * sheet.epochs * (6 + len(spec.model.params)) + plan_for(spec, sheet).nbytes


def require_memory(spec: Spec, sheets, executors: Mapping[str, str] | None = None,
                   record: str = "step") -> None:
    """Refuses, in one line, recorded runs of ``sheets`` that would not fit in memory, naming
    the sheet that takes most and its larger factor (epochs or rows) to cut; ``executors``:
    the executor of each sheet by name (default: each chosen by its own size)."""
    sheets = list(sheets)
    sizes = [trace_bytes(spec, sheet, (executors or {}).get(sheet.name, "auto"))
             if record == "step" else epoch_trace_bytes(spec, sheet) for sheet in sheets]
    biggest = sheets[max(range(len(sheets)), key=sizes.__getitem__)]
    recorded = "every step recorded" if record == "step" else "each epoch recorded"
    what = (f"{spec.label}: sheet {biggest.name!r} ({biggest.epochs:,} epochs of "
            f"{len(spec.data):,} rows, {recorded})")
    if len(sheets) > 1:
        what = f"{spec.label}: {len(sheets)} sheets (the largest, {what.split(': ', 1)[1]})"
    memory.require(sum(sizes), what, memory.fewer(epochs=biggest.epochs, rows=len(spec.data)))


def run_all(spec: Spec, record: str = "step") -> dict[str, Trace]:
    """Runs every sheet of a spec (with a progress bar when stderr is a terminal); ``record``
    as in :func:`run`."""
    _check_record(record)
    job = sum(work(spec.steps(sheet)) for sheet in spec.sheets)
    executors = {sheet.name: executor_for(spec, sheet, job, record=True)
                 for sheet in spec.sheets}
    require_memory(spec, spec.sheets, executors, record)
    bar = Progress(sum(spec.steps(sheet) for sheet in spec.sheets))
    traces = {}
    for sheet in spec.sheets:
        bar.label = sheet.name
        traces[sheet.name] = run(spec, sheet, progress=bar.advance,
                                 executor=executors[sheet.name], record=record)
    bar.close()
    return traces


def _check_record(record) -> None:
    if record not in RECORDS:
        raise SheetoptError(f"record must be one of {', '.join(RECORDS)} (got {record!r})")


def run(spec: Spec, sheet: Sheet | str, progress=None, executor: str = "auto",
        record: str = "step") -> Trace:
    """Runs one sheet and returns its trace: every step and row visited (``record="step"``),
    or per epoch only (``"epoch"``: the epoch table and the final parameters and state, for
    runs too long to keep every step; no steps, no rows, no partial epoch of a divergence)."""
    _check_record(record)
    if isinstance(sheet, str):
        sheet = spec.sheet(sheet)
    if executor == "auto":
        executor = executor_for(spec, sheet, work(spec.steps(sheet)), record=True)
    require_memory(spec, [sheet], {sheet.name: executor}, record)
    hp = hyper_arrays(sheet)
    state = start_state(spec, sheet, hp)
    params = np.array([[sheet.init[p] for p in spec.model.params]], dtype=float)
    plan = plan_for(spec, sheet)
    result = simulate(spec, sheet, hp, params, state, plan, record=record == "step",
                      progress=progress, executor=executor)
    trace = to_trace(spec, sheet, params, state, result)
    if record == "epoch":
        trace.end = {p: float(result.params[0, j]) for j, p in enumerate(spec.model.params)}
        trace.end.update({f"{s}_{p}": float(result.state[s][0, j]) for s in trace.state_names
                          for j, p in enumerate(spec.model.params)})
        trace.meta["record"] = "epoch"
    return trace


ROW_COLUMNS = ("epoch", "step", "row", "x", "y", "pred", "err2")


def step_columns(spec: Spec, sheet: Sheet) -> tuple[str, ...]:
    """The trace's per-step columns, in order (the recorders of both executors fill these)."""
    names = spec.model.params
    columns = ["epoch", "step", "row", "size", "x", "y"]
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
    rows = {k: rows.get(k, empty) for k in ROW_COLUMNS}
    start = {p: float(params[config, j]) for j, p in enumerate(names)}
    start.update({f"{s}_{p}": float(state[s][config, j])
                  for s in state_names for j, p in enumerate(names)})
    start["lr"] = float(sheet.hypers["lr"])
    epochs = epoch_table(spec, result, config)
    return Trace(sheet=sheet.name, params=names, state_names=state_names, steps=steps, rows=rows,
                 epochs=epochs, start=start, diverged_at=diverged,
                 meta={"optimizer": sheet.optimizer, "flavor": sheet.flavor,
                       "gradient": sheet.gradient, "batch_size": sheet.batch_size})


def epoch_losses(sum_err2, rows, ops):
    """An epoch's loss figures from its sum of squared errors: the lecture's sqrt(SUM err^2)
    (a root of the sum, not of the mean) and the true RMSE sqrt(SUM err^2 / rows)."""
    return ops.sqrt(sum_err2), ops.sqrt(sum_err2 / rows)


def epoch_table(spec: Spec, result: Result, config: int = 0) -> dict[str, np.ndarray]:
    """Per finished epoch: the lecture's sqrt-of-sum figure, the true RMSE, lr and parameters."""
    epoch_at = int(result.diverged_at[config, 0])
    finished = epoch_at - 1 if epoch_at else result.epoch_sum_err2.shape[0]
    sums = result.epoch_sum_err2[:finished, config]
    counts = result.epoch_rows[:finished, config]
    lecture_rmse, rmse = epoch_losses(sums, counts, ops)
    table = {
        "epoch": np.arange(1, finished + 1, dtype=float),
        "lecture_rmse": lecture_rmse,
        "rmse": rmse,
        "lr": result.epoch_lr[:finished, config],
    }
    for j, p in enumerate(spec.model.params):
        table[p] = result.epoch_params[:finished, config, j]
    return table
