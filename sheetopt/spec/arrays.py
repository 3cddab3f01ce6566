"""Data rows from Python values: numpy arrays, lists, pandas Series or one DataFrame.

Validated the way a CSV is (every value a finite number, x and y of one length, at least one
row), each problem one line naming the array and the index at fault; the rows come out as
contiguous float64 arrays, which is what the engine and its compiled kernels take.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from .data import DataSet
from ..errors import SheetoptError
from ..models import Model


def from_arrays(x: Any, y: Any = None, model: Model | None = None,
                true: Mapping[str, float] | None = None) -> DataSet:
    """A DataSet of the rows ``x``, ``y``; or, with ``y`` None, of a DataFrame's columns
    named as a CSV header would be (x and y, or another pair the model accepts).

    Example:
        >>> from sheetopt.spec.arrays import from_arrays
        >>> len(from_arrays([1, 2, 3], [32.0, 34.0, 36.0]))
        3
    """
    headers = ("x", "y")
    if y is None:
        x, y, headers = _columns(x, model)
    xs, ys = _vector(x, headers[0]), _vector(y, headers[1])
    if len(xs) != len(ys):
        raise SheetoptError(f"{headers[0]} and {headers[1]} have different lengths "
                            f"({len(xs):,} and {len(ys):,}); give one value of each per row")
    if len(xs) == 0:
        raise SheetoptError(f"{headers[0]} and {headers[1]} are empty; give at least one row")
    source = f"arrays {headers[0]}, {headers[1]}"
    return DataSet(xs, ys, source=source, true=dict(true or {}), headers=headers)


def _columns(frame: Any, model: Model | None) -> tuple[Any, Any, tuple[str, str]]:
    """x and y from a DataFrame (or a mapping) holding one of the model's header pairs."""
    pairs = model.headers if model is not None else (("x", "y"),)
    wanted = " or ".join(",".join(pair) for pair in pairs)
    if not hasattr(frame, "keys"):
        raise SheetoptError(f"give x and y (arrays, lists or Series), or one DataFrame with "
                            f"columns {wanted} (got x of type {type(frame).__name__} and no y)")
    names = [str(k) for k in frame.keys()]
    for pair in pairs:
        if all(name in names for name in pair):
            return frame[pair[0]], frame[pair[1]], tuple(pair)
    raise SheetoptError(f"the DataFrame's columns {', '.join(names) or '(none)'} do not include "
                        f"{wanted}")


def _vector(values: Any, name: str) -> np.ndarray:
    """``values`` as a contiguous float64 vector; a one-line error at the first bad entry."""
    if isinstance(values, (str, bytes)):
        raise SheetoptError(f"{name} must be a sequence of numbers (got the text {values!r})")
    if hasattr(values, "to_numpy"):  # pandas: the values, whatever the index
        values = values.to_numpy()
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as exc:  # ragged nesting
        raise SheetoptError(f"{name} must be a flat sequence of numbers ({exc})") from None
    if array.ndim == 0:
        raise SheetoptError(f"{name} must be a sequence of numbers (got {values!r})")
    if array.ndim != 1:
        raise SheetoptError(f"{name} must be one-dimensional (got shape {array.shape})")
    flags = isinstance(values, (list, tuple)) and any(isinstance(v, bool) for v in values)
    if array.dtype.kind in "iuf" and not flags:  # numpy reads True in a list as 1.0
        numbers = array.astype(np.float64)
    else:
        entries = np.asarray(values, dtype=object).tolist()  # as given, not as numpy coerced
        numbers = np.array([_number(v, name, i) for i, v in enumerate(entries)],
                           dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(numbers))
    if len(bad):
        i = int(bad[0])
        raise SheetoptError(f"{name}[{i}] is {_word(numbers[i])}; values must be finite")
    return np.ascontiguousarray(numbers)


def _number(value: Any, name: str, index: int) -> float:
    if isinstance(value, (bool, np.bool_)) or isinstance(value, (str, bytes)) or value is None:
        raise SheetoptError(f"{name}[{index}] is not a number: {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SheetoptError(f"{name}[{index}] is not a number: {value!r}") from None


def _word(value: float) -> str:
    return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
