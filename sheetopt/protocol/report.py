"""Comparing the sheets of a spec: per-epoch losses, final parameters, distance to the truth."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import engine
from .. import ops
from ..spec import Spec
from .trace import Trace


@dataclass(kw_only=True, frozen=True)
class Summary:
    """One sheet's outcome."""

    name: str
    optimizer: str
    flavor: str
    epochs: dict  # epoch, lecture_rmse, rmse, lr, <params>, distance per finished epoch
    final: dict[str, float]
    distance: float | None  # of the final parameters to the truth (ops.distance)
    diverged_at: tuple[int, int] | None
    partial: dict | None = None  # the epoch a divergence cut short, over its steps before it


def summarize(spec: Spec, traces: dict[str, Trace]) -> list[Summary]:
    """Each sheet's Summary, in the spec's order (``traces``: sheet name -> its Trace)."""
    out = []
    for sheet in spec.sheets:
        trace = traces[sheet.name]
        final = trace.final()
        epochs = {k: [float(v) for v in column] for k, column in trace.epochs.items()}
        epochs["epoch"] = [int(e) for e in epochs["epoch"]]
        known = true_distance(spec, {p: np.asarray(trace.epochs[p]) for p in spec.model.params})
        epochs["distance"] = ([float(d) for d in known] if known is not None
                              else [math.nan] * len(epochs["epoch"]))
        partial = partial_epoch(trace, spec.model)
        if partial is not None:
            partial["distance"] = _number(true_distance(spec, partial))
        out.append(Summary(name=sheet.name, optimizer=sheet.optimizer, flavor=sheet.flavor,
                           epochs=epochs, final=final, distance=_number(true_distance(spec, final)),
                           diverged_at=trace.diverged_at, partial=partial))
    return out


def true_distance(spec: Spec, params):
    """The distance of ``params`` (numbers or per-epoch arrays, by name) to the spec's true
    parameters (``ops.distance``), or to the nearest known minimum of a test surface; None when
    neither is known.

    Example:
        >>> from sheetopt.spec import load
        >>> round(float(true_distance(load("lesson5"), {"a": 5.0, "b": 34.0})), 6)
        5.0
    """
    names = spec.model.params
    if spec.model.minima:  # a test surface: the nearest of its known minima
        each = [ops.distance(params, minimum, names) for minimum in spec.model.minima]
        return np.min(np.asarray(each, dtype=float), axis=0)
    if not knows_distance(spec):
        return None
    return ops.distance(params, spec.data.true, names)


def knows_distance(spec: Spec) -> bool:
    """Whether a distance can be reported: the true parameters, or a surface's minima, are known.

    Example:
        >>> from sheetopt.spec import load
        >>> knows_distance(load("lesson5")), knows_distance(load("rosenbrock"))
        (True, True)
    """
    return bool(spec.model.minima) or all(p in spec.data.true for p in spec.model.params)


def _number(value) -> float | None:
    return None if value is None else float(value)


def partial_epoch(trace: Trace, model) -> dict | None:
    """The loss figures (``Model.loss_figures``) of the epoch a divergence cut short, over
    the steps before it (None when nothing of that epoch was recorded)."""
    if not trace.diverged_at or trace.diverged_at[1] == 1 or not len(trace.rows["err2"]):
        return None
    epoch, step = trace.diverged_at
    in_epoch = trace.steps["epoch"] == epoch
    err2 = trace.rows["err2"][trace.rows["epoch"] == epoch]
    rows = len(err2)
    if model.reports_rmse:
        figures = dict(zip(("lecture_rmse", "rmse"),
                           map(float, engine.epoch_losses(float(np.sum(err2)), rows, np))))
    else:  # the steps' losses added in order, as the engine adds them
        losses = trace.steps["loss"][in_epoch][:step - 1]
        figures = {"loss": float(engine.epoch_mean_loss(sum(map(float, losses), 0.0),
                                                        len(losses)))}
    lr = float(trace.steps["lr"][in_epoch][0])
    more = {"accuracy": None} if "accuracy" in trace.epochs else {}  # not for part of one
    return {"epoch": epoch, "steps": step - 1, "rows": rows, **figures, "lr": lr, **more,
            **trace.final()}


def flavor_words(sheet) -> str:
    """Which flavour a sheet runs, in words, as compare and trace say it.

    Example:
        >>> from sheetopt.spec import load
        >>> flavor_words(load("lesson5").sheet("adam"))
        "adam, lecture flavour (the lecture workbook's rule)"
        >>> flavor_words(load("lecture-vs-torch").sheets[-1])
        'adamw, torch flavour (torch.optim.AdamW)'
    """
    torch = getattr(sheet.rule, "torch", None)
    where = (f"torch.optim.{torch.name}" if sheet.flavor == "torch" and torch
             else "the lecture workbook's rule" if sheet.flavor == "lecture"
             else f"{sheet.flavor}'s rule")
    return f"{sheet.optimizer}, {sheet.flavor} flavour ({where})"


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
