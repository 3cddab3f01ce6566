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
from ..schedules import anneal, clock_for, gradient_scale, records_mom, step_hypers
from ..spec import LECTURE_RESET, Sheet, Spec
from .trace import Trace


@dataclass
class Result:
    """A batched run: final values per configuration and per-epoch summaries."""

    params: np.ndarray  # (C, P) after the last step that did not diverge
    state: dict[str, np.ndarray]  # name -> (C, P)
    epoch_sum_err2: np.ndarray  # (E, C) sum of per-row squared errors in each epoch
    epoch_rows: np.ndarray  # (E, C) rows counted in that sum
    epoch_lr: np.ndarray  # (E, C) lr at the first step of each epoch
    epoch_params: np.ndarray  # (E, C, P) parameters at the end of each epoch
    diverged_at: np.ndarray  # (C, 2) epoch and step counted from 1; 0 where it did not diverge
    epoch_loss: np.ndarray | None = None  # (E, C) sum of the per-step (batch mean) losses
    steps: dict[str, np.ndarray] | None = None  # (N, C) per step when recorded
    rows: dict[str, np.ndarray] | None = None  # (R, C) per data row visited when recorded


@dataclass(frozen=True)
class Plan:
    """Which rows each step of each epoch takes: consecutive slices of ``size`` rows (the last
    one may be shorter), in data order or in a fresh seeded permutation each epoch.

    Held as these five numbers; an epoch's order is drawn when the epoch is walked, so a plan
    of any number of epochs takes the memory of one order (see :attr:`nbytes`).

    >>> plan = Plan(rows=5, size=2, epochs=3)
    >>> plan.steps_per_epoch, plan.steps, [r.tolist() for r in next(iter(plan))]
    (3, 9, [[0, 1], [2, 3], [4]])
    """

    rows: int
    size: int
    epochs: int
    shuffle: bool = False
    seed: int = 0

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.rows // self.size)

    @property
    def steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def nbytes(self) -> int:
        """Memory the plan takes while it is walked: an order and its step bounds."""
        return 8 * (self.rows * (2 if self.shuffle else 1) + self.steps_per_epoch + 1)

    def __len__(self) -> int:
        return self.epochs

    def bounds(self) -> np.ndarray:
        """Where each step starts in an epoch's order, then the row count: (steps_per_epoch + 1,)."""
        return np.minimum(np.arange(self.steps_per_epoch + 1, dtype=np.int64) * self.size,
                          self.rows)

    def orders(self) -> Iterator[np.ndarray]:
        """Each epoch's order of the rows (the same array every epoch when not shuffled)."""
        rng = np.random.default_rng(self.seed)
        order = np.arange(self.rows, dtype=np.int64)
        for _ in range(self.epochs):
            yield rng.permutation(self.rows) if self.shuffle else order

    def __iter__(self) -> Iterator[list[np.ndarray]]:
        """Each epoch as the row indices of its steps."""
        bounds = self.bounds().tolist()
        for order in self.orders():
            yield [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def batches(n_rows: int, size: int, epochs: int, shuffle: bool, seed: int) -> Plan:
    """The batch plan of a run (see :class:`Plan`).

    >>> batches(29, 7, epochs=2, shuffle=True, seed=0).steps
    10
    """
    return Plan(n_rows, size, epochs, shuffle, seed)


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
        plan = batches(len(spec.data), sheet.batch_size, 1, False, sheet.seed)
        state = simulate(spec, sheet, hp, ones, state, plan, annealing=False).state
    return state


def simulate(spec: Spec, sheet: Sheet, hp: Mapping[str, np.ndarray], params: np.ndarray,
             state: Mapping[str, np.ndarray], plan: Plan, record: bool = False,
             annealing: bool = True, t0: int = 0, progress=None, executor: str = "auto") -> Result:
    """Runs the epochs of ``plan`` from ``params`` and ``state``; see :class:`Result`.

    ``progress``, when given, is called with the number of steps done after each epoch.
    ``executor``: "numpy" (this loop), "compiled" (sheetopt.executors.compiled, the same arithmetic
    compiled by numba; identical results) or "auto" (:func:`executor_for` this run)."""
    executor = executor_for(spec, sheet, work(plan.steps, len(params)), annealing, record,
                            executor)
    if executor == "compiled":
        from ..executors import compiled

        return compiled.simulate(spec, sheet, hp, params, state, plan, record, annealing,
                                 t0, progress)
    model, rule, static = spec.model, sheet.rule, sheet.static
    x, y = spec.data.x, spec.data.y
    names, state_names = model.params, rule.states(static)
    C, P = params.shape
    E, total = plan.epochs, plan.steps
    params = params.astype(float, copy=True)
    state = {s: np.array(state[s], dtype=float) for s in state_names}
    alive = np.ones(C, dtype=bool)
    diverged_at = np.zeros((C, 2), dtype=int)
    epoch_sum = np.zeros((E, C))
    epoch_rows = np.zeros((E, C))
    epoch_lr = np.zeros((E, C))
    epoch_params = np.zeros((E, C, P))
    epoch_loss = np.zeros((E, C))
    recorder = _Recorder(sheet, names, state_names, C, model.has_data) if record else None
    lr = hp["lr"]
    schedule = sheet.schedule if annealing else None
    best = None
    if schedule is not None and schedule.kind == "adam_ann":
        best = gradient_scale([state["sqr_avg"][:, j] for j in range(P)], ops)[:, None]
    clock = clock_for(schedule, hp)
    t = t0
    with np.errstate(all="ignore"):
        for e, epoch in enumerate(plan):
            for k, rows in enumerate(epoch):
                step_hp = step_hypers(hp, lr, schedule, t - t0, total, ops, clock)
                t += 1
                p = {n: params[:, j] for j, n in enumerate(names)}
                xs, ys = [x[i] for i in rows], [y[i] for i in rows]
                preds = [model.predict(p, xi) for xi in xs]
                err2 = [model.row_loss(pred, yi) for yi, pred in zip(ys, preds)]
                loss = gradients.mean(err2)
                grads = gradients.gradient(sheet.gradient, model, p, xs, ys, sheet.h, loss)
                shown = {m: gradients.gradient(m, model, p, xs, ys, sheet.h, loss)
                         for m in sheet.show}
                g = np.stack([grads[n] for n in names], axis=1)
                new_state = rule.new_state(params, g, state, step_hp, t, ops, static)
                new_params = rule.step(params, g, state, new_state, step_hp, t, ops, static)
                bad = alive & ~(np.isfinite(loss) & (loss <= sheet.diverge_above)
                                & np.isfinite(new_params).all(axis=1))
                diverged_at[bad] = (e + 1, k + 1)
                alive &= ~bad
                if recorder is not None and alive.any():
                    recorder.add(e, k, rows, xs, ys, params, g, new_params, preds, err2, loss,
                                 step_hp, shown, new_state)
                keep = alive[:, None]
                params = np.where(keep, new_params, params)
                state = {s: np.where(keep, new_state[s], state[s]) for s in state_names}
                epoch_sum[e] += np.where(alive, sum(err2), 0.0)
                epoch_rows[e] += np.where(alive, len(rows), 0)
                epoch_loss[e] += np.where(alive, loss, 0.0)
                if clock is not None and schedule.per == "step":
                    clock.advance()
                if k == 0:
                    epoch_lr[e] = np.broadcast_to(step_hp["lr"], (C, 1))[:, 0]
            epoch_params[e] = params
            if progress is not None:
                progress(len(epoch))
            if best is not None:
                scale = gradient_scale([state["sqr_avg"][:, j] for j in range(P)], ops)
                lr, best = anneal(lr, scale[:, None], best, ops)
            if clock is not None and schedule.per == "epoch":
                clock.advance(epoch_metric(epoch_loss[e], len(epoch)))
    result = Result(params, state, epoch_sum, epoch_rows, epoch_lr, epoch_params, diverged_at,
                    epoch_loss)
    if recorder is not None:
        result.steps, result.rows = recorder.arrays()
    return result


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

    def __init__(self, sheet: Sheet, names, state_names, configs: int, data: bool = True):
        self.sheet, self.names, self.state_names = sheet, names, state_names
        self.data = data  # False: a test surface, whose parameters x, y are the columns
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
        if self.data:
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


# What a recorded run takes, per cell of its trace (one float64 of a step's or a visited row's
# column): the compiled executor writes each cell once and builds the columns with a few
# temporary ones (SPARE); the numpy executor holds each cell as a one-element array while it
# records, then stacks them. tests/test_memory_estimate.py measures peaks against this.
CELL_BYTES = 8
NUMPY_CELL_BYTES = 176
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
        executor = executor_for(spec, sheet, work(steps), record=True)
    cells = steps * len(step_columns(spec, sheet)) + rows * len(ROW_COLUMNS)
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


def require_memory(spec: Spec, sheets, executors: Mapping[str, str] | None = None) -> None:
    """Refuses, in one line, recorded runs of ``sheets`` that would not fit in memory, naming
    the sheet that takes most and its larger factor (epochs or rows) to cut; ``executors``:
    the executor of each sheet by name (default: each chosen by its own size)."""
    sheets = list(sheets)
    sizes = [run_bytes(spec, sheet, (executors or {}).get(sheet.name, "auto"))
             for sheet in sheets]
    biggest = sheets[max(range(len(sheets)), key=lambda i: sizes[i].kept + sizes[i].working)]
    what = (f"{spec.label}: sheet {biggest.name!r} ({biggest.epochs:,} epochs of "
            f"{len(spec.data):,} rows, every step recorded)")
    if len(sheets) > 1:
        what = f"{spec.label}: {len(sheets)} sheets (the largest, {what.split(': ', 1)[1]})"
    memory.require(peak_bytes(spec, sheets, executors), what,
                   memory.fewer(epochs=biggest.epochs, rows=len(spec.data)))


def run_all(spec: Spec, progress: bool | None = None) -> dict[str, Trace]:
    """Runs every sheet of a spec, each on the executor the whole job's size calls for
    (:func:`executor_for`), with a progress bar (see :mod:`sheetopt.protocol.progress`: by
    default on a terminal's command line and in a notebook; ``progress`` decides instead)."""
    job = sum(work(spec.steps(sheet)) for sheet in spec.sheets)
    executors = {sheet.name: executor_for(spec, sheet, job, record=True)
                 for sheet in spec.sheets}
    require_memory(spec, spec.sheets, executors)
    traces = {}
    with Progress(sum(spec.steps(sheet) for sheet in spec.sheets), show=progress) as bar:
        for sheet in spec.sheets:
            advance = lambda units, name=sheet.name: bar.advance(units, name)  # noqa: E731
            traces[sheet.name] = run(spec, sheet, progress=advance,
                                     executor=executors[sheet.name])
    return traces


def run(spec: Spec, sheet: Sheet | str, progress=None, executor: str = "auto") -> Trace:
    """Runs one sheet and returns its full trace (``executor``: see :func:`simulate`)."""
    if isinstance(sheet, str):
        sheet = spec.sheet(sheet)
    if executor == "auto":
        executor = executor_for(spec, sheet, work(spec.steps(sheet)), record=True)
    require_memory(spec, [sheet], {sheet.name: executor})
    hp = hyper_arrays(sheet)
    state = start_state(spec, sheet, hp)
    params = np.array([[sheet.init[p] for p in spec.model.params]], dtype=float)
    plan = batches(len(spec.data), sheet.batch_size, sheet.epochs, sheet.shuffle, sheet.seed)
    result = simulate(spec, sheet, hp, params, state, plan, record=True, progress=progress,
                      executor=executor)
    return to_trace(spec, sheet, params, state, result)


ROW_COLUMNS = ("epoch", "step", "row", "x", "y", "pred", "err2")


def step_columns(spec: Spec, sheet: Sheet) -> tuple[str, ...]:
    """The trace's per-step columns, in order (the recorders of both executors fill these)."""
    names = spec.model.params
    columns = ["epoch", "step", "row", "size", *(("x", "y") if spec.model.has_data else ())]
    columns += [f"{kind}{p}" for p in names for kind in ("", "grad_", "new_")]
    columns += ["pred", "loss", "lr"]
    if records_mom(sheet.schedule, sheet.hypers):
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
    epochs = epoch_table(spec, result, config, -(-len(spec.data) // sheet.batch_size))
    return Trace(sheet.name, names, state_names, steps, rows, epochs, start, diverged,
                 meta={"optimizer": sheet.optimizer, "flavor": sheet.flavor,
                       "gradient": sheet.gradient, "batch_size": sheet.batch_size})


def epoch_losses(sum_err2, rows, ops):
    """An epoch's loss figures from its sum of squared errors: the lecture's sqrt(SUM err^2)
    (a root of the sum, not of the mean) and the true RMSE sqrt(SUM err^2 / rows)."""
    return ops.sqrt(sum_err2), ops.sqrt(sum_err2 / rows)


def epoch_table(spec: Spec, result: Result, config: int = 0,
                steps_per_epoch: int = 1) -> dict[str, np.ndarray]:
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
    if not spec.model.reports_rmse and result.epoch_loss is not None:
        # the mean of the epoch's per-step losses (a surface: its value before the step)
        table["loss"] = result.epoch_loss[:finished, config] / steps_per_epoch
    for j, p in enumerate(spec.model.params):
        table[p] = result.epoch_params[:finished, config, j]
    return table
