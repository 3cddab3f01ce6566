"""Data sets: the lecture's rows, generated data and the user's own CSV."""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from .errors import SheetoptError
from .models import Model

PRESET_DIR = Path(__file__).resolve().parent / "presets"
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
    """Reads rows from a CSV whose header is x,y (or another pair the model accepts)."""
    name = label or str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            lines = list(csv.reader(handle))
    except FileNotFoundError:
        raise SheetoptError(f"{name}: data file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SheetoptError(f"{name}: cannot read data file ({exc.__class__.__name__}: {exc})") from None
    if not lines:
        raise SheetoptError(f"{name}: the CSV is empty; expected a header {','.join(model.headers[0])}")
    header = tuple(cell.strip() for cell in lines[0])
    if header not in model.headers:
        wanted = " or ".join(",".join(pair) for pair in model.headers)
        raise SheetoptError(f"{name}, line 1: header {','.join(header)!r} is not {wanted}")
    xs, ys = [], []
    for number, cells in enumerate(lines[1:], start=2):
        if not cells or all(not cell.strip() for cell in cells):
            continue  # blank lines are not rows
        if len(cells) != 2:
            raise SheetoptError(f"{name}, line {number}: expected 2 cells, found {len(cells)}")
        values = [_number(cell, name, number, column) for cell, column in zip(cells, header)]
        xs.append(values[0])
        ys.append(values[1])
    if not xs:
        raise SheetoptError(f"{name}: the CSV has a header but no rows")
    return DataSet(np.array(xs), np.array(ys), source=name, true=dict(true or {}), headers=header)


def _number(cell: str, name: str, line: int, column: str) -> float:
    text = cell.strip()
    if not text:
        raise SheetoptError(f"{name}, line {line}: column {column} is empty")
    try:
        if "_" in text:  # Python reads 1_000 as a number; a CSV reader should not
            raise ValueError(text)
        value = float(text)
    except ValueError:
        raise SheetoptError(f"{name}, line {line}: column {column} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise SheetoptError(f"{name}, line {line}: column {column} is {text!r}; values must be finite")
    return value


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
