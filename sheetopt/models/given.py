"""Given gradients: each data row is the gradient of one step, the header names the parameters.

fastai's optimizer notebook steps its rules by hand on fixed gradients, and other libraries
publish golden values as gradient sequences; this model replays such a sequence through any
rule. Its row loss is the linear function whose gradient is the row, g_1*p_1 + g_2*p_2 + ...
(summed left to right): the analytic gradient is then the given row exactly, autograd finds the
same, and the finite differences estimate it, so every rendering treats it like any model.

>>> model = given_gradients(("a", "b"))
>>> model.gradient({"a": 1.0, "b": 2.0}, (0.5, -3.0), 0.0)
{'a': 0.5, 'b': -3.0}
"""
from __future__ import annotations

from typing import Sequence

from .base import Model, identity_loss, row_values
from .features import RESERVED, columns_named

PREFIX = "g_"  # a given gradient's column in the trace and the workbook: g_<parameter>


def given_gradients(params: Sequence[str]) -> Model:
    """The model whose rows are the gradients of ``params`` (its CSV header)."""
    params = tuple(params)

    def predict(p, x):
        values = row_values(x)
        total = values[0] * p[params[0]]
        for name, value in zip(params[1:], values[1:]):
            total = total + value * p[name]
        return total

    def gradient(p, x, y):
        return dict(zip(params, row_values(x)))

    return Model(kind="gradients", params=params,
                 formula="given gradients: row k is the gradient of step k",
                 predict=predict, gradient=gradient, headers=(params,), row_loss=identity_loss,
                 inputs=tuple(f"{PREFIX}{p}" for p in params), target=False,
                 loss_name="g.p, the linear function whose gradient is the given row")


def bind(header: tuple[str, ...]) -> Model:
    """The given-gradients model of a CSV header (the parameter names)."""
    if not header or header == ("",):
        raise ValueError("the header is empty; name the parameters (like a,b)")
    params = columns_named(header, "the parameter")
    for name in params:
        if name in RESERVED - {"b"} or name.startswith(("new_", "grad_", PREFIX)):
            raise ValueError(f"the parameter {name!r} is named like a column of the trace; "
                             f"rename it")
    return given_gradients(params)


GRADIENTS = Model(kind="gradients", params=(), formula="given gradients: row k is the "
                  "gradient of step k", predict=None, gradient=None, headers=(),
                  row_loss=identity_loss, target=False, bind=bind,
                  loss_name="g.p, the linear function whose gradient is the given row")
