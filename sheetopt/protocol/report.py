"""Comparing the sheets of a spec: per-epoch losses, final parameters, distance to the truth."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import engine
from ..models.distance import distance as to_truth
from ..ops import numpy_ops
from ..spec import Spec
from .trace import Trace


@dataclass(kw_only=True, frozen=True)
class Summary:
    """One sheet's outcome."""

    name: str
    optimizer: str
    flavor: str
    epochs: dict  # epoch, lecture_rmse, rmse, lr, <params> per finished epoch
    final: dict[str, float]
    distance: float | None  # of the final parameters to the true ones (models.distance)
    diverged_at: tuple[int, int] | None
    partial: dict | None = None  # the epoch a divergence cut short, over its steps before it


def summarize(spec: Spec, traces: dict[str, Trace]) -> list[Summary]:
    """Each sheet's Summary, in the spec's order (``traces``: sheet name -> its Trace)."""
    out = []
    for sheet in spec.sheets:
        trace = traces[sheet.name]
        final = trace.final()
        true = spec.data.true
        distance = None
        if all(p in true for p in spec.model.params):
            with np.errstate(all="ignore"):  # parameters near overflow: inf, as the sheet's
                distance = float(to_truth({p: np.float64(v) for p, v in final.items()},
                                          true, spec.model.params, numpy_ops))
        epochs = {k: [float(v) for v in column] for k, column in trace.epochs.items()}
        epochs["epoch"] = [int(e) for e in epochs["epoch"]]
        out.append(Summary(name=sheet.name, optimizer=sheet.optimizer, flavor=sheet.flavor,
                           epochs=epochs, final=final, distance=distance,
                           diverged_at=trace.diverged_at, partial=partial_epoch(trace)))
    return out


def partial_epoch(trace: Trace) -> dict | None:
    """The loss figures of the epoch a divergence cut short, over the steps before it (None
    when nothing of that epoch was recorded)."""
    if not trace.diverged_at or trace.diverged_at[1] == 1 or not len(trace.rows["err2"]):
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
    return (f"data: {spec.data.source} ({len(spec.data)} rows); model {spec.model.formula}"
            + (f"; true {true}" if true else ""))
