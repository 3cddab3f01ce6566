"""Writing a workbook with XlsxWriter in constant-memory mode: cells go out row by row."""
from __future__ import annotations

from typing import Iterable

from xlsxwriter import Workbook
from xlsxwriter.worksheet import CellFormulaTuple, Worksheet

from .layout import Cell
from .names import safe_text
from .styles import add_formats


class ExactWorksheet(Worksheet):
    """A worksheet that stores numbers with all 17 significant digits (XlsxWriter's default
    keeps 16, which would change an input such as 1.2754625002528799)."""

    def _xml_number_element(self, number, attributes=[]) -> None:  # noqa: B006 - base signature
        attr = "".join(f' {k}="{self._escape_attributes(v)}"' for k, v in attributes)
        self.fh.write(f"<c{attr}><v>{float(number)!r}</v></c>")


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


def write_cells(sheet: Worksheet, cells: Iterable[Cell], formats: dict) -> int:
    """Writes cells given in row order; returns how many were formulas."""
    count = 0
    for cell in cells:
        fmt = formats.get(cell.style)
        if cell.kind == "formula":
            put_formula(sheet, cell.row, cell.col, cell.payload, fmt,
                        "" if cell.value is None else cell.value)
            count += 1
        elif cell.kind == "number":
            sheet.write_number(cell.row, cell.col, cell.payload, fmt)
        elif cell.kind == "text":
            sheet.write_string(cell.row, cell.col, safe_text(cell.payload), fmt)
        else:
            sheet.write_blank(cell.row, cell.col, None, fmt)
        if cell.note:
            sheet.write_comment(cell.row, cell.col, cell.note, {"x_scale": 2, "y_scale": 1.2})
    return count
