"""Recording a run: every step's and every visited row's values, per configuration."""
from __future__ import annotations

import numpy as np

from ..models.base import row_values
from .driver import per_configuration


class Recorder:
    """Collects the per-step and per-row columns of a recorded run (configuration 0 onward).

    Each step's values are kept as they come, one list a step, and stacked into columns once
    at the end (:meth:`arrays`): a value is a number or an array over configurations that the
    step made and nothing writes to afterwards; the schedule's lr and momentum, which are its
    own arrays, are copied."""

    def __init__(self, sheet, names, state_names, configs: int, model):
        self.sheet, self.names, self.state_names = sheet, names, state_names
        # a test surface has no data columns (its parameters x, y are recorded as such)
        self.inputs = model.inputs if model.has_data else ()
        self.target = model.has_data and model.target
        self.mom = sheet.schedule.records_mom(sheet.hypers)
        self._step_keys: list[str] = []
        self._row_keys = ["epoch", "step", "row", *self.inputs, *(["y"] if self.target else []),
                          "pred", "err2"]
        self._steps: list[list] = []
        self._rows: list[list] = []

    def _step_items(self, *, e, k, rows, xs, ys, params, g, new_params, preds, loss, hp, shown,
                    state):
        """(column, value) of one step, in the columns' order."""
        single = len(rows) == 1
        yield from (("epoch", e + 1), ("step", k + 1), ("row", rows[0] + 1), ("size", len(rows)))
        first = row_values(xs[0])
        for j, name in enumerate(self.inputs):
            yield name, first[j] if single else np.nan
        if self.target:
            yield "y", ys[0] if single else np.nan
        for j, n in enumerate(self.names):
            yield from ((n, params[:, j]), (f"grad_{n}", g[:, j]), (f"new_{n}", new_params[:, j]))
        yield "pred", preds[0] if single else np.full_like(loss, np.nan)
        yield "loss", loss
        yield "lr", per_configuration(hp["lr"], len(loss))
        if self.mom:
            yield "mom", per_configuration(hp["mom"], len(loss))
        for method, values in shown.items():
            for n in self.names:
                yield f"{method}_{n}", values[n]
        for s in self.state_names:
            for j, n in enumerate(self.names):
                yield f"{s}_{n}", state[s][:, j]

    def add(self, *, e, k, rows, xs, ys, params, g, new_params, preds, err2, loss, hp, shown,
            state):
        items = self._step_items(e=e, k=k, rows=rows, xs=xs, ys=ys, params=params, g=g,
                                 new_params=new_params, preds=preds, loss=loss, hp=hp,
                                 shown=shown, state=state)
        if self._steps:
            self._steps.append([value for _, value in items])
        else:
            self._step_keys, values = map(list, zip(*items))
            self._steps.append(values)
        target = (ys,) if self.target else ()
        for i, row in enumerate(rows):
            self._rows.append([e + 1, k + 1, row + 1, *row_values(xs[i])[:len(self.inputs)],
                               *(y[i] for y in target), preds[i], err2[i]])

    def arrays(self):
        """(steps, rows): column -> values, (steps,) where every value is a number, else
        (steps, configurations)."""
        return _stack(self._step_keys, self._steps), _stack(self._row_keys, self._rows)


def _stack(keys: list[str], records: list[list]) -> dict[str, np.ndarray]:
    if not records:
        return {}
    return {key: _column(values) for key, values in zip(keys, zip(*records))}


def _column(values) -> np.ndarray:
    try:  # numbers, or arrays of one shape
        return np.array(values, dtype=float)
    except ValueError:  # numbers beside arrays
        return np.array(np.broadcast_arrays(*values), dtype=float)
