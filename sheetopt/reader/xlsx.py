"""Reading an .xlsx file's cells safely, whatever was done to the file.

An .xlsx file is a zip of XML parts. Any of it may be damaged (a flipped bit, a truncated
copy), edited by hand or built to attack the reader (a zip or XML bomb). Everything is
checked from the zip directory before a byte is inflated (compression method, encryption,
inflated size and compression ratio), the XML is parsed by expat with guards (no entity
declarations, no external references: safexml.py), a sheet a chunk at a time as its rows
end (sheetrows.py), and each cell is converted here, so every problem becomes one
SheetoptError line that names the part, the sheet and the cell.

    >>> with open_xlsx("lesson5.xlsx") as book:            # doctest: +SKIP
    ...     for row, values, formulas in book["adam"].rows(max_row=10):
    ...         print(row, values)
"""
from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from pathlib import Path
from typing import Iterator
from xml.etree.ElementTree import Element
from xml.parsers.expat import ExpatError

from ..errors import SheetoptError
from .safexml import TreeHandlers, XmlRefused, guarded_parser, parse_chunks, parse_tree
from .sheetrows import NAMES as SHEET_NAMES, NO_VALUE, RawRow, RowCollector

MAX_INFLATED = 2 * 1024 ** 3  # bytes, all parts together (a full 1,048,576-row sheet is ~1 GiB)
MAX_RATIO = 100  # inflated / compressed; spreadsheet XML deflates about 4-10 times
RATIO_FLOOR = 1024 ** 2  # parts smaller than this are quick to inflate whatever their ratio
MAX_SMALL_PART = 64 * 1024 ** 2  # workbook.xml, rels, styles: read whole
MAX_ROW = 1_048_576
MAX_COL = 16_384

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_PACKAGE_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*\Z")
_REF = re.compile(r"([A-Z]{1,3})([0-9]{1,7})\Z")
_DATE_FORMATS = {14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 46, 47}  # built-in date/time formats
_QUOTED = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.')
_OK_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_INFINITIES = (float("inf"), float("-inf"))
_COLUMNS: dict[str, int] = {}  # column letters -> 0-based index, for those read (all valid)


class CellError(str):
    """A spreadsheet error value stored in a cell, such as #NUM! or #DIV/0!."""


class CellDate(str):
    """A date or time stored in a cell (as ISO text, or a number in a date format)."""


def size_text(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # unreachable


def column_index(letters: str) -> int:
    """0-based column of letters such as "A" or "XFD"."""
    index = 0
    for ch in letters:
        index = index * 26 + ord(ch) - 64
    return index - 1


def column_letters(col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def open_xlsx(path: str | Path) -> "Book":
    """Opens an .xlsx file for reading; refuses it in one line if it is not a zip, is
    encrypted, uses a compression method other than deflate, or would inflate past the
    limits (MAX_INFLATED in all, MAX_RATIO times its compressed size for a part)."""
    path = Path(path)
    label = str(path)
    try:
        is_file, exists = path.is_file(), path.exists()
    except OSError as exc:  # a name longer than the file system takes, a loop of links
        short = label if len(label) <= 80 else f"{label[:80]}... ({len(label)} characters)"
        raise SheetoptError(f"{short}: cannot read ({exc.strerror or exc})") from None
    if not is_file:
        raise SheetoptError(f"{label}: no such file" if not exists else f"{label}: not a file")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise SheetoptError(f"{label}: not an .xlsx workbook (not a zip file, or a damaged "
                            f"or truncated one)") from None
    except (OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise SheetoptError(f"{label}: not an .xlsx workbook ({_reason(exc)})") from None
    try:
        _check_directory(archive, label)
        return Book(archive, label)
    except BaseException:
        archive.close()
        raise


def _check_directory(archive: zipfile.ZipFile, label: str) -> None:
    total = 0
    for info in archive.infolist():
        where = f"{label}: {info.filename}"
        if info.flag_bits & 0x1:
            raise SheetoptError(f"{where}: encrypted; sheetopt reads unencrypted workbooks only")
        if info.compress_type not in _OK_METHODS:
            raise SheetoptError(f"{where}: unsupported compression method "
                                f"{info.compress_type} (a workbook uses deflate, 8)")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
            raise SheetoptError(f"{where}: refused: inflates {ratio:,.0f} times "
                                f"(to {size_text(info.file_size)}; the limit is {MAX_RATIO} "
                                f"times for a part over {size_text(RATIO_FLOOR)}): a zip bomb?")
        total += info.file_size
        if total > MAX_INFLATED:
            raise SheetoptError(f"{where}: refused: the parts inflate to more than "
                                f"{size_text(MAX_INFLATED)} in all (the limit): a zip bomb?")


def _reason(exc: BaseException) -> str:
    """A short one-line reason for a damaged part."""
    if isinstance(exc, zipfile.BadZipFile):
        text = str(exc)
        if "CRC" in text:
            return "damaged: bad CRC-32 (the data does not match its checksum)"
        return f"damaged zip entry ({text})"
    if isinstance(exc, zlib.error):
        return f"damaged: bad deflate stream ({exc})"
    if isinstance(exc, EOFError):
        return "damaged: the compressed data ends early (a truncated file?)"
    if isinstance(exc, NotImplementedError):
        return f"unsupported ({exc})"
    if isinstance(exc, XmlRefused):
        return f"refused: {exc}"
    if isinstance(exc, ExpatError):
        text = str(exc).splitlines()[0] if str(exc) else "unreadable"
        if text.startswith("no element found: line 1, column 0"):
            return "damaged: empty XML"
        return f"damaged XML ({text})"
    if isinstance(exc, RecursionError):
        return "damaged XML (nested too deeply)"
    if type(exc) is LookupError:  # an XML declaration naming an encoding Python lacks
        return f"damaged XML ({_short(str(exc), 80)})"
    if isinstance(exc, (UnicodeError, ValueError)):
        return f"damaged ({exc.__class__.__name__})"
    return f"unreadable ({exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"


READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ExpatError,
               XmlRefused, RecursionError, UnicodeError, ValueError, OSError, RuntimeError,
               LookupError)


class Book:
    """The sheets of an open .xlsx file, by name (``book.sheetnames``, ``book[name]``)."""

    def __init__(self, archive: zipfile.ZipFile, label: str):
        self.archive, self.label = archive, label
        self._names = set(archive.namelist())
        self.workbook_part = self._main_part()
        rels = self._relationships(self.workbook_part)
        root = self._parse_small(self.workbook_part)
        self._parts: dict[str, str] = {}
        self.sheetnames: list[str] = []
        self.hidden: dict[str, str] = {}
        for element in root.iter(f"{_MAIN}sheet"):
            name = element.get("name")
            rid = next((v for k, v in element.attrib.items() if k.endswith("}id")), None)
            if name is None or rid not in rels:
                raise SheetoptError(f"{label}: {self.workbook_part}: damaged (a sheet without "
                                    f"a name or a part)")
            self.sheetnames.append(name)
            self._parts[name] = rels[rid][1]
            self.hidden[name] = element.get("state", "visible")
        strings = next((t for kind, t in rels.values() if kind.endswith("/sharedStrings")), None)
        self._strings_part = strings
        self._strings: list[str] | None = None
        styles = next((t for kind, t in rels.values() if kind.endswith("/styles")), None)
        self.date_styles = self._date_styles(styles) if styles else frozenset()

    # --- context manager and openpyxl-like access -----------------------------------------
    def __enter__(self) -> "Book":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.archive.close()

    def __contains__(self, name: str) -> bool:
        return name in self._parts

    def __getitem__(self, name: str) -> "Worksheet":
        if name not in self._parts:
            raise SheetoptError(f"{self.label}: the sheet {name!r} is missing")
        return Worksheet(self, name, self._parts[name])

    # --- parts ----------------------------------------------------------------------------
    def open_part(self, part: str):
        if part not in self._names:
            raise SheetoptError(f"{self.label}: the part {part} is missing (damaged workbook)")
        return self.archive.open(part)

    def read_small(self, part: str) -> bytes:
        info = self.archive.getinfo(part) if part in self._names else None
        if info is None:
            raise SheetoptError(f"{self.label}: the part {part} is missing (damaged workbook)")
        if info.file_size > MAX_SMALL_PART:
            raise SheetoptError(f"{self.label}: {part}: refused: {size_text(info.file_size)} "
                                f"inflated (the limit for this part is "
                                f"{size_text(MAX_SMALL_PART)})")
        try:
            return self.archive.read(part)
        except READ_ERRORS as exc:
            raise SheetoptError(f"{self.label}: {part}: {_reason(exc)}") from None

    def _parse_small(self, part: str) -> Element:
        data = self.read_small(part)
        try:
            return parse_tree(data)
        except READ_ERRORS as exc:
            raise SheetoptError(f"{self.label}: {part}: {_reason(exc)}") from None

    def _main_part(self) -> str:
        if "_rels/.rels" in self._names:
            for kind, target in self._relationships("").values():
                if kind.endswith("/officeDocument"):
                    return target
        if "xl/workbook.xml" in self._names:
            return "xl/workbook.xml"
        raise SheetoptError(f"{self.label}: not an .xlsx workbook (no workbook part)")

    def _relationships(self, part: str) -> dict[str, tuple[str, str]]:
        """id -> (type, target part) of a part's relationships ("" for the package's)."""
        folder, name = posixpath.split(part)
        rels_part = posixpath.join(folder, "_rels", f"{name}.rels")
        if rels_part not in self._names:
            return {}
        out = {}
        for element in self._parse_small(rels_part).iter(f"{_PACKAGE_RELS}Relationship"):
            target = element.get("Target", "")
            if element.get("TargetMode") == "External":
                continue
            target = (target.lstrip("/") if target.startswith("/")
                      else posixpath.normpath(posixpath.join(folder, target)))
            out[element.get("Id")] = (element.get("Type", ""), target)
        return out

    def strings(self) -> list[str]:
        """The shared-string table (read once, on first use)."""
        if self._strings is None:
            self._strings = []
            if self._strings_part is not None:
                self._strings = self._read_strings(self._strings_part)
        return self._strings

    def _read_strings(self, part: str) -> list[str]:
        out = []

        def ended(element: Element) -> None:
            if element.tag == f"{_MAIN}si":
                out.append(_text_of(element))
                element.clear()

        try:
            with self.open_part(part) as stream:
                parser = guarded_parser()
                TreeHandlers(parser, on_end=ended)
                for _ in parse_chunks(parser, stream):
                    pass
        except READ_ERRORS as exc:
            raise SheetoptError(f"{self.label}: {part}: {_reason(exc)}") from None
        return out

    def _date_styles(self, part: str) -> frozenset[str]:
        """The cell style indices (the ``s`` attribute) whose number format shows a date."""
        root = self._parse_small(part)
        custom = {}
        for fmt in root.iter(f"{_MAIN}numFmt"):
            custom[fmt.get("numFmtId")] = fmt.get("formatCode", "")
        dates = set()
        xfs = root.find(f"{_MAIN}cellXfs")
        for index, xf in enumerate(xfs if xfs is not None else ()):
            number_format = xf.get("numFmtId", "0")
            if number_format in custom:
                code = _QUOTED.sub("", custom[number_format]).lower()
                if any(ch in code for ch in "ymdhs") and "general" not in code:
                    dates.add(str(index))
            elif number_format.isdigit() and int(number_format) in _DATE_FORMATS:
                dates.add(str(index))
        return frozenset(dates)


def _text_of(element) -> str:
    """A string item's text: its <t>, or its runs' <t>s (phonetic runs left out)."""
    own = element.find(f"{_MAIN}t")
    if own is not None:
        return own.text or ""
    return "".join(t.text or "" for r in element.iter(f"{_MAIN}r") for t in r.iter(f"{_MAIN}t"))


class Worksheet:
    """One sheet's cells, read row by row without holding the sheet in memory."""

    def __init__(self, book: Book, title: str, part: str):
        self.book, self.title, self.part = book, title, part

    def where(self, ref: str | None = None) -> str:
        cell = f" cell {ref}" if ref else ""
        return f"{self.book.label}: {self.part} (sheet {self.title!r}){cell}"

    def rows(self, max_row: int | None = None) -> Iterator[tuple[int, list, list]]:
        """(0-based row, values by column, formula flags by column) for each stored row, in
        order; a missing cell is None. Numbers are floats, text is str, a boolean is bool, an
        error is CellError, a date is CellDate. Stops after row ``max_row`` (1-based)."""
        try:
            with self.book.open_part(self.part) as stream:
                parser = guarded_parser(SHEET_NAMES)
                collector = RowCollector(parser)
                batches = (collector.take() for _ in parse_chunks(parser, stream))
                yield from self._rows(batches, max_row)
        except SheetoptError:
            raise
        except READ_ERRORS as exc:
            raise SheetoptError(f"{self.where()}: {_reason(exc)}") from None

    def _rows(self, batches: Iterator[list[RawRow]], max_row: int | None):
        previous = -1
        for batch in batches:
            for raw in batch:
                row = previous + 1 if raw.number is None else _row_number(raw.number, self)
                if row <= previous:
                    raise SheetoptError(f"{self.where()}: damaged: row {row + 1} comes after "
                                        f"row {previous + 1}")
                if max_row is not None and row >= max_row:
                    return
                values, formulas = self._cells(raw.cells, row)
                previous = row
                for element in raw.clear:
                    element.clear()
                yield row, values, formulas

    def _cells(self, cells: list[list], row: int) -> tuple[list, list]:
        values: list = []
        formulas: list = []
        col = -1
        suffix, is_number, dates = str(row + 1), _NUMBER.match, self.book.date_styles
        for attrs, formula, text, inline in cells:
            ref = attrs.get("r")
            if ref is None:
                col += 1
                ref = f"{column_letters(col)}{row + 1}"
            else:
                new = _COLUMNS.get(ref[:-len(suffix)]) if ref.endswith(suffix) else None
                if new is None:  # not seen before, or damaged
                    new = self._column(ref, row)
                if new <= col:
                    raise SheetoptError(f"{self.where(ref)}: damaged: cells out of order")
                col = new
            # the commonest cell, a plain number, read here; _value reads any other alike
            if ("t" in attrs or text.__class__ is not str or not is_number(text)
                    or (value := float(text)) in _INFINITIES or attrs.get("s") in dates):
                value = self._value(attrs, text, inline, ref)
            if col == len(values):
                values.append(value)
                formulas.append(formula)
            else:
                gap = col - len(values)
                values.extend([None] * gap + [value])
                formulas.extend([False] * gap + [formula])
        return values, formulas

    def _column(self, ref: str, row: int) -> int:
        """The column of a cell reference in row ``row`` (0-based), checked."""
        match = _REF.match(ref)
        col = column_index(match.group(1)) if match is not None else MAX_COL
        if col >= MAX_COL or int(match.group(2)) != row + 1:
            raise SheetoptError(f"{self.where()}: damaged: a cell reference {ref!r} "
                                f"in row {row + 1}")
        _COLUMNS[match.group(1)] = col
        return col

    def _value(self, attrs: dict, text: str | None, inline, ref: str):
        kind = attrs.get("t", "n")
        if kind == "inlineStr":
            return None if inline is None else _text_of(inline)
        if text is None or text is NO_VALUE:
            return None
        if kind == "n":
            if not _NUMBER.match(text):
                raise SheetoptError(f"{self.where(ref)}: a number cell holds "
                                    f"{_short(text)!r}, not a number")
            number = float(text)
            if number in _INFINITIES:
                raise SheetoptError(f"{self.where(ref)}: the number {_short(text)} is too large "
                                    f"({len(text.strip())} characters; at most about 1.8e308)")
            if attrs.get("s") in self.book.date_styles:
                return CellDate(f"{number:g} (shown as a date)")
            return number
        if kind == "s":
            strings = self.book.strings()
            if not text.strip().isdigit() or int(text) >= len(strings):
                raise SheetoptError(f"{self.where(ref)}: shared string {_short(text)!r} does not "
                                    f"exist (the table has {len(strings):,})")
            return strings[int(text)]
        if kind == "str":
            return text
        if kind == "b":
            if text.strip() not in ("0", "1"):
                raise SheetoptError(f"{self.where(ref)}: a boolean cell holds {_short(text)!r}")
            return text.strip() == "1"
        if kind == "e":
            return CellError(text)
        if kind == "d":
            return CellDate(text)
        raise SheetoptError(f"{self.where(ref)}: unknown cell type {_short(kind)!r}")

    def iter_rows(self, min_row: int = 1, max_row: int | None = None,
                  max_col: int | None = None, values_only: bool = True) -> Iterator[tuple]:
        """openpyxl's read-only ``iter_rows(values_only=True)``: every row from ``min_row`` to
        ``max_row`` (1-based) as a tuple, missing rows as empty tuples."""
        expected = min_row - 1
        for row, values, _ in self.rows(max_row):
            if row < min_row - 1:
                continue
            while expected < row:
                yield ()
                expected += 1
            yield tuple(values[:max_col] if max_col else values)
            expected += 1


def _row_number(text: str, sheet: Worksheet) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_ROW:
        raise SheetoptError(f"{sheet.where()}: damaged: a row number {_short(text)!r}")
    return int(text) - 1


def _short(text: str, limit: int = 40) -> str:
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}..."
