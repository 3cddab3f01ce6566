"""Sweeps: many configurations of one sheet run at once, as (configurations, parameters) arrays.

The numpy backend is the engine itself (``engine.simulate``, whose executor may be the compiled
one); the torch backend steps the same rules on tensors (``simulate``) on the chosen device.
Diverged configurations are masked by both and reported, never fatal.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from .. import engine
from ..errors import SheetoptError
from ..ops import numpy_ops
from ..spec import Sheet, Spec

SWEPT = ("lr", "mom", "sqr_mom")
BACKENDS = ("numpy", "torch")
MEMORY_SHARE = 0.8  # refuse a sweep whose estimate exceeds this share of the free memory


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


def count_configurations(ranges: Mapping[str, Range | None]) -> int:
    return math.prod(r.count for r in ranges.values() if r is not None)


def make_grid(sheet: Sheet, ranges: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
    """Every combination of the given values (lr varying fastest), one entry per configuration;
    a hyperparameter not given keeps the sheet's value."""
    given = {k: np.asarray(v.values() if isinstance(v, Range) else v, dtype=float)
             for k, v in ranges.items() if v is not None}
    for name, values in given.items():
        if name not in sheet.hypers:
            raise SheetoptError(f"sheet {sheet.name!r} ({sheet.optimizer}, {sheet.flavor}) has no "
                                f"hyperparameter {name}; it takes {', '.join(sheet.hypers)}")
        if name == "lr" and np.any(values <= 0):
            raise SheetoptError(f"--lr: every learning rate must be > 0 (got {values.min():g})")
        if name != "lr" and np.any((values < 0) | (values >= 1)):
            option = "--" + name.replace("_", "-")
            raise SheetoptError(f"{option}: values must be in [0, 1) (got {values.min():g} .. "
                                f"{values.max():g})")
    names = [n for n in reversed(SWEPT) if n in given]
    mesh = np.meshgrid(*(given[n] for n in names), indexing="ij")
    return {n: m.ravel() for n, m in zip(names, mesh)}


def configurations(grid: Mapping[str, np.ndarray]) -> int:
    return len(next(iter(grid.values()))) if grid else 1


def estimate_bytes(spec: Spec, sheet: Sheet, configs: int, itemsize: int = 8) -> int:
    """A generous estimate of the memory a sweep's arrays take at once (parameters, state,
    hyperparameters, the per-row temporaries of a batch and the per-epoch records)."""
    P = len(spec.model.params)
    S = len(sheet.rule.states(sheet.static))
    per_row = 4 * (1 + 2 * P * (1 + len(sheet.show)))
    per_config = (P * (8 + 3 * S) + len(sheet.hypers) + per_row * sheet.batch_size
                  + 3 * sheet.epochs) * itemsize + sheet.epochs * P * 8 + 32
    return int(configs * per_config)


def available_bytes(device=None) -> int:
    """Free memory where the sweep runs: the GPU's free memory, else the machine's."""
    if device is not None and getattr(device, "type", "cpu") == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not Linux
        return 8 << 30


def check_memory(spec: Spec, sheet: Sheet, configs: int, itemsize: int, device=None) -> None:
    need, free = estimate_bytes(spec, sheet, configs, itemsize), available_bytes(device)
    if need > MEMORY_SHARE * free:
        where = "GPU" if device is not None and device.type == "cuda" else "machine"
        raise SheetoptError(f"a sweep of {configs:,} configurations would need about "
                            f"{_gib(need)} of memory; this {where} has {_gib(free)} free; "
                            f"sweep fewer values")


def _gib(size: int) -> str:
    return f"{size / 2**30:.2f} GiB" if size >= 2**27 else f"{size / 2**20:.1f} MiB"


@dataclass
class SweepResult:
    sheet: str
    grid: dict[str, np.ndarray]  # swept hyperparameter -> (C,)
    final_loss: np.ndarray  # (C,) true RMSE over the last epoch's rows; NaN where diverged
    params: np.ndarray  # (C, P) final parameters (before divergence where it diverged)
    diverged_at: np.ndarray  # (C, 2) epoch and step, 0 where it did not diverge
    backend: str
    device: str

    @property
    def best(self) -> int | None:
        """The configuration with the smallest final loss among those that did not diverge."""
        ok = np.flatnonzero(~np.isnan(self.final_loss))
        return int(ok[np.argmin(self.final_loss[ok])]) if len(ok) else None


def run_sweep(spec: Spec, sheet: Sheet, grid: Mapping[str, np.ndarray], backend: str = "numpy",
              device=None, dtype: str = "float64", executor: str = "auto") -> SweepResult:
    """All configurations of ``grid`` at once on ``backend``; see :class:`SweepResult`."""
    configs = configurations(grid)
    hp = engine.hyper_arrays(sheet, configs, grid)
    state = engine.start_state(spec, sheet, hp)
    params = np.tile([[sheet.init[p] for p in spec.model.params]], (configs, 1)).astype(float)
    plan = engine.batches(len(spec.data), sheet.batch_size, sheet.epochs, sheet.shuffle,
                          sheet.seed)
    if backend == "numpy":
        result = engine.simulate(spec, sheet, hp, params, state, plan, executor=executor)
        label = f"cpu, {_executor(spec, sheet, executor)} executor"
    else:
        result, label = _torch_sweep(spec, sheet, hp, params, state, plan, device, dtype)
    with np.errstate(all="ignore"):
        _, rmse = engine.epoch_losses(result.epoch_sum_err2[-1], result.epoch_rows[-1], numpy_ops)
    diverged = result.diverged_at[:, 0] > 0
    final = np.where(diverged, np.nan, rmse)
    return SweepResult(sheet.name, {k: np.asarray(v) for k, v in grid.items()}, final,
                       result.params, result.diverged_at, backend, label)


def _executor(spec: Spec, sheet: Sheet, executor: str) -> str:
    """Which of the engine's executors ``engine.simulate`` picks for this sweep."""
    if executor == "auto" and os.environ.get("SHEETOPT_EXECUTOR", "auto") != "numpy":
        from .. import compiled

        return "compiled" if compiled.supports(spec, sheet) else "numpy"
    return executor


def _torch_sweep(spec, sheet, hp, params, state, plan, device, dtype):
    from .device import pick_device, pick_dtype
    from .simulate import simulate, to_tensors

    device = device if device is not None and not isinstance(device, str) else pick_device(
        device or "auto")
    torch_dtype = pick_dtype(dtype)
    tensors = lambda values: to_tensors(values, device, torch_dtype)  # noqa: E731
    result = simulate(spec, sheet, tensors(hp), tensors({"p": params})["p"], tensors(state), plan)
    return result, str(device)


def lr_finder_plot(result: SweepResult, path: str, force: bool = False, title: str = "") -> None:
    """Final loss against lr, log axes; one line per combination of the other swept values;
    diverged configurations marked with x along the top."""
    from ..files import atomic_output
    from ..plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    lr = result.grid.get("lr")
    if lr is None:
        raise SheetoptError("--plot draws final loss against lr: give --lr START:STOP:N")
    others = [n for n in SWEPT if n in result.grid and n != "lr"]
    keys = sorted({tuple(result.grid[n][i] for n in others) for i in range(len(lr))})
    loss = result.final_loss
    finite = loss[np.isfinite(loss) & (loss > 0)]
    top = float(finite.max()) * 3 if len(finite) else 1.0
    for key in keys:
        chosen = np.array([all(result.grid[n][i] == v for n, v in zip(others, key))
                           for i in range(len(lr))])
        label = ", ".join(f"{n}={v:g}" for n, v in zip(others, key)) or result.sheet
        order = np.argsort(lr[chosen])
        xs, ys = lr[chosen][order], loss[chosen][order]
        line, = ax.plot(xs, ys, marker="o", markersize=3, label=label)
        bad = np.isnan(ys)
        if bad.any():
            ax.plot(xs[bad], np.full(bad.sum(), top), "x", color=line.get_color(), markersize=8,
                    label=f"{label}: diverged (drawn at the top)")
    if result.best is not None:
        ax.plot([lr[result.best]], [loss[result.best]], "*", color="black", markersize=14,
                label=f"best: lr={lr[result.best]:g}")
    ax.set(xscale="log", yscale="log", xlabel="learning rate (log scale)",
           ylabel="final RMSE, last epoch (log scale)",
           title=title or f"LR finder: sheet {result.sheet} (x = diverged)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_output(path, force) as temp:
        fig.savefig(temp, format="png", dpi=110)
    plt.close(fig)


def describe(values: Sequence[float]) -> str:
    return ", ".join(f"{v:g}" for v in values) if len(values) <= 4 else (
        f"{values[0]:g} .. {values[-1]:g} ({len(values)} values)")

