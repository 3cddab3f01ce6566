"""How a recomputed column is compared with the trace's: max abs and max rel difference.

The relative difference of two values a (the trace's) and b (recomputed) is

    |a - b| / max(|a|, |b|, scale)

with 0/0 read as 0 (both exactly zero, or the same infinity). ``scale`` is the size of what
was summed to make the value, given where cancellation can make the value itself tiny: for a
batch gradient it is the sum of the absolute per-row contributions, so a gradient that is
nearly zero because rows pull in opposite directions is judged against the size of those pulls,
not against its own rounding-level remainder. In a replayed trajectory the scale of a column
at step n is the largest magnitude the column has had up to step n (``running_scale``): the
replay's rounding differs from the engine's by an ulp here and there (torch.optim's kernels fuse
multiply-adds), those differences are carried forward, and a value that has shrunk toward zero
(a loss near the fit, an average of gradients that alternate in sign) is judged against the size
it had, not against its own remainder. Elsewhere the scale is 0 (plain relative difference).
A check passes when every step's relative difference is at most the tolerance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(kw_only=True)
class Difference:
    """One quantity of one sheet, compared over all steps."""

    sheet: str
    check: str  # "re-check" or "replay"
    quantity: str  # a trace column name: pred, loss, grad_a, new_b, sqr_avg_a, ...
    max_abs: float
    max_rel: float
    worst_at: tuple[int, int] | None  # (epoch, step) of the largest rel difference
    first_bad: tuple[int, int] | None  # (epoch, step) of the first one above the tolerance
    count: int  # how many values were compared
    against: str = ""  # what the trace's column was compared with
    info: bool = False  # a figure reported, never a failure (the replay's drift)
    growth: float | None = None  # for the drift: decades per 1,000 steps it climbs

    @property
    def ok(self) -> bool:
        return self.first_bad is None


def relative(a: np.ndarray, b: np.ndarray, scale: np.ndarray | float = 0.0) -> np.ndarray:
    """Elementwise |a - b| / max(|a|, |b|, scale), 0 where a equals b, inf where one is NaN."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(all="ignore"):
        gap = np.abs(a - b)
        size = np.maximum(np.maximum(np.abs(a), np.abs(b)), np.abs(scale))
        rel = gap / size
    rel = np.where(a == b, 0.0, rel)
    both_nan = np.isnan(a) & np.isnan(b)
    rel = np.where(both_nan, 0.0, np.where(np.isnan(rel), np.inf, rel))
    return rel


def running_scale(values) -> np.ndarray:
    """The largest finite magnitude of ``values`` up to and including each entry."""
    size = np.abs(np.asarray(values, dtype=float))
    size = np.where(np.isfinite(size), size, 0.0)
    return np.maximum.accumulate(size) if len(size) else size


def difference(sheet: str, check: str, quantity: str, trace_values, recomputed, *, epoch, step,
               tol: float, scale=0.0, against: str = "") -> Difference:
    """Compares two columns step by step; ``epoch`` and ``step`` label each entry."""
    a = np.asarray(trace_values, dtype=float)
    b = np.asarray(recomputed, dtype=float)
    rel = relative(a, b, scale)
    with np.errstate(all="ignore"):
        gap = np.where(rel == 0, 0.0, np.abs(a - b))
    gap = np.where(np.isnan(gap), np.inf, gap)
    if len(a) == 0:
        return Difference(sheet=sheet, check=check, quantity=quantity, max_abs=0.0, max_rel=0.0,
                          worst_at=None, first_bad=None, count=0, against=against)
    worst = int(np.argmax(rel))
    bad = np.flatnonzero(rel > tol)
    where = lambda i: (int(epoch[i]), int(step[i]))  # noqa: E731
    return Difference(sheet=sheet, check=check, quantity=quantity, max_abs=float(gap.max()),
                      max_rel=float(rel[worst]), worst_at=where(worst),
                      first_bad=where(int(bad[0])) if len(bad) else None, count=len(a),
                      against=against)
