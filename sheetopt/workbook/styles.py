"""Cell formats: inputs highlighted, headers bold and wrapped, epoch boundaries ruled."""
from __future__ import annotations

import math

import numpy as np

INPUT_FILL = "#FFF2CC"  # a soft yellow: "edit me"
HEADER_FILL = "#DDEBF7"
NUMBER = "General"

_BASE = {
    "title": {"bold": True, "font_size": 14},
    "subtitle": {"italic": True, "font_color": "#404040"},
    "text": {},
    "wrap": {"text_wrap": True, "valign": "top"},
    "bold": {"bold": True},
    "label": {"bold": True},
    "input_label": {"bold": True, "bg_color": HEADER_FILL, "border": 1, "align": "center"},
    "input": {"bg_color": INPUT_FILL, "border": 1, "num_format": NUMBER},
    "input_int": {"bg_color": INPUT_FILL, "border": 1, "num_format": "0"},
    "derived_input": {"border": 1, "italic": True, "num_format": NUMBER},
    "header": {"bold": True, "bg_color": HEADER_FILL, "bottom": 2, "text_wrap": True,
               "align": "center", "valign": "vcenter"},
    "num": {"num_format": NUMBER},
    "int": {"num_format": "0", "align": "center", "font_color": "#606060"},
    "warn": {"bold": True, "font_color": "#C00000"},
    "ok": {"font_color": "#006100", "align": "center"},
    "flag": {"bold": True, "font_color": "#C00000", "align": "center"},
}


_TOP = {"top": 2, "top_color": "#7F7F7F"}


class Formats(dict):
    """Named formats, a ``<name>_top`` twin ruled above (an epoch's first row), and number
    formats made on first use from names like ``num:0.0000``."""

    def __init__(self, workbook):
        super().__init__()
        self.workbook = workbook
        for name, props in _BASE.items():
            self[name] = workbook.add_format(props)
            self[name + "_top"] = workbook.add_format({**props, **_TOP})

    def __missing__(self, name: str):
        base, top = (name[:-4], True) if name.endswith("_top") else (name, False)
        if not base.startswith("num:"):
            raise KeyError(name)
        fmt = self.workbook.add_format({"num_format": base[4:], **(_TOP if top else {})})
        self[name] = fmt
        return fmt

    def get(self, name, default=None):
        try:
            return self[name]
        except KeyError:
            return default


def add_formats(workbook) -> Formats:
    return Formats(workbook)


def number_style(values, digits: int = 6) -> str:
    """A number format showing about ``digits`` significant digits of a column's typical
    value: fixed decimals for everyday magnitudes, scientific notation for tiny or huge ones."""
    values = np.asarray(values, dtype=float)
    values = values[::max(1, len(values) // 20_000)]  # a sample decides for long columns
    magnitudes = np.abs(values)
    magnitudes = magnitudes[np.isfinite(magnitudes) & (magnitudes > 0)]
    if not len(magnitudes):
        return "num"
    typical, largest = float(np.median(magnitudes)), float(magnitudes.max())
    if largest < 1e15 and np.all(magnitudes == np.round(magnitudes)):
        return "num:#,##0"  # whole numbers, such as the lecture's data
    if typical < 1e-3 or largest >= 1e9:
        return "num:0.00000E+00"
    decimals = min(9, max(0, digits - 1 - math.floor(math.log10(typical))))
    return "num:#,##0" + ("." + "0" * decimals if decimals else "")
