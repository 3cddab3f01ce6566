"""What a model is: parameter names, prediction, row loss and analytic gradient (the record
every model kind fills), and the row losses models share."""
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

    >>> from sheetopt.models import MODELS
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
    starts: Mapping[str, float] | None = None  # default starts (else 1.0 each)
    # per-row quantities the prediction is built from, shown as workbook columns before it:
    # (params, x) -> {name: value}, e.g. a ReLU unit's activation
    parts: Callable[[Mapping, object], dict] | None = None

    def loss(self, params: Mapping, x, y):
        return self.row_loss(self.predict(params, x), y)

    @property
    def reports_rmse(self) -> bool:
        """Whether the row loss is the squared error (epochs then report the lecture's
        sqrt-of-sum and the RMSE); other models report their mean loss per step."""
        return self.row_loss is squared_error

    def start(self, param: str) -> float:
        """Where ``param`` starts when a sheet's ``init`` does not say."""
        return float((self.starts or {}).get(param, 1.0))

    def label(self, param: str) -> str:
        return (self.labels or {}).get(param, param)
