"""What a sheet's XML says of its rows, collected by expat handlers as the parser goes.

``RowCollector`` gathers, for each ``<row>`` as it ends, what ``Worksheet.rows()`` converts:
the row's ``r`` attribute and, for each ``<c>`` child, a list ``[attrs, formula, text,
inline]``: its attributes, whether it has an ``<f>``, the text of its first ``<v>`` (None
where that is empty, NO_VALUE where there is none) and its first ``<is>`` (an inline string,
as an Element, or None). It reads the XML as ElementTree's tree shows it (children are direct
children, a text is what comes before an element's first child) without building elements
for the rest: reading a sheet costs a small Python call per tag. Rows come out in document
order, each with what its reader clears once it has read it (see ``RawRow``).

    >>> from sheetopt.reader.safexml import guarded_parser
    >>> parser = guarded_parser()
    >>> rows = RowCollector(parser)
    >>> parser.Parse(b'<row xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    ...              b' r="1"><c r="A1"><f>1+1</f><v>2</v></c></row>', True)
    1
    >>> [(raw.number, raw.cells) for raw in rows.take()]
    [('1', [[{'r': 'A1'}, True, '2', None]])]
"""
from __future__ import annotations

from xml.etree.ElementTree import Element, TreeBuilder
from xml.parsers import expat

from .safexml import element_name, start_element

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main}"  # expat's spelling
NAMES = ROW, CELL, FORMULA, VALUE, INLINE, SHEET_DATA = tuple(
    _MAIN + tag for tag in ("row", "c", "f", "v", "is", "sheetData"))  # guarded_parser(NAMES)
NO_VALUE = object()  # a cell's text before it has a <v>
_IN_VALUE = object()  # on the stack: the <v> whose text is being read


class RawRow:
    """One ended ``<row>``: its ``r`` attribute and cells. ``clear`` lists the elements that
    ElementTree's reader cleared once it had read the row (the row itself and the last
    ``<sheetData>`` begun) where they lie inside an inline string being built: clearing
    them after the row is read keeps such a string as that reader saw it."""
    __slots__ = ("number", "cells", "clear")

    def __init__(self, number: str | None):
        self.number, self.cells, self.clear = number, [], ()


class RowCollector:
    """Handlers on ``parser`` that collect each row as it ends; ``take()`` hands them out
    (the module's docstring shows one at work)."""

    def __init__(self, parser: expat.XMLParserType):
        self._parser = parser
        self._rows: list[RawRow] = []
        self._stack: list = [None]  # per open element: its RawRow, cell list, _IN_VALUE or None
        self._pieces: list[str] = []  # of the text of the <v> being read
        self._value_cell: list | None = None  # the cell that <v> belongs to
        self._tree: TreeBuilder | None = None  # builds the inline string being read
        self._tree_depth = 0
        self._sheet_data: Element | None = None  # the last <sheetData> begun, where built
        self._plain = self._handlers()
        self._set(*self._plain)

    def take(self) -> list[RawRow]:
        """The rows ended since the last call, in order."""
        rows, self._rows = self._rows, []
        return rows

    def _set(self, start, end, data) -> None:
        parser = self._parser
        parser.StartElementHandler, parser.EndElementHandler = start, end
        parser.CharacterDataHandler = data

    def _handlers(self) -> tuple:
        """The handlers, as closures: a tag costs a few local lookups (a sheet has millions).
        ``element`` is the tag's Element where an inline string is being built (_tree_begin).
        A cell is the list [attrs, formula, text, inline] (the module's docstring)."""
        stack, push, pop = self._stack, self._stack.append, self._stack.pop

        def start(name: str, attrs: dict, element: Element | None = None) -> None:
            top = stack[-1]
            if top is _IN_VALUE:  # the text of a <v> ends at its first child
                self._end_value()
                top = stack[-1] = None
            if top.__class__ is list:  # a cell's child: top[1] formula, [2] text, [3] inline
                if name == VALUE:
                    if top[2] is NO_VALUE:
                        top[2], self._value_cell, self._pieces = None, top, []
                        push(_IN_VALUE)
                        return
                elif name == FORMULA:
                    top[1] = True
                elif name == INLINE and top[3] is None:
                    top[3] = element if element is not None else self._tree_begin(name, attrs)
                if name != ROW and name != SHEET_DATA:
                    push(None)
                    return
            elif name == CELL and top.__class__ is RawRow:
                cell = [attrs, False, NO_VALUE, None]
                top.cells.append(cell)
                push(cell)
                return
            if name == ROW:
                push(RawRow(attrs.get("r")))
                return
            if name == SHEET_DATA:
                self._sheet_data = element
            push(None)

        def end(name: str, element: Element | None = None) -> None:
            frame = pop()
            if frame is None or frame.__class__ is list:
                return
            if frame is _IN_VALUE:
                self._end_value()
            else:
                frame.clear = tuple(e for e in (element, self._sheet_data) if e is not None)
                self._rows.append(frame)

        def data(text: str) -> None:
            if stack[-1] is _IN_VALUE:
                self._pieces.append(text)

        return start, end, data

    def _end_value(self) -> None:
        self._value_cell[2] = "".join(self._pieces) or None

    # --- the Element of an inline string, built as ElementTree builds it -----------------
    def _tree_begin(self, name: str, attrs: dict) -> Element:
        """Builds Elements from this <is> to its end, every tag also read as above."""
        self._tree, self._tree_depth = TreeBuilder(), 0
        self._set(self._tree_start, self._tree_end, self._tree_data)
        return self._tree_element(name, attrs)

    def _tree_element(self, name: str, attrs: dict) -> Element:
        self._tree_depth += 1
        return start_element(self._tree, name, attrs)

    def _tree_start(self, name: str, attrs: dict) -> None:
        self._plain[0](name, attrs, self._tree_element(name, attrs))

    def _tree_end(self, name: str) -> None:
        element = self._tree.end(element_name(name))
        self._tree_depth -= 1
        if self._tree_depth == 0:
            self._tree = None
            self._set(*self._plain)
        self._plain[1](name, element)

    def _tree_data(self, text: str) -> None:
        self._tree.data(text)
        self._plain[2](text)
