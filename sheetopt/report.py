"""Comparing the sheets of a spec: per-epoch losses, final parameters, distance to the truth."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import engine, memory
from .progress import Progress
from .spec import Spec
from .trace import Trace


@dataclass(frozen=True)
class Summary:
    """One sheet's outcome."""

    name: str
    optimizer: str
    flavor: str
    epochs: dict  # epoch, lecture_rmse, rmse, lr, <params> per finished epoch
    final: dict[str, float]
    distance: float | None  # Euclidean distance of the final parameters to the true ones
    diverged_at: tuple[int, int] | None
    partial: dict | None = None  # the epoch a divergence cut short, over its steps before it


def summarize(spec: Spec, traces: dict[str, Trace]) -> list[Summary]:
    """Each sheet's outcome from its trace."""
    return [_traced(spec, sheet, traces[sheet.name]) for sheet in spec.sheets]


def _traced(spec: Spec, sheet, trace: Trace) -> Summary:
    return _summary(spec, sheet, trace.epochs, trace.final(), trace.diverged_at,
                    partial_epoch(trace))


def compare_all(spec: Spec) -> list[Summary]:
    """Every sheet run and summarized as :func:`summarize` does from full traces, without
    recording them (per-epoch figures and final values are all a comparison needs); a sheet
    that diverges is rerun recorded, for the figures of the epoch it cut short.

    >>> from sheetopt.spec import load
    >>> [s.name for s in compare_all(load("lesson5"))][:2]
    ['basic', 'momentum']
    """
    _require_memory(spec)
    bar = Progress(sum(spec.steps(sheet) for sheet in spec.sheets))
    out = []
    for sheet in spec.sheets:
        bar.label = sheet.name
        result = engine.run_unrecorded(spec, sheet, progress=bar.advance)
        if result.diverged_at[0, 0]:
            out.append(_traced(spec, sheet, engine.run(spec, sheet)))
            continue
        final = {p: float(result.params[0, j]) for j, p in enumerate(spec.model.params)}
        out.append(_summary(spec, sheet, engine.epoch_table(spec, result), final, None, None))
    bar.close()
    return out


BYTES_PER_EPOCH_FIGURE = 8 * 2 + 64  # the run's arrays and a summary's Python float in a list


def _require_memory(spec: Spec) -> None:
    """Refuses, in one line, a comparison whose per-epoch figures would not fit in memory."""
    figures = lambda sheet: sheet.epochs * (4 + len(spec.model.params))  # noqa: E731
    biggest = max(spec.sheets, key=figures)
    memory.require(BYTES_PER_EPOCH_FIGURE * sum(figures(sheet) for sheet in spec.sheets),
                   f"{spec.label}: sheet {biggest.name!r} ({biggest.epochs:,} epochs, "
                   f"per-epoch figures)", memory.fewer(epochs=biggest.epochs))


def _summary(spec: Spec, sheet, epochs, final, diverged_at, partial) -> Summary:
    true = spec.data.true
    distance = (math.hypot(*(final[p] - true[p] for p in spec.model.params))
                if all(p in true for p in spec.model.params) else None)
    epochs = {k: [float(v) for v in column] for k, column in epochs.items()}
    epochs["epoch"] = [int(e) for e in epochs["epoch"]]
    return Summary(sheet.name, sheet.optimizer, sheet.flavor, epochs, final, distance,
                   diverged_at, partial)


def partial_epoch(trace: Trace) -> dict | None:
    """The loss figures of the epoch a divergence cut short, over the steps before it (None
    when nothing of that epoch was recorded)."""
    if not trace.diverged_at or trace.diverged_at[1] == 1:
        return None
    epoch, step = trace.diverged_at
    err2 = trace.rows["err2"][trace.rows["epoch"] == epoch]
    lecture_rmse, rmse = engine.epoch_losses(float(np.sum(err2)), len(err2), np)
    lr = float(trace.steps["lr"][trace.steps["epoch"] == epoch][0])
    return {"epoch": epoch, "steps": step - 1, "rows": len(err2),
            "lecture_rmse": float(lecture_rmse), "rmse": float(rmse), "lr": lr, **trace.final()}


def describe_data(spec: Spec) -> str:
    true = ", ".join(f"{p} = {spec.data.true[p]:g}" for p in spec.model.params
                     if p in spec.data.true)
    return (f"data: {spec.data.source} ({len(spec.data)} rows); model {spec.model.formula}"
            + (f"; true {true}" if true else ""))
