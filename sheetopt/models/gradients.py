"""Gradients of a batch's mean loss: analytic, forward difference and central difference.

A batch is given as lists of per-row values ``xs`` and ``ys`` (one entry per data row; each
entry may be a number, an array over configurations, or a symbolic cell). Means are summed
left to right and then divided, the order every rendering uses.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from . import Model

METHODS = ("analytic", "forward", "central")


def mean(values: Sequence):
    """Left-to-right sum divided by the count (a single value is returned as it is)."""
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total if len(values) == 1 else total / len(values)


def batch_loss(model: Model, params: Mapping, xs: Sequence, ys: Sequence):
    return mean([model.loss(params, x, y) for x, y in zip(xs, ys)])


def analytic(model: Model, params: Mapping, xs: Sequence, ys: Sequence) -> dict:
    rows = [model.gradient(params, x, y) for x, y in zip(xs, ys)]
    return {name: mean([row[name] for row in rows]) for name in model.params}


def _shifted(params: Mapping, name: str, delta):
    moved = dict(params)
    moved[name] = params[name] + delta
    return moved


def forward(model: Model, params: Mapping, xs: Sequence, ys: Sequence, h, loss=None) -> dict:
    """(loss(p + h) - loss(p)) / h per parameter; the lecture's "est de/dp" columns."""
    base = batch_loss(model, params, xs, ys) if loss is None else loss
    return {name: (batch_loss(model, _shifted(params, name, h), xs, ys) - base) / h
            for name in model.params}


def central(model: Model, params: Mapping, xs: Sequence, ys: Sequence, h, loss=None) -> dict:
    """(loss(p + h) - loss(p - h)) / (2h) per parameter; exact for a quadratic loss."""
    return {name: (batch_loss(model, _shifted(params, name, h), xs, ys)
                   - batch_loss(model, _shifted(params, name, -h), xs, ys)) / (2 * h)
            for name in model.params}


def gradient(method: str, model: Model, params: Mapping, xs, ys, h, loss=None) -> dict:
    if method == "analytic":
        return analytic(model, params, xs, ys)
    if method == "forward":
        return forward(model, params, xs, ys, h, loss)
    return central(model, params, xs, ys, h)
