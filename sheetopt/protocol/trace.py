"""The record of a run: every step, every data row visited, and a summary per epoch."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Iterator, Mapping

import numpy as np


@dataclass(kw_only=True)
class Trace:
    """What one sheet's run did.

    ``steps`` holds one entry per optimizer step (columns in the order of
    ``engine.step_columns``),
    ``rows`` one entry per data row visited (with the row's prediction and squared error at the
    parameters of its step), ``epochs`` one entry per epoch. ``start`` gives the parameters,
    optimizer state and lr the run started from (after any lecture-reset warm-up).
    ``sheetopt.run(spec)[sheet]`` is one; ``.to_dataframe()`` gives its steps as a DataFrame.

    Example:
        >>> import sheetopt
        >>> trace = sheetopt.run("lesson5")["adam"]
        >>> len(trace), trace.diverged, trace.params
        (145, False, ('a', 'b'))
    """

    sheet: str
    params: tuple[str, ...]
    state_names: tuple[str, ...]
    steps: dict[str, np.ndarray]
    rows: dict[str, np.ndarray]
    epochs: dict[str, np.ndarray]
    start: dict[str, float]
    diverged_at: tuple[int, int] | None = None  # (epoch, step), both counted from 1
    meta: dict = field(default_factory=dict)
    # a run recorded per epoch only (no steps, no rows): its final parameters and state
    end: dict[str, float] | None = None
    # where it ran: "numpy" or "compiled" (engine.executor_for; None: not said). Not part of
    # the outputs (CSV, JSON), which are the same bit for bit whichever ran.
    executor: str | None = None

    def __len__(self) -> int:
        return len(self.steps["step"])

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    def final(self) -> dict[str, float]:
        """The parameters after the last recorded step (the start when nothing was recorded).

        Example:
            >>> import sheetopt
            >>> {p: round(v, 3) for p, v in sheetopt.run("lesson5")["adam"].final().items()}
            {'a': 3.01, 'b': 28.005}
        """
        if self.end is not None:
            return {p: self.end[p] for p in self.params}
        if len(self) == 0:
            return {p: self.start[p] for p in self.params}
        return {p: float(self.steps[f"new_{p}"][-1]) for p in self.params}

    def final_state(self) -> dict[str, float]:
        """The optimizer state after the last recorded step, as ``{state}_{param}`` keys."""
        if self.end is not None:
            return {k: v for k, v in self.end.items() if k not in self.params}
        if len(self) == 0:
            return {k: v for k, v in self.start.items() if k not in self.params and k != "lr"}
        return {f"{s}_{p}": float(self.steps[f"{s}_{p}"][-1])
                for s in self.state_names for p in self.params}

    def __repr__(self) -> str:
        where = (f", diverged at epoch {self.diverged_at[0]}, step {self.diverged_at[1]}"
                 if self.diverged_at else "")
        final = ", ".join(f"{p}={v:.6g}" for p, v in self.final().items())
        return (f"<Trace of sheet {self.sheet!r}: {len(self):,} steps, "
                f"{len(self.epochs.get('epoch', ())):,} epochs{where}; final {final}>")

    def to_dataframe(self):
        """Every step as a DataFrame: the columns of ``sheetopt trace``'s CSV, the counters
        (epoch, step, row, size) as whole numbers.

        Example:
            >>> import sheetopt
            >>> sheetopt.run("lesson5")["adam"].to_dataframe()["epoch"].dtype
            dtype('int64')
        """
        return _frame(self.steps)

    def rows_dataframe(self):
        """Every data row visited (epoch, step, row, x, y, pred, err2), as a DataFrame."""
        return _frame(self.rows)

    def epochs_dataframe(self):
        """Per finished epoch: epoch, lecture_rmse, rmse, lr and the parameters."""
        return _frame(self.epochs)

    def to_csv(self) -> str:
        """Every step as CSV; each float in its shortest form that reads back exactly (NaN as
        an empty cell), counters as whole numbers: what ``sheetopt trace`` writes.

        Example:
            >>> import sheetopt
            >>> sheetopt.run("lesson5")["adam"].to_csv().splitlines()[0][:27]
            'epoch,step,row,size,x,y,a,g'
        """
        return "".join(self.csv_chunks())

    def csv_chunks(self, rows: int = 20_000) -> Iterator[str]:
        """``to_csv``'s text a few thousand steps at a time (the header first), so that a long
        run's CSV is written without holding all of its text at once.

        Example:
            >>> import sheetopt
            >>> trace = sheetopt.run("lesson5")["adam"]
            >>> "".join(trace.csv_chunks(rows=10)) == trace.to_csv()
            True
        """
        yield ",".join(self.steps) + "\n"
        for start in range(0, len(self), rows):
            cells = [_csv_cells(name, values[start:start + rows])
                     for name, values in self.steps.items()]
            yield "".join(",".join(row) + "\n" for row in zip(*cells))

    def to_json(self) -> str:
        """The whole trace as JSON (steps, rows, epochs, start, divergence); floats exact,
        non-finite values as null.

        Example:
            >>> import json, sheetopt
            >>> json.loads(sheetopt.run("lesson5")["adam"].to_json())["sheet"]
            'adam'
        """
        document = {
            "sheet": self.sheet,
            "params": list(self.params),
            "state": list(self.state_names),
            "start": self.start,
            "diverged_at": list(self.diverged_at) if self.diverged_at else None,
            "meta": self.meta,
            "epochs": _columns(self.epochs),
            "steps": _columns(self.steps),
            "rows": _columns(self.rows),
        }
        return json.dumps(_finite(document), indent=1)


COUNTERS = ("epoch", "step", "row", "size")


def _frame(table: Mapping[str, np.ndarray]):
    import pandas as pd

    return pd.DataFrame({name: np.asarray(values, dtype=np.int64) if name in COUNTERS else values
                         for name, values in table.items()})


def _csv_cells(name: str, values: np.ndarray) -> list[str]:
    if name in COUNTERS:
        return [str(int(v)) for v in values.tolist()]
    cells = list(map(repr, values.tolist()))  # repr: the shortest text that reads back exactly
    if np.isnan(values).any():
        cells = ["" if cell == "nan" else cell for cell in cells]
    return cells


def _columns(table: Mapping[str, np.ndarray]) -> dict:
    return {name: column.tolist() for name, column in table.items()}


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
