"""Formula text rendered once per cell pattern, then filled in with row numbers.

``symbolic.to_excel`` prints a cell's tree once, with a placeholder wherever a reference's row
depends on where the block sits; :meth:`Template.render` fills the placeholders in for each
row. The text is therefore still printed from the rule's tree, only not re-printed per row
(which would cost more than writing the cell).
"""
from __future__ import annotations

from typing import Callable

from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from ..ops.symbolic import Expr, to_excel


def ref(row: int, col: int, absolute: bool = False) -> str:
    """A1-style reference of a 0-based (row, col)."""
    return xl_rowcol_to_cell(row, col, row_abs=absolute, col_abs=absolute)


class Template:
    """Formula text (without ``=``) with slots for row numbers and per-row arguments."""

    __slots__ = ("text", "slots")

    def __init__(self, text: str, slots: tuple):
        self.text, self.slots = text, slots

    def render(self, row: int, args: dict) -> str:
        """The formula for a cell on 0-based ``row``: an int slot is a row offset from it,
        a str slot names an argument (a data-sheet reference, an epoch's lr cell)."""
        if not self.slots:
            return self.text
        return self.text.format(*[row + 1 + s if s.__class__ is int else args[s]
                                  for s in self.slots])


def compile_formula(tree: Expr, offset: int, leaf: Callable[[str], tuple]) -> Template:
    """Prints ``tree`` for a cell at ``offset`` in its block; ``leaf`` says what each variable is:
    ("cell", column index, offset in block), ("text", fixed text) or ("arg", argument name)."""
    slots: list = []

    def name_of(name: str) -> str:
        kind, *rest = leaf(name)
        if kind == "text":
            return rest[0].replace("{", "{{").replace("}", "}}")
        slots.append(rest[1] - offset if kind == "cell" else rest[0])
        placeholder = "{}"
        return xl_col_to_name(rest[0]) + placeholder if kind == "cell" else placeholder

    text = to_excel(tree, name_of)[1:]
    return Template(text, tuple(slots))
