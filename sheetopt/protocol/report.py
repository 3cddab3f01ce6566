"""Comparing the sheets of a spec: per-epoch losses, final parameters, distance to the truth."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import engine
from ..spec import Spec
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
    """Each sheet's Summary, in the spec's order (``traces``: sheet name -> its Trace)."""
    out = []
    for sheet in spec.sheets:
        trace = traces[sheet.name]
        final = trace.final()
        distance = distance_to_truth(spec, final)
        epochs = {k: [float(v) for v in column] for k, column in trace.epochs.items()}
        epochs["epoch"] = [int(e) for e in epochs["epoch"]]
        out.append(Summary(sheet.name, sheet.optimizer, sheet.flavor, epochs, final, distance,
                           trace.diverged_at, partial_epoch(trace)))
    return out


def distance_to_truth(spec: Spec, final: dict) -> float | None:
    """Euclidean distance of ``final`` to the true parameters, or to the nearest known minimum
    of a test surface; None when neither is known."""
    if spec.model.minima:
        from ..models.surfaces import nearest_minimum

        return nearest_minimum(spec.model, final)[1]
    true = spec.data.true
    if not all(p in true for p in spec.model.params):
        return None
    return math.hypot(*(final[p] - true[p] for p in spec.model.params))


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
    """One line on the data, model and true parameters, for reports."""
    true = ", ".join(f"{p} = {spec.data.true[p]:g}" for p in spec.model.params
                     if p in spec.data.true)
    if not spec.model.has_data:
        minima = "; ".join(", ".join(f"{p} = {v:.10g}" for p, v in m.items())
                           for m in spec.model.minima)
        return f"model {spec.model.formula}, no data; minima: {minima}"
    return (f"data: {spec.data.source} ({len(spec.data)} rows); model {spec.model.formula}"
            + (f"; true {true}" if true else ""))
