"""Fuzzing sheetopt's promise on bad input, with hypothesis.

The promise: every command exits 0 or 1, or exits 2 with exactly one line on stderr; never a
traceback or a warning; no file left behind, half-written or changed (a new output only where
the command was asked to write, and only when it succeeded); no hang (each case runs under a
time bound). Option errors are argparse's: exit 2, its usage lines, then one
``sheetopt COMMAND: error: ...`` line, judged as one error line after the usage.

Families (each a hypothesis strategy of cases):
  spec      run specs as structure (keys of every kind with values of every type) rendered
            to TOML, and as text (bytes inserted, deleted, a BOM), run by compare/trace/workbook
  csv       data CSVs: cells of every kind (numbers, text, empty, nan, 400 digits, quotes),
            headers, line endings, bytes that are not UTF-8
  columns   rows of several columns: headers of any width and names (reserved, repeated,
            empty), rows of the wrong width, for several features and given gradients, read by
            compare, trace, workbook, plot and sweep
  models    every model kind with [model] keys of every value (negative condition, hidden 0
            or 65, nan, inf, text, tables, unknown keys), data or none, starts naming other
            models' parameters; compare, trace, workbook, plot path/fits, animate, sweep
  options   command lines: every command with options from its own and the others' pools
  workbook  a workbook's mutations given to check: cell edits of every type (inputs too),
            bit flips, truncation, zip and XML bombs, unsupported compression, damaged and
            empty XML parts, edited metadata (keys, types, zero epochs, deep nesting),
            formulas saved as values
  output    every output path problem for every command that writes (name too long, /proc,
            /sys, a dangling symlink, a folder, a missing folder, a device, a file as folder)
  edges     numbers at the edges of float64 in starts, true values, data and schedule
            arguments; input file names too long for every reader; empty and -- option
            values and a bare sheetopt; work without a bound (refused up front with its size);
            combinations that reach verify; plots and runs that must not warn; a fresh
            workbook's own check

Most cases run in-process through ``sheetopt.cli.main(argv)`` (tests/test_fuzz.py, a few
hundred in CI); this script runs the deep search:

    python benchmarks/fuzz.py --cases 5000          # split over the families
    python benchmarks/fuzz.py --cases 500 --family workbook --seed 3

and prints the cases and failures per family (exit status 1 when any case failed).
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import re
import signal
import struct
import sys
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

PRECIOUS = b"an earlier result that must survive\n"
CASE_SECONDS = 60  # a case running longer counts as a hang
GOOD_ROWS = "x,y\n1,32\n2,34\n3,36\n4,38\n5,40\n"
LABEL_ROWS = "x1,x2,y\n1,-2,0\n2,0.5,1\n-3,1e300,1\n4,-1e-300,0\n"  # a classifier's rows


# --- running one case and judging it ----------------------------------------------------------
class Hang(BaseException):
    """Raised by the alarm when a case runs past its time bound."""


@dataclass
class Case:
    family: str
    argv: list[str]
    files: dict[str, bytes | str] = field(default_factory=dict)  # name -> content ("" dir: None)
    links: dict[str, str] = field(default_factory=dict)  # name -> symlink target
    folders: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()  # files the command may create or replace when it succeeds
    note: str = ""  # what was done (for the report)

    def describe(self) -> str:
        return f"[{self.family}] {self.note} argv={self.argv!r}"


def _snapshot(root: Path) -> dict[str, bytes | str | None]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                out[key] = "-> " + os.readlink(path)
            elif path.is_file():
                out[key] = path.read_bytes()
            else:
                out[key] = None
    return out


def prepare(case: Case, root: Path) -> None:
    for name in case.folders:
        (root / name).mkdir(parents=True, exist_ok=True)
    for name, content in case.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", errors="surrogatepass")
    for name, target in case.links.items():
        os.symlink(target, root / name)


def run_in_process(argv: list[str], root: Path, seconds: float = CASE_SECONDS
                   ) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``sheetopt.cli.main(argv)`` run in ``root``; warnings
    are written to stderr as Python would print them."""
    from sheetopt import cli

    out, err = io.StringIO(), io.StringIO()
    previous_dir = os.getcwd()

    def alarm(signum, frame):
        raise Hang()

    previous_alarm = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        os.chdir(root)
        with warnings.catch_warnings(record=True) as caught, \
                contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            warnings.simplefilter("always")
            try:
                code = cli.main(argv)
            except SystemExit as exc:  # argparse: --help, or a usage error
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        for warning in caught:
            err.write(f"{warning.filename}:{warning.lineno}: {warning.category.__name__}: "
                      f"{warning.message}\n")
    except Hang:
        code = "hang"
    except BaseException as exc:  # noqa: BLE001 - the promise says none escapes
        import traceback

        err.write("Traceback (most recent call last):\n" + traceback.format_exc())
        code = f"raised {exc.__class__.__name__}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_alarm)
        os.chdir(previous_dir)
    return code, out.getvalue(), err.getvalue()


_ERROR_LINE = re.compile(r"sheetopt( [a-z-]+)?: (error: |interrupted|terminated)")


def judge(case: Case, code, out: str, err: str, before: dict, after: dict) -> str | None:
    """What broke the promise, or None."""
    if code == "hang":
        return f"hang (over {CASE_SECONDS} s)"
    if "Traceback" in err or not isinstance(code, int):
        return f"traceback ({code}): {err.strip().splitlines()[-1] if err.strip() else ''}"
    lines = err.splitlines()
    if code == 2:
        if lines and lines[0].startswith("usage:"):  # argparse: usage lines, then one error
            if not _ERROR_LINE.match(lines[-1]) or any(_ERROR_LINE.match(x) for x in lines[:-1]):
                return f"argparse error without one error line: {err!r}"
        elif len(lines) != 1:
            return f"{len(lines)} lines on stderr: {err[:300]!r}"
        elif not _ERROR_LINE.match(lines[0]):
            return f"an error line that does not say sheetopt: {err!r}"
        if after != before:
            return f"exit 2 but files changed: {_changes(before, after)}"
        return None
    if code not in (0, 1):
        return f"exit status {code}: {err[:300]!r}"
    if any("Warning" in line for line in lines):
        return f"a warning on stderr: {err[:300]!r}"
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    unexpected = changed - set(case.outputs)
    if unexpected:
        return f"exit {code} but unexpected files changed: {sorted(unexpected)}"
    for name in changed:
        if after.get(name) is None or isinstance(after.get(name), str):
            continue
        if name.endswith(".xlsx"):
            problem = spreadsheet_problem(after[name])
            if problem:
                return f"{name}: a spreadsheet would reject it: {problem}"
    return None


_NON_FINITE = re.compile(rb"<v>\s*[+-]?(nan|inf)", re.I)
_XML_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def spreadsheet_problem(book: bytes) -> str | None:
    """Why a written workbook would be refused by a spreadsheet program: not a zip, an XML
    part that is not well-formed (control characters), a non-finite number stored as
    <v>nan</v> (it must be an error cell such as #NUM!), or a sheet name too long."""
    from xml.etree.ElementTree import ParseError, fromstring

    if not zipfile.is_zipfile(io.BytesIO(book)):
        return "not a zip"
    with zipfile.ZipFile(io.BytesIO(book)) as z:
        for info in z.infolist():
            data = z.read(info)
            if not info.filename.endswith((".xml", ".rels", ".vml")):
                continue
            if _XML_CONTROL.search(data):
                return f"{info.filename}: a control character"
            try:
                root = fromstring(data)
            except ParseError as exc:
                return f"{info.filename}: not well-formed XML ({exc})"
            if _NON_FINITE.search(data):
                return f"{info.filename}: a non-finite number stored as a value"
            if info.filename == "xl/workbook.xml":
                for sheet in root.iter("{http://schemas.openxmlformats.org/spreadsheetml/2006/"
                                       "main}sheet"):
                    name = sheet.get("name", "")
                    if not 0 < len(name) <= 31 or any(ch in name for ch in "[]:*?/\\"):
                        return f"an illegal sheet name {name!r}"
    return None


def _changes(before: dict, after: dict) -> list[str]:
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def run_case(case: Case, seconds: float = CASE_SECONDS) -> tuple[str | None, tuple]:
    """Runs a case in a fresh temporary folder; (failure or None, (code, out, err))."""
    with tempfile.TemporaryDirectory(prefix="sheetopt-fuzz-") as folder:
        root = Path(folder)
        prepare(case, root)
        before = _snapshot(root)
        code, out, err = run_in_process(case.argv, root, seconds)
        after = _snapshot(root)
        return judge(case, code, out, err, before, after), (code, out, err)


# --- values of every kind ---------------------------------------------------------------------
ODD_NUMBERS = [0, -1, 1, 2, 3, 0.0, -0.5, 0.5, 0.9, 0.999, 1.0, 1.5, 1e-300, 5e-324, 1e308,
               -1e308, float("nan"), float("inf"), float("-inf"), 10 ** 13, 2 ** 63, 10 ** 400]
ODD_STRINGS = ["", " ", "abc", "online", "full", "lecture-reset", "lecture", "torch", "adam",
               "sgd", "\x00", "\x07bell", "a" * 300, "é", "🙂", "=1+1", "1,5", "NaN", "-2+3",
               "\ud800"]
odd_scalar = st.one_of(st.sampled_from(ODD_NUMBERS), st.sampled_from(ODD_STRINGS), st.booleans(),
                       st.floats(allow_nan=True), st.integers(-10, 10),
                       st.text(max_size=12))
odd_value = st.recursive(odd_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "c", "kind", "x"]),
                                                 inner, max_size=3)), max_leaves=6)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # \\uXXXX escapes; a lone surrogate is a TOML error
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}"
                                for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def toml_text(spec: dict) -> str:
    lines = [f"{k} = {toml_value(v)}" for k, v in spec.items() if not isinstance(v, (dict, list))
             or k not in ("data", "model", "defaults", "sheet")]
    for table in ("data", "model", "defaults"):
        if isinstance(spec.get(table), dict):
            lines.append(f"[{table}]")
            lines += [f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in spec[table].items()]
    for sheet in spec.get("sheet", []) if isinstance(spec.get("sheet"), list) else []:
        lines.append("[[sheet]]")
        if isinstance(sheet, dict):
            lines += [f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in sheet.items()]
    return "\n".join(lines) + "\n"


# --- spec family ------------------------------------------------------------------------------
SHEET_KEYS = ["name", "optimizer", "flavor", "lr", "mom", "sqr_mom", "eps", "wd", "dampening",
              "nesterov", "centered", "amsgrad", "epochs", "init", "state", "batch", "shuffle",
              "seed", "gradient", "h", "show", "schedule", "diverge_above", "lerning_rate",
              "steps"]
DATA_KEYS = ["preset", "csv", "true", "rows", "x", "x_min", "x_max", "seed", "noise",
             "noise_scale"]
GOOD_SHEETS = [
    {"name": "adam", "optimizer": "adam", "lr": 0.1, "epochs": 2},
    {"name": "sgd", "optimizer": "sgd", "flavor": "torch", "lr": 0.01, "epochs": 2},
    {"name": "mom", "optimizer": "momentum", "lr": 0.001, "mom": 0.9},
    {"name": "rms", "optimizer": "rmsprop", "flavor": "torch", "lr": 0.01, "centered": True},
    {"name": "ann", "optimizer": "adam_ann", "lr": 0.5, "epochs": 2},
    {"name": "w", "optimizer": "adamw", "flavor": "torch", "lr": 0.01, "wd": 0.1},
]
MODEL_KINDS = ["linear", "quadratic", "cubic", 1, "rosenbrock", "rastrigin", "bowl",
               "himmelblau", "beale", "booth", "relu_net", "logistic"]
SURFACE_KINDS = MODEL_KINDS[4:10]
VALUE_FOR = {  # plausible values beside the odd ones, so that deeper checks are reached
    "epochs": st.sampled_from([0, -1, 1, 2, 3, 1.5, "3", 10 ** 13, 2 ** 64, 10 ** 400]),
    "steps": st.sampled_from([0, -1, 1, 3, 1.5, "3", 10 ** 13]),
    "batch": st.sampled_from(["online", "full", 0, 1, 2, 3, 6, 100, -1, "half", 2.5]),
    "optimizer": st.sampled_from(["sgd", "momentum", "rmsprop", "adam", "adam_ann", "adamw",
                                  "adamm", "", 3]),
    "flavor": st.sampled_from(["lecture", "torch", "pytorch", None]),
    "state": st.sampled_from(["lecture-reset", "lecture_reset", {},
                              {"grad_avg": {"a": 0.0, "b": 0.0}},
                              {"sqr_avg": {"a": -1.0, "b": 0.0}}, {"sqr_avg": {"c": 1.0}}]),
    "schedule": st.sampled_from(["constant", "adam_ann", "one_cycle", {"kind": "one_cycle"},
                                 {"kind": "one_cycle", "div": 0.0}, {"kind": "one_cycle",
                                                                     "moms": [1.5, 0.8, 0.9]},
                                 {"kind": "nope"}, {"div": 2.0}]),
    "gradient": st.sampled_from(["analytic", "forward", "central", "backward", ""]),
    "show": st.sampled_from([["forward"], ["central", "forward"], "forward", ["nope"], []]),
}
DATA_VALUES = {
    "rows": st.sampled_from([0, 1, 2, 5, -3, 1.5, "5", 10 ** 12, 2 ** 70]),
    "x": st.sampled_from(["integers", "uniform", "range", "normal", 3]),
    "noise": st.sampled_from(["none", "uniform", "normal", "pink"]),
    "preset": st.sampled_from(["lecture", "lectur", ["x"]]),
    "csv": st.sampled_from(["rows.csv", "missing.csv", "", "/proc/self/mem", "."]),
    "true": st.sampled_from([{"a": 2.0, "b": 30.0}, {"a": 2.0}, {"c": 1.0}, {}, 3]),
}
COMMANDS_FOR_SPECS = [["compare", "spec.toml"], ["compare", "spec.toml", "--format", "json"],
                      ["trace", "spec.toml", "-o", "out.csv", "--force"],
                      ["trace", "spec.toml", "--format", "json"],
                      ["workbook", "spec.toml", "-o", "out.xlsx", "--force"]]


def _keyed_value(key: str, table: dict):
    return st.one_of(table.get(key, odd_value), odd_value) if key in table else odd_value


@st.composite
def spec_cases(draw) -> Case:
    data = draw(st.sampled_from([{"csv": "rows.csv"}, {"preset": "lecture"},
                                 {"rows": 6, "x": "uniform", "x_min": 0.0, "x_max": 1.0,
                                  "true": {"a": 2.0, "b": 1.0}}]))
    data = dict(data)
    sheets = [dict(s) for s in draw(st.lists(st.sampled_from(GOOD_SHEETS), min_size=1,
                                             max_size=3))]
    for sheet in sheets:
        sheet.setdefault("epochs", 1)
        if data.get("preset"):
            sheet["epochs"] = 1
    spec = {"title": "fuzz", "data": data, "model": {"kind": "linear"}, "sheet": sheets}
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["sheet", "sheet", "sheet", "data", "model", "top",
                                      "defaults"]))
        if where == "sheet":
            key = draw(st.sampled_from(SHEET_KEYS))
            draw(st.sampled_from(sheets))[key] = draw(_keyed_value(key, VALUE_FOR))
        elif where == "data":
            key = draw(st.sampled_from(DATA_KEYS))
            data[key] = draw(_keyed_value(key, DATA_VALUES))
        elif where == "model":
            spec["model"]["kind"] = draw(st.sampled_from(MODEL_KINDS))
            if spec["model"]["kind"] in SURFACE_KINDS:
                draw(st.sampled_from([lambda: spec.pop("data", None), lambda: None]))()
                for sheet in sheets:  # a surface's init names x and y
                    sheet["init"] = draw(st.sampled_from([{"x": -1.0, "y": 2.0}, {"a": 1.0}]))
                    sheet[draw(st.sampled_from(["steps", "epochs"]))] = draw(
                        _keyed_value("steps", VALUE_FOR))
            key = draw(st.sampled_from(["", "", "a", "b", "A", "condition", "kind2", "hidden",
                                        "loss"]))
            if key:
                spec["model"][key] = draw(st.sampled_from([0, -1.0, 2.5, "10", 1e308, True, 3,
                                                           65, "mnist", "bce", "mse"]))
            if spec["model"]["kind"] == "logistic":  # labels 0/1 (or not), one or two features
                data.clear()
                data.update(draw(st.sampled_from([{"csv": "labels.csv"}, {"csv": "rows.csv"},
                                                  {"preset": "blobs"},
                                                  {"preset": "digits-4x4"}])))
        elif where == "defaults":
            key = draw(st.sampled_from(SHEET_KEYS))
            spec["defaults"] = {key: draw(_keyed_value(key, VALUE_FOR))}
        else:
            spec[draw(st.sampled_from(["title", "description", "sheet", "data", "tilte"]))] = \
                draw(odd_value)
    text = toml_text(spec).encode("utf-8", errors="surrogatepass")
    note = "structure"
    if draw(st.integers(0, 4)) == 0:  # damage the text itself
        text, note = draw(_text_damage(text))
    argv = draw(st.sampled_from(COMMANDS_FOR_SPECS))
    return Case("spec", list(argv), files={"spec.toml": text, "rows.csv": GOOD_ROWS,
                                           "labels.csv": LABEL_ROWS,
                                           "out.csv": PRECIOUS, "out.xlsx": PRECIOUS},
                outputs=("out.csv", "out.xlsx"), note=f"{note}: {text[:400]!r}")


@st.composite
def _text_damage(draw, text: bytes):
    kind = draw(st.sampled_from(["insert", "delete", "bom", "duplicate line", "truncate"]))
    at = draw(st.integers(0, len(text)))
    if kind == "insert":
        text = text[:at] + draw(st.binary(min_size=1, max_size=8)) + text[at:]
    elif kind == "delete":
        text = text[:at] + text[at + draw(st.integers(1, 20)):]
    elif kind == "bom":
        text = b"\xef\xbb\xbf" + text
    elif kind == "duplicate line":
        lines = text.split(b"\n")
        i = draw(st.integers(0, len(lines) - 1))
        text = b"\n".join(lines[:i + 1] + lines[i:])
    else:
        text = text[:at]
    return text, kind


# --- csv family -------------------------------------------------------------------------------
csv_cell = st.one_of(
    st.integers(-10 ** 6, 10 ** 6).map(str), st.floats(allow_nan=True).map(repr),
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "Infinity", "abc", "1,5", "1_000",
                     '"3"', '"a,b"', "9" * 400, "1e400", "-1e-400", "0x10", "\x00", "é", " 7 ",
                     "1e5", "+3", ".5", "5.", "--1", "TRUE", '"', "\t2", "9" * 200_000,
                     '"' + "a" * 140_000 + '"']),
    st.text(alphabet="0123456789.-+eE, \"", max_size=8))


@st.composite
def csv_cases(draw) -> Case:
    header = draw(st.sampled_from(["x,y", "x,y", "x,y", "y,x", "x,y,z", "", "x", "X,Y",
                                   "\ufeffx,y", "x;y", '"x","y"']))
    rows = draw(st.lists(st.lists(csv_cell, min_size=1, max_size=3)
                         .map(lambda cells: cells if len(cells) != 2 else cells),
                         max_size=8))
    good = draw(st.integers(0, 6))
    body = [f"{i},{30 + 2 * i}" for i in range(1, good + 1)] + [",".join(r) for r in rows]
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = end.join([header, *body]) + draw(st.sampled_from([end, "", end * 3]))
    data = text.encode("utf-8", errors="surrogatepass")
    if draw(st.integers(0, 6)) == 0:
        data, _ = draw(_text_damage(data))
    argv = draw(st.sampled_from([["trace", "spec.toml", "-o", "out.csv", "--force"],
                                 ["compare", "spec.toml", "--format", "csv"]]))
    spec = '[data]\ncsv = "rows.csv"\n[[sheet]]\noptimizer = "sgd"\nlr = 0.001\nepochs = 2\n'
    return Case("csv", list(argv), files={"spec.toml": spec, "rows.csv": data,
                                          "out.csv": PRECIOUS},
                outputs=("out.csv",), note=f"rows.csv={data[:300]!r}")


# --- columns family: rows of several columns (features, given gradients) ----------------------
column_name = st.one_of(
    st.sampled_from(["x", "y", "b", "a", "x1", "x2", "area", "w_area", "lr", "size", "g_a",
                     "new_a", "grad_b", "", " ", "1x", "my area", "é", "x.1", "Y", "y "]),
    st.text(alphabet="abcxyz_019 ", min_size=1, max_size=6))


@st.composite
def column_cases(draw) -> Case:
    """Headers of any width and names (reserved, repeated, empty, not identifiers), rows of
    any width, for the linear model of several features and for given gradients; every
    command that reads rows, the workbook and check of it."""
    kind = draw(st.sampled_from(["linear", "linear", "gradients"]))
    clean = draw(st.integers(0, 2)) > 0  # mostly good files, one thing wrong at most
    if clean:
        width = draw(st.integers(1, 4))
        names = [f"{'x' if kind == 'linear' else 'a'}{j}" for j in range(width)]
        if kind == "linear":  # the target y in any column: first, between features, last
            names.insert(draw(st.integers(0, width)), "y")
        if draw(st.booleans()):
            names[draw(st.integers(0, len(names) - 1))] = draw(column_name)
    else:
        names = draw(st.lists(column_name, min_size=0, max_size=5))
    width = len(names)
    number = st.floats(-1e3, 1e3).map(repr)
    cell = number if clean else st.one_of(number, csv_cell)
    rows = draw(st.lists(st.lists(cell, min_size=max(0, width - (0 if clean else 1)),
                                  max_size=width + (0 if clean else 1)),
                         min_size=0, max_size=6))
    good = draw(st.integers(0, 5))
    body = [",".join(repr(0.5 * (i + j)) for j in range(width)) for i in range(good)]
    text = "\n".join([",".join(names), *body, *(",".join(r) for r in rows)]) + "\n"
    init = draw(st.sampled_from(["", "init = { a = 0.5 }\n", "init = { w_x1 = 2.0 }\n",
                                 "init = { b = 1e308 }\n"]))
    spec = (f'[model]\nkind = "{kind}"\n[data]\ncsv = "rows.csv"\n[[sheet]]\n'
            f'optimizer = "{draw(st.sampled_from(["sgd", "adam", "rmsprop"]))}"\nlr = 0.01\n'
            f'epochs = 2\nbatch = {draw(st.sampled_from([1, 2, 3]))}\n'
            f'gradient = "{draw(st.sampled_from(["analytic", "forward", "central"]))}"\n{init}')
    argv = draw(st.sampled_from([["compare", "spec.toml", "--format", "json"],
                                 ["trace", "spec.toml", "-o", "out.csv", "--force"],
                                 ["workbook", "spec.toml", "-o", "out.xlsx"],
                                 ["plot", "spec.toml", "--kind", "fits", "-o", "out.png"],
                                 ["sweep", "spec.toml", "--sheet", "sgd", "--lr", "0.001:0.1:3"]]))
    return Case("columns", list(argv), files={"spec.toml": spec, "rows.csv": text,
                                              "out.csv": PRECIOUS},
                outputs=("out.csv", "out.xlsx", "out.png"),
                note=f"kind={kind} rows.csv={text[:300]!r}")


# --- models family: every model kind with its [model] keys, data and starts -----------------
# each kind: its keys, the data it reads (None: a surface's none) and starts of its own
MODEL_OWN = {"linear": ((), [{"preset": "lecture"}, {"preset": "houses"}, {"csv": "rows.csv"},
                             {"csv": "labels.csv"}], [{"a": 0.5}, {"w_x1": 1.0, "b": 0.0}]),
             "quadratic": ((), [{"preset": "lecture"}, {"csv": "rows.csv"}], [{"c": 2.0}]),
             "relu_net": (("hidden",), [{"preset": "relu-net"}, {"csv": "rows.csv"}],
                          [{"w1": 0.5, "c1": 0.0}, {"w1": 0.0, "c1": 0.0, "c2": 0.0}]),
             "logistic": (("loss",), [{"preset": "blobs"}, {"csv": "labels.csv"},
                                      {"csv": "rows.csv"}], [{"w_x1": 1e3, "b": -1e3}, {"a": 9e2}]),
             "gradients": ((), [{"preset": "keras-golden"}, {"csv": "grads.csv"}],
                           [{"a": 1e308, "b": -1.0}]),
             "rosenbrock": (("a", "b"), [None], [{"x": -1.0, "y": 2.0}]),
             "rastrigin": (("A",), [None], [{"x": 2.5, "y": -1.5}]),
             "bowl": (("condition",), [None], [{"x": 1.0, "y": 1.0}]),
             "beale": ((), [None], [{"x": 1.0, "y": 1.0}]),
             "himmelblau": ((), [None], [{"x": 0.0, "y": 0.0}]),
             "booth": ((), [None], [{"x": 0.0, "y": 0.0}])}
MODEL_KEY_VALUES = st.sampled_from([0, 1, 2, 3, -1.0, 0.5, 2.5, 64, 65, 1e308, -1e308, 5e-324,
                                    float("nan"), float("inf"), float("-inf"), "10", True,
                                    "mnist", "bce", "mse", [1.0], {"a": 1.0}])
MODEL_DATA = [{"preset": "lecture"}, {"preset": "blobs"}, {"preset": "houses"},
              {"preset": "keras-golden"}, {"preset": "relu-net"}, {"csv": "rows.csv"},
              {"csv": "labels.csv"}, {"csv": "grads.csv"},
              {"rows": 5, "x": "uniform", "x_min": 0.0, "x_max": 1.0, "true": {"a": 2.0}}]
GRAD_ROWS = "a,b\n0.5,-1\n0.25,2\n"
MODEL_INITS = [{"x": 1e308, "y": -1e308}, {"a": 0.5}, {"x": float("nan"), "y": 0.0},
               {"nope": 1.0}, {"d": 1e308}]
MODEL_COMMANDS = [["compare", "spec.toml", "--format", "json"],
                  ["trace", "spec.toml", "-o", "out.csv", "--force"],
                  ["workbook", "spec.toml", "-o", "out.xlsx", "--force"],
                  ["workbook", "spec.toml", "-o", "out.xlsx", "--force"],
                  ["plot", "spec.toml", "--kind", "path", "-o", "out.png"],
                  ["plot", "spec.toml", "--kind", "fits", "-o", "out.png"],
                  ["animate", "spec.toml", "--sheet", "s", "--frames", "3", "-o", "out.gif"],
                  ["sweep", "spec.toml", "--sheet", "s", "--lr", "0.001:0.1:3"]]


@st.composite
def model_cases(draw) -> Case:
    """Every model kind (surfaces, relu_net, logistic, gradients, the lines), mostly with its
    own keys, data and starts, then one thing off: a key of any value (negative, zero, huge,
    nan, inf, text, a table) or of another model, another model's data or a surface's none,
    starts naming other parameters; every command that runs a spec."""
    kind = draw(st.sampled_from(sorted(MODEL_OWN)))
    own_keys, own_data, own_inits = MODEL_OWN[kind]
    spec: dict = {"title": "fuzz models", "model": {"kind": kind}}
    if own_keys and draw(st.booleans()):
        spec["model"][draw(st.sampled_from(own_keys))] = draw(MODEL_KEY_VALUES)
    data = draw(st.sampled_from(own_data))
    sheet = {"name": "s", "optimizer": draw(st.sampled_from(["sgd", "adam", "rmsprop"])),
             "flavor": draw(st.sampled_from(["torch", "lecture"])), "lr": 0.01,
             "steps" if data is None else "epochs": draw(st.sampled_from([1, 2, 3]))}
    if draw(st.booleans()):
        sheet["init"] = draw(st.sampled_from(own_inits))
    off = draw(st.sampled_from(["none", "key", "data", "init", "count", "batch"]))
    if off == "key":
        spec["model"][draw(st.sampled_from(["a", "b", "A", "condition", "hidden", "loss",
                                            "kind2", "x"]))] = draw(MODEL_KEY_VALUES)
    elif off == "data":
        data = draw(st.sampled_from([None, *MODEL_DATA]))
    elif off == "init":
        sheet["init"] = draw(st.sampled_from(MODEL_INITS))
    elif off == "count":
        sheet[draw(st.sampled_from(["steps", "epochs"]))] = draw(st.sampled_from(
            [0, -1, 1.5, 4, 10 ** 13]))
    elif off == "batch":
        sheet["batch"] = draw(st.sampled_from([1, 2, "full", 0]))
    if data is not None:
        spec["data"] = dict(data)
    spec["sheet"] = [sheet]
    text = toml_text(spec)
    argv = draw(st.sampled_from(MODEL_COMMANDS))
    return Case("models", list(argv), files={"spec.toml": text, "rows.csv": GOOD_ROWS,
                                             "labels.csv": LABEL_ROWS, "grads.csv": GRAD_ROWS,
                                             "out.csv": PRECIOUS, "out.xlsx": PRECIOUS},
                outputs=("out.csv", "out.xlsx", "out.png", "out.gif"), note=text[:400])


# --- options family ---------------------------------------------------------------------------
OPTION_POOL = {
    "compare": [["--format", st.sampled_from(["table", "csv", "json", "markdown", "xlsx", ""])],
                ["--plot", st.sampled_from(["plot.png", "p.PNG", "plot.jpg", "", "-", "--force",
                                            "nowhere/p.png"])], ["--force"]],
    "trace": [["--sheet", st.sampled_from(["adam", "basic", "-2+3", "", "nosuch", "ADAM"])],
              ["--format", st.sampled_from(["csv", "json", "table"])],
              ["-o", st.sampled_from(["out.csv", "", "-", "nowhere/o.csv", "a-folder"])],
              ["--force"]],
    "workbook": [["-o", st.sampled_from(["out.xlsx", "out.csv", "", "a-folder/w.xlsx"])],
                 ["--all", st.sampled_from(["specs", "nowhere", "", "."])], ["--force"]],
    "check": [],
    "verify": [["--sheet", st.sampled_from(["adam", "-2+3", "", "nosuch"])],
               ["--tol", st.sampled_from(["1e-12", "0", "-1", "nan", "abc", "inf", "1e400"])],
               ["--device", st.sampled_from(["cpu", "cuda", "tpu"])], ["--worst"]],
    "sweep": [["--sheet", st.sampled_from(["adam", "basic", "-2+3", "", "nosuch"])],
              ["--lr", st.sampled_from(["0.01:1:5", "1:0.01:3", "0.1", "0.1,0.2", "abc", "",
                                        "0:1:3", "-1:1:3", "0.01:1:0", "0.01:1:-2", "nan:1:2",
                                        "0.01:1:2.5", "1e400:1:2", "0.01:1:1e9", ":::",
                                        "0.01:1:100000000", "1e-320:1e308:4"])],
              ["--mom", st.sampled_from(["0.9", "0.5,0.9", "0:0.99:3", "1.5", "x", ""])],
              ["--sqr-mom", st.sampled_from(["0.99", "0:1:3", "-0.5", ""])], ["--log"],
              ["--set", st.sampled_from(["mom=0.5:0.9:3", "lr=0.1", "eps=1e-8,1e-3", "=1", "x",
                                         "lr=", "mom=nan", "sqr_mom=1e400", "max_lr=0.1",
                                         "mom=0.8,0.8", "lr=1e-320:1e308:3", "mom=-0:0.5:2"])],
              ["--objective", st.sampled_from(["final", "best", "epoch:1", "epoch:0",
                                               "epoch:99", "step:3", "", "epoch:x"])],
              ["--backend", st.sampled_from(["numpy", "torch", "auto", "jax"])],
              ["--dtype", st.sampled_from(["float64", "float32", "int8"])],
              ["--format", st.sampled_from(["table", "csv", "json", "markdown"])],
              ["--plot", st.sampled_from(["sweep.png", "", "sweep.txt"])], ["--force"]],
}
SPEC_ARGS = ["spec.toml", "lesson5", "nosuch", "", "-", "spec.toml.bak", "a-folder", "out.csv"]


@st.composite
def option_cases(draw) -> Case:
    command = draw(st.sampled_from(sorted(OPTION_POOL) + ["nosuch", "", "--version"]))
    argv = [command]
    if command == "check":
        argv.append(draw(st.sampled_from(["book.xlsx", "spec.toml", "nosuch.xlsx", "", "-",
                                          "a-folder", "out.csv"])))
    elif command in OPTION_POOL:
        if draw(st.integers(0, 5)):
            argv.append(draw(st.sampled_from(SPEC_ARGS)))
        pool = OPTION_POOL[command] + [p for c, ps in OPTION_POOL.items() for p in ps
                                       if c != command][:3]
        for _ in range(draw(st.integers(0, 4))):
            option = draw(st.sampled_from(pool)) if pool else ["--force"]
            argv += [o if isinstance(o, str) else draw(o) for o in option]
    if draw(st.integers(0, 8)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(st.sampled_from(
            ["--", "-x", "--help", "-o", "--force", "extra"])))
    spec = ('[data]\npreset = "lecture"\n[[sheet]]\nname = "adam"\noptimizer = "adam"\n'
            'lr = 0.1\n[[sheet]]\nname = "-2+3"\noptimizer = "sgd"\nlr = 0.0001\n')
    return Case("options", argv, files={"spec.toml": spec, "out.csv": PRECIOUS,
                                        "book.xlsx": small_workbook()},
                folders=("a-folder", "specs"),
                outputs=("-", "out.csv", "out.xlsx", "plot.png", "p.PNG", "sweep.png", "lesson5.xlsx",
                         "spec.xlsx", "a-folder/w.xlsx", "specs/spec.xlsx"),
                note="options")


# --- workbook family --------------------------------------------------------------------------
SMALL_SPEC = {
    "title": "fuzz", "data": {"csv": "rows.csv", "true": {"a": 2.0, "b": 30.0}},
    "sheet": [{"name": "basic", "optimizer": "sgd", "lr": 0.0001, "epochs": 2},
              {"name": "adam", "optimizer": "adam", "lr": 0.1, "epochs": 2,
               "show": ["forward"]},
              {"name": "torch_sgd", "optimizer": "sgd", "flavor": "torch", "lr": 0.001,
               "mom": 0.9, "epochs": 1}]}


@functools.cache
def small_workbook() -> bytes:
    """A small sheetopt workbook's bytes (written once per process)."""
    from sheetopt.spec.data import DataSet
    from sheetopt.spec import parse
    from sheetopt.workbook import write_workbook

    import numpy as np

    spec = dict(SMALL_SPEC, data={"preset": "lecture", "true": {"a": 2.0, "b": 30.0}})
    parsed = parse(spec)
    data = DataSet(np.asarray(parsed.data.x[:6]), np.asarray(parsed.data.y[:6]), "fuzz",
                   dict(parsed.data.true), tuple(parsed.data.headers))
    from dataclasses import replace

    parsed = replace(parsed, data=data)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "book.xlsx"
        write_workbook(parsed, path)
        return path.read_bytes()


def _parts(book: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(book)) as z:
        return {info.filename: z.read(info) for info in z.infolist()}


def _zip(parts: dict[str, bytes], level: int = 6, stored: tuple = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in parts.items():
            method = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, compress_type=method,
                       compresslevel=level if method == zipfile.ZIP_DEFLATED else None)
    return buffer.getvalue()


def _sheet_parts(parts: dict[str, bytes]) -> list[str]:
    return sorted(p for p in parts if p.startswith("xl/worksheets/sheet"))


CELL = re.compile(rb"<c r=\"([A-Z]+[0-9]+)\"[^>]*?(/>|>.*?</c>)")
cell_payload = st.one_of(
    st.sampled_from([b"abc", b"1,5", b"NaN", b"nan", b"inf", b"", b" ", b"9" * 400,
                     b"1e400", b"-0", b"1e-400", b"0x1F", b"1_000", b"\xc3\xa9", b"2026-01-01",
                     b"TRUE"]),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(f).encode()),
    st.integers(-10 ** 30, 10 ** 30).map(lambda i: str(i).encode()))
CELL_KINDS = [b"", b' t="n"', b' t="s"', b' t="str"', b' t="b"', b' t="e"', b' t="d"',
              b' t="zz"', b' t="inlineStr"']


@st.composite
def _new_cell(draw, ref: bytes) -> bytes:
    kind = draw(st.sampled_from(CELL_KINDS))
    payload = draw(cell_payload)
    if kind == b' t="s"':
        payload = str(draw(st.sampled_from([0, 1, 5, 10 ** 6, -1]))).encode()
    formula = b"<f>1+1</f>" if draw(st.booleans()) else b""
    style = draw(st.sampled_from([b"", b' s="0"', b' s="3"', b' s="999"']))
    ref = draw(st.sampled_from([ref, ref, ref, b"A1", b"ZZZZ9", b"1A", ref + b"0"]))
    if kind == b' t="inlineStr"':
        return b'<c r="' + ref + b'"' + style + kind + b"><is><t>" + payload + b"</t></is></c>"
    if draw(st.integers(0, 6)) == 0:
        return b'<c r="' + ref + b'"' + style + kind + b"/>"
    return b'<c r="' + ref + b'"' + style + kind + b">" + formula + b"<v>" + payload + b"</v></c>"


def _edit_cells(draw, data: bytes, count: int, only=None) -> bytes:
    cells = [m for m in CELL.finditer(data) if only is None or only(m)]
    if not cells:
        return data
    for _ in range(count):
        m = draw(st.sampled_from(cells))
        new = draw(_new_cell(m.group(1)))
        data = data.replace(m.group(0), new, 1)
        cells = [c for c in CELL.finditer(data) if only is None or only(c)] or cells
    return data


def _letters(col: int) -> str:
    return chr(65 + col) if col < 26 else chr(64 + col // 26) + chr(65 + col % 26)


def _metadata(parts: dict[str, bytes]) -> tuple[str, dict]:
    """The metadata sheet's part and its JSON document."""
    from xml.sax.saxutils import unescape

    for name in _sheet_parts(parts):
        if b"sheetopt workbook" in parts[name]:
            texts = re.findall(rb"<t[^>]*>(.*?)</t>", parts[name], re.S)
            text = "".join(unescape(t.decode()) for t in texts[1:])
            return name, json.loads(text)
    raise LookupError("no metadata sheet")


def _with_metadata(parts: dict[str, bytes], part: str, text: str) -> bytes:
    from xml.sax.saxutils import escape

    row = (b'<row r="2"><c r="A2" t="inlineStr"><is><t>' + escape(text).encode("utf-8", "surrogatepass")
           + b"</t></is></c></row>")
    data = re.sub(rb'<row r="2".*</sheetData>', lambda m: row + b"</sheetData>", parts[part],
                  flags=re.S)
    return data


@st.composite
def _metadata_edit(draw, document: dict):
    kind = draw(st.sampled_from(["delete key", "retype", "epochs 0", "hypers empty",
                                 "deep nesting", "set value", "format", "garbage",
                                 "huge number", "input position"]))
    sheets = document["sheets"]
    sheet = draw(st.sampled_from(sheets))
    if kind == "delete key":
        target = draw(st.sampled_from([document, document["data"], sheet, sheet["inputs"],
                                       sheet["hypers"]]))
        if target:
            del target[draw(st.sampled_from(sorted(target)))]
    elif kind in ("retype", "set value"):
        target = draw(st.sampled_from([document, document["data"], sheet, sheet["hypers"],
                                       sheet["schedule"]]))
        if target:
            target[draw(st.sampled_from(sorted(target)))] = draw(odd_value)
    elif kind == "epochs 0":
        sheet["epochs"] = draw(st.sampled_from([0, -1, 10 ** 7, 2 ** 70, 1.5, "2", 30_000]))
    elif kind == "hypers empty":
        sheet["hypers"] = {}
    elif kind == "input position":
        key = draw(st.sampled_from(sorted(sheet["inputs"])))
        sheet["inputs"][key] = draw(st.sampled_from([[10 ** 9, 0], [-1, 2], [3], "C5",
                                                     [0, 10 ** 6], [2, 2.5], [True, 1]]))
    elif kind == "format":
        document["format"] = draw(odd_scalar)
    elif kind == "huge number":
        return json.dumps(document).replace('"epochs": ', '"epochs": ' + "9" * 5000, 1)
    elif kind == "deep nesting":
        depth = draw(st.sampled_from([100, 10_000, 200_000]))
        return json.dumps(document)[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    else:
        return draw(st.sampled_from(["", "{", "[]", "null", "{\"format\": 2}", "\x00"]))
    return json.dumps(document)


@st.composite
def workbook_cases(draw) -> Case:
    book = small_workbook()
    parts = _parts(book)
    kind = draw(st.sampled_from(["cell", "cell", "input", "input", "bit flip", "truncate",
                                 "zip bomb", "lying size", "bad crc", "compression", "xml bomb",
                                 "damaged xml", "empty part", "metadata", "metadata",
                                 "as values", "missing part", "sheet list", "unchanged"]))
    sheets = _sheet_parts(parts)
    note = kind
    if kind == "cell":
        part = draw(st.sampled_from(sheets))
        parts[part] = _edit_cells(draw, parts[part], draw(st.integers(1, 3)))
        data = _zip(parts)
    elif kind == "input":  # the cells a learner types into: hyperparameters, start, data
        _, document = _metadata(parts)
        titles = re.findall(rb'<sheet name="([^"]+)"', parts["xl/workbook.xml"])
        raw = draw(st.sampled_from(document["sheets"] + [None]))
        if raw is None:
            title, refs = b"data", {f"{c}{r}".encode() for c in "AB" for r in range(7, 13)}
        else:
            title = raw["worksheet"].encode()
            refs = {f"{_letters(col)}{row + 1}".encode() for row, col in raw["inputs"].values()}
        part = f"xl/worksheets/sheet{titles.index(title) + 1}.xml"
        parts[part] = _edit_cells(draw, parts[part], 1, only=lambda m: m.group(1) in refs)
        data = _zip(parts)
        note = f"input of {title.decode()}"
    elif kind == "bit flip":
        data = bytearray(book)
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] ^= 1 << draw(st.integers(0, 7))
        data = bytes(data)
    elif kind == "truncate":
        data = book[:draw(st.integers(0, len(book) - 1))]
    elif kind == "zip bomb":
        part = draw(st.sampled_from(sheets))
        size = draw(st.sampled_from([2, 8, 64])) * 1024 ** 2
        head = parts[part][:parts[part].index(b"<sheetData>") + len(b"<sheetData>")]
        parts[part] = head + b" " * size + b"</sheetData></worksheet>"
        data = _zip(parts, level=9)
        note = f"zip bomb: {part} {size >> 20} MiB of spaces"
    elif kind == "lying size":
        data = _patch_directory(book, draw(st.sampled_from(sheets)),
                                file_size=draw(st.sampled_from([10, 3 * 1024 ** 3, 2 ** 32 - 1])))
    elif kind == "bad crc":
        data = _patch_directory(book, draw(st.sampled_from(sorted(parts))),
                                crc=draw(st.integers(0, 2 ** 32 - 1)))
    elif kind == "compression":
        data = _patch_directory(book, draw(st.sampled_from(sorted(parts))),
                                method=draw(st.sampled_from([1, 12, 14, 93, 99])))
    elif kind == "xml bomb":
        part = draw(st.sampled_from(["xl/workbook.xml", *sheets, "xl/styles.xml",
                                     "[Content_Types].xml"]))
        head, _, rest = parts[part].partition(b"?>")
        entities = (b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
                    if draw(st.booleans()) else
                    b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>')
        parts[part] = head + b"?>" + entities + rest.replace(b"<sheetData>",
                                                             b"<sheetData>&lol2;", 1)
        data = _zip(parts)
    elif kind == "damaged xml":
        part = draw(st.sampled_from(sorted(parts)))
        text = parts[part]
        at = draw(st.integers(0, len(text)))
        parts[part] = text[:at] + draw(st.sampled_from([b"<", b"&", b">", b"\x00", b"</c>",
                                                        b"<x>", b"\xff"])) + text[at:]
        data = _zip(parts)
        note = f"damaged xml: {part} at {at}"
    elif kind == "empty part":
        parts[draw(st.sampled_from(sorted(parts)))] = b""
        data = _zip(parts)
    elif kind == "metadata":
        part, document = _metadata(parts)
        text = draw(_metadata_edit(document))
        parts[part] = _with_metadata(parts, part, text)
        data = _zip(parts)
        note = f"metadata: {text[:300]!r}"
    elif kind == "as values":
        part = draw(st.sampled_from(sheets[1:]))
        everything = draw(st.booleans())
        parts[part] = re.sub(rb"<f>[^<]*</f>", b"", parts[part],
                             count=0 if everything else draw(st.integers(1, 20)))
        data = _zip(parts)
        note = f"as values: {part} {'all' if everything else 'some'}"
    elif kind == "sheet list":  # the workbook part's list of sheets edited
        text = parts["xl/workbook.xml"]
        sheet_elements = re.findall(rb"<sheet [^>]*/>", text)
        target = draw(st.sampled_from(sheet_elements))
        change = draw(st.sampled_from([b"", re.sub(rb'name="[^"]*"', b'name="data"', target),
                                       re.sub(rb'r:id="[^"]*"', b'r:id="rId999"', target),
                                       target.replace(b"<sheet ", b"<sheet state=\"hidden\" "),
                                       re.sub(rb'name="[^"]*"', b'name=""', target)]))
        parts["xl/workbook.xml"] = text.replace(target, change, 1)
        data = _zip(parts)
        note = f"sheet list: {target!r} -> {change!r}"
    elif kind == "missing part":
        del parts[draw(st.sampled_from(sorted(parts)))]
        data = _zip(parts)
    else:
        data = book
    return Case("workbook", ["check", "book.xlsx"], files={"book.xlsx": data}, note=note)


def _patch_directory(book: bytes, name: str, file_size: int | None = None,
                     method: int | None = None, crc: int | None = None) -> bytes:
    """The zip with one entry's central-directory (and local) record changed: an inflated size
    or a compression method that the data does not have."""
    data = bytearray(book)
    encoded = name.encode()
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46:central + 46 + name_length] == encoded:
            local = struct.unpack_from("<I", data, central + 42)[0]
            if file_size is not None:
                struct.pack_into("<I", data, central + 24, file_size)
                struct.pack_into("<I", data, local + 22, file_size)
            if crc is not None:
                struct.pack_into("<I", data, central + 16, crc)
                struct.pack_into("<I", data, local + 14, crc)
            if method is not None:
                struct.pack_into("<H", data, central + 10, method)
                struct.pack_into("<H", data, local + 8, method)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    return bytes(data)


# --- output family ----------------------------------------------------------------------------
WRITERS = [(["workbook", "spec.toml", "-o"], ".xlsx", []),
           (["trace", "spec.toml", "-o"], ".csv", []),
           (["compare", "spec.toml", "--plot"], ".png", []),
           (["sweep", "spec.toml", "--sheet", "s", "--lr", "0.001:0.01:3", "--plot"], ".png", []),
           (["plot", "spec.toml", "--kind", "loss", "-o"], ".png", []),
           (["animate", "spec.toml", "--sheet", "s", "--frames", "3", "-o"], ".gif", [])]
OUTPUT_PROBLEMS = ["too long", "proc", "sys", "dangling symlink", "folder", "missing folder",
                   "device", "file as folder", "exists", "exists with --force", "link to file",
                   "root"]  # an empty path (-o "") is issue 12 item 6, the api helper's


@st.composite
def output_cases(draw) -> Case:
    argv, ext, _ = draw(st.sampled_from(WRITERS))
    problem = draw(st.sampled_from(OUTPUT_PROBLEMS))
    files = {"spec.toml": '[data]\ncsv = "rows.csv"\n[[sheet]]\nname = "s"\noptimizer = "sgd"\n'
                          'lr = 0.001\n', "rows.csv": GOOD_ROWS, "precious.txt": PRECIOUS,
             f"old{ext}": PRECIOUS}
    links, folders, outputs, extra = {}, ("a-folder",), (), []
    target = {"too long": "n" * draw(st.sampled_from([250, 256, 300, 5000])) + ext,
              "proc": f"/proc/out{ext}", "sys": f"/sys/out{ext}", "dangling symlink": f"link{ext}",
              "folder": "a-folder", "missing folder": f"nowhere/out{ext}", "device": "/dev/null",
              "file as folder": f"precious.txt/out{ext}", "exists": f"old{ext}",
              "exists with --force": f"old{ext}", "link to file": f"tofile{ext}",
              "empty": "", "root": f"/out{ext}" if os.geteuid() != 0 else f"/proc/1/out{ext}",
              }[problem]
    if problem == "dangling symlink":
        links[f"link{ext}"] = "missing-target"
    if problem == "link to file":
        links[f"tofile{ext}"] = "precious.txt"
    if problem == "exists with --force":
        extra, outputs = ["--force"], (f"old{ext}",)
    if problem == "too long" and len(target.encode()) <= 255:
        outputs = (target,)
    return Case("output", [*argv, target, *extra], files=files, links=links, folders=folders,
                outputs=outputs, note=problem)


# --- edges family: the inputs of issue 19 ------------------------------------------------------
EDGE_FLOATS = [1e308, -1e308, 5e-324, -5e-324, 1e-320, 1.7976931348623157e308, 1e154, 1e-300]
EDGE_SPEC = {"title": "edges", "data": {"csv": "rows.csv", "true": {"a": 2.0, "b": 30.0}},
             "sheet": [{"name": "s", "optimizer": "sgd", "lr": 0.001, "epochs": 2},
                       {"name": "m", "optimizer": "momentum", "flavor": "torch", "lr": 0.001,
                        "epochs": 2}]}
EDGE_SCHEDULES = [
    {"torch": "OneCycleLR", "max_lr": 0.01, "total_steps": 100, "per": "step"},
    {"torch": "CyclicLR", "base_lr": 0.001, "max_lr": 0.01, "step_size_up": 3, "per": "step"},
    {"torch": "MultiStepLR", "milestones": [1, 2, 3], "gamma": 0.5, "per": "step"},
    {"torch": "PolynomialLR", "total_iters": 5, "power": 1.0, "per": "step"},
    {"torch": "ExponentialLR", "gamma": 0.9, "per": "epoch"}]
READERS = [["compare"], ["trace"], ["workbook", "-o", "w.xlsx"], ["plot", "--kind", "loss", "-o",
           "p.png"], ["sweep", "--sheet", "s", "--lr", "0.001,0.01"], ["check"],
           ["animate", "--sheet", "s", "--frames", "2", "-o", "a.gif"],
           ["verify", "--device", "cpu", "--drift-steps", "5"]]
GLYPH_NAMES = ["中文", "🙂 emoji", "tab\there", "Ω∑", "a\u0301"]


def _edge_float_case(draw) -> Case:
    spec = json.loads(json.dumps(EDGE_SPEC))
    value = draw(st.sampled_from(EDGE_FLOATS))
    where = draw(st.sampled_from(["init", "true", "data", "schedule", "lr", "diverge_above"]))
    rows = GOOD_ROWS
    sheet = spec["sheet"][draw(st.integers(0, 1))]
    if where == "init":
        sheet["init"] = {draw(st.sampled_from(["a", "b"])): value}
    elif where == "true":
        spec["data"]["true"][draw(st.sampled_from(["a", "b"]))] = value
    elif where == "data":
        rows = GOOD_ROWS.replace("3,36", f"{value!r},36" if draw(st.booleans()) else f"3,{value!r}")
    elif where == "schedule":
        schedule = dict(draw(st.sampled_from(EDGE_SCHEDULES)))
        numeric = [k for k, v in schedule.items() if isinstance(v, float)]
        schedule[draw(st.sampled_from(numeric))] = value
        if draw(st.booleans()):
            schedule["pct_start"] = value if schedule["torch"] == "OneCycleLR" else None
        spec["sheet"][1]["schedule"] = {k: v for k, v in schedule.items() if v is not None}
    else:
        sheet[where] = value
    command = draw(st.sampled_from([["compare", "spec.toml"], ["compare", "spec.toml", "--plot",
                                    "p.png"], ["workbook", "spec.toml", "-o", "w.xlsx"],
                                    ["plot", "spec.toml", "--kind",
                                     draw(st.sampled_from(["all", "path", "fits", "step_loss"])),
                                     "-o", "p.png"], ["trace", "spec.toml", "-o", "-"],
                                    ["verify", "spec.toml", "--device", "cpu",
                                     "--drift-steps", "5"]]))
    return Case("edges", command, files={"spec.toml": toml_text(spec), "rows.csv": rows},
                outputs=("p.png", "w.xlsx"), note=f"edge float {value!r} in {where}")


def _long_name_case(draw) -> Case:
    name = "n" * draw(st.sampled_from([256, 300, 5000]))
    reader = draw(st.sampled_from(READERS))
    if draw(st.booleans()) and reader[0] != "check":  # the data file's name, inside the spec
        spec = toml_text({"data": {"csv": name + ".csv"}, "sheet": [{"name": "s",
                          "optimizer": "sgd", "lr": 0.001}]})
        return Case("edges", [reader[0], "spec.toml", *reader[1:]], files={"spec.toml": spec},
                    outputs=("w.xlsx", "p.png", "a.gif"), note="a data file name too long")
    ext = ".xlsx" if reader[0] == "check" else ".toml"
    return Case("edges", [reader[0], name + ext, *reader[1:]],
                outputs=("w.xlsx", "p.png", "a.gif"), note="an input file name too long")


EMPTY_OPTIONS = [["sweep", "lesson5", "--sheet", "adam", "--lr"], ["sweep", "lesson5", "--lr",
                 "0.1", "--sheet"], ["torch-suite", "--optimizer"], ["torch-suite",
                 "--scheduler"], ["torch-suite", "--epochs"], ["torch-suite", "--elements"],
                 ["plot", "lesson5", "-o", "p.png", "--kind"], ["compare", "lesson5", "--plot"],
                 ["trace", "lesson5", "-o"], ["compare", "lesson5", "-o"],
                 ["verify", "lesson5", "--tol"], ["animate", "lesson2", "-o", "a.gif", "--sheet"]]


def _empty_value_case(draw) -> Case:
    if draw(st.integers(0, 6)) == 0:
        return Case("edges", [], note="a bare sheetopt")
    argv = list(draw(st.sampled_from(EMPTY_OPTIONS)))
    value = draw(st.sampled_from(["", "--", "="]))
    if value == "=":
        argv[-1] += "="
    else:
        argv.append(value)
    return Case("edges", argv, outputs=("p.png", "a.gif"), note="an empty or -- option value")


def _unbounded_case(draw) -> Case:
    argv = draw(st.sampled_from([
        ["torch-suite", "--epochs", "100000"], ["torch-suite", "--elements", "10000000"],
        ["torch-suite", "--epochs", "100000000", "--elements", "100000000"],
        ["sweep", "lesson5", "--sheet", "adam", "--lr", "0.01:1:100000000"],
        ["compare", "spec.toml"], ["trace", "spec.toml", "-o", "-"]]))
    epochs = draw(st.sampled_from([10 ** 7, 10 ** 9, 2 ** 62]))
    spec = toml_text({"data": {"preset": "lecture"}, "sheet": [
        {"name": "s", "optimizer": "sgd", "lr": 0.0001, "epochs": epochs}]})
    return Case("edges", argv, files={"spec.toml": spec}, note="work without a bound")


VERIFY_SHEETS = [
    {"optimizer": "adam_ann", "flavor": "torch", "lr": 0.1},
    {"optimizer": "nadam", "lr": 0.01, "schedule": {"torch": "StepLR", "step_size": 5,
                                                   "per": "step"}},
    {"optimizer": "asgd", "lr": 0.01, "schedule": {"torch": "ExponentialLR", "gamma": 0.9,
                                                  "per": "epoch"}},
    {"optimizer": "sgd", "lr": 0.0001, "show": ["analytic"]},
    {"optimizer": "sgd", "flavor": "torch", "schedule": {"torch": "OneCycleLR",
     "max_lr": 0.0001, "total_steps": 29, "per": "step"}},
    {"optimizer": "adam", "flavor": "torch", "lr": 0.1, "schedule": {"torch": "OneCycleLR",
     "max_lr": 0.1, "total_steps": 29, "pct_start": 1e-320, "per": "step"}},
    {"optimizer": "adam", "betas": [0.9, 0.99], "weight_decay": 0.01, "lr": 0.1},
    {"optimizer": "rmsprop", "flavor": "torch", "lr": 0.01, "alpha": 1.5, "momentum": 1.2},
]


def _verify_case(draw) -> Case:
    sheets = draw(st.lists(st.sampled_from(VERIFY_SHEETS), min_size=1, max_size=2))
    spec = toml_text({"data": {"preset": "lecture"},
                      "sheet": [dict(s, name=f"s{i}") for i, s in enumerate(sheets)]})
    return Case("edges", ["verify", "spec.toml", "--device", "cpu", "--drift-steps",
                          str(draw(st.sampled_from([0, 10])))],
                files={"spec.toml": spec}, note="combinations that reach verify")


def _warning_case(draw) -> Case:
    names = draw(st.lists(st.sampled_from(GLYPH_NAMES), min_size=1, max_size=2, unique=True))
    big = draw(st.sampled_from(["1e150", "1e200", "3"]))
    model = draw(st.sampled_from(["linear", "quadratic"]))
    sheets = [{"name": n, "optimizer": "sgd", "lr": 1e-6} for n in names]
    if draw(st.booleans()):
        sheets.append({"name": "fa", "optimizer": "adam", "lr": 0.1,
                       "schedule": "fastai_one_cycle"})
    spec = toml_text({"data": {"csv": "rows.csv"}, "model": {"kind": model}, "sheet": sheets})
    rows = f"x,y\n1,32\n2,34\n{big},36\n4,38\n"
    argv = draw(st.sampled_from([
        ["plot", "spec.toml", "--kind", draw(st.sampled_from(["all", "loss", "step_loss", "lr",
                                                              "fits", "path"])), "-o", "p.png"],
        ["compare", "spec.toml", "--plot", "p.png"], ["compare", "spec.toml"],
        ["workbook", "spec.toml", "-o", "w.xlsx"]]))
    return Case("edges", argv, files={"spec.toml": spec, "rows.csv": rows},
                outputs=("p.png", "w.xlsx"), note="warnings on runs that succeed")


@functools.cache
def _edge_workbook(value: float) -> bytes:
    """A workbook written from a spec with an edge value in its start (written once)."""
    from sheetopt.spec import parse

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "e.xlsx"
        spec = parse({"data": {"preset": "lecture", "true": {"a": 2.0, "b": 30.0}},
                      "sheet": [{"name": "s", "optimizer": "sgd", "lr": 0.0001,
                                 "init": {"a": value, "b": 1.0}, "epochs": 1}]})
        from sheetopt import api

        api.write_workbook(spec, path)
        return path.read_bytes()


def _own_check_case(draw) -> Case:
    value = draw(st.sampled_from([1e308, -1e308, 1e154, 5e-324]))
    return Case("edges", ["check", "book.xlsx"], files={"book.xlsx": _edge_workbook(value)},
                note=f"a fresh workbook of start {value!r} checked")


@st.composite
def edge_cases(draw) -> Case:
    kind = draw(st.sampled_from([_edge_float_case, _long_name_case, _empty_value_case,
                                 _unbounded_case, _verify_case, _warning_case,
                                 _own_check_case]))
    return kind(draw)


FAMILIES = {"spec": spec_cases(), "csv": csv_cases(), "columns": column_cases(),
            "models": model_cases(), "options": option_cases(),
            "workbook": workbook_cases(), "output": output_cases(), "edges": edge_cases()}


# --- the deep run -----------------------------------------------------------------------------
def _family_runner(name, cases, seed, seconds, counts, failures, codes):
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed

    @fixed_seed(seed)
    @settings(max_examples=cases, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(FAMILIES[name])
    def one(case):
        counts[name] += 1
        failure, result = run_case(case, seconds)
        codes[name][str(result[0])] = codes[name].get(str(result[0]), 0) + 1
        if failure:
            failures[name].append((failure, case, result))
    return one


def deep_run(cases: int, families: list[str], seed: int, seconds: float) -> int:
    per_family = max(1, cases // len(families))
    failures: dict[str, list[tuple[str, Case, tuple]]] = {}
    counts: dict[str, int] = {}
    codes: dict[str, dict[str, int]] = {name: {} for name in families}
    started = time.monotonic()
    for name in families:
        counts[name] = 0
        failures[name] = []
        one = _family_runner(name, per_family, seed, seconds, counts, failures, codes)
        family_start = time.monotonic()
        one()
        print(f"{name:<9} {counts[name]:>6,} cases  {len(failures[name]):>4} failures  "
              f"{time.monotonic() - family_start:7.1f} s  exit "
              + ", ".join(f"{c}: {n}" for c, n in sorted(codes[name].items())), flush=True)
    total = sum(counts.values())
    failed = sum(len(f) for f in failures.values())
    print(f"{'total':<9} {total:>6,} cases  {failed:>4} failures  "
          f"{time.monotonic() - started:7.1f} s  ({len(families)} families, seed {seed})")
    for name in families:
        seen = set()
        for failure, case, (code, out, err) in failures[name]:
            kind = failure.split(":")[0]
            if kind in seen:
                continue
            seen.add(kind)
            print(f"\nFAILED {case.describe()}\n  {failure}\n  stderr: {err[-1500:]}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000, help="cases in all (split evenly)")
    parser.add_argument("--family", action="append", choices=sorted(FAMILIES),
                        help="only this family (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=CASE_SECONDS,
                        help="time bound of one case")
    args = parser.parse_args(argv)
    return deep_run(args.cases, args.family or list(FAMILIES), args.seed, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
