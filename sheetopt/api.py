"""sheetopt from Python: run a spec, sweep a sheet, write and read workbooks, verify with torch.

Every function takes a spec as a preset name ("lesson5"), a path to a TOML file, or a
:class:`sheetopt.Spec` (``Spec.from_arrays`` for your own rows), and returns values,
DataFrames or Figures; bad input raises a one-line :class:`sheetopt.SheetoptError`. The
``sheetopt`` command line is a thin layer over these functions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np

from .protocol import engine
from .errors import SheetoptError, option, plain_interrupt
from .protocol.results import RunResult
from .spec import Sheet, Spec, load

SpecLike = Union[str, Path, Spec]


def spec_of(spec: SpecLike | RunResult) -> Spec:
    """A Spec from a preset name, a path, a Spec, or the spec of a RunResult.

    Example:
        >>> spec_of("lesson5").title
        'Lesson 5: gradient descent in a spreadsheet'
    """
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, RunResult):
        return spec.spec
    return load(spec)


def _selected(spec: Spec, sheets: str | Sequence[str] | None) -> Spec:
    if sheets is None:
        return spec
    names = [sheets] if isinstance(sheets, str) else list(sheets)
    if not names:
        raise SheetoptError(f"{spec.label}: sheets is empty; name at least one sheet")
    return replace(spec, sheets=tuple(spec.sheet(name) for name in names))


@plain_interrupt
def run(spec: SpecLike, sheets: str | Sequence[str] | None = None, *,
        progress: bool | None = None, record: str = "step") -> RunResult:
    """Runs every sheet of ``spec`` (or only ``sheets``, one name or a list) and returns
    their traces: ``.summary()``, ``.trace(sheet)``, ``.plot(kind)``, ``result[sheet]``.
    A run that takes over a second shows a progress bar in a notebook (``progress=True``
    shows it anywhere, ``False`` nowhere); Ctrl-C stops it with a plain KeyboardInterrupt.
    ``record="epoch"`` keeps each epoch's figures and the final values only, not every step
    (long runs: the summary is the same, bit for bit; traces have no steps), and
    ``record="summary"`` the same, except that a sheet that diverges within an epoch runs
    again recording its steps, so the summary also shows the epoch it cut short: what
    ``sheetopt compare`` prints, at the cost of the per-epoch run.

    Example:
        >>> import sheetopt
        >>> result = sheetopt.run("lesson5")
        >>> result.summary().query("sheet == 'adam' and epoch == 5")["rmse"].round(4).tolist()
        [25.6977]
    """
    chosen = _selected(spec_of(spec), sheets)
    return RunResult(chosen, engine.run_all(chosen, record, progress=progress))


def _result_for(spec_or_result: SpecLike | RunResult) -> RunResult:
    if isinstance(spec_or_result, RunResult):
        return spec_or_result
    return run(spec_or_result)


# --- sweeps ----------------------------------------------------------------------------------
def _values(name: str, given: Any):
    """A swept hyperparameter's values: a number, a sequence, or a parsed ``Range``."""
    from .sweeps.sweep import Range

    if given is None or isinstance(given, Range):
        return given
    if isinstance(given, str):
        raise SheetoptError(f"{option(name)}: give numbers (a list, an array, or "
                            f"numpy.geomspace(1e-3, 1, 20)), not the text {given!r}")
    try:
        values = np.atleast_1d(np.asarray(given, dtype=float))
    except (TypeError, ValueError):
        raise SheetoptError(f"{option(name)}: expected numbers (got {given!r})") from None
    if values.ndim != 1 or len(values) == 0:
        raise SheetoptError(f"{option(name)}: expected a flat, non-empty list of numbers")
    return values


def sweep_run(spec: SpecLike, sheet: str, lr: Any = None, mom: Any = None, sqr_mom: Any = None,
              backend: str = "auto", device: str = "auto", dtype: str = "float64",
              objective: str = "final", **values: Any):
    """What ``sweep`` runs, as ``(spec, sheet, SweepResult)``: the values checked, the memory
    the sweep needs checked against what there is, every combination run at once.

    Example:
        >>> _, _, found = sweep_run("lesson5", "adam", lr=[0.1, 1.0], backend="numpy")
        >>> found.final_loss.shape
        (2,)
    """
    from .sweeps import swept
    from .sweeps import sweep as sweeps
    from .sweeps.objective import parse_objective

    ranges = {"lr": _values("lr", lr), "mom": _values("mom", mom),
              "sqr_mom": _values("sqr_mom", sqr_mom),
              **{name: _values(name, given) for name, given in values.items()}}
    if all(r is None for r in ranges.values()):
        example = ("--set max_lr=0.01:1:20" if option("lr").startswith("--")
                   else "max_lr=[0.01, 0.1]")
        raise SheetoptError(f"nothing to sweep: give {option('lr')} values, or those of any "
                            f"numeric hyperparameter or schedule argument by name (e.g. "
                            f"{example})")
    if dtype not in ("float64", "float32"):
        raise SheetoptError(f"{option('dtype')} {dtype!r} is not one of float64, float32")
    chosen, where = sweeps.resolve_backend(backend, device)
    if chosen == "numpy" and dtype != "float64":
        raise SheetoptError(f"{option('dtype')} float32 is for {option('backend')} torch; the "
                            f"numpy engine is float64")
    spec = spec_of(spec)
    if not isinstance(sheet, str):
        raise SheetoptError(f"sheet must be a sheet's name (got {type(sheet).__name__})")
    found = spec.sheet(sheet)
    goal = parse_objective(objective, found.epochs, spec.steps(found),
                           mean_loss=not spec.model.reports_rmse)
    torch_device = None
    if chosen == "torch":
        from .executors.torch.device import pick_device

        torch_device = pick_device(where)
    ranges = {name: r for name, r in ranges.items() if r is not None}
    swept.check_names(spec, found, ranges)
    configs = sweeps.count_configurations(ranges)
    sweeps.check_memory(spec, found, configs, chosen, 4 if dtype == "float32" else 8,
                        torch_device, swept=len(ranges))
    grid = sweeps.make_grid(found, ranges, spec)
    return spec, found, sweeps.run_sweep(spec, found, grid, chosen, torch_device, dtype,
                                         objective=goal)


@plain_interrupt
def sweep(spec: SpecLike, sheet: str, lr: Any = None, mom: Any = None, sqr_mom: Any = None,
          backend: str = "auto", device: str = "auto", dtype: str = "float64",
          objective: str = "final", **values: Any):
    """Runs one sheet under every combination of the given values at once: ``lr``, ``mom``,
    ``sqr_mom`` or any other numeric hyperparameter of the sheet (``eps=[...]``, ``wd=[...]``)
    or numeric argument of its schedule (``max_lr=[...]``, ``pct_start=[...]``), each a
    number, list or array. A value the run does not use (lr under OneCycleLR, which sets lr
    from max_lr) is refused, naming what to sweep instead. ``objective`` ranks the
    configurations: "final" (the true RMSE over the last epoch), "best" (the smallest RMSE of
    an epoch), "epoch:N" (the RMSE over epoch N) or "step:N" (the loss at step N, counted
    over the run: the batch's loss before the update, as ``trace()``'s loss column).

    Returns a DataFrame, one row per configuration: config (from 1), the swept values,
    final_rmse (NaN where it diverged), the objective's column when it is not final_rmse
    (best_rmse, rmse_epoch_N, loss_step_N; a model whose loss is not the squared error, a
    surface or a classifier, is measured by its mean loss: final_loss, best_loss, loss_epoch_N), the final parameters, diverged_epoch and diverged_step (NaN
    where it did not diverge). ``.attrs`` says where it ran (backend, executor, device, dtype,
    sheet), the objective (its column and in words) and best: the config with the smallest
    objective among those that did not diverge, or None when none is, or when several tie
    (identical runs; ``tied`` says how many).

    Example:
        >>> import numpy as np, sheetopt
        >>> table = sheetopt.sweep("lesson5", "adam", lr=np.geomspace(0.01, 10, 7),
        ...                        backend="numpy")
        >>> len(table), table.attrs["backend"], table.attrs["objective"]
        (7, 'numpy', 'final_rmse')
    """
    found_spec, _, found = sweep_run(spec, sheet, lr=lr, mom=mom, sqr_mom=sqr_mom, backend=backend,
                                     device=device, dtype=dtype, objective=objective, **values)
    return sweep_frame(found_spec, found)


def sweep_frame(spec: Spec, result):
    """A SweepResult as the DataFrame ``sweep`` returns."""
    import pandas as pd

    diverged = result.diverged_at[:, 0] > 0
    columns = {"config": np.arange(1, len(result.final_loss) + 1)}
    columns.update({n: np.asarray(v, dtype=float) for n, v in result.grid.items()})
    columns[result.objective.final.column] = result.final_loss
    columns[result.objective.column] = result.loss
    columns.update({p: result.params[:, j] for j, p in enumerate(spec.model.params)})
    columns["diverged_epoch"] = np.where(diverged, result.diverged_at[:, 0], np.nan)
    columns["diverged_step"] = np.where(diverged, result.diverged_at[:, 1], np.nan)
    frame = pd.DataFrame(columns, copy=False)  # the result's arrays, not copies of them
    best, tied = result.standing()
    frame.attrs.update({"sheet": result.sheet, "backend": result.backend,
                        "executor": result.executor, "device": result.device,
                        "dtype": result.dtype, "where": result.where,
                        "objective": result.objective.column,
                        "objective_words": result.objective.words,
                        "best": None if best is None else best + 1, "tied": tied})
    return frame


# --- workbooks -------------------------------------------------------------------------------
@plain_interrupt
def write_workbook(spec_or_result: SpecLike | RunResult, path: str | Path,
                   force: bool = False) -> Path:
    """Writes the lecture-style workbook (live formulas with the engine's cached values,
    charts) of a spec, or of a RunResult without running it again; refuses to overwrite
    ``path`` unless ``force=True``. Returns the path written.

    Example:
        >>> import sheetopt, tempfile, os
        >>> folder = tempfile.mkdtemp()
        >>> sheetopt.write_workbook("lesson5", os.path.join(folder, "lesson5.xlsx")).name
        'lesson5.xlsx'
    """
    return write_workbook_counted(spec_or_result, path, force).path


def write_workbook_counted(spec_or_result: SpecLike | RunResult, path: str | Path,
                           force: bool = False):
    """``write_workbook``, returning what was written: path, sheets, formula cells."""
    from .files import check_target
    from .workbook import check_size, write_workbook as write

    target = _file_path(path)
    if target.suffix.lower() != ".xlsx":
        raise SheetoptError(f"{target}: the workbook's file name must end in .xlsx")
    check_target(target, force)
    if isinstance(spec_or_result, RunResult):
        check_size(spec_or_result.spec)
        return write(spec_or_result.spec, target, force, spec_or_result.traces)
    return write(spec_of(spec_or_result), target, force)


def _file_path(path) -> Path:
    if not isinstance(path, (str, Path)) or str(path) == "":
        raise SheetoptError(f"path must be a file name (got {path!r})")
    return Path(path)


@plain_interrupt
def check_workbook(path: str | Path):
    """Reruns a sheetopt workbook's input cells (as edited and saved in a spreadsheet
    program, perhaps) through the engine and compares every stored value: a DataFrame, one
    row per worksheet: sheet, cells, max_abs, max_rel, bad (cells beyond the tolerance),
    first_bad (the first such cell, in words), ok. ``sheetopt check`` reports the same.

    Example:
        >>> import sheetopt, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "lesson5.xlsx")
        >>> bool(sheetopt.check_workbook(sheetopt.write_workbook("lesson5", path)).ok.all())
        True
    """
    import pandas as pd

    from .reader.check import check_workbook as check

    rows = [{"sheet": r.sheet, "cells": r.cells, "max_abs": r.max_abs, "max_rel": r.max_rel,
             "bad": r.bad, "first_bad": r.first_bad, "ok": r.ok}
            for r in check(_file_path(path))]
    return pd.DataFrame(rows, columns=["sheet", "cells", "max_abs", "max_rel", "bad",
                                       "first_bad", "ok"])


@plain_interrupt
def workbook_edits(path: str | Path) -> dict:
    """What was edited in a sheetopt workbook since it was written, and what that changed:
    ``{"inputs": DataFrame, "results": DataFrame}``. ``inputs``: one row per input cell whose
    value differs from the spec the workbook was written from (where, written, now);
    ``results``: one row per sheet and figure (each final parameter, rmse of the last epoch
    or, for a model whose loss is not the squared error, its "mean loss", distance to the truth) with its value as written and now, both runs by the engine (empty
    when nothing was edited). ``sheetopt check`` prints the same.

    Example:
        >>> import sheetopt, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "lesson5.xlsx")
        >>> len(sheetopt.workbook_edits(sheetopt.write_workbook("lesson5", path))["inputs"])
        0
    """
    import pandas as pd

    from .reader.check import edits

    found, outcomes = edits(_file_path(path))
    inputs = pd.DataFrame([{"where": e.where, "written": e.written, "now": e.now}
                           for e in found], columns=["where", "written", "now"])
    results = pd.DataFrame([{"sheet": o.sheet, "figure": k, "written": o.written[k],
                             "now": o.now[k]} for o in outcomes for k in o.written],
                           columns=["sheet", "figure", "written", "now"])
    return {"inputs": inputs, "results": results}


@plain_interrupt
def read_workbook(path: str | Path) -> dict:
    """The values a sheetopt workbook's optimizer sheets hold (as last calculated and saved,
    by sheetopt or a spreadsheet program), one DataFrame per sheet with the columns of the
    sheet's trace (``RunResult.trace``); steps the workbook does not reach are left out.

    Example:
        >>> import sheetopt, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "lesson5.xlsx")
        >>> tables = sheetopt.read_workbook(sheetopt.write_workbook("lesson5", path))
        >>> list(tables), len(tables["adam"])
        (['basic', 'momentum', 'rmsprop', 'adam', 'adam_ann'], 145)
    """
    from .reader.values import read_values

    return read_values(_file_path(path))


# --- torch checks ----------------------------------------------------------------------------
@dataclass
class Verified:
    """What ``verify`` found: the spec, the sheets checked, the device, the tolerance and one
    Difference per sheet, check and quantity."""

    spec: Spec
    sheets: list[Sheet]
    device: Any
    tol: float
    differences: list


def verify_run(spec_or_result: SpecLike | RunResult, sheet: str | None = None,
               device: str = "auto", tol: float = 1e-12,
               drift_steps: int | None = None) -> Verified:
    """What ``verify`` checks, as the Difference objects the command line prints."""
    from .executors.torch.device import pick_device
    from .verification.replay import verify as check

    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (
            math.isfinite(tol) and tol >= 0):
        raise SheetoptError(f"{option('tol')} must be a number >= 0 (got {tol})")
    from .verification.replay import DRIFT_STEPS

    drift_steps = DRIFT_STEPS if drift_steps is None else drift_steps
    if isinstance(drift_steps, bool) or not isinstance(drift_steps, int) or drift_steps < 0:
        raise SheetoptError(f"{option('drift_steps')} must be a whole number >= 0 "
                            f"(got {drift_steps})")
    torch_device = pick_device(device)
    result = (spec_or_result if isinstance(spec_or_result, RunResult)
              else run(spec_or_result, sheet))
    names = [sheet] if sheet is not None else result.sheets
    runs = [(result.spec.sheet(name), result[name]) for name in names]
    return Verified(result.spec, [s for s, _ in runs], torch_device, float(tol),
                    check(result.spec, runs, torch_device, tol, drift_steps))


@plain_interrupt
def verify(spec_or_result: SpecLike | RunResult, sheet: str | None = None,
           device: str = "auto", tol: float = 1e-12, drift_steps: int | None = None):
    """Re-checks every step of every sheet with torch (autograd gradients, finite
    differences, state and parameters, recomputed from each step's own inputs) and replays
    each sheet (torch.optim itself for torch-flavour sheets); a DataFrame, one row per sheet,
    check ("re-check" or "replay") and quantity: against (what it was compared with), count,
    max_abs, max_rel, worst_epoch and worst_step (where max_rel is), ok (max_rel within
    ``tol``), bad_epoch and bad_step (the first step beyond it; NaN where ok).

    Example:
        >>> import sheetopt
        >>> checks = sheetopt.verify("lesson5", device="cpu")
        >>> bool(checks["ok"].all())
        True
    """
    import pandas as pd

    found = verify_run(spec_or_result, sheet, device, tol, drift_steps)
    rows = [{"sheet": d.sheet, "check": d.check, "quantity": d.quantity, "against": d.against,
             "count": d.count, "max_abs": d.max_abs, "max_rel": d.max_rel,
             "worst_epoch": d.worst_at[0] if d.worst_at else None,
             "worst_step": d.worst_at[1] if d.worst_at else None, "ok": d.ok,
             "bad_epoch": d.first_bad[0] if d.first_bad else None,
             "bad_step": d.first_bad[1] if d.first_bad else None}
            for d in found.differences]
    frame = pd.DataFrame(rows, columns=["sheet", "check", "quantity", "against", "count",
                                        "max_abs", "max_rel", "worst_epoch", "worst_step", "ok",
                                        "bad_epoch", "bad_step"]).astype({"ok": bool})
    frame.attrs.update({"device": str(found.device), "tol": found.tol})
    return frame
