"""Data sets: the lecture's rows, generated data and the user's own CSV."""
from __future__ import annotations

import csv
import io
import math
import sys
import warnings
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import SheetoptError
from ..models import Model

PRESET_DIR = Path(__file__).resolve().parents[1] / "presets"
DATA_PRESETS = {"lecture": "lecture-data.csv"}

X_KINDS = ("integers", "uniform", "range")
NOISE_KINDS = ("none", "uniform", "normal")
BYTES_PER_ROW = 64  # x, y and the temporaries of generating them


@dataclass(frozen=True)
class DataSet:
    x: np.ndarray
    y: np.ndarray
    source: str  # where the rows came from, in words
    true: Mapping[str, float] = field(default_factory=dict)  # the true parameters when known
    headers: tuple[str, str] = ("x", "y")

    def __len__(self) -> int:
        return len(self.x)


def read_csv(path: Path, model: Model, true: Mapping[str, float] | None = None,
             label: str | None = None) -> DataSet:
    """Reads rows from a CSV whose header is x,y (or another pair the model accepts).

    pandas' C parser reads the numbers. A file it cannot read as plain numbers (a bad cell, a
    quoted or blank cell, a row of other length) is tokenized by the csv module instead and
    checked column by column, so the first fault is reported as "line N: column C ..."."""
    name = label or str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise SheetoptError(f"{name}: data file not found") from None
    except OSError as exc:
        raise SheetoptError(f"{name}: cannot read data file ({exc.__class__.__name__}: {exc})") from None
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    fast = _fast_rows(path, raw, model)
    if fast is not None:
        header, x, y = fast
    else:
        header, x, y = _checked_rows(raw, model, name)
    return DataSet(x, y, source=name, true=dict(true or {}), headers=header)


BOM = b"\xef\xbb\xbf"
# bytes a file of plain numbers is made of; anything else (quotes, letters, other scripts'
# digits) goes through the checked path, which reads cells exactly as Python's float() does
_PLAIN = b"0123456789.+-eE, \t\r\n"


def _fast_rows(path: Path, raw: bytes, model: Model):
    """(header, x, y) when the file is a header line and rows of two plain numbers, else None
    (the checked path then reads it and names the fault)."""
    import pandas as pd

    end = raw.find(b"\n")
    first = raw if end < 0 else raw[:end]
    if first.endswith(b"\r"):
        first = first[:-1]
    if b'"' in first or b"\r" in first:
        return None
    try:
        header = tuple(cell.strip() for cell in first.decode("utf-8").split(","))
    except UnicodeDecodeError:
        return None
    # plain rows: all the bytes no plain number is made of lie in the header line
    if (header not in model.headers or end < 0 or end + 1 == len(raw)
            or raw.translate(None, _PLAIN) != first.translate(None, _PLAIN)):
        return None
    try:
        with warnings.catch_warnings():  # a row of three cells: the comma count below sees it
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            # the file itself (pandas skips a BOM); its first line is the header checked above
            frame = pd.read_csv(path, header=0, names=["x", "y"], dtype=np.float64,
                                na_filter=False, index_col=False, engine="c",
                                encoding="utf-8")
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    x, y = frame["x"].to_numpy(copy=True), frame["y"].to_numpy(copy=True)  # writable
    # one comma a row: no row had another number of cells (pandas pads short rows)
    if (not len(x) or raw.count(b",", end + 1) != len(x)
            or not (np.isfinite(x).all() and np.isfinite(y).all())):
        return None
    return header, x, y


def _checked_rows(raw: bytes, model: Model, name: str):
    """The csv module's records (today's reading of a CSV), checked a column at a time; only
    the cells a vectorized parse could not read as finite numbers are looked at one by one."""
    import pandas as pd

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SheetoptError(f"{name}: cannot read data file ({exc.__class__.__name__}: {exc})") from None
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)  # a long cell is a bad cell, reported as such
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise SheetoptError(f"{name}: cannot read data file (csv.Error: {exc})") from None
    finally:
        csv.field_size_limit(limit)
    if not lines:
        raise SheetoptError(f"{name}: the CSV is empty; expected a header {','.join(model.headers[0])}")
    header = tuple(cell.strip() for cell in lines[0])
    if header not in model.headers:
        wanted = " or ".join(",".join(pair) for pair in model.headers)
        raise SheetoptError(f"{name}, line 1: header {','.join(header)!r} is not {wanted}")
    records = lines[1:]
    counts = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
    pairs = np.flatnonzero(counts == 2)
    cells = pd.Series(list(chain.from_iterable(records[i] for i in pairs)), dtype=object)
    values = np.array(pd.to_numeric(cells, errors="coerce"), dtype=float).reshape(-1, 2)
    # rows to look at: other lengths, and pairs with a cell that did not parse as finite
    odd = np.zeros(len(records), dtype=bool)
    odd[counts != 2] = counts[counts != 2] > 0
    odd[pairs[~np.isfinite(values).all(axis=1)]] = True
    keep = np.ones(len(pairs), dtype=bool)
    where = np.full(len(records), -1, dtype=np.int64)
    where[pairs] = np.arange(len(pairs))
    for i in np.flatnonzero(odd):
        cells_i = records[i]
        if all(not cell.strip() for cell in cells_i):
            if where[i] >= 0:
                keep[where[i]] = False  # blank lines are not rows
            continue
        number = int(i) + 2
        if len(cells_i) != 2:
            raise SheetoptError(f"{name}, line {number}: expected 2 cells, found {len(cells_i)}")
        values[where[i]] = [_number(cell, name, number, column)
                            for cell, column in zip(cells_i, header)]
    values = values[keep]
    if not len(values):
        raise SheetoptError(f"{name}: the CSV has a header but no rows")
    return header, np.ascontiguousarray(values[:, 0]), np.ascontiguousarray(values[:, 1])


def _number(cell: str, name: str, line: int, column: str) -> float:
    text = cell.strip()
    if not text:
        raise SheetoptError(f"{name}, line {line}: column {column} is empty")
    try:
        if "_" in text:  # Python reads 1_000 as a number; a CSV reader should not
            raise ValueError(text)
        value = float(text)
    except ValueError:
        raise SheetoptError(f"{name}, line {line}: column {column} is not a number: "
                            f"{_shown(text)}") from None
    if not math.isfinite(value):
        raise SheetoptError(f"{name}, line {line}: column {column} is {_shown(text)}; values "
                            "must be finite")
    return value


def _shown(text: str, most: int = 100) -> str:
    """The cell's text as the message quotes it; a very long one cut, with its length."""
    if len(text) <= most:
        return repr(text)
    return f"{text[:most]!r}... ({len(text):,} characters)"


def generate(model: Model, true: Mapping[str, float], rows: int, x: str, x_min: float,
             x_max: float, seed: int, noise: str = "none", noise_scale: float = 1.0) -> DataSet:
    """Rows from the model with the true parameters: x as random integers in [x_min, x_max],
    uniform reals in [x_min, x_max), or the evenly spaced range x_min, x_min+1, ...;
    plus noise that is none, uniform in [0, noise_scale) or normal with sd noise_scale."""
    rng = np.random.default_rng(seed)
    if x == "integers":
        xs = rng.integers(int(x_min), int(x_max), endpoint=True, size=rows).astype(float)
    elif x == "uniform":
        xs = rng.uniform(x_min, x_max, size=rows)
    else:
        xs = x_min + np.arange(rows, dtype=float)
    ys = model.predict(true, xs)
    if noise == "uniform":
        ys = ys + rng.uniform(0.0, noise_scale, size=rows)
    elif noise == "normal":
        ys = ys + rng.normal(0.0, noise_scale, size=rows)
    interval = f"[{x_min:g}, {x_max:g})" if x == "uniform" else f"[{x_min:g}, {x_max:g}]"
    source = (f"generated: {model.formula} with {_describe(true)}, x {x} in {interval}, "
              f"noise {noise}"
              + (f" (scale {noise_scale:g})" if noise != "none" else "") + f", seed {seed}")
    return DataSet(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), source, dict(true))


def _describe(values: Mapping[str, float]) -> str:
    return ", ".join(f"{k} = {v:g}" for k, v in values.items())
