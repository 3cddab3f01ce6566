"""Spec values checked as numbers: one definition for the spec parser and the schedule parser."""
from __future__ import annotations

import math

from ..errors import SheetoptError


def number(value, where: str, label: str) -> float:
    """``value`` as a finite float, or one line naming ``where`` in ``label``.

    >>> number(3, "lr", "spec.toml")
    3.0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SheetoptError(f"{label}: {where} must be a number (got {value!r})")
    if not math.isfinite(value):
        raise SheetoptError(f"{label}: {where} must be finite (got {value!r})")
    return float(value)


def whole(value, where: str, label: str) -> int:
    """``value`` as an int (not a bool or float), or one line naming ``where``.

    >>> whole(5, "epochs", "spec.toml")
    5
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise SheetoptError(f"{label}: {where} must be a whole number (got {value!r})")
    return value
