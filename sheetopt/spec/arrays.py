"""Data rows from Python values: numpy arrays, lists, pandas Series or one DataFrame.

Validated the way a CSV is (every value a finite number, x and y of one length, at least one
row), each problem one line naming the array and the index at fault; the rows come out as
contiguous float64 arrays, which is what the engine and its compiled kernels take.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from .data import DataSet, from_columns, target_last
from ..errors import SheetoptError
from ..models import LINEAR, Model


def from_arrays(x: Any, y: Any = None, model: Model | None = None,
                true: Mapping[str, float] | None = None) -> DataSet:
    """A DataSet of the rows ``x``, ``y``; or, with ``y`` None, of a DataFrame's columns
    named as a CSV header would be (x and y, another pair the model accepts, or the feature
    columns and y of a model that takes its parameter names from them). ``x`` may also hold
    several features beside ``y``: a DataFrame of feature columns or a 2-D array (its columns
    named x1, x2, ...).

    Example:
        >>> from sheetopt.spec.arrays import from_arrays
        >>> len(from_arrays([1, 2, 3], [32.0, 34.0, 36.0]))
        3
        >>> from_arrays([[1, 2], [3, 4]], [5.0, 6.0]).headers
        ('x1', 'x2', 'y')
    """
    model = model if model is not None else LINEAR
    if y is None:
        columns, headers = _columns(x, model)
    elif hasattr(x, "columns") and hasattr(x, "keys"):  # a DataFrame of features
        columns = [x[k] for k in x.keys()] + [y]
        headers = (*(str(k) for k in x.keys()), "y")
    elif _dimensions(x) == 2:
        matrix = x if isinstance(x, np.ndarray) else np.asarray(x, dtype=object)
        columns = [matrix[:, j] for j in range(matrix.shape[1])] + [y]
        headers = (*(f"x{j + 1}" for j in range(matrix.shape[1])), "y")
    else:
        columns, headers = [x, y], ("x", "y")
    vectors = [_vector(values, name) for values, name in zip(columns, headers)]
    for name, vector in zip(headers[1:], vectors[1:]):
        if len(vector) != len(vectors[0]):
            raise SheetoptError(f"{headers[0]} and {name} have different lengths "
                                f"({len(vectors[0]):,} and {len(vector):,}); give one value "
                                f"of each per row")
    if len(vectors[0]) == 0:
        raise SheetoptError(f"{' and '.join(headers)} are empty; give at least one row")
    try:
        bound = model.for_header(headers)
    except ValueError as exc:
        raise SheetoptError(f"the columns {', '.join(headers)}: {exc}") from None
    return from_columns(np.column_stack(vectors), bound, f"arrays {', '.join(headers)}",
                        headers, true)


def _columns(frame: Any, model: Model) -> tuple[list, tuple[str, ...]]:
    """The columns of a DataFrame (or a mapping): one of the model's headers, or every
    column for a model that takes its parameter names from them."""
    wanted = " or ".join(",".join(pair) for pair in model.headers) or "naming the parameters"
    if not hasattr(frame, "keys"):
        raise SheetoptError(f"give x and y (arrays, lists or Series), or one DataFrame with "
                            f"columns {wanted} (got x of type {type(frame).__name__} and no y)")
    names = [str(k) for k in frame.keys()]
    for pair in model.headers:  # the lecture's x and y (other columns beside them unread)
        if all(name in names for name in pair):
            return [frame[name] for name in pair], tuple(pair)
    if model.bind is not None:  # a family: every column, the target y (if any) last
        if model.target and "y" not in names:
            raise SheetoptError(f"the columns {', '.join(names)}: the {model.kind} model "
                                f"needs a target column y")
        keys = list(frame.keys())
        keys = [keys[j] for j in target_last(tuple(names), model)]
        return [frame[k] for k in keys], tuple(str(k) for k in keys)
    raise SheetoptError(f"the DataFrame's columns {', '.join(names) or '(none)'} do not include "
                        f"{wanted}")


def _dimensions(values: Any) -> int:
    try:
        return np.ndim(values)
    except ValueError:  # ragged nesting: _vector names it
        return 1


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
