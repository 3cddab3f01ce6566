"""Sweeps: many configurations of one sheet run at once, as (configurations, parameters) arrays.

The numpy backend is the engine itself (``engine.simulate``, whose executor may be the compiled
one); the torch backend steps the same rules on tensors (``simulate``) on the chosen device;
``auto`` picks torch on a CUDA GPU when there is one, else the numpy engine.
Diverged configurations are masked by both and reported, never fatal.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..protocol import engine, memory
from ..errors import SheetoptError, option
from ..spec import Sheet, Spec
from ..executors.torch import device as devices
from ..executors.torch.device import DEVICES
from . import swept
from .objective import Objective, parse_objective

SWEPT = ("lr", "mom", "sqr_mom")
BACKENDS = ("auto", "numpy", "torch")


@dataclass(frozen=True)
class Range:
    """Values of one swept hyperparameter, known by count before they are made."""

    option: str
    start: float = 0.0
    stop: float = 0.0
    count: int = 0
    log: bool = False
    listed: tuple[float, ...] | None = None

    def values(self) -> np.ndarray:
        """The values themselves, in order."""
        if self.listed is not None:
            return np.array(self.listed)
        if self.log:
            return np.geomspace(self.start, self.stop, self.count)
        return np.linspace(self.start, self.stop, self.count)


def parse_range(text: str, option: str, log: bool = False) -> Range:
    """``START:STOP:N`` as N values from START to STOP (geometric with ``log``), or a
    comma-separated list of values."""
    try:
        if ":" not in text:
            listed = tuple(float(v) for v in text.split(",") if v.strip())
            found = Range(option, count=len(listed), listed=listed)
            numbers = listed
        else:
            start, stop, count = text.split(":")
            found = Range(option, float(start), float(stop), int(count), log)
            numbers = (found.start, found.stop)
    except ValueError:
        raise SheetoptError(f"{option} {text!r}: expected START:STOP:N (e.g. 1e-4:1:20) or a "
                            f"list like 0.8,0.9,0.99") from None
    if found.count < 1:
        raise SheetoptError(f"{option} {text}: the range is empty (it needs at least one value)")
    if not all(math.isfinite(v) for v in numbers):
        raise SheetoptError(f"{option} {text!r}: values must be finite")
    if log and found.listed is None and (found.start <= 0 or found.stop <= 0):
        raise SheetoptError(f"{option} {text}: a log-scale range needs START and STOP > 0")
    return found


def count_configurations(ranges: Mapping[str, Range | Sequence[float] | None]) -> int:
    """How many configurations every combination of the ranges (or lists of values) makes,
    before making them."""
    return math.prod(r.count if isinstance(r, Range) else len(r)
                     for r in ranges.values() if r is not None)


def make_grid(sheet: Sheet, ranges: Mapping[str, np.ndarray | None],
              spec: Spec | None = None) -> dict[str, np.ndarray]:
    """Every combination of the given values (the first name varying fastest: lr, mom, sqr_mom,
    then the others in the order given), one entry per configuration; a name not given keeps
    the sheet's value. Each name is a numeric hyperparameter of the sheet or a numeric argument
    of its schedule (see sheetopt.sweeps.swept), each value checked as the spec's would be."""
    given = {k: np.asarray(v.values() if isinstance(v, Range) else v, dtype=float)
             for k, v in ranges.items() if v is not None}
    names = sorted(given, key=lambda n: (SWEPT.index(n) if n in SWEPT else len(SWEPT)))
    if spec is not None:
        swept.check_names(spec, sheet, names)
    for name in names:
        if spec is None and name not in sheet.hypers:
            raise SheetoptError(f"sheet {sheet.name!r} ({sheet.optimizer}, {sheet.flavor}) has "
                                f"no hyperparameter {name}; it takes {', '.join(sheet.hypers)}")
        if spec is not None:
            swept.check_values(spec, sheet, name, given[name])
    mesh = np.meshgrid(*(given[n] for n in reversed(names)), indexing="ij")
    grid = {n: m.ravel() for n, m in zip(reversed(names), mesh)}
    return {n: grid[n] for n in names}


def configurations(grid: Mapping[str, np.ndarray]) -> int:
    """How many configurations a grid holds (1 for an empty grid: the sheet as it is)."""
    return len(next(iter(grid.values()))) if grid else 1


def resolve_backend(backend: str = "auto", device: str = "auto") -> tuple[str, str]:
    """The backend and device a sweep runs on: ``auto`` is the torch backend on CUDA when
    ``device`` is ``cuda``, or ``auto`` and a GPU is visible, else the numpy engine on the CPU.
    Raises a one-line error for a combination that cannot run (the numpy engine on CUDA,
    ``cuda`` without a GPU or without torch)."""
    if backend not in BACKENDS:
        raise SheetoptError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if device not in DEVICES:
        raise SheetoptError(f"device {device!r} is not one of {', '.join(DEVICES)}")
    if backend == "numpy":
        if device == "cuda":
            raise SheetoptError(f"{option('backend')} numpy runs on the CPU; {option('device')} "
                                f"cuda needs {option('backend')} torch (or auto)")
        return "numpy", "cpu"
    if device == "cuda":
        if not devices.cuda_available():
            devices.pick_device("cuda")  # the one-line reason: no torch, too old, or no GPU
        return "torch", "cuda"
    if backend == "auto":
        use_gpu = device == "auto" and devices.cuda_available()
        return ("torch", "cuda") if use_gpu else ("numpy", "cpu")
    return "torch", ("cuda" if device == "auto" and devices.cuda_available() else "cpu")


# Temporaries of one torch step, in tensor elements per configuration: a constant, per
# parameter, per state value, and per batch of more than one row (beyond its rows x
# (parameters + 1) values). Measured, with the rest of ``estimate_bytes``, as peak resident
# memory less a 1-configuration run (python benchmarks/sweep.py --memory); float32 tensors
# come out at fewer elements than float64 ones (the allocator reuses more of them).
TORCH_TEMPORARIES = {8: (9, 8, 6, 8), 4: (4, 4, 4, 40)}


def estimate_bytes(spec: Spec, sheet: Sheet, configs: int, backend: str = "numpy",
                   itemsize: int = 8, executor: str | None = None, swept: int = 1) -> int:
    """The peak memory a sweep of ``configs`` configurations of ``sheet`` adds to the process,
    counted per configuration (benchmarks/sweep.py --memory compares it with measurements:
    it comes out 0-30% above them).

    - setup, float64 on every backend: the grid of ``swept`` hyperparameters and a group's copy
      of it, the hyperparameters, start and final parameters, start state, the final loss and
      where each configuration diverged, the indices that order the output;
    - the numpy engine: its copies of parameters and state, the per-epoch records, and one
      step's temporaries (the compiled executor's kernel keeps per-parameter scalars; the numpy
      executor holds a batch's rows as lists of arrays);
    - the torch backend (``itemsize`` bytes a value): tensor copies of the start (float32 only;
      float64 tensors share the numpy arrays), parameters and state being stepped, the
      per-epoch sums, and one step's temporaries, a batch's rows all at once as
      (configurations, rows) tensors."""
    P, S, H, E = (len(spec.model.params), len(sheet.rule.states(sheet.static)),
                  len(sheet.hypers), sheet.epochs)
    rows = sheet.batch_size if sheet.batch_size > 1 else 0
    differences = sum(m != "analytic" for m in {sheet.gradient, *sheet.show})
    setup = 2 * swept + H + P * (2 + S) + 10
    if backend == "torch":
        const, per_param, per_state, per_batch = TORCH_TEMPORARIES[4 if itemsize <= 4 else 8]
        stepped = P + S * P + 2 * E
        step = const + per_param * P + per_state * S * P + (rows * (P + 1) + per_batch
                                                             if rows else 0)
        copies = H + S * P + P if itemsize < 8 else 0
        per_config = 8 * (setup + 2 + E) + itemsize * (copies + stepped + step)
    elif executor == "compiled":
        # a summary run: the per-epoch sums, and rows where a configuration diverged
        per_config = 8 * (setup + P * (1 + S) + H + 2 * E + 6)
    else:
        kept = P + S * P + E * (3 + P) + 2
        step = 3 * P + 2 * S * P + 6 + differences + (rows * (P + 1.5) if rows else 0)
        per_config = 8 * (setup + kept + step)
    return int(configs * per_config)


def available_bytes(device=None) -> int:
    """Free memory where the sweep runs: the GPU's free memory, else the machine's."""
    if device is not None and getattr(device, "type", device) == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    return memory.available_bytes()


def fixed_bytes(spec: Spec, sheet: Sheet, executor: str | None = "compiled") -> int:
    """What a sweep takes whatever its size: the batch plan and, unless the numpy executor
    runs it, the compiled executor's per-call tables (at most compiled.TABLE_CELLS values each)."""
    plan = engine.batches(len(spec.data), sheet.batch_size, sheet.epochs, sheet.shuffle,
                          sheet.seed)
    if executor == "numpy":
        return plan.nbytes
    from ..executors import compiled

    return plan.nbytes + 8 * 4 * compiled.TABLE_CELLS


def check_memory(spec: Spec, sheet: Sheet, configs: int, backend: str = "numpy",
                 itemsize: int = 8, device=None, free: int | None = None,
                 swept: int = 1) -> None:
    """Refuses, in one line, a sweep whose estimate (plus its batch plan and the compiled
    executor's tables) exceeds ``memory.SHARE`` of the free memory (``free``, when given,
    stands for what the machine or GPU has; else the least of the machine's, the process's
    address-space limit's and its cgroup's figures)."""
    executor = _executor(spec, sheet, configs, "auto") if backend == "numpy" else None
    need = (estimate_bytes(spec, sheet, configs, backend=backend, itemsize=itemsize,
                           executor=executor, swept=swept)
            + fixed_bytes(spec, sheet, executor))
    gpu = getattr(device, "type", device) == "cuda"
    if free is not None or gpu:
        free = available_bytes(device) if free is None else free
        why = f"this {'GPU' if gpu else 'machine'} has {{}} free"
    else:
        free, why = memory.limit()
    if need > memory.SHARE * free:
        raise SheetoptError(f"a sweep of {configs:,} configurations would need about "
                            f"{memory.size_text(need)} of memory; "
                            f"{why.format(memory.size_text(free))}; "
                            f"{_advice(configs, sheet.epochs)}")


def _advice(configs: int, epochs: int) -> str:
    """Sweep fewer values, or, when the epochs are the larger factor, use fewer epochs."""
    if epochs > configs:
        return f"use fewer epochs (now {epochs:,}) or sweep fewer values"
    return f"sweep fewer values (now {configs:,} configurations) or use fewer epochs"


@dataclass(kw_only=True)
class SweepResult:
    sheet: str
    grid: dict[str, np.ndarray]  # swept hyperparameter -> (C,)
    final_loss: np.ndarray  # (C,) over the last epoch's rows: the true RMSE, or the mean loss
    # of a model whose loss is not the squared error (objective.final says which); NaN: diverged
    params: np.ndarray  # (C, P) final parameters (before divergence where it diverged)
    diverged_at: np.ndarray  # (C, 2) epoch and step, 0 where it did not diverge
    backend: str  # "numpy" (the engine) or "torch"
    device: str  # "cpu", "cuda:0", ...
    dtype: str = "float64"
    executor: str | None = None  # the numpy engine's executor: "compiled" or "numpy"
    objective: Objective = Objective()  # what configurations are ranked by
    loss: np.ndarray | None = None  # (C,) the objective's value (final_loss when None)

    def __post_init__(self):
        if self.loss is None:
            self.loss = self.final_loss

    @property
    def ranked(self) -> np.ndarray:
        """The configurations that did not diverge, best first by the objective (ties in
        configuration order)."""
        ok = np.flatnonzero((self.diverged_at[:, 0] == 0) & ~np.isnan(self.loss))
        return ok[np.argsort(self.loss[ok], kind="stable")]

    def _smallest(self) -> tuple[int | None, int]:
        """The first configuration of :attr:`ranked` and how many share its value, without
        sorting: the first of the smallest values is where a stable sort would put it."""
        ok = np.flatnonzero((self.diverged_at[:, 0] == 0) & ~np.isnan(self.loss))
        if not len(ok):
            return None, 0
        values = self.loss[ok]
        first = int(np.argmin(values))
        return int(ok[first]), int(np.count_nonzero(values == values[first]))

    def standing(self) -> tuple[int | None, int]:
        """:attr:`best` and :attr:`tied` at once (one pass over the configurations)."""
        first, tied = self._smallest()
        return (first if tied == 1 else None), tied

    @property
    def tied(self) -> int:
        """How many configurations share the best value of the objective (0: none ran)."""
        return self.standing()[1]

    @property
    def best(self) -> int | None:
        """The configuration with the smallest objective among those that did not diverge;
        None when every configuration diverged or several share the smallest value (identical
        runs: there is no best among them)."""
        return self.standing()[0]

    @property
    def where(self) -> str:
        """Where it ran, in words: "numpy engine, compiled executor, cpu, float64"."""
        what = f"numpy engine, {self.executor} executor" if self.backend == "numpy" else "torch"
        return f"{what}, {self.device}, {self.dtype}"


def run_sweep(spec: Spec, sheet: Sheet, grid: Mapping[str, np.ndarray], backend: str = "numpy",
              device=None, dtype: str = "float64", executor: str = "auto",
              objective: Objective | str = "final") -> SweepResult:
    """All configurations of ``grid`` at once on ``backend``, a group at a time (see
    ``swept.groups``); each configuration equals a run of the sheet with its values. The
    configurations are ranked by ``objective`` (see sheetopt.sweeps.objective)."""
    objective = parse_objective(objective, sheet.epochs, spec.steps(sheet),
                                mean_loss=not spec.model.reports_rmse)
    configs = configurations(grid)
    label, ran, pieces = "cpu", None, []
    parts = swept.groups(spec, sheet, grid)
    for chosen, own in parts:
        if len(parts) == 1:  # every configuration at once: no copies of the grid
            chosen = slice(None)
        values = {n: np.asarray(v)[chosen] for n, v in grid.items()}
        if backend == "numpy":
            result, ran = _numpy_sweep(spec, own, values, executor, objective.capture)
        else:
            result, label = _torch_sweep(spec, own, values, device, dtype, objective.capture)
        sums, rows = (np.asarray(a) for a in (result.epoch_sum_err2, result.epoch_rows))
        diverged_epoch = result.diverged_at[:, 0]
        # NaN where the configuration diverged: it did not finish the last epoch
        final = objective.final.values(sums, rows, diverged_epoch)
        loss = (final if objective == objective.final else
                objective.values(sums, rows, diverged_epoch, result.step_loss))
        pieces.append((chosen, (result.params, result.diverged_at, final, loss)))
    params, diverged_at, final, loss = _joined(pieces, configs)
    return SweepResult(sheet=sheet.name, grid={k: np.asarray(v) for k, v in grid.items()},
                       final_loss=final, params=params, diverged_at=diverged_at, backend=backend,
                       device=label, dtype=dtype if backend == "torch" else "float64",
                       executor=ran, objective=objective, loss=loss)


# the dtypes of a SweepResult's params, diverged_at, final_loss and loss, whatever ran it
JOINED = (float, np.int64, float, float)


def _joined(pieces, configs: int) -> list[np.ndarray]:
    """Each group's arrays (params, diverged_at, final, loss) put together in configuration
    order (as :data:`JOINED`): a single group's as they are, no copy."""
    if len(pieces) == 1 and isinstance(pieces[0][0], slice):
        return [np.asarray(a, dtype=kind) for a, kind in zip(pieces[0][1], JOINED)]
    out = [np.empty((configs, *np.shape(a)[1:]), dtype=kind)
           for a, kind in zip(pieces[0][1], JOINED)]
    for chosen, arrays in pieces:
        for whole, part in zip(out, arrays):
            whole[chosen] = part
    return out


def start_arrays(spec: Spec, sheet: Sheet, grid: Mapping[str, np.ndarray],
                 executor: str = "auto"):
    """A grid's hyperparameter arrays, start parameters and state, and the sheet's batch plan.
    The lecture's reset passes run on the executor the whole sweep takes (``executor``, or
    chosen by the sweep's size): their few steps over many configurations would otherwise go
    to the numpy executor, which took 92% of a 100,000-configuration sweep's time."""
    configs = configurations(grid)
    hp = engine.hyper_arrays(sheet, configs, grid)
    state = engine.start_state(spec, sheet, hp, _executor(spec, sheet, configs, executor))
    params = np.empty((configs, len(spec.model.params)))
    params[...] = [sheet.init[p] for p in spec.model.params]
    plan = engine.batches(len(spec.data), sheet.batch_size, sheet.epochs, sheet.shuffle,
                          sheet.seed)
    return hp, params, state, plan


def _numpy_sweep(spec, sheet, grid, executor, capture: int = 0):
    hp, params, state, plan = start_arrays(spec, sheet, grid)
    result = engine.simulate(spec, sheet, hp, params, state, plan, executor=executor,
                             capture=capture, summary=True)
    return result, _executor(spec, sheet, len(params), executor)


def _executor(spec: Spec, sheet: Sheet, configs: int, executor: str) -> str:
    """Which of the engine's executors ``engine.simulate`` picks for this sweep."""
    steps = engine.batches(len(spec.data), sheet.batch_size, sheet.epochs, sheet.shuffle,
                           sheet.seed).steps
    return engine.executor_for(spec, sheet,
                               engine.work(steps, configs, engine.step_work(spec, sheet)),
                               executor=executor)


def _torch_sweep(spec, sheet, grid, device, dtype, capture: int = 0):
    from ..executors.torch.simulate import simulate, to_tensors

    device = device if device is not None and not isinstance(device, str) else devices.pick_device(
        device or "auto")
    torch_dtype = devices.pick_dtype(dtype)
    hp, params, state, plan = start_arrays(spec, sheet, grid)
    tensors = lambda values: to_tensors(values, device, torch_dtype)  # noqa: E731
    hp, state, params = tensors(hp), tensors(state), tensors({"p": params})["p"]
    result = simulate(spec, sheet, hp, params, state, plan, capture=capture)
    return result, str(device)


def lr_finder_plot(result: SweepResult, path: str, force: bool = False, title: str = "") -> None:
    """The objective against the first swept value (lr when swept), log axes; one line per
    combination of the other swept values; diverged configurations marked with x along the
    top."""
    from ..plots import new_figure, save

    fig = new_figure(8, 5)
    ax = fig.add_subplot()
    first, *others = list(result.grid)
    xs_all = result.grid[first]
    keys = sorted({tuple(result.grid[n][i] for n in others) for i in range(len(xs_all))})
    loss = np.where(result.diverged_at[:, 0] > 0, np.nan, result.loss)
    finite = loss[np.isfinite(loss) & (loss > 0)]
    top = float(finite.max()) * 3 if len(finite) else 1.0
    for key in keys:
        chosen = np.array([all(result.grid[n][i] == v for n, v in zip(others, key))
                           for i in range(len(xs_all))])
        label = ", ".join(f"{n}={v:g}" for n, v in zip(others, key)) or result.sheet
        order = np.argsort(xs_all[chosen])
        xs, ys = xs_all[chosen][order], loss[chosen][order]
        line, = ax.plot(xs, ys, marker="o", markersize=3, label=label)
        bad = np.isnan(ys)
        if bad.any():
            ax.plot(xs[bad], np.full(bad.sum(), top), "x", color=line.get_color(), markersize=8,
                    label=f"{label}: diverged (drawn at the top)")
    if result.best is not None:
        ax.plot([xs_all[result.best]], [loss[result.best]], "*", color="black", markersize=14,
                label=f"best: {best_setting(result)}")
    positive = bool(np.all(xs_all > 0))
    what = "learning rate" if first == "lr" else first
    ax.set(xscale="log" if positive else "linear", yscale="log",
           xlabel=f"{what}{' (log scale)' if positive else ''}",
           ylabel=f"{result.objective.short} (log scale)",
           title=title or f"LR finder: sheet {result.sheet} (x = diverged)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, path, force)


def describe(values: Sequence[float]) -> str:
    """A few values listed, more as "first .. last (N values)"."""
    return ", ".join(f"{v:g}" for v in values) if len(values) <= 4 else (
        f"{values[0]:g} .. {values[-1]:g} ({len(values)} values)")


def best_setting(result: SweepResult) -> str:
    """Every swept value of the best configuration: "lr=0.1, mom=0.9" ("" when none is)."""
    if result.best is None:
        return ""
    return ", ".join(f"{n}={result.grid[n][result.best]:g}" for n in result.grid)
