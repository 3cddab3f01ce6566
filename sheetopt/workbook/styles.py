"""Cell formats: inputs highlighted, headers bold and wrapped, epoch boundaries ruled.

Every number uses the spreadsheet's General format (right-aligned with a small indent so
neighbours do not touch): it shows significant digits at any magnitude, so a value a learner
types, or one that an edit makes a thousand times larger or smaller, still reads correctly;
68.6875 stays 68.6875 and 1e-5 stays 1E-05. Fixed-decimal formats chosen from the written
values would round an edited lr of 0.25 to 0 or show a diverging run as #####.
"""
from __future__ import annotations

INPUT_FILL = "#FFF2CC"  # a soft yellow: "edit me"
HEADER_FILL = "#DDEBF7"
FIXED_FILL = "#EDEDED"
NUMBER = {"num_format": "General", "align": "right", "indent": 1}

_BASE = {
    "title": {"bold": True, "font_size": 14},
    "subtitle": {"italic": True, "font_color": "#404040"},
    "subtitle_wrap": {"italic": True, "font_color": "#404040", "text_wrap": True,
                      "valign": "top"},
    "text": {},
    "wrap": {"text_wrap": True, "valign": "top"},
    "bold": {"bold": True},
    "label": {"bold": True},
    "input_label": {"bold": True, "bg_color": HEADER_FILL, "border": 1, "align": "center"},
    "input": {"bg_color": INPUT_FILL, "border": 1, **NUMBER},
    "fixed_label": {"italic": True, "bg_color": FIXED_FILL, "border": 1, "align": "center",
                    "font_color": "#606060"},
    "fixed": {"italic": True, "border": 1, "font_color": "#606060", **NUMBER},
    "derived_input": {"border": 1, "italic": True, **NUMBER},
    "header": {"bold": True, "bg_color": HEADER_FILL, "bottom": 2, "text_wrap": True,
               "align": "center", "valign": "vcenter"},
    "num": NUMBER,
    "int": {"num_format": "0", "align": "center", "font_color": "#606060"},
    "warn": {"bold": True, "font_color": "#C00000"},
    "warn_wrap": {"bold": True, "font_color": "#C00000", "text_wrap": True, "valign": "top"},
    "ok": {"font_color": "#006100"},
    "flag": {"bold": True, "font_color": "#C00000"},
}


_TOP = {"top": 2, "top_color": "#7F7F7F"}


class Formats(dict):
    """Named formats, each with a ``<name>_top`` twin ruled above (an epoch's first row)."""

    def __init__(self, workbook):
        super().__init__()
        for name, props in _BASE.items():
            self[name] = workbook.add_format(props)
            self[name + "_top"] = workbook.add_format({**props, **_TOP})

    def get(self, name, default=None):
        return super().get(name, default)


def add_formats(workbook) -> Formats:
    return Formats(workbook)
