"""The loss surface the sheets minimise: the mean squared error over the whole data set, as a
function of two parameters (the others held fixed), on a grid.

The per-row loss is the model's own (``Model.loss``, the same definition the engine, the
workbook and torch use); the surface is its mean over the rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..errors import SheetoptError

from ..spec import Spec

CELLS_PER_CHUNK = 4_000_000  # grid points x data rows evaluated at a time (memory stays flat)
GRID_POINTS = 160  # per side, for data sets small enough
WORK = 300_000_000  # grid points x data rows at most: bigger data sets get a coarser grid
MIN_POINTS = 40


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle of the (x parameter, y parameter) plane."""

    x0: float
    x1: float
    y0: float
    y1: float

    @classmethod
    def around(cls, xs, ys, margin: float = 0.08) -> "Box":
        xs, ys = np.asarray(xs, float), np.asarray(ys, float)
        box = cls(float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max()))
        return box.padded(margin)

    def padded(self, margin: float) -> "Box":
        wx, wy = _span(self.x0, self.x1), _span(self.y0, self.y1)
        return Box(self.x0 - margin * wx, self.x1 + margin * wx,
                   self.y0 - margin * wy, self.y1 + margin * wy)

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x <= self.x1 and self.y0 <= y <= self.y1


def _span(lo: float, hi: float) -> float:
    """A width that is never zero: a point gets a box of its own size (or 1 at zero)."""
    return hi - lo if hi > lo else max(abs(lo), 1.0) * 0.5


def mse(spec: Spec, params: Mapping[str, np.ndarray]) -> np.ndarray:
    """The mean over the data rows of the model's squared error, for arrays of parameters
    (all of one shape); evaluated a chunk of rows at a time.

    >>> mse(load("lesson5"), {"a": np.array([2.0]), "b": np.array([30.0])})  # doctest: +SKIP
    array([0.])
    """
    model, inputs, y = spec.model, spec.data.inputs(), spec.data.y
    shape = np.broadcast(*params.values()).shape
    flat = {p: np.broadcast_to(np.asarray(v, float), shape).reshape(-1, 1)
            for p, v in params.items()}
    points = max(1, int(np.prod(shape)))
    rows = max(1, CELLS_PER_CHUNK // points)
    total = np.zeros((points, 1))
    for start in range(0, len(y), rows):
        xs = model.row([column[start:start + rows] for column in inputs])
        losses = model.loss(flat, xs, y[start:start + rows])
        total += np.broadcast_to(losses, (points, len(y[start:start + rows]))).sum(
            axis=1, keepdims=True)
    return (total[:, 0] / len(y)).reshape(shape)


def grid_points(rows: int) -> int:
    """Grid points per side: GRID_POINTS, fewer (down to MIN_POINTS) when the data set is so
    large that the grid would cost more than WORK evaluations of the per-row loss."""
    return int(min(GRID_POINTS, max(MIN_POINTS, (WORK / max(rows, 1)) ** 0.5)))


def grid(spec: Spec, axes: tuple[str, str], box: Box, fixed: Mapping[str, float],
         points: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, Y, Z): the MSE on a points x points grid over ``box`` (default: see
    grid_points), the parameters ``axes[0]`` along x and ``axes[1]`` along y, the others at
    their ``fixed`` values."""
    points = points or grid_points(len(spec.data))
    xs = np.linspace(box.x0, box.x1, points)
    ys = np.linspace(box.y0, box.y1, points)
    X, Y = np.meshgrid(xs, ys)
    params = {p: np.full(X.shape, float(fixed[p])) for p in spec.model.params if p not in axes}
    params[axes[0]], params[axes[1]] = X, Y
    return X, Y, mse(spec, params)


def minimum(spec: Spec, free: tuple[str, ...], fixed: Mapping[str, float]) -> dict[str, float]:
    """The parameters ``free`` that minimise the MSE with the others at ``fixed``: least
    squares on the columns the model's prediction is made of (the models are linear in their
    parameters; each column is ``predict`` at a unit parameter less ``predict`` at zero)."""
    x, y = spec.model.row(spec.data.inputs()), spec.data.y
    base = {p: float(fixed.get(p, 0.0)) for p in spec.model.params}
    for p in free:
        base[p] = 0.0
    offset = np.asarray(spec.model.predict(base, x), float) * np.ones_like(y)
    columns = [np.asarray(spec.model.predict({**base, p: 1.0}, x), float) - offset
               for p in free]
    matrix, target = np.column_stack(columns), y - offset
    if not (np.isfinite(matrix).all() and np.isfinite(target).all()):
        raise SheetoptError(NOT_DRAWN)  # rows or fixed values near float64's limits overflow
    try:
        solution, *_ = np.linalg.lstsq(matrix, target, rcond=None)
    except np.linalg.LinAlgError:
        raise SheetoptError(NOT_DRAWN) from None
    return {**{p: base[p] for p in spec.model.params}, **dict(zip(free, solution.tolist()))}


NOT_DRAWN = ("the loss surface cannot be drawn: its values are not finite, or span too little, "
             "in the picture (parameters or true values near float64's limits); draw another "
             "kind (loss, step_loss, lr)")


def log_levels(values: np.ndarray, count: int = 24) -> np.ndarray:
    """Log-spaced contour levels from (about) the smallest to the largest finite value; a
    minimum of exactly 0 (noise-free data) starts the levels nine decades below the top."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        raise SheetoptError(NOT_DRAWN)
    hi = float(finite.max())
    lo = float(finite.min())
    floor = hi * 1e-9 if hi > 0 else 1e-12
    lo = max(lo, floor)
    if not hi > lo:
        hi = lo * 10
    with np.errstate(all="ignore"):
        levels = np.geomspace(lo, hi, count)
    if not (np.isfinite(levels).all() and (np.diff(levels) > 0).all()):
        raise SheetoptError(NOT_DRAWN)
    return levels
