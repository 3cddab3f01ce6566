"""Gnumeric, for tests: a second spreadsheet program that recalculates sheetopt's workbooks.

``ssconvert --recalc in.xlsx out.xlsx`` recomputes every formula before it saves. Gnumeric
writes cell comments in a form openpyxl cannot read (it fails on them), so cells are read from
the saved sheet XML here (:func:`read_cells`); the same reader reads sheetopt's own files.

Also here:
- :func:`blank_caches`: every formula cell's cached value overwritten with a wrong number, so
  only a real recalculation can give the right values back;
- :func:`operand_scales`: the magnitude each formula cell's result is compared against: how
  far rounding can move it given the magnitudes of its operands (see there for why).
"""
from __future__ import annotations

import functools
import math
import operator
import os
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import NamedTuple
from xml.etree import ElementTree

import pytest
from xlsxwriter.utility import xl_cell_to_rowcol, xl_rowcol_to_cell

from libreoffice import sheet_part
from sheetopt.workbook.layout import HEADER_ROW

REL = 1e-12  # the largest difference allowed, relative to the operands' magnitude
NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
SENTINEL = -987654.321  # the wrong cached value every formula cell gets before recalculation


def ssconvert() -> str | None:
    return shutil.which("ssconvert")


def require_ssconvert() -> str:
    """The ssconvert path; skips loudly without it, but fails in CI (CI=true), where it must run."""
    path = ssconvert()
    if path is None:
        message = ("Gnumeric (ssconvert) is not installed: the Gnumeric recalculation tests "
                   "CANNOT RUN here (apt-get install gnumeric)")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def recalculate(paths: list[Path], out_dir: Path, timeout: int = 600) -> list[Path]:
    """Recalculates each workbook with Gnumeric and saves it as xlsx into ``out_dir`` (same
    file names); returns the new paths. ssconvert takes one file per call and starts in a
    fraction of a second, so the calls run side by side, as many as there are CPUs."""
    binary = require_ssconvert()
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = [out_dir / Path(p).name for p in paths]
    for path, output in zip(paths, outputs):
        if Path(path).resolve() == output.resolve():
            raise ValueError(f"{path}: the input must not be in the output folder")
    env = dict(os.environ, HOME=str(out_dir))  # no settings from the user's Gnumeric profile
    pending = list(zip(paths, outputs))
    running: list[tuple[Path, subprocess.Popen]] = []
    failures = []
    while pending or running:
        while pending and len(running) < (os.cpu_count() or 1):
            path, output = pending.pop(0)
            command = [binary, "--recalc", str(path), str(output)]
            running.append((path, subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                                   stderr=subprocess.STDOUT, text=True)))
        path, process = running.pop(0)
        out, _ = process.communicate(timeout=timeout)
        if process.returncode != 0:
            failures.append(f"{path}: exit {process.returncode}: {out[-2000:]}")
    missing = [str(p) for p in outputs if not p.exists()]
    if failures or missing:
        raise RuntimeError(f"ssconvert failed: {failures}; missing {missing}")
    return outputs


class Cell(NamedTuple):  # a tuple: quick to make for each of a big sheet's 100,000 cells
    formula: str | None  # without the leading "="
    value: object  # float, str, bool, an Error, or None (no stored value)


@dataclass(frozen=True)
class Error:
    """A spreadsheet error value such as #NUM!."""

    code: str


def sheet_titles(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        root = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    return [sheet.get("name") for sheet in root.iter(f"{NS}sheet")]


def defined_names(path: Path) -> dict[str, tuple[str, str]]:
    """Workbook-level names that point at one cell: name -> (sheet, "C5")."""
    with zipfile.ZipFile(path) as archive:
        root = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    names = {}
    for item in root.iter(f"{NS}definedName"):
        found = re.fullmatch(r"'?(.+?)'?!\$?([A-Z]+)\$?(\d+)", (item.text or "").strip())
        if found and item.get("localSheetId") is None:
            names[item.get("name")] = (found.group(1).replace("''", "'"),
                                       found.group(2) + found.group(3))
    return names


def _text(element) -> str:
    return "".join(t.text or "" for t in element.iter(f"{NS}t"))


_CELL = re.compile(r'<c r="([A-Z]+\d+)"([^>]*?)(?:/>|>(.*?)</c>)', re.S)
_F = re.compile(r"<f([^>]*)(?:/>|>(.*?)</f>)", re.S)
_V = re.compile(r"<v>(.*?)</v>", re.S)
_T = re.compile(r"<t(?:\s[^>]*)?>(.*?)</t>", re.S)
_TYPE = re.compile(r'\bt="(\w+)"')


def read_cells(path: Path) -> dict[str, dict[str, Cell]]:
    """sheet -> {"C5": Cell(formula, value)} for every cell that holds a formula or a value.
    The sheets' cells are read with regular expressions (an XML tree of a 100,000-cell sheet
    takes seconds to build); both sheetopt's and Gnumeric's files write them plainly."""
    with zipfile.ZipFile(path) as archive:
        shared = []
        if "xl/sharedStrings.xml" in archive.namelist():
            root = ElementTree.fromstring(archive.read("xl/sharedStrings.xml"))
            shared = [_text(si) for si in root.iter(f"{NS}si")]
        book = {}
        for title in sheet_titles(path):
            cells = {}
            for ref, attributes, body in _CELL.findall(archive.read(sheet_part(path, title)).decode()):
                cell = _cell(path, title, ref, attributes, body, shared)
                if cell is not None:
                    cells[ref] = cell
            book[title] = cells
    return book


def _cell(path, title, ref, attributes, body, shared) -> Cell | None:
    """One ``<c>`` element's formula and value (None: it holds neither)."""
    found = _TYPE.search(attributes) if 't="' in attributes else None
    kind = found.group(1) if found else "n"
    if body.startswith("<v>") and body.endswith("</v>") and "<" not in body[3:-4]:
        formula, text = None, body[3:-4]  # the common case: a plain value
    else:
        f, v = _F.search(body), _V.search(body)
        if f is not None and 't="shared"' in f.group(1) and not f.group(2):
            raise ValueError(f"{path}: {title}!{ref}: shared formulas are not read")
        formula = None if f is None else _unescape(f.group(2) or "")
        text = None if v is None else v.group(1)
    if text is not None:
        text = _unescape(text)
    if kind == "n":
        value = None if text is None else float(text)
    elif kind == "inlineStr":
        value = unescape("".join(_T.findall(body)))
    elif text is None:
        value = None
    elif kind == "s":
        value = shared[int(text)]
    elif kind == "str":
        value = text
    elif kind == "b":
        value = text == "1"
    elif kind == "e":
        value = Error(text)
    else:
        value = float(text)
    return None if formula is None and value is None else Cell(formula, value)


def _unescape(text: str) -> str:
    return unescape(text) if "&" in text else text


_FORMULA_CELL = re.compile(r'<c ([^>]*)>(<f[^>]*>[^<]*</f>|<f[^>]*/>)(?:<v>[^<]*</v>)?</c>')


def _blanked(cell: re.Match, value: float) -> str:
    attributes = re.sub(r'\s*\bt="[^"]*"', "", cell.group(1))  # the cached value's type
    return f"<c {attributes}>{cell.group(2)}<v>{value!r}</v></c>"


def blank_caches(source: Path, target: Path, value: float = SENTINEL) -> int:
    """Copies ``source`` to ``target`` with every formula cell's cached value replaced by
    ``value`` (as a number: a text or error result loses its type too); returns how many
    formula cells there are. Everything else is kept byte for byte."""
    total = 0
    parts = {sheet_part(source, title) for title in sheet_titles(source)}
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename in parts:
                text, count = _FORMULA_CELL.subn(lambda m: _blanked(m, value), data.decode())
                formulas = len(re.findall(r"<f[ >/]", text))
                if count != formulas:
                    raise ValueError(f"{item.filename}: {formulas} formulas, {count} rewritten")
                total += count
                data = text.encode()
            zout.writestr(item, data)
    return total


# -- the scale a formula's result is compared against -----------------------------------------

class _Range(list):
    """The values of a cell range, for MAX, MIN, SUM and friends."""


_TOKEN = re.compile(r"""\s*(?:
    (?P<ref>(?:(?:'(?:[^']|'')+'|[A-Za-z_][\w.]*)!)?\$?[A-Z]{1,3}\$?\d+(?::\$?[A-Z]{1,3}\$?\d+)?)(?![\w(])
  | (?P<number>\d+(?:\.\d*)?(?:[Ee][-+]?\d+)?|\.\d+(?:[Ee][-+]?\d+)?)
  | (?P<string>"(?:[^"]|"")*")
  | (?P<name>[A-Za-z_][\w.]*)
  | (?P<op><>|<=|>=|[-+*/^&=<>(),%])
)""", re.VERBOSE)


@functools.lru_cache(maxsize=None)
def _tokens(formula: str) -> tuple[tuple[str, str], ...]:
    out, at = [], 0
    formula = formula.strip()
    while at < len(formula):
        found = _TOKEN.match(formula, at)
        if not found:
            raise ValueError(f"cannot read formula {formula!r} at {formula[at:]!r}")
        out.append((found.lastgroup, found.group(found.lastgroup)))
        at = found.end()
    return tuple(out)


def _num(x):
    """A value in arithmetic: empty is 0, TRUE is 1; text and errors pass on as errors."""
    if x is None:
        return 0.0
    if isinstance(x, bool):
        return float(x)
    if isinstance(x, float):
        return x
    if isinstance(x, Error):
        return x
    return Error("#VALUE!")


_COMPARE = {"=": operator.eq, "<>": operator.ne, "<": operator.lt, ">": operator.gt,
            "<=": operator.le, ">=": operator.ge}
# a cell reference as the tokenizer's "ref" reads it, not inside a name or a number
_REF = re.compile(r"(?<![\w.$])((?:'(?:[^']|'')+'|[A-Za-z_][\w.]*)!)?(\$?)([A-Z]{1,3})(\$?)(\d+)"
                  r"(?::(\$?)([A-Z]{1,3})(\$?)(\d+))?(?![\w(])")
_cell_name = functools.lru_cache(maxsize=None)(xl_rowcol_to_cell)
_cell_position = functools.lru_cache(maxsize=None)(xl_cell_to_rowcol)


@functools.lru_cache(maxsize=None)
def _column(letters: str) -> int:
    return xl_cell_to_rowcol(f"{letters}1")[1]


def _compared(left, op, right):
    a, b = left[0], right[0]
    if isinstance(a, Error) or isinstance(b, Error):
        return (a if isinstance(a, Error) else b, 0.0)
    return _COMPARE[op](0.0 if a is None else a, 0.0 if b is None else b), 0.0


def _added(left, op, right):
    a, b = left[0], right[0]
    if a.__class__ is not float or b.__class__ is not float:  # (two numbers: no _num)
        a, b = _num(a), _num(b)
        if isinstance(a, Error) or isinstance(b, Error):
            return (a if isinstance(a, Error) else b, 0.0)
    return (a + b if op == "+" else a - b, left[1] + right[1])


def _multiplied(left, op, right):
    a, b = left[0], right[0]
    if a.__class__ is not float or b.__class__ is not float:
        a, b = _num(a), _num(b)
        if isinstance(a, Error) or isinstance(b, Error):
            return (a if isinstance(a, Error) else b, 0.0)
    if op == "*":
        return (a * b, abs(a) * right[1] + left[1] * abs(b))
    if b == 0:
        return (Error("#DIV/0!"), 0.0)
    return (a / b, left[1] / abs(b) + abs(a) * right[1] / (b * b))


def _signed(op, operand):
    value = _num(operand[0])
    if isinstance(value, Error):
        return value, 0.0
    return (-value if op == "-" else value), operand[1]


def _concatenated(left, right):
    return f"{left[0]}{right[0]}", 0.0


def _cells_of(get, sheet, r1, c1, r2, c2):
    return _Range(get(sheet, _cell_name(r, c)) for r in range(r1, r2 + 1)
                  for c in range(c1, c2 + 1)), 0.0


@functools.lru_cache(maxsize=None)
def _code(source: str):
    """Formulas of the same form (numbers, sheets and offsets are all in ``_K``) share one."""
    return compile(source, "<formula>", "exec")


class _Compiler:
    """Compiles a formula to a function ``(get, row, col) -> (value, scale)``: recursive
    descent, Excel precedence; ``get(sheet, ref)`` gives a referenced cell's (value, scale)
    and ``(row, col)`` is the formula cell's position (0-based), which relative references
    move with, so one compiled function serves every cell whose formula has the same shape
    (a column of step rows). The function does what an interpreter of the formula would, IF's
    branches all evaluated; it is Python source, one assignment per operation, compiled once
    per form (a tree of closures called per operation took twice as long).

    The scale bounds how far rounding can move the result, in units of the unit roundoff:
    first-order error propagation with each operand off by its own scale. A referenced
    number counts with its magnitude; a + b and a - b with scale(a) + scale(b) (a difference
    keeps its operands' errors however small it is); a*b with |a| scale(b) + scale(a) |b|;
    a/b with scale(a)/|b| + |a| scale(b)/b^2; a^b with |b a^(b-1)| scale(a) (+ the exponent's
    share); SQRT(x) with sqrt(x) + scale(x)/(2 sqrt(x)); MAX/MIN with the largest operand
    scale; IF with the scale of the branch taken.
    """

    def __init__(self, formula: str, names, sheet: str, row: int = 0, col: int = 0):
        self.formula, self.tokens, self.at = formula, _tokens(formula), 0
        self.names, self.sheet, self.row, self.col = names, sheet, row, col
        self.lines: list[str] = []
        self.constants: list = []

    def run(self):
        result = self.comparison()
        if self.at != len(self.tokens):
            raise ValueError(f"cannot read formula {self.formula!r}: stray "
                             f"{self.tokens[self.at:]}")
        body = "".join(f"    {line}\n" for line in self.lines)
        namespace = dict(_RUNTIME, _K=tuple(self.constants))
        exec(_code(f"def formula(get, row, col):\n{body}    return {result}\n"), namespace)
        return namespace["formula"]

    def emit(self, expression: str) -> str:
        """A new temporary holding ``expression``; its name."""
        name = f"v{len(self.lines)}"
        self.lines.append(f"{name} = {expression}")
        return name

    def constant(self, value) -> str:
        self.constants.append(value)
        return f"_K[{len(self.constants) - 1}]"

    def copied(self):
        """``(row, col) -> (sheet, ref)`` of the one cell the formula only copies, else None."""
        if len(self.tokens) != 1 or self.tokens[0][0] != "ref":
            return None
        sheet, corners = self.corners(self.tokens[0][1])
        if len(corners) != 1:
            return None
        (dr, ra), (dc, ca) = corners[0]
        return lambda row, col: (sheet, _cell_name(dr if ra else row + dr, dc if ca else col + dc))

    def peek(self):
        return self.tokens[self.at] if self.at < len(self.tokens) else (None, None)

    def take(self, text=None):
        token = self.peek()
        if text is not None and token[1] != text:
            raise ValueError(f"expected {text!r}, found {token[1]!r}")
        self.at += 1
        return token

    def binary(self, function: str, left: str, op: str, right: str) -> str:
        return self.emit(f"{function}({left}, {op!r}, {right})")

    def comparison(self):
        left = self.concat()
        while self.peek()[1] in _COMPARE:
            op = self.take()[1]
            left = self.binary("_compared", left, op, self.concat())
        return left

    def concat(self):
        left = self.additive()
        while self.peek()[1] == "&":
            self.take()
            left = self.emit(f"_concatenated({left}, {self.additive()})")
        return left

    def additive(self):
        left = self.multiplicative()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            left = self.binary("_added", left, op, self.multiplicative())
        return left

    def multiplicative(self):
        left = self.power()
        while self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            left = self.binary("_multiplied", left, op, self.power())
        return left

    def power(self):
        left = self.unary()
        while self.peek()[1] == "^":
            self.take()
            left = self.emit(f"_power({left}, {self.unary()})")
        return left

    def unary(self):
        if self.peek()[1] in ("-", "+"):
            op, operand = self.take()[1], self.unary()
            return self.emit(f"_signed({op!r}, {operand})")
        return self.atom()

    def atom(self):
        kind, text = self.take()
        if kind == "number":
            return self.constant((float(text), abs(float(text))))
        if kind == "string":
            return self.constant((text[1:-1].replace('""', '"'), 0.0))
        if kind == "ref":
            return self.reference(text)
        if kind == "name":
            if self.peek()[1] == "(":
                return self.call(text.upper())
            if text.upper() in ("TRUE", "FALSE"):
                return self.constant((text.upper() == "TRUE", 0.0))
            if text not in self.names:
                raise ValueError(f"unknown name {text!r}")
            sheet, ref = self.names[text]
            return self.emit(f"get({self.constant(sheet)}, {self.constant(ref)})")
        if text == "(":
            inner = self.comparison()
            self.take(")")
            return inner
        raise ValueError(f"unexpected {text!r}")

    def corners(self, text):
        """A reference's sheet and its corners, each ``((dr, absolute row), (dc, absolute
        column))``: the cell is at row ``dr`` if absolute, else the formula's row + ``dr``."""
        if "!" in text:
            sheet, text = text.rsplit("!", 1)
            sheet = sheet[1:-1].replace("''", "'") if sheet.startswith("'") else sheet
        else:
            sheet = self.sheet
        corners = []
        for part in text.split(":"):
            c_abs, letters, r_abs, digits = re.fullmatch(r"(\$?)([A-Z]+)(\$?)(\d+)", part).groups()
            r, c = int(digits) - 1, _column(letters)
            corners.append(((r if r_abs else r - self.row, bool(r_abs)),
                            (c if c_abs else c - self.col, bool(c_abs))))
        return sheet, corners

    def position(self, corner) -> tuple[str, str]:
        """Source text of a corner's row and column."""
        (dr, ra), (dc, ca) = corner
        dr, dc = self.constant(dr), self.constant(dc)
        return (dr if ra else f"row + {dr}"), (dc if ca else f"col + {dc}")

    def reference(self, text):
        sheet, corners = self.corners(text)
        sheet = self.constant(sheet)
        if len(corners) == 1:
            r, c = self.position(corners[0])
            return self.emit(f"get({sheet}, _cell_name({r}, {c}))")
        (r1, c1), (r2, c2) = map(self.position, corners)
        return self.emit(f"_cells_of(get, {sheet}, {r1}, {c1}, {r2}, {c2})")

    def call(self, name):
        self.take("(")
        args = []
        if self.peek()[1] != ")":
            args.append(self.comparison())
            while self.peek()[1] == ",":
                self.take()
                args.append(self.comparison())
        self.take(")")
        return self.emit(f"_call({name!r}, [{', '.join(args)}])")


def _call(name, args):
    """A function's (value, scale) from its arguments' (value, scale) pairs (all of
    them evaluated, IF's branches too)."""
    flat = []
    for value, scale in args:
        if isinstance(value, _Range):
            flat.extend((v, s) for v, s in value if isinstance(v, (float, Error)))
        else:
            flat.append((_num(value), scale))
    errors = [v for v, _ in flat if isinstance(v, Error)]
    if name == "IF":
        condition = args[0][0]
        if isinstance(condition, Error):
            return condition, 0.0
        return args[1] if condition else (args[2] if len(args) > 2 else (False, 0.0))
    if name == "ISERROR":
        return isinstance(args[0][0], Error) or (
            isinstance(args[0][0], _Range) and bool(errors)), 0.0
    if name in ("OR", "AND"):
        truths = [bool(v) for v, _ in flat]
        return (any(truths) if name == "OR" else all(truths)), 0.0
    if name == "NOT":
        return not flat[0][0], 0.0
    if name == "PI":
        return math.pi, math.pi
    if errors:
        return errors[0], 0.0
    values = [v for v, _ in flat]
    scales = [s for _, s in flat]
    if name in ("MAX", "MIN"):
        if not values:
            return 0.0, 0.0
        return (max if name == "MAX" else min)(values), max(scales)
    if name == "SUM":
        return math.fsum(values), sum(scales)
    if name == "AVERAGE":
        if not values:
            return Error("#DIV/0!"), 0.0
        return math.fsum(values) / len(values), sum(scales) / len(values)
    if name == "COUNT":
        return float(len(values)), 0.0
    x, s = values[0], scales[0]
    if name == "ABS":
        return abs(x), s
    if name == "INT":  # rounds down; exact unless x's error crosses a whole number
        return float(math.floor(x)), max(abs(x), s)
    if name == "SIGN":
        return float((x > 0) - (x < 0)), 0.0
    if name == "SQRT":
        if x < 0:
            return Error("#NUM!"), 0.0
        root = math.sqrt(x)
        return root, (root + s / (2 * root)) if root else math.sqrt(s)
    if name == "POWER":
        return _power(flat[0], flat[1])
    if name in ("INT", "TRUNC"):  # exact integers: an operand's error shows only as a jump
        return float(math.floor(x) if name == "INT" else math.trunc(x)), abs(x)
    if name == "MOD":
        y = values[1]
        if y == 0:
            return Error("#DIV/0!"), 0.0
        return x - y * math.floor(x / y), s + abs(x / y) * scales[1]
    if name in ("EXP", "COS", "SIN", "LN", "LOG10"):
        try:
            value = {"EXP": math.exp, "COS": math.cos, "SIN": math.sin, "LN": math.log,
                     "LOG10": math.log10}[name](x)
        except (ValueError, OverflowError):
            return Error("#NUM!"), 0.0
        # COS, SIN: an error e in x moves the result by up to e; EXP by e*exp(x);
        # LN by e/x (relative)
        spread = {"EXP": abs(value) * s, "COS": s, "SIN": s,
                  "LN": s / abs(x) if x else math.inf, "LOG10": s / abs(x) if x else math.inf}
        return value, max(abs(value), spread[name])
    raise ValueError(f"operand_scales does not know the function {name}; add it in "
                     f"tests/gnumeric.py")


def _power(left, right):
    """a^b; an error da in a moves it by |b a^(b-1)| da, an error db in b by |a^b ln a| db."""
    (a, sa), (b, sb) = (_num(left[0]), left[1]), (_num(right[0]), right[1])
    if isinstance(a, Error) or isinstance(b, Error):
        return (a if isinstance(a, Error) else b), 0.0
    try:
        value = a ** b
        if isinstance(value, complex):
            return Error("#NUM!"), 0.0
        via_base = abs(b * a ** (b - 1)) * sa if a else (sa ** b if b > 0 else math.inf)
        via_exponent = abs(value * math.log(abs(a))) * sb if a else 0.0
    except (OverflowError, ZeroDivisionError):
        return Error("#NUM!"), 0.0
    return value, abs(value) + via_base + via_exponent



# what a compiled formula's source calls, by name
_RUNTIME = {"_compared": _compared, "_concatenated": _concatenated, "_added": _added,
            "_multiplied": _multiplied, "_power": _power, "_signed": _signed, "_call": _call,
            "_cells_of": _cells_of, "_cell_name": _cell_name}


def _shape(formula: str, sheet: str, row: int, col: int):
    """What a compiled formula is shared by: its text with each relative part of a reference
    written as the offset from the formula cell (row, col), the sheet it is on."""
    if '"' in formula or "\0" in formula:  # a string could hold a reference's text
        return sheet, formula, row, col

    def relative(m) -> str:
        prefix, ca, cl, ra, rd, ca2, cl2, ra2, rd2 = m.groups()
        text = (f"\0{prefix or ''}{ca}{cl if ca else _column(cl) - col}|"
                f"{ra}{rd if ra else int(rd) - 1 - row}")
        if cl2 is None:
            return text + "\0"
        return (f"{text}:{ca2}{cl2 if ca2 else _column(cl2) - col}|"
                f"{ra2}{rd2 if ra2 else int(rd2) - 1 - row}\0")
    return sheet, _REF.sub(relative, formula)


_NONE: dict = {}


def _getter(cells, magnitude=None):
    """``get(sheet, ref)``: a referenced cell's (value, scale), a number's scale its
    ``magnitude(sheet, ref, value)`` (default: its absolute value)."""
    def get(sheet, ref):
        cell = cells.get(sheet, _NONE).get(ref)
        value = None if cell is None else cell.value
        if value.__class__ is not float:
            return value, 0.0
        return value, (abs(value) if magnitude is None else magnitude(sheet, ref, value))
    return get


def evaluate(formula: str, cells, names, sheet: str, magnitude=None) -> tuple[object, float]:
    """(value, scale) of ``formula`` on ``sheet``, reading the referenced cells' values from
    ``cells`` (as :func:`read_cells` returns them) and defined names from ``names``;
    ``magnitude(sheet, ref, value)`` is what a referenced number counts with in the scale
    (default: its absolute value)."""
    return _Compiler(formula, names, sheet).run()(_getter(cells, magnitude), 0, 0)


def _compiled(cells, names):
    """(sheet, ref) -> (its compiled formula, its row and column, what it copies or None), for
    every formula cell; a formula is compiled once per shape (see :func:`_shape`)."""
    shapes, out = {}, {}
    for sheet, sheet_cells in cells.items():
        for ref, cell in sheet_cells.items():
            if cell.formula is None:
                continue
            row, col = _cell_position(ref)
            key = _shape(cell.formula, sheet, row, col)
            if key not in shapes:
                compiler = _Compiler(cell.formula, names, sheet, row, col)
                shapes[key] = (compiler.run(), compiler.copied())
            node, copied = shapes[key]
            out[sheet, ref] = (node, row, col, copied and copied(row, col))
    return out


def operand_scales(cells, names) -> dict[tuple[str, str], float]:
    """(sheet, ref) -> the scale each formula cell's result is compared against.

    Why not the result's own size: a difference of two nearly equal numbers (a finite
    difference (err2(b + h) - err2(b)) / h, an error y - pred near the fit, a sum of
    gradients that cancel) keeps the absolute rounding error of its operands, so its
    relative error can be far above the unit roundoff in any correct program. The scale
    propagates the operands' magnitudes through the formula (see :class:`_Compiler`); an
    operand that is itself a formula counts with the larger of its value and its own scale
    (computed from its operands' values), so a quantity that inherits a cancellation one
    step back (a batch's gradient sum divided by the batch size, the square of an error near
    the fit) is measured against the cancelled terms, not against the small difference they
    left. Going back further would let a long run's scales grow without bound (the absolute
    values forget that gradient descent contracts), and one step is enough for every
    quantity sheetopt writes: each cancelling sum is consumed directly.
    """
    compiled = _compiled(cells, names)
    get = _getter(cells)
    direct = {key: node(get, row, col)[1] for key, (node, row, col, _) in compiled.items()}

    def magnitude(sheet, ref, value):
        return max(abs(value), direct.get((sheet, ref), 0.0))

    get = _getter(cells, magnitude)
    scales = {}
    for key, (node, row, col, _) in compiled.items():
        value, scale = node(get, row, col)
        scales[key] = max(scale, abs(value) if isinstance(value, float) else 0.0)
    # a copy (=A1, ='sheet'!$B$2) rounds nothing: it is held to its source's scale, through
    # chains of copies (the compare sheet's copy of a summary cell that copies a step cell)
    for key in scales:
        source, seen = key, {key}
        while (copied := compiled[source][3]) in scales and copied not in seen:
            source = copied
            seen.add(source)
        scales[key] = max(scales[key], scales[source])
    return scales


# -- comparing a recalculated workbook with sheetopt's ------------------------------------------

def kind_of(cells, sheet: str, ref: str) -> str:
    """What a cell holds, for messages: its column's header on an optimizer sheet."""
    col, row = ref.rstrip("0123456789"), int(ref[len(ref.rstrip("0123456789")):])
    header = cells[sheet].get(f"{col}{HEADER_ROW + 1}")
    if row > HEADER_ROW + 1 and header is not None and isinstance(header.value, str):
        return f"{sheet}: {header.value}"
    return f"{sheet}: other cells"


@functools.lru_cache(maxsize=4)
def _expected(written: Path, *version) -> tuple[dict, dict]:
    """The cells of sheetopt's file and their scales, once per version (``version``: its
    modification time and size) of a file that several programs' recalculations are compared
    with: read them, never change them."""
    cells = read_cells(written)
    return cells, operand_scales(cells, defined_names(written))


def compare(written: Path, gnumeric: Path, tolerance: float = REL) -> tuple[int, dict, list[str]]:
    """Every formula cell of ``written`` (sheetopt's file, the engine's values cached) against
    the same cell of ``gnumeric``: (formula cells compared, kind of cell -> (largest difference
    relative to the operands' magnitude, relative to the result), failures)."""
    expected, scales = _expected(written, written.stat().st_mtime_ns, written.stat().st_size)
    found = read_cells(gnumeric)
    compared, worst, failures = 0, {}, []
    for (sheet, ref), scale in scales.items():
        cell = expected[sheet][ref]
        got = found.get(sheet, {}).get(ref)
        got = None if got is None else got.value
        where = f"{sheet}!{ref} ={cell.formula}"
        compared += 1
        if isinstance(cell.value, float) and cell.value == SENTINEL:
            failures.append(f"{where}: the engine's value is the sentinel; pick another")
        elif got == SENTINEL:
            failures.append(f"{where}: NOT recalculated by Gnumeric (still the blanked cache)")
        elif isinstance(cell.value, float):
            if not isinstance(got, float):
                failures.append(f"{where}: Gnumeric gave {got!r}, engine {cell.value!r}")
                continue
            diff = abs(got - cell.value)
            rel = diff / scale if scale else (0.0 if diff == 0 else math.inf)
            kind = kind_of(expected, sheet, ref)
            result_rel = diff / abs(cell.value) if cell.value else (0.0 if diff == 0 else math.inf)
            old = worst.get(kind, (0.0, 0.0))
            worst[kind] = (max(old[0], rel), max(old[1], result_rel))
            if not rel <= tolerance:
                failures.append(f"{where}: Gnumeric {got!r}, engine {cell.value!r} "
                                f"(difference {rel:.2g} of the operands' magnitude {scale:.3g})")
        elif isinstance(cell.value, (str, bool, Error)):
            if got != cell.value:
                failures.append(f"{where}: Gnumeric {got!r}, engine {cell.value!r}")
        else:
            failures.append(f"{where}: sheetopt cached no value ({cell.value!r})")
    return compared, worst, failures


def main(paths: list[str]) -> None:
    """Prints, per workbook and kind of cell, the largest differences between the engine and
    Gnumeric's recalculation (caches blanked first):  python tests/gnumeric.py workbooks/*.xlsx"""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        blanked = []
        for path in map(Path, paths):
            blanked.append(Path(tmp) / path.name)
            blank_caches(path, blanked[-1])
        outputs = recalculate(blanked, Path(tmp) / "gnumeric")
        for path, output in zip(paths, outputs):
            compared, worst, failures = compare(Path(path), output)
            print(f"{path}: {compared:,} formula cells compared, {len(failures)} outside {REL:g}")
            for line in failures[:10]:
                print("   ", line)
            for kind, (operands, result) in sorted(worst.items(), key=lambda kv: -kv[1][1]):
                print(f"    {kind:48s} {operands:9.2g} of the operands  {result:9.2g} of the result")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
