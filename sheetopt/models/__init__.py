"""Models: prediction, per-row squared error and its analytic gradient.

Each function takes the parameters as a mapping of name to value (numbers, numpy arrays,
tensors or symbolic expressions) and the row's feature ``x`` and target ``y``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping


def squared_error(pred, y):
    """The lecture's per-row loss: (y - pred)^2, no mean and no 1/2."""
    return (y - pred) ** 2


@dataclass(frozen=True)
class Model:
    kind: str
    params: tuple[str, ...]
    formula: str  # how the model reads, for help text and the workbook's intro
    predict: Callable[[Mapping, object], object]
    gradient: Callable[[Mapping, object, object], dict]  # analytic d(loss)/d(param), per row
    headers: tuple[tuple[str, str], ...] = (("x", "y"),)  # accepted CSV column names
    labels: Mapping[str, str] | None = None  # the lecture's words for each parameter

    def loss(self, params: Mapping, x, y):
        return squared_error(self.predict(params, x), y)

    def label(self, param: str) -> str:
        return (self.labels or {}).get(param, param)


def _linear_predict(p, x):
    return p["b"] + p["a"] * x


def _linear_gradient(p, x, y):
    d_pred = 2 * (_linear_predict(p, x) - y)
    return {"a": x * d_pred, "b": d_pred}


def _quadratic_predict(p, x):
    return p["a"] * x ** 2 + p["b"] * x + p["c"]


def _quadratic_gradient(p, x, y):
    d_pred = 2 * (_quadratic_predict(p, x) - y)
    return {"a": x ** 2 * d_pred, "b": x * d_pred, "c": d_pred}


LINEAR = Model(
    kind="linear", params=("a", "b"), formula="y = a*x + b",
    predict=_linear_predict, gradient=_linear_gradient,
    labels={"a": "slope", "b": "intercept"},
)
QUADRATIC = Model(
    kind="quadratic", params=("a", "b", "c"), formula="y = a*x^2 + b*x + c",
    predict=_quadratic_predict, gradient=_quadratic_gradient,
    headers=(("x", "y"), ("t", "speed")),
)
MODELS = {model.kind: model for model in (LINEAR, QUADRATIC)}
