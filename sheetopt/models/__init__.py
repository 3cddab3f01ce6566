"""Models: prediction, per-row loss and its analytic gradient.

Each function takes the parameters as a mapping of name to value (numbers, numpy arrays,
tensors or symbolic expressions) and the row's feature ``x`` and target ``y``. A model
computes with Python's arithmetic operators and, where it needs a function (cos), the ``ops``
namespace of the values it is given (``ops.ops_for``), so one definition drives numpy, the
compiled kernel, the workbook's formulas and torch.

A model without data (a test surface, see surfaces.py) is the same protocol with a trivial
plan: one row that it does not read, its "prediction" the function's value and its row loss
that value itself.
"""
from __future__ import annotations

from typing import Mapping

from .base import Model, identity_loss, squared_error, squared_error_slope
from .features import feature_columns, line, linear_features
from .given import GRADIENTS

__all__ = ["Model", "MODELS", "LINEAR", "QUADRATIC", "model_for", "kinds", "squared_error",
           "identity_loss"]


def _linear_gradient(p, x, y):
    d_pred = squared_error_slope(line(p, x), y)
    return {"a": x * d_pred, "b": d_pred}


def _quadratic_predict(p, x):
    return p["a"] * x ** 2 + p["b"] * x + p["c"]


def _quadratic_gradient(p, x, y):
    d_pred = squared_error_slope(_quadratic_predict(p, x), y)
    return {"a": x ** 2 * d_pred, "b": x * d_pred, "c": d_pred}


def _linear_bind(header: tuple[str, ...]) -> Model:
    """The lecture's a and b for the one column x; a weight per feature otherwise."""
    if tuple(header) == ("x", "y"):
        return LINEAR
    return linear_features(feature_columns(header, "linear"))


LINEAR = Model(
    kind="linear", params=("a", "b"), formula="y = a*x + b",
    predict=line, gradient=_linear_gradient,
    labels={"a": "slope", "b": "intercept"}, bind=_linear_bind,
)
QUADRATIC = Model(
    kind="quadratic", params=("a", "b", "c"), formula="y = a*x^2 + b*x + c",
    predict=_quadratic_predict, gradient=_quadratic_gradient,
    headers=(("x", "y"), ("t", "speed")),
)
MODELS = {model.kind: model for model in (LINEAR, QUADRATIC, GRADIENTS)}


def _relu_net(keys):
    from .relu_net import relu_net

    return relu_net(keys)


def _logistic(keys):
    from .logistic import logistic

    return logistic(keys)


# data models whose parameters depend on their [model] keys: kind -> keys -> Model
BUILT = {"relu_net": _relu_net, "logistic": _logistic}




def model_for(kind: str, keys: Mapping[str, float] | None = None) -> Model:
    """The model of ``kind`` (a data model or a test surface) with its ``[model]`` keys.
    A model whose parameter names come from the data's header is then bound to it
    (``Model.for_header``); until then it has the names of the lecture's one column x.

    >>> model_for("rastrigin", {"A": 5}).keys
    {'A': 5.0}
    """
    from .surfaces import SURFACES, surface

    if kind in SURFACES:
        return surface(kind, keys or {})
    if kind in BUILT:
        return BUILT[kind](keys or {})
    return MODELS[kind]


def kinds() -> tuple[str, ...]:
    """Every model kind a spec may name."""
    from .surfaces import SURFACES

    return (*MODELS, *BUILT, *SURFACES)
