"""Data sets: the lecture's rows, generated data and the user's own CSV."""
from __future__ import annotations

import csv
import io
import math
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import SheetoptError
from ..models import Model

PRESET_DIR = Path(__file__).resolve().parents[1] / "presets"
DATA_PRESETS = {"lecture": "lecture-data.csv", "blobs": "blobs.csv",
                "digits": "digits-3-7.csv", "digits-4x4": "digits-3-7-4x4.csv",
                # several features (generated: 3*area + 1.5*rooms - 0.25*age + 10, noise of
                # sd 0.3, seed 17), for kind = "linear"
                "houses": "houses-data.csv",
                # a bent line for kind = "relu_net" (see relu-net.toml)
                "relu-net": "relu-net-data.csv",
                # the gradients of Keras's test_correctness_with_golden: 0.01 for all ten
                # weights, then 0.1, 0.2, ..., 1.0 four times, for kind = "gradients"
                "keras-golden": "keras-golden-gradients.csv"}

X_KINDS = ("integers", "uniform", "range")
NOISE_KINDS = ("none", "uniform", "normal")
BYTES_PER_ROW = 64  # x, y and the temporaries of generating them


@dataclass(frozen=True)
class DataSet:
    """Data rows: ``x`` the input column (rows,), or the input columns (rows, inputs) when a
    row has several; ``y`` the target (zeros for rows without one, like given gradients);
    ``headers`` the columns' names: the inputs in the file's order, then y (wherever the file
    has it, see :func:`target_last`)."""

    x: np.ndarray
    y: np.ndarray
    source: str  # where the rows came from, in words
    true: Mapping[str, float] = field(default_factory=dict)  # the true parameters when known
    headers: tuple[str, ...] = ("x", "y")

    def __len__(self) -> int:
        return len(self.x)

    def inputs(self) -> list[np.ndarray]:
        """The input columns, each a (rows,) array, in column order."""
        return [self.x] if self.x.ndim == 1 else [self.x[:, j] for j in range(self.x.shape[1])]

    def row(self, model: Model, i: int):
        """Row ``i``'s inputs as ``model`` reads them (see ``Model.row``)."""
        return self.x[i] if self.x.ndim == 1 else model.row(tuple(self.x[i]))


def from_columns(columns: np.ndarray, model: Model, source: str, header: tuple[str, ...],
                 true: Mapping[str, float] | None = None) -> DataSet:
    """A DataSet of ``columns`` (rows, columns) read under ``header`` for ``model`` (already
    bound to the header): the inputs first, then y when the model has a target."""
    width = len(model.inputs)
    x = columns[:, 0].copy() if width == 1 else np.ascontiguousarray(columns[:, :width])
    y = columns[:, width].copy() if model.target else np.zeros(len(columns))
    return DataSet(x, y, source=source, true=dict(true or {}), headers=tuple(header))


def target_last(header: tuple[str, ...], model: Model) -> tuple[int, ...]:
    """The order that reads a file's columns as a model takes them: a model with a target
    takes a column named y wherever the file has it, after the inputs, which keep the file's
    order; otherwise (no y, given gradients' parameters, two columns named y) the file's order.

    >>> from sheetopt.models import LINEAR
    >>> target_last(("y", "area", "rooms"), LINEAR)
    (1, 2, 0)
    """
    order = tuple(range(len(header)))
    if not model.target or list(header).count("y") != 1:
        return order
    at = list(header).index("y")
    return (*order[:at], *order[at + 1:], at)


def bound_model(model: Model, header: tuple[str, ...], name: str) -> Model:
    """``model`` for this header (a family takes its parameter names from it); a one-line
    error naming the file otherwise."""
    try:
        return model.for_header(tuple(header))
    except ValueError as exc:
        raise SheetoptError(f"{name}, line 1: {exc}") from None


def _expected(model: Model) -> str:
    return ",".join(model.headers[0]) if model.headers else "naming the parameters"


def read_csv(path: Path, model: Model, true: Mapping[str, float] | None = None,
             label: str | None = None) -> DataSet:
    """Reads rows from a CSV whose header is x,y (or another header the model accepts: a
    family of models takes its parameter names from it, see ``Model.for_header``).

    Every cell is read as Python's ``float()`` reads it (no underscores, finite values), and
    the first fault in the file is reported as "line N: column C ...". A large file of plain
    numbers is read by pandas' C parser (imported only then), whose values are the same."""
    name = label or str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise SheetoptError(f"{name}: data file not found") from None
    except OSError as exc:
        raise SheetoptError(f"{name}: cannot read data file ({exc.__class__.__name__}: {exc})") from None
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    fast = _fast_rows(path, raw, model) if len(raw) >= PANDAS_FROM_BYTES else None
    if fast is not None:
        header, columns = fast
    else:
        header, columns = _checked_rows(raw, model, name)
    order = target_last(header, model)  # the columns as the file has them, then y last
    if order != tuple(range(len(header))):
        header, columns = tuple(header[j] for j in order), columns[:, order]
    return from_columns(columns, bound_model(model, header, name), name, header, true)


BOM = b"\xef\xbb\xbf"
# Below this size the csv module reads the file before pandas would have been imported
# (measured: the csv module 0.07 s a MiB, pandas 0.01 s a MiB after an import of 0.3 s)
PANDAS_FROM_BYTES = 4 << 20
# bytes a file of plain numbers is made of; anything else (quotes, letters, other scripts'
# digits) goes through the checked path, which reads cells exactly as Python's float() does
_PLAIN = b"0123456789.+-eE, \t\r\n"


def _fast_rows(path: Path, raw: bytes, model: Model):
    """(header, columns) when the file is a header line and rows of plain numbers, else None
    (the checked path then reads it and names the fault)."""
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
    try:
        model.for_header(tuple(header[j] for j in target_last(header, model)))
    except ValueError:
        return None
    # plain rows: all the bytes no plain number is made of lie in the header line
    if (end < 0 or end + 1 == len(raw)
            or raw.translate(None, _PLAIN) != first.translate(None, _PLAIN)):
        return None
    # pandas rounds a number written with a leading "+" its own way (not always as float()
    # does) and reads "+1E 5" as 1e5: only a "+" of an exponent is left to it
    plus = raw.count(b"+")  # (one byte: a quick count; most files have none)
    if plus and plus != raw.count(b"e+") + raw.count(b"E+"):
        return None
    import pandas as pd

    try:
        with warnings.catch_warnings():  # a row of three cells: the comma count below sees it
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            # the file itself (pandas skips a BOM); its first line is the header checked above
            frame = pd.read_csv(path, header=0, names=range(len(header)), dtype=np.float64,
                                na_filter=False, index_col=False, engine="c",
                                encoding="utf-8")
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    columns = frame.to_numpy(dtype=np.float64, copy=True)  # writable
    # the header's commas on every row: no row had another number of cells (pandas pads
    # short rows)
    if (not len(columns) or raw.count(b",", end + 1) != len(columns) * (len(header) - 1)
            or not np.isfinite(columns).all()):
        return None
    return header, columns


def _checked_rows(raw: bytes, model: Model, name: str):
    """The csv module's records, each cell read by float(); a record that does not read as
    finite numbers is looked at again to name its fault (a blank line is not a row)."""
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
        raise SheetoptError(f"{name}: the CSV is empty; expected a header {_expected(model)}")
    header = tuple(cell.strip() for cell in lines[0])
    ordered = tuple(header[j] for j in target_last(header, model))
    width = len(bound_model(model, ordered, name).columns)
    rows = []
    for number, cells in enumerate(lines[1:], 2):
        try:
            if len(cells) == width:
                values = [float(cell) for cell in cells]
                if all(v - v == 0 for v in values) and not any("_" in c for c in cells):
                    rows.append(values)  # finite numbers
                    continue
        except ValueError:
            pass
        if all(not cell.strip() for cell in cells):
            continue  # blank lines are not rows
        if len(cells) != width:
            raise SheetoptError(f"{name}, line {number}: expected {width} cells, found {len(cells)}")
        # raises, naming the fault
        rows.append([_number(cell, name, number, column) for cell, column in zip(cells, header)])
    if not rows:
        raise SheetoptError(f"{name}: the CSV has a header but no rows")
    return header, np.array(rows, dtype=np.float64).reshape(len(rows), width)


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
