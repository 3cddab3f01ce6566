"""The scalar functions every generated kernel calls, compiled once (and cached on disk by numba)
instead of once per kernel module: each is a full numba compile of its own, about 50 ms a
signature, and a kernel calls ``sel`` with two or three signatures.

A kernel's source names the hash of this file's text (see codegen.scalars_stamp), so a kernel
cached on disk is compiled again when these change: numba's cache does not follow a cached
function's callees.

    >>> from sheetopt.executors.compiled.scalars import maximum, sel
    >>> maximum(1.0, float("nan")), sel(True, 1.0, 2.0)
    (nan, 1.0)
"""
import math

from numba import njit


@njit(cache=True, error_model="numpy")
def maximum(a, b):
    """numpy's maximum of two floats: NaN if either is."""
    return a if (a >= b or a != a) else b


@njit(cache=True, error_model="numpy")
def minimum(a, b):
    """numpy's minimum of two floats: NaN if either is."""
    return a if (a <= b or a != a) else b


@njit(cache=True, error_model="numpy")
def sign(a):
    """numpy's sign of a float (NaN for NaN, 0.0 for zeros)."""
    return 1.0 if a > 0 else (-1.0 if a < 0 else (a if a != a else 0.0))


@njit(cache=True, error_model="numpy")
def cpow(a, b):
    """The C library's pow (the exponent read from an array, so LLVM cannot fold it)."""
    return math.pow(a, b)


# Every condition in the loop over configurations is a call of sel (both sides computed), never
# a conditional expression: each of those is a branch in numba's IR, and its SSA and liveness
# passes cost blocks x variables (most of a kernel's first compile: a 17-parameter logistic
# kernel took 16 s). LLVM inlines sel into a select instruction, as it if-converts a branch.
@njit(cache=True, error_model="numpy")
def sel(keep, new, old):
    """``new`` if ``keep`` else ``old``, both computed."""
    return new if keep else old
