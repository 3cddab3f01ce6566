"""Text tables, the one way ``compare``, ``verify``, ``sweep`` and ``torch-suite`` print them.

Columns are as wide as their widest cell; numbers are right-aligned, text left-aligned. A table
wider than the terminal wraps its text columns (the widest first) onto more lines per row, so a
line never runs past the terminal. A short module of our own rather than a library: tabulate
wraps a cell only to a width given per column and pandas costs a quarter second to import on
the path of ``sheetopt compare``; this needs neither.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
from typing import Sequence

_NUMBER = re.compile(r"^[-+]?(\d[\d,]*\.?\d*|\.\d+)([eE][-+]?\d+)?\*?$|^-$|^\.\.\.$|^[-+]?inf$|^nan$")
MIN_TEXT = 12  # a wrapped text column keeps at least this many characters a line
GAP = "  "


UNBOUNDED = 10 ** 6


def terminal_width() -> int:
    """The width tables and paragraphs wrap to: $COLUMNS when set, else the terminal's when
    standard output is one; output to a pipe or file is not wrapped (as git and ls do), so
    a line stays whole for grep.

    Example:
        >>> terminal_width() >= 1
        True
    """
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if sys.stdout is not None and sys.stdout.isatty():
            return shutil.get_terminal_size((100, 24)).columns
    except (AttributeError, ValueError, OSError):  # a closed or replaced stdout
        pass
    return UNBOUNDED


def numeric(cell: str) -> bool:
    """Whether a cell reads as a number (right-aligned): 1.5, -3e-05, 1,024, 2.5*, -, ...

    Example:
        >>> numeric("1.5e-05"), numeric("adam")
        (True, False)
    """
    return bool(_NUMBER.match(cell.strip()))


class Columns:
    """A table's column widths and alignments, to print a header and then rows one at a
    time (``torch-suite`` prints each row as it is measured).

    Example:
        >>> columns = Columns(["sheet", "loss"], widths=[6, 8], right=[False, True])
        >>> print(columns.line(["adam", "0.25"]))
        adam        0.25
    """

    def __init__(self, headers: Sequence[str], widths: Sequence[int],
                 right: Sequence[bool] | None = None):
        self.headers = [str(h) for h in headers]
        self.widths = [max(int(w), 1) for w in widths]
        self.right = list(right) if right is not None else [False] * len(self.headers)

    def line(self, cells: Sequence[str]) -> str:
        """One row; a cell longer than its column wraps onto the row's further lines."""
        pieces = [_pieces(str(c), w) for c, w in zip(cells, self.widths)]
        height = max((len(p) for p in pieces), default=1)
        lines = []
        for k in range(height):
            parts = [(p[k] if k < len(p) else "") for p in pieces]
            lines.append(GAP.join(c.rjust(w) if r else c.ljust(w) for c, w, r in
                                  zip(parts, self.widths, self.right)).rstrip())
        return "\n".join(lines)

    def head(self) -> str:
        """The header line and the rule under it."""
        return self.line(self.headers) + "\n" + GAP.join("-" * w for w in self.widths)


def _pieces(cell: str, width: int) -> list[str]:
    if len(cell) <= width:
        return [cell]
    return textwrap.wrap(cell, width, break_long_words=True, break_on_hyphens=False) or [""]


def fit(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int | None = None,
        right: Sequence[bool] | None = None) -> Columns:
    """The Columns of a whole table, its text columns narrowed to fit ``width`` (default: the
    terminal's). Number columns keep their width; when the table cannot fit, it runs over.

    Example:
        >>> fit(["a", "b"], [["x" * 30, "1"]], width=20).widths
        [17, 1]
    """
    width = terminal_width() if width is None else width
    headers = [str(h) for h in headers]
    rows = [[str(c) for c in row] for row in rows]
    if right is None:
        right = [bool(rows) and all(numeric(r[i]) for r in rows) for i in range(len(headers))]
    widths = [max(len(c) for c in column) for column in zip(headers, *rows)]
    # the narrowest each column may get: a text column MIN_TEXT; a number column its widest
    # figure (a long header wraps over it)
    least = [max([len(r[i]) for r in rows] + [1]) if right[i] else min(MIN_TEXT, widths[i])
             for i in range(len(widths))]
    over = sum(widths) + len(GAP) * (len(widths) - 1) - width
    while over > 0:
        text = [i for i in range(len(widths)) if not right[i] and widths[i] > least[i]]
        numbers = [i for i in range(len(widths)) if right[i] and widths[i] > least[i]]
        if not text and not numbers:
            break
        widths[max(numbers or text, key=lambda j: widths[j])] -= 1  # long headers wrap first
        over -= 1
    return Columns(headers, widths, right)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool = False,
          width: int | None = None, right: Sequence[bool] | None = None) -> str:
    """A table as text: a header, a rule, the rows, wrapped to ``width`` (default: the
    terminal's); or as a markdown table (never wrapped). Ends with a newline.

    Example:
        >>> print(table(["sheet", "loss"], [["adam", "0.25"], ["sgd", "12.5"]]), end="")
        sheet  loss
        -----  ----
        adam   0.25
        sgd    12.5
    """
    if markdown:
        def md(cells):
            return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
        return "\n".join([md(headers), "|" + "---|" * len(headers), *map(md, rows)]) + "\n"
    columns = fit(headers, rows, width, right)
    return "\n".join([columns.head(), *(columns.line(r) for r in rows)]) + "\n"


def wrap(text: str, width: int | None = None, indent: str = "") -> str:
    """A paragraph wrapped to the terminal's width (``width``), continued lines indented.

    Example:
        >>> wrap("one two three four five six", width=20)
        'one two three four\\nfive six'
    """
    width = terminal_width() if width is None else width
    if width >= UNBOUNDED:
        return text
    return textwrap.fill(text, max(width, 20), subsequent_indent=indent,
                         break_on_hyphens=False, break_long_words=False)
