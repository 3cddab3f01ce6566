"""Models whose parameter names come from the data's header: a weight per feature column.

A CSV ``x1,x2,y`` gives the linear model the weights ``w_x1``, ``w_x2`` and the intercept
``b``; its prediction sums the features left to right in column order and then adds ``b``, as
a spreadsheet formula ``=w_x1*x1+w_x2*x2+b`` would. The lecture's single column ``x`` keeps
its ``a`` and ``b`` (``LINEAR``, whose prediction is ``line``). Other families (a classifier)
reuse ``line``, ``feature_columns`` and ``weighted_sum``.

>>> model = linear_features(("size", "rooms"))
>>> model.params, model.predict({"w_size": 2.0, "w_rooms": 3.0, "b": 1.0}, (10.0, 2.0))
(('w_size', 'w_rooms', 'b'), 27.0)
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

from .base import Model, row_values, squared_error_slope

# the trace's own per-step and per-row columns: a data column may not take these names
RESERVED = frozenset({"epoch", "step", "row", "size", "y", "pred", "loss", "lr", "mom",
                      "err2", "b"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def columns_named(header: Sequence[str], what: str) -> tuple[str, ...]:
    """The header's names checked as data column names (each an identifier, none twice);
    ValueError naming the first one at fault."""
    seen: set[str] = set()
    for name in header:
        if not _NAME.match(name):
            raise ValueError(f"{what} {name!r} is not a name of letters, digits and _ "
                             f"(it becomes a parameter name)")
        if name in seen:
            raise ValueError(f"the column {name!r} appears twice")
        seen.add(name)
    return tuple(header)


def feature_columns(header: Sequence[str], kind: str) -> tuple[str, ...]:
    """The feature columns of a header that ends in the target y (a data file's y is moved
    there from wherever it stands: ``spec.data.target_last``); ValueError naming what is
    wrong (no y, a feature named like a parameter or like one of the trace's columns)."""
    header = tuple(header)
    if len(header) < 2 or header[-1] != "y":
        raise ValueError(f"header {','.join(header)!r}: the {kind} model needs feature columns "
                         f"and a target column y (like x1,x2,y)")
    if "y" in header[:-1]:
        raise ValueError("the column 'y' appears twice")
    features = columns_named(header[:-1], "the feature column")
    params = {f"w_{name}" for name in features}
    for name in features:
        if name in params or name in RESERVED or name.startswith(("new_", "grad_")):
            raise ValueError(f"the feature column {name!r} is named like a parameter or a "
                             f"column of the trace; rename it")
    return features


def line(p, x):
    """The lecture's prediction from its one column x: b + a*x (the linear model's, and the
    logit of the logistic model of one column).

    >>> line({"a": 2.0, "b": 30.0}, 10.0)
    50.0
    """
    return p["b"] + p["a"] * x


def weighted_sum(p, x, features: Sequence[str]):
    """w_1*x_1 + w_2*x_2 + ... left to right, then + b.

    >>> weighted_sum({"w_size": 2.0, "w_rooms": 3.0, "b": 1.0}, (10.0, 2.0), ("size", "rooms"))
    27.0
    """
    values = row_values(x)
    weights = _weight_names(tuple(features))  # named once: finite differences call this P^2 times
    total = p[weights[0]] * values[0]
    for name, value in zip(weights[1:], values[1:]):
        total = total + p[name] * value
    return total + p["b"]


@lru_cache(maxsize=64)
def _weight_names(features: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"w_{name}" for name in features)


def linear_features(features: Sequence[str]) -> Model:
    """The linear model of several features: y = w_1*x_1 + ... + w_n*x_n + b."""
    features = tuple(features)

    def predict(p, x):
        return weighted_sum(p, x, features)

    def gradient(p, x, y):
        d_pred = squared_error_slope(predict(p, x), y)
        grads = {f"w_{name}": value * d_pred for name, value in zip(features, row_values(x))}
        grads["b"] = d_pred
        return grads

    shown = " + ".join(f"w_{name}*{name}" for name in features)
    return Model(kind="linear", params=(*(f"w_{name}" for name in features), "b"),
                 formula=f"y = {shown} + b", predict=predict, gradient=gradient,
                 headers=((*features, "y"),), inputs=features,
                 labels={"b": "intercept", **{f"w_{n}": f"weight of {n}" for n in features}})
