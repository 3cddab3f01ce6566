"""Test surfaces: functions of two parameters ``x`` and ``y`` with known minima, no data.

Each surface is its function and its analytic gradient, written once over Python's operators
and the ``ops`` of the values it is given, like every model; the engine runs it on a trivial
plan (one row it does not read), so ``steps = N`` is N steps of the whole function. Squares
and cubes are written as products: every rendering then performs the same multiplications.

>>> rosenbrock = surface("rosenbrock", {})
>>> float(rosenbrock.loss({"x": 1.0, "y": 1.0}, 0.0, 0.0)), rosenbrock.minima
(0.0, ({'x': 1.0, 'y': 1.0},))
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from .base import Model, identity_loss
from ..errors import SheetoptError
from ..ops import ops_for


@dataclass(frozen=True)
class Surface:
    """A family of surfaces: f(x, y, keys), its gradient, minima and the keys' defaults."""

    kind: str
    formula: str
    keys: Mapping[str, float]
    value: Callable  # (x, y, k, ops) -> f
    grad: Callable  # (x, y, k, ops) -> (df/dx, df/dy)
    minima: Callable[[Mapping[str, float]], tuple]  # keys -> ((x, y), ...)
    view: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max of the usual picture
    # key -> (test, words): the keys' values for which ``minima`` are the function's minima
    limits: Mapping[str, tuple[Callable[[float], bool], str]] = field(default_factory=dict)


def _rosenbrock(x, y, k, ops):
    u, v = k["a"] - x, y - x * x
    return u * u + k["b"] * (v * v)


def _rosenbrock_grad(x, y, k, ops):
    u, v = k["a"] - x, y - x * x
    return -2 * u - 4 * k["b"] * x * v, 2 * k["b"] * v


def _beale_terms(x, y):
    y2 = y * y
    y3 = y2 * y
    return (1.5 - x + x * y, 2.25 - x + x * y2, 2.625 - x + x * y3), (y, y2, y3)


def _beale(x, y, k, ops):
    (t1, t2, t3), _ = _beale_terms(x, y)
    return t1 * t1 + t2 * t2 + t3 * t3


def _beale_grad(x, y, k, ops):
    (t1, t2, t3), (y1, y2, y3) = _beale_terms(x, y)
    dx = 2 * t1 * (y1 - 1) + 2 * t2 * (y2 - 1) + 2 * t3 * (y3 - 1)
    dy = 2 * t1 * x + 2 * t2 * (2 * x * y1) + 2 * t3 * (3 * x * y2)
    return dx, dy


def _himmelblau(x, y, k, ops):
    u, v = x * x + y - 11, x + y * y - 7
    return u * u + v * v


def _himmelblau_grad(x, y, k, ops):
    u, v = x * x + y - 11, x + y * y - 7
    return 4 * x * u + 2 * v, 2 * u + 4 * y * v


def _rastrigin(x, y, k, ops):
    A = k["A"]
    return (2 * A + (x * x - A * ops.cos(2 * ops.pi * x))) + (y * y - A * ops.cos(2 * ops.pi * y))


def _rastrigin_grad(x, y, k, ops):
    A = k["A"]
    return (2 * x + 2 * ops.pi * A * ops.sin(2 * ops.pi * x),
            2 * y + 2 * ops.pi * A * ops.sin(2 * ops.pi * y))


def _booth(x, y, k, ops):
    u, v = x + 2 * y - 7, 2 * x + y - 5
    return u * u + v * v


def _booth_grad(x, y, k, ops):
    u, v = x + 2 * y - 7, 2 * x + y - 5
    return 2 * u + 4 * v, 4 * u + 2 * v


def _bowl(x, y, k, ops):
    return 0.5 * (x * x + k["condition"] * (y * y))


def _bowl_grad(x, y, k, ops):
    return x, k["condition"] * y


SURFACES = {s.kind: s for s in (
    Surface(kind="rosenbrock", formula="f = (a - x)^2 + b*(y - x^2)^2",
            keys={"a": 1.0, "b": 100.0}, value=_rosenbrock, grad=_rosenbrock_grad,
            minima=lambda k: ((k["a"], k["a"] * k["a"]),), view=(-2.0, 2.0, -1.0, 3.0),
            # b <= 0: no single minimum (a line of them at b = 0, none below)
            limits={"b": (lambda v: v > 0, "> 0")}),
    Surface(kind="beale",
            formula="f = (1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2",
            keys={}, value=_beale, grad=_beale_grad, minima=lambda k: ((3.0, 0.5),),
            view=(-4.5, 4.5, -4.5, 4.5)),
    Surface(kind="himmelblau", formula="f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2", keys={},
            value=_himmelblau, grad=_himmelblau_grad,
            minima=lambda k: ((3.0, 2.0), (-2.805118086952745, 3.131312518250573),
                       (-3.779310253377747, -3.283185991286170),
                       (3.584428340330492, -1.848126526964404)),
            view=(-5.0, 5.0, -5.0, 5.0)),
    Surface(kind="rastrigin", formula="f = 2A + x^2 - A*cos(2*pi*x) + y^2 - A*cos(2*pi*y)",
            keys={"A": 10.0}, value=_rastrigin, grad=_rastrigin_grad,
            minima=lambda k: ((0.0, 0.0),), view=(-5.12, 5.12, -5.12, 5.12),
            # A < 0: the ripples dip below f(0, 0) = 0, which is no longer the minimum
            limits={"A": (lambda v: v >= 0, ">= 0")}),
    Surface(kind="booth", formula="f = (x + 2y - 7)^2 + (2x + y - 5)^2", keys={}, value=_booth,
            grad=_booth_grad, minima=lambda k: ((1.0, 3.0),), view=(-10.0, 10.0, -10.0, 10.0)),
    Surface(kind="bowl", formula="f = (x^2 + condition*y^2) / 2", keys={"condition": 10.0},
            value=_bowl, grad=_bowl_grad, minima=lambda k: ((0.0, 0.0),),
            view=(-2.0, 2.0, -2.0, 2.0), limits={"condition": (lambda v: v > 0, "> 0")}),
)}


def surface(kind: str, keys: Mapping[str, float]) -> Model:
    """The model of surface ``kind`` with its keys (defaults filled in for the ones not given).

    >>> surface("bowl", {"condition": 100.0}).gradient({"x": 1.0, "y": 1.0}, 0.0, 0.0)
    {'x': 1.0, 'y': 100.0}
    """
    family = SURFACES[kind]
    k = {**family.keys, **{name: float(v) for name, v in keys.items()}}
    for name, (within, words) in family.limits.items():
        if not within(k[name]):
            raise SheetoptError(f"model.{name} must be {words} for the {kind} surface's known "
                                f"minimum (got {k[name]:g})")

    def predict(p, x):
        return family.value(p["x"], p["y"], k, ops_for(p["x"], p["y"]))

    def gradient(p, x, y):
        dx, dy = family.grad(p["x"], p["y"], k, ops_for(p["x"], p["y"]))
        return {"x": dx, "y": dy}

    shown = ", ".join(f"{name} = {value:g}" for name, value in k.items())
    return Model(kind=kind, params=("x", "y"),
                 formula=family.formula + (f" ({shown})" if shown else ""),
                 predict=predict, gradient=gradient, headers=(), row_loss=identity_loss,
                 has_data=False, inputs=(), target=False, keys=k, view=family.view,
                 minima=tuple({"x": float(a), "y": float(b)} for a, b in family.minima(k)),
                 loss_name="f(x, y), the surface's value")


def nearest_minimum(model: Model, point: Mapping[str, float]) -> tuple[dict, float]:
    """The known minimum nearest ``point`` and the Euclidean distance to it.

    >>> nearest_minimum(surface("booth", {}), {"x": 1.0, "y": 0.0})
    ({'x': 1.0, 'y': 3.0}, 3.0)
    """
    from .. import ops

    distances = [float(ops.distance(point, minimum, tuple(minimum))) for minimum in model.minima]
    nearest = min(range(len(distances)), key=distances.__getitem__)
    return dict(model.minima[nearest]), distances[nearest]
