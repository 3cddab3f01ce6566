"""What a sheet's XML says of its rows, collected by expat handlers as the parser goes.

``RowCollector`` gathers, for each ``<row>`` as it ends, what ``Worksheet.rows()`` converts:
the row's ``r`` attribute and, for each ``<c>`` child, its attributes, whether it has an
``<f>``, the text of its first ``<v>`` and its first ``<is>`` (inline string, as an Element).
It reads the XML as ElementTree's tree would show it (children are direct children, a text is
what comes before an element's first child) without building elements for the rest, so that
reading a sheet costs one small Python call per tag. Rows are handed out in document order,
each with what its reader must clear afterwards (see ``RawRow``).

    >>> from sheetopt.reader.safexml import guarded_parser
    >>> parser = guarded_parser()
    >>> rows = RowCollector(parser)
    >>> parser.Parse(b'<row xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    ...              b' r="1"><c r="A1"><f>1+1</f><v>2</v></c></row>', True)
    1
    >>> [(raw.number, [(c.attrs, c.formula, c.text) for c in raw.cells]) for raw in rows.take()]
    [('1', [({'r': 'A1'}, True, '2')])]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, TreeBuilder
from xml.parsers import expat

from .safexml import element_name

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main}"  # expat's spelling
ROW, CELL, FORMULA, VALUE, INLINE, SHEET_DATA = (
    _MAIN + tag for tag in ("row", "c", "f", "v", "is", "sheetData"))


@dataclass(eq=False, slots=True)
class RawCell:
    """One ``<c>``: its attributes, whether it has an ``<f>``, the text of its first ``<v>``
    (None where it has none or it is empty) and its first ``<is>``."""
    attrs: dict
    formula: bool = False
    has_value: bool = False
    text: str | None = None
    inline: Element | None = None


@dataclass(eq=False, slots=True)
class RawRow:
    """One ended ``<row>``: its ``r`` attribute and cells. ``clear`` lists the elements that
    ElementTree's reader cleared once it had read the row (the row itself and the last
    ``<sheetData>`` begun), where they lie inside an inline string being built: clearing
    them after the row is read keeps such a string as that reader saw it."""
    number: str | None
    cells: list = field(default_factory=list)
    clear: tuple = ()


class RowCollector:
    """Handlers on ``parser`` that collect each row as it ends; ``take()`` hands them out."""

    def __init__(self, parser: expat.XMLParserType):
        self._rows: list[RawRow] = []
        self._open: list = [None]  # per open element: the RawRow, RawCell or text list it fills
        self._tree: TreeBuilder | None = None  # builds the inline string being read
        self._tree_depth = 0
        self._sheet_data: Element | None = None  # the last <sheetData> begun, where built
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._data

    def take(self) -> list[RawRow]:
        """The rows ended since the last call, in order."""
        rows, self._rows = self._rows, []
        return rows

    def _start(self, name: str, attrs: dict) -> None:
        parent = self._open[-1]
        if type(parent) is list:  # the text of a <v> ends at its first child
            _end_text(parent)
            parent = self._open[-1] = None
        element = self._tree_start(name, attrs) if self._tree is not None else None
        frame = None
        if name == ROW:
            frame = RawRow(attrs.get("r"))
        elif name == SHEET_DATA:
            self._sheet_data = element
        elif type(parent) is RawRow:
            if name == CELL:
                frame = RawCell(attrs)
                parent.cells.append(frame)
        elif type(parent) is RawCell:
            frame = self._cell_child(parent, name, attrs, element)
        self._open.append(frame)

    def _cell_child(self, cell: RawCell, name: str, attrs: dict, element):
        if name == FORMULA:
            cell.formula = True
        elif name == VALUE and not cell.has_value:
            cell.has_value = True
            return [cell]  # then the pieces of its text
        elif name == INLINE and cell.inline is None:
            cell.inline = element if element is not None else self._tree_begin(name, attrs)
        return None

    def _end(self, name: str) -> None:
        frame = self._open.pop()
        element = self._tree_end(name) if self._tree is not None else None
        if type(frame) is RawRow:
            frame.clear = tuple(e for e in (element, self._sheet_data) if e is not None)
            self._rows.append(frame)
        elif type(frame) is list:
            _end_text(frame)

    def _data(self, text: str) -> None:
        frame = self._open[-1]
        if type(frame) is list:
            frame.append(text)
        if self._tree is not None:
            self._tree.data(text)

    # --- the Element of an inline string, built as ElementTree builds it -----------------
    def _tree_begin(self, name: str, attrs: dict) -> Element:
        self._tree, self._tree_depth = TreeBuilder(), 0
        return self._tree_start(name, attrs)

    def _tree_start(self, name: str, attrs: dict) -> Element:
        self._tree_depth += 1
        return self._tree.start(element_name(name), {element_name(k): v for k, v in attrs.items()})

    def _tree_end(self, name: str) -> Element:
        element = self._tree.end(element_name(name))
        self._tree_depth -= 1
        if self._tree_depth == 0:
            self._tree = None
        return element


def _end_text(frame: list) -> None:
    """A <v>'s text is complete: ``frame`` is its cell, then the pieces read."""
    frame[0].text = "".join(frame[1:]) or None
