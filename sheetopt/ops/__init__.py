"""The ``ops`` namespaces that rules, models and schedules compute with.

Rules use Python's arithmetic operators plus the few functions here. Each namespace gives the
same functions for one kind of value: numpy arrays (the engine), symbolic expressions (formulas
and generated source). The torch backend adds a namespace for tensors.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from .symbolic import Expr, lift


def _numpy_where(cond, yes, no):
    if isinstance(cond, (bool, np.bool_)):
        return yes if cond else no
    return np.where(cond, yes, no)


def _broadcast(value, like):
    """``value`` in the shape of ``like``: a read-only view, or the array itself where it has
    that shape already (np.broadcast_to's generic path costs more than a small step's
    arithmetic)."""
    shape = np.shape(like)
    if value.__class__ is np.ndarray and value.shape == shape:
        return value
    return np.broadcast_to(value, shape)


def _c_library(function):
    """``function`` from Python's math module (the C library's), applied element by element.

    numpy's own vectorized pow and cos (SIMD code on CPUs with AVX-512) differ from the C
    library's in the last bit for some arguments; spreadsheets and numpy's scalar path use the C
    library's, so the engine does too, and gives the same numbers on every CPU."""
    def safe(*args):
        try:
            return function(*args)
        except (OverflowError, ValueError):  # numpy's answer: inf or nan, not an exception
            with np.errstate(all="ignore"):
                return float(getattr(np, function.__name__)(*args))
    elementwise = np.vectorize(safe, otypes=[float])
    return lambda *args: elementwise(*args)


numpy_ops = SimpleNamespace(
    name="numpy",
    sqrt=np.sqrt,
    cos=_c_library(math.cos),
    sin=_c_library(math.sin),
    exp=_c_library(math.exp),
    log=_c_library(math.log),
    maximum=np.maximum,
    relu=lambda value: np.maximum(0.0, value),
    minimum=np.minimum,
    abs=np.abs,
    floor=np.floor,
    sign=np.sign,
    broadcast=_broadcast,
    power=_c_library(math.pow),
    where=_numpy_where,
    eq=lambda a, b: np.equal(a, b),
    pi=math.pi,
)


def _call(name):
    return lambda *args: Expr("call", name, *(lift(a) for a in args))


symbolic_ops = SimpleNamespace(
    name="symbolic",
    sqrt=_call("sqrt"),
    cos=_call("cos"),
    sin=_call("sin"),
    exp=_call("exp"),
    log=_call("log"),
    maximum=_call("maximum"),
    relu=lambda value: Expr("call", "maximum", lift(0.0), lift(value)),  # MAX(0, value)
    minimum=_call("minimum"),
    abs=_call("abs"),
    floor=_call("floor"),
    sign=_call("sign"),
    broadcast=lambda value, like: value,  # a formula is one cell: no shape to give
    power=lambda base, exponent: Expr("^", lift(base), lift(exponent)),
    where=lambda cond, yes, no: Expr("where", lift(cond), lift(yes), lift(no)),
    eq=lambda a, b: Expr("=", lift(a), lift(b)),
    pi=Expr("const", "pi"),
)


def distance(params, true, names, ops=numpy_ops):
    """The Euclidean distance of parameters to the true ones, sqrt of the left-to-right sum of
    squared differences: numbers or arrays (one distance per epoch) with ``numpy_ops``, a
    formula with ``symbolic_ops`` (the workbook's cell). Where the squares pass float64's
    range (parameters near 1e154 and beyond) numpy's answer is the same fold by hypot, which
    does not overflow; a spreadsheet shows #NUM! there.

    Example:
        >>> float(distance({"a": 5.0, "b": 34.0}, {"a": 2.0, "b": 30.0}, ("a", "b")))
        5.0
    """
    if ops is not numpy_ops:
        return ops.sqrt(_fold([(params[p] - true[p]) ** 2 for p in names]))
    with np.errstate(over="ignore", invalid="ignore"):
        diffs = [np.asarray(params[p], dtype=float) - true[p] for p in names]
        total = np.sqrt(_fold([d * d for d in diffs]))
        if np.isinf(total).any():
            total = np.where(np.isinf(total), _fold(diffs, np.hypot), total)
    return total


def _fold(values, add=lambda a, b: a + b):
    """Left to right, without a leading zero (0 + v is v exactly)."""
    total = values[0]
    for value in values[1:]:
        total = add(total, value)
    return total


def ops_for(*values) -> SimpleNamespace:
    """The namespace that computes with ``values``: symbolic for formula expressions, torch's
    for tensors, numpy's otherwise (a model's functions pick their ``ops`` this way).

    >>> ops_for(1.0).name, ops_for(lift(1.0)).name
    ('numpy', 'symbolic')
    """
    for value in values:
        if isinstance(value, Expr):
            return symbolic_ops
        if type(value).__module__.startswith("torch"):
            from ..executors.torch.ops import torch_ops
            return torch_ops()
    return numpy_ops
