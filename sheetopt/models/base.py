"""What a model is: parameter names, prediction, row loss and analytic gradient (the record
every model kind fills), and the row losses models share.

A data row gives a model its input columns (``Model.inputs``) and, when the model has one, its
target ``y``. The model receives a row's inputs as ``x``: the value itself when it reads one
column (the lecture's ``x``), a tuple in column order when it reads several (``Model.row``
builds it, so no rendering asks which). A model whose parameter names come from the data's
header (a weight per feature column, a given gradient per parameter) is a family: its
``bind`` makes the model of one header.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence


def squared_error(pred, y):
    """The lecture's per-row loss: (y - pred)^2, no mean and no 1/2."""
    return (y - pred) ** 2


def row_values(x) -> tuple:
    """A row's input values as a tuple (a model reading one column gets the value itself,
    see ``Model.row``)."""
    return x if isinstance(x, tuple) else (x,)


def squared_error_slope(pred, y):
    """The squared error's derivative in the prediction, 2*(pred - y): the first factor of
    every squared-error model's analytic gradient.

    >>> squared_error_slope(5.0, 2.0)
    6.0
    """
    return 2 * (pred - y)


def identity_loss(pred, y):
    """The row loss of a model whose prediction is its loss (a test surface)."""
    return pred


@dataclass(frozen=True)
class Model:
    """One model: its parameter names, prediction, row loss and analytic gradient.

    >>> from sheetopt.models import MODELS
    >>> MODELS["linear"].loss({"a": 2.0, "b": 30.0}, 10.0, 52.0)  # (52 - 50)^2
    4.0
    """

    kind: str
    params: tuple[str, ...]
    formula: str  # how the model reads, for help text and the workbook's intro
    predict: Callable[[Mapping, object], object]  # (params, x) -> prediction
    gradient: Callable[[Mapping, object, object], dict]  # analytic d(row loss)/d(param)
    headers: tuple[tuple[str, ...], ...] = (("x", "y"),)  # accepted CSV column names
    labels: Mapping[str, str] | None = None  # the lecture's words for each parameter
    row_loss: Callable[[object, object], object] = squared_error  # (pred, y) -> loss
    has_data: bool = True  # False: a test surface, run on a trivial plan of one unread row
    minima: tuple[Mapping[str, float], ...] = ()  # known minima (the truth of a surface)
    keys: Mapping[str, float] = field(default_factory=dict)  # [model] keys and defaults
    view: tuple[float, float, float, float] | None = None  # a surface's usual picture
    loss_name: str = "err^2 = (y - pred)^2 (no mean, no 1/2)"  # how the row loss reads
    pred_name: str | None = None  # what the prediction is, when it is not y's estimate
    # the row's input columns, as the trace and the workbook name them ("x": the lecture's one)
    inputs: tuple[str, ...] = ("x",)
    target: bool = True  # whether a row has a target y (given gradients have none)
    # a family's model for a data header (raises ValueError naming what is wrong with it);
    # None: the model reads one of ``headers`` as it is
    bind: Callable[[tuple[str, ...]], "Model"] | None = None
    starts: Mapping[str, float] | None = None  # default starts (else 1.0 each)
    # per-row quantities the prediction is built from, shown as workbook columns before it:
    # (params, x) -> {name: value}, e.g. a ReLU unit's activation
    parts: Callable[[Mapping, object], dict] | None = None
    # per-row quantities derived from the prediction, shown as workbook columns after it:
    # pred -> {name: value}, e.g. a classifier's probability p = sigmoid(pred)
    derived: Callable[[object], dict] | None = None
    # a classifier: the values y may take, and (pred, y) -> 1 where a row is classified right
    classes: tuple[float, ...] | None = None
    accuracy: Callable[[object, object], object] | None = None

    def loss(self, params: Mapping, x, y):
        return self.row_loss(self.predict(params, x), y)

    def row(self, inputs: Sequence):
        """The ``x`` this model reads from one row's input values (in ``inputs`` order): the
        value itself for one input column, a tuple for several.

        >>> from sheetopt.models import LINEAR
        >>> LINEAR.row([3.0])
        3.0
        """
        return inputs[0] if len(inputs) == 1 else tuple(inputs)

    def data_of(self, rows: Mapping, convert: Callable = lambda values: values) -> tuple:
        """(x, y) of recorded rows (a trace's ``rows``: column name -> values), each column
        passed through ``convert`` (to a tensor, say); y is 0 for rows without a target."""
        x = self.row([convert(rows[column]) for column in self.inputs])
        return x, (convert(rows["y"]) if self.target else 0.0)

    @property
    def columns(self) -> tuple[str, ...]:
        """A data row's columns as the trace names them: the inputs, then y (none for a
        model without data)."""
        if not self.has_data:
            return ()
        return (*self.inputs, "y") if self.target else self.inputs

    @property
    def fits_a_curve(self) -> bool:
        """Whether the data picture applies: y against the one input, the fitted curves."""
        return self.has_data and self.target and len(self.inputs) == 1

    @property
    def has_surface(self) -> bool:
        """Whether the loss over the parameters is a picture worth drawing (given gradients'
        linear stand-in is not)."""
        return self.target or not self.has_data

    def for_header(self, header: tuple[str, ...]) -> "Model":
        """The model of a data file with this header (raises ValueError saying why not).

        >>> from sheetopt.models import LINEAR
        >>> LINEAR.for_header(("x1", "x2", "y")).params
        ('w_x1', 'w_x2', 'b')
        """
        if self.bind is not None:
            return self.bind(tuple(header))
        if tuple(header) not in self.headers:
            wanted = " or ".join(",".join(pair) for pair in self.headers)
            raise ValueError(f"header {','.join(header)!r} is not {wanted}")
        return self

    @property
    def reports_rmse(self) -> bool:
        """Whether the row loss is the squared error (epochs then report the lecture's
        sqrt-of-sum and the RMSE); other models report their mean loss per step."""
        return self.row_loss is squared_error

    @property
    def loss_figures(self) -> tuple[str, ...]:
        """The per-epoch loss figures every output names (the trace's epoch table, the summary
        DataFrame, compare's CSV and JSON, the workbook's epoch summary): the lecture's
        sqrt-of-sum and the true RMSE for the squared error, else the mean loss.

        >>> from sheetopt.models import LINEAR, model_for
        >>> LINEAR.loss_figures, model_for("rosenbrock").loss_figures
        (('lecture_rmse', 'rmse'), ('loss',))
        """
        return ("lecture_rmse", "rmse") if self.reports_rmse else ("loss",)

    def start(self, param: str) -> float:
        """Where ``param`` starts when a sheet's ``init`` does not say."""
        return float((self.starts or {}).get(param, 1.0))

    @property
    def pred_is_loss(self) -> bool:
        """Whether the prediction is the row loss itself (a test surface's value): the trace
        and the workbook then have one column for both."""
        return self.row_loss is identity_loss

    def label(self, param: str) -> str:
        return (self.labels or {}).get(param, param)
