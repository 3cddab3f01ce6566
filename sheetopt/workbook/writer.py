"""Writing a workbook with XlsxWriter in constant-memory mode: cells go out row by row."""
from __future__ import annotations

import itertools
import math
from typing import Iterable

from xlsxwriter import Workbook
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import CellFormulaTuple, Worksheet

from .layout import Cell, RawRow
from .names import clean_text, safe_text
from .styles import add_formats


# A non-finite cached value is stored as the error cell a spreadsheet shows for it: #NUM!, what
# overflow and invalid operations give (a division by zero, #DIV/0!, makes the new parameters
# non-finite, and the engine records no step whose new parameters are not finite). Never as
# <v>nan</v>, which spreadsheet programs refuse.
NON_FINITE = "#NUM!"


class ExactWorksheet(Worksheet):
    """A worksheet that stores numbers with all 17 significant digits (XlsxWriter's default
    keeps 16, which would change an input such as 1.2754625002528799)."""

    def _xml_number_element(self, number, attributes=[]) -> None:  # noqa: B006 - base signature
        attr = "".join(f' {k}="{self._escape_attributes(v)}"' for k, v in attributes)
        if not math.isfinite(number):
            self.fh.write(f'<c{attr} t="e"><v>{NON_FINITE}</v></c>')
            return
        self.fh.write(f"<c{attr}><v>{float(number)!r}</v></c>")

    def can_stream(self, row: int) -> bool:
        """Whether ``row`` can be written as finished XML: constant-memory mode, rows going
        forward, and no row format or comment that XlsxWriter would write for it itself."""
        return (self.constant_memory and row > self.previous_row and row not in self.row_info
                and row not in self.comments)

    def style_attr(self, formats: dict):
        """style name -> ' s="N"', the attribute XlsxWriter writes for that format."""
        styles = self.__dict__.setdefault("_style_attrs", {})

        def attr(name: str) -> str:
            if name not in styles:
                fmt = formats.get(name)
                styles[name] = f' s="{fmt._get_xf_index()}"' if fmt else ""
            return styles[name]
        return attr

    def stream_raw(self, row: int, xml: str, last_col: int) -> None:
        """Writes a finished row of XML (a RawRow)."""
        self._check_dimensions(row, 0)
        self._check_dimensions(row, last_col)
        self._write_single_row(row)
        self.fh.write(xml)

    def stream_row(self, row: int, cells: list, formats: dict, letters: list) -> None:
        """Writes one row of formula and number cells straight into the sheet's XML.

        XlsxWriter's per-cell path (pattern scans, tuples, attribute escaping) costs several
        times more than the XML itself; the text written here is the same that path writes."""
        cells = sorted(cells, key=lambda c: c.col)
        self._check_dimensions(row, cells[0].col)
        self._check_dimensions(row, cells[-1].col)
        self._write_single_row(row)  # flushes the rows before and makes ``row`` current
        number = str(row + 1)
        parts = [f'<row r="{number}">']
        styles = self.__dict__.setdefault("_style_attrs", {})
        for cell in cells:
            style = styles.get(cell.style)
            if style is None:
                fmt = formats.get(cell.style)
                style = styles[cell.style] = f' s="{fmt._get_xf_index()}"' if fmt else ""
            where = letters[cell.col] + number
            if cell.kind == "formula":
                text = cell.payload
                if "<" in text or ">" in text or "&" in text:
                    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                value = cell.value
                if value.__class__ is float and not math.isfinite(value):
                    value = NON_FINITE
                if value.__class__ is str:
                    parts.append(f'<c r="{where}"{style} t="e"><f>{text}</f><v>{value}</v></c>')
                else:
                    parts.append(f'<c r="{where}"{style}><f>{text}</f><v>{value!r}</v></c>')
            else:
                parts.append(f'<c r="{where}"{style}><v>{cell.payload!r}</v></c>')
        parts.append("</row>")
        self.fh.write("".join(parts))


def new_workbook(path) -> tuple[Workbook, dict]:
    workbook = Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                    "strings_to_numbers": False, "strings_to_urls": False})
    return workbook, add_formats(workbook)


def add_sheet(workbook: Workbook, name: str) -> Worksheet:
    return workbook.add_worksheet(name, worksheet_class=ExactWorksheet)


def put_formula(sheet: Worksheet, row: int, col: int, text: str, fmt, value) -> None:
    """XlsxWriter's write_formula without its per-call pattern scan for dynamic-array and
    future functions, which our formulas never use and which costs more than the write."""
    if sheet._check_dimensions(row, col):
        raise ValueError(f"cell ({row}, {col}) is outside the sheet")
    if sheet.constant_memory and row > sheet.previous_row:
        sheet._write_single_row(row)
    sheet.table[row][col] = CellFormulaTuple(text, fmt, value)


_STREAMABLE = {"formula", "number"}


def write_cells(sheet: Worksheet, cells: Iterable, formats: dict, last_col: int = 0) -> int:
    """Writes cells (and RawRows, whose last column is ``last_col``) given in row order;
    returns how many were formulas."""
    count = 0
    letters = [xl_col_to_name(c) for c in range(256)]
    for row, group in itertools.groupby(cells, key=lambda c: c.row):
        group = list(group)
        if isinstance(group[0], RawRow):
            if len(group) != 1 or not sheet.can_stream(row):
                raise ValueError(f"row {row}: a raw row must stand alone and come in order")
            sheet.stream_raw(row, group[0].xml, last_col)
            count += group[0].formulas
            continue
        if (isinstance(sheet, ExactWorksheet) and sheet.can_stream(row) and max(c.col for c in group) < len(letters)
                and all(c.kind in _STREAMABLE and c.note is None for c in group)):
            sheet.stream_row(row, group, formats, letters)
            count += sum(c.kind == "formula" for c in group)
        else:
            count += _write_each(sheet, group, formats)
    return count


def _write_each(sheet: Worksheet, cells: Iterable[Cell], formats: dict) -> int:
    count = 0
    for cell in cells:
        fmt = formats.get(cell.style)
        if cell.kind == "formula":
            value = cell.value
            if isinstance(value, float) and not math.isfinite(value):
                value = NON_FINITE
            put_formula(sheet, cell.row, cell.col, cell.payload, fmt,
                        "" if value is None else value)
            count += 1
        elif cell.kind == "number":
            sheet.write_number(cell.row, cell.col, cell.payload, fmt)
        elif cell.kind == "text":
            sheet.write_string(cell.row, cell.col, safe_text(cell.payload), fmt)
        elif cell.kind == "merged":
            sheet.merge_range(cell.row, cell.col, cell.row, cell.span, safe_text(cell.payload),
                              fmt)
        else:
            sheet.write_blank(cell.row, cell.col, None, fmt)
        if cell.note:
            sheet.write_comment(cell.row, cell.col, clean_text(cell.note), {"x_scale": 2, "y_scale": 1.2})
    return count
