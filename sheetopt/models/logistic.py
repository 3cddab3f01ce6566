"""Logistic regression: a linear model's prediction read as a logit, labels y in {0, 1}.

    z = b + a*x   (one column x; or w_1*x_1 + ... + w_n*x_n + b over feature columns)
    p = sigmoid(z)

The model's prediction (the trace's and the workbook's ``pred``) is the logit z. Two row losses:

- ``loss = "bce"`` (the default): the binary cross-entropy -y*log(p) - (1 - y)*log(1 - p),
  computed from z without overflow as max(-z, 0) for y = 1 (max(z, 0) for y = 0) plus
  log(1 + exp(-|z|)), that is max(z, 0) - z*y + log(1 + exp(-|z|)), finite for any z (a
  spreadsheet's formula is this one too); its gradient in z is p - y, computed as
  -(1 - p) for y = 1 and p for y = 0, with 1 - p = sigmoid(-z) (no cancellation).
- ``loss = "mnist"``: fastbook's ``mnist_loss``, where(y == 1, 1 - p, p) (the mean over a
  batch, as every batch loss here); its gradient in z is where(y == 1, -1, 1) * p * (1 - p).

1 - p is sigmoid(-z), e / (1 + e) for z >= 0 (else 1 / (1 + e)): computed so, it keeps its
digits where p is near 1, and the workbook shows it as a column beside p.

p itself is sigmoid(z) = 1 / (1 + e) for z >= 0, else e / (1 + e), with e = exp(-|z|): no
overflow either way. A row counts as classified right when (z > 0) is (y == 1), that is p > 0.5
predicts a 1 (fastbook's ``batch_accuracy``); ``accuracy`` is the share of the rows right.

>>> model = logistic({})
>>> float(model.loss({"a": 0.0, "b": 0.0}, 3.0, 1.0))  # log 2: p = 0.5
0.6931471805599453
>>> float(model.loss({"a": 1000.0, "b": 0.0}, 1.0, 0.0))  # z = 1000: no overflow
1000.0
"""
from __future__ import annotations

from typing import Mapping, Sequence

from .base import Model
from ..errors import SheetoptError
from ..ops import ops_for

LOSSES = ("bce", "mnist")
LABELS = (0.0, 1.0)


def sigmoids(z) -> tuple:
    """(p, q): p = sigmoid(z) = 1 / (1 + exp(-z)) and q = 1 - p = sigmoid(-z), each without
    overflow and q without the cancellation of 1 - p (p near 1), over the ``ops`` of ``z``."""
    ops = ops_for(z)
    # e = exp(-|z|), its exponent written as a choice rather than -|z|: the same value, and
    # autograd then differentiates the branch it takes (at z = 0 torch's |z| has slope 0,
    # which would make sigmoid's slope 0 there instead of 1/4; verify re-derives it so)
    e = ops.exp(ops.where(z >= 0, -z, z))
    big, small = 1 / (1 + e), e / (1 + e)
    return ops.where(z >= 0, big, small), ops.where(z >= 0, small, big)


def sigmoid(z):
    """1 / (1 + exp(-z)) without overflow, over the ``ops`` of ``z``."""
    return sigmoids(z)[0]


def bce(z, y):
    """Binary cross-entropy of label y at logit z: max(-z, 0) for y = 1 (max(z, 0) for
    y = 0), + log(1 + exp(-|z|)); the same value as max(z, 0) - z*y + log(1 + exp(-|z|)) for
    y in {0, 1}, bit for bit, and its autograd gradient keeps the digits of a small one (no
    1 - 1 + tiny)."""
    ops = ops_for(z, y)
    return (ops.where(ops.eq(y, 1.0), ops.maximum(-z, 0.0), ops.maximum(z, 0.0))
            + ops.log(1 + ops.exp(-ops.abs(z))))


def mnist_loss(z, y):
    """fastbook's mnist_loss of one row: where(y == 1, 1 - p, p), p = sigmoid(z)."""
    ops = ops_for(z, y)
    p = sigmoid(z)
    return ops.where(ops.eq(y, 1.0), 1 - p, p)


def _bce_slope(z, y):
    """p - y, as -q for y = 1 and p for y = 0: a well classified row's small gradient keeps
    its digits (1/(1 + e) - 1 would cancel them)."""
    ops = ops_for(z, y)
    p, q = sigmoids(z)
    return ops.where(ops.eq(y, 1.0), -q, p)


def _mnist_slope(z, y):
    ops = ops_for(z, y)
    p, q = sigmoids(z)
    slope = p * q  # p * (1 - p) without the cancellation
    return ops.where(ops.eq(y, 1.0), -slope, slope)


ROW_LOSSES = {"bce": (bce, _bce_slope, "binary cross-entropy of y at p = sigmoid(pred), "
                                       "from the logit z: max(-z, 0) if y = 1 else max(z, 0), "
                                       "+ ln(1 + exp(-|z|))"),
              "mnist": (mnist_loss, _mnist_slope, "fastbook's mnist_loss: 1 - p where y = 1, "
                                                  "else p (p = sigmoid(pred))")}


def correct(z, y):
    """1 where the row is classified right ((z > 0) is (y == 1)), else 0, as numbers: a
    spreadsheet's array formula computes the same."""
    return (z > 0) * y + (z <= 0) * (1 - y)


def share_right(model: Model, params: Mapping, data, most: int = 1 << 20):
    """Per set of parameters (arrays of one value per epoch, by name): the share of all the
    data's rows that they classify right (``Model.accuracy``), rows summed in order.

    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> rows = SimpleNamespace(x=np.array([-1.0, 1.0, 2.0]), y=np.array([0.0, 1.0, 0.0]))
    >>> share_right(logistic({}), {"a": np.array([1.0, -1.0]), "b": np.zeros(2)}, rows).tolist()
    [0.6666666666666666, 0.3333333333333333]
    """
    import numpy as np

    inputs = data.inputs() if hasattr(data, "inputs") else [data.x]
    count = len(np.asarray(params[model.params[0]]))
    out = np.empty(count)
    step = max(1, most // max(1, len(data.y)))  # epochs at a time: about ``most`` cells
    for e0 in range(0, count, step):
        block = {p: np.asarray(v, dtype=float)[e0:e0 + step, None] for p, v in params.items()}
        x = model.row(inputs) if hasattr(model, "row") else inputs[0]
        with np.errstate(all="ignore"):
            right = model.accuracy(model.predict(block, x), data.y)
        out[e0:e0 + step] = np.sum(right, axis=1) / len(data.y)
    return out


def loss_choice(keys: Mapping) -> str:
    """The ``loss`` key checked: "bce" (default) or "mnist", else a one-line error."""
    value = keys.get("loss", "bce")
    if value not in LOSSES:
        raise SheetoptError(f"model.loss must be one of {', '.join(repr(v) for v in LOSSES)} "
                            f"(got {value!r})")
    return value


def logistic(keys: Mapping, features: Sequence[str] | None = None) -> Model:
    """The logistic model with ``keys`` (``loss``) over one column ``x`` (parameters ``a``,
    ``b``) or over ``features`` (``w_<column>`` each and ``b``)."""
    choice = loss_choice(keys)
    row_loss, slope, words = ROW_LOSSES[choice]
    if features is None:
        from .features import line  # the lecture's b + a*x is the logit

        params, inputs, predict = ("a", "b"), ("x",), line
        shown = "b + a*x"

        def slopes(p, x):  # dz/d(parameter)
            return {"a": x, "b": 1.0}
    else:
        from .features import row_values, weighted_sum

        features = tuple(features)
        params, inputs = (*(f"w_{n}" for n in features), "b"), features
        shown = " + ".join(f"w_{n}*{n}" for n in features) + " + b"

        def predict(p, x):
            return weighted_sum(p, x, features)

        def slopes(p, x):
            return {**{f"w_{n}": v for n, v in zip(features, row_values(x))}, "b": 1.0}

    def gradient(p, x, y):
        d_z = slope(predict(p, x), y)
        return {name: d_z if name == "b" else value * d_z
                for name, value in slopes(p, x).items()}

    def bind(header: tuple[str, ...]) -> Model:
        """The model of a data file: one column x keeps a and b, feature columns get w_<name>."""
        if tuple(header) == ("x", "y"):
            return logistic(keys)
        from .features import feature_columns

        return logistic(keys, feature_columns(header, "logistic"))

    return Model(kind="logistic", params=params,
                 formula=f"p = sigmoid(z), z = {shown}" + (
                     "" if choice == "bce" else " (loss: fastbook's mnist_loss)"),
                 predict=predict, gradient=gradient, row_loss=row_loss,
                 keys={"loss": choice}, starts={name: 0.0 for name in params},
                 loss_name=words, accuracy=correct, classes=LABELS,
                 pred_name="z, the logit: p = sigmoid(z) is the probability that y = 1",
                 derived=lambda z: dict(zip(("p", "1-p"), sigmoids(z))), bind=bind,
                 **({} if features is None else {"headers": ((*features, "y"),),
                                                  "inputs": features}))
