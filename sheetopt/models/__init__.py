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

from dataclasses import dataclass, field
from typing import Callable, Mapping



def squared_error(pred, y):
    """The lecture's per-row loss: (y - pred)^2, no mean and no 1/2."""
    return (y - pred) ** 2


def identity_loss(pred, y):
    """The row loss of a model whose prediction is its loss (a test surface)."""
    return pred


@dataclass(frozen=True)
class Model:
    """One model: its parameter names, prediction, row loss and analytic gradient.

    >>> MODELS["linear"].loss({"a": 2.0, "b": 30.0}, 10.0, 52.0)
    16.0
    """

    kind: str
    params: tuple[str, ...]
    formula: str  # how the model reads, for help text and the workbook's intro
    predict: Callable[[Mapping, object], object]  # (params, x) -> prediction
    gradient: Callable[[Mapping, object, object], dict]  # analytic d(row loss)/d(param)
    headers: tuple[tuple[str, str], ...] = (("x", "y"),)  # accepted CSV column names
    labels: Mapping[str, str] | None = None  # the lecture's words for each parameter
    row_loss: Callable[[object, object], object] = squared_error  # (pred, y) -> loss
    has_data: bool = True  # False: a test surface, run on a trivial plan of one unread row
    minima: tuple[Mapping[str, float], ...] = ()  # known minima (the truth of a surface)
    keys: Mapping[str, float] = field(default_factory=dict)  # [model] keys and defaults
    view: tuple[float, float, float, float] | None = None  # a surface's usual picture
    loss_name: str = "err^2 = (y - pred)^2 (no mean, no 1/2)"  # how the row loss reads

    def loss(self, params: Mapping, x, y):
        return self.row_loss(self.predict(params, x), y)

    @property
    def reports_rmse(self) -> bool:
        """Whether the row loss is the squared error (epochs then report the lecture's
        sqrt-of-sum and the RMSE); other models report their mean loss per step."""
        return self.row_loss is squared_error

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




def model_for(kind: str, keys: Mapping[str, float] | None = None) -> Model:
    """The model of ``kind`` (a data model or a test surface) with its ``[model]`` keys.

    >>> model_for("rastrigin", {"A": 5}).keys
    {'A': 5.0}
    """
    from .surfaces import SURFACES, surface

    if kind in SURFACES:
        return surface(kind, keys or {})
    return MODELS[kind]


def kinds() -> tuple[str, ...]:
    """Every model kind a spec may name."""
    from .surfaces import SURFACES

    return (*MODELS, *SURFACES)
