"""Cell formats: inputs highlighted, headers bold and wrapped, epoch boundaries ruled."""
from __future__ import annotations

INPUT_FILL = "#FFF2CC"  # a soft yellow: "edit me"
HEADER_FILL = "#DDEBF7"
NUMBER = "General"

_BASE = {
    "title": {"bold": True, "font_size": 14},
    "subtitle": {"italic": True, "font_color": "#404040"},
    "text": {},
    "wrap": {"text_wrap": True, "valign": "top"},
    "bold": {"bold": True},
    "label": {"bold": True, "align": "right"},
    "input_label": {"bold": True, "bg_color": HEADER_FILL, "border": 1, "align": "center"},
    "input": {"bg_color": INPUT_FILL, "border": 1, "num_format": NUMBER},
    "input_int": {"bg_color": INPUT_FILL, "border": 1, "num_format": "0"},
    "derived_input": {"border": 1, "italic": True, "num_format": NUMBER},
    "header": {"bold": True, "bg_color": HEADER_FILL, "bottom": 2, "text_wrap": True,
               "align": "center", "valign": "vcenter"},
    "num": {"num_format": NUMBER},
    "int": {"num_format": "0", "align": "center", "font_color": "#606060"},
    "warn": {"bold": True, "font_color": "#C00000"},
    "ok": {"font_color": "#006100"},
}


def add_formats(workbook) -> dict:
    """Every named format, and a ``<name>_top`` twin ruled above for an epoch's first row."""
    formats = {}
    for name, props in _BASE.items():
        formats[name] = workbook.add_format(props)
        formats[name + "_top"] = workbook.add_format({**props, "top": 2, "top_color": "#7F7F7F"})
    return formats
