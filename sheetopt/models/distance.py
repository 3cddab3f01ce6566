"""The distance of a run's final parameters to the true ones: one definition over ``ops``,
so that ``compare``, the API's summaries and plots (numpy) and the workbook's compare sheet
(a formula) give the same number, bit for bit."""
from __future__ import annotations

from typing import Mapping, Sequence


def distance(final: Mapping, true: Mapping, names: Sequence[str], ops):
    """sqrt((final - true)^2 summed over the parameters left to right, in model order), the
    way a spreadsheet's SQRT of a sum computes it.

    >>> from sheetopt.ops import numpy_ops
    >>> float(distance({"a": 5.0, "b": 2.0}, {"a": 2.0, "b": 30.0}, ["a", "b"], numpy_ops))
    28.160255680657446
    """
    squares = [(final[p] - true[p]) ** 2 for p in names]
    total = squares[0]
    for square in squares[1:]:  # no leading zero: 0 + v is v exactly, and cells stay short
        total = total + square
    return ops.sqrt(total)
