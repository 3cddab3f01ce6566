"""Recording a run: every step's and every visited row's values, per configuration."""
from __future__ import annotations

import numpy as np

from ..models.base import row_values


class Recorder:
    """Collects the per-step and per-row columns of a recorded run (configuration 0 onward)."""

    def __init__(self, sheet, names, state_names, configs: int, model):
        self.sheet, self.names, self.state_names = sheet, names, state_names
        # a test surface has no data columns (its parameters x, y are recorded as such)
        self.inputs = model.inputs if model.has_data else ()
        self.target = model.has_data and model.target
        self.steps: dict[str, list] = {}
        self.rows: dict[str, list] = {}

    def _put(self, table, key, value):
        table.setdefault(key, []).append(np.array(value, dtype=float, copy=True))

    def add(self, *, e, k, rows, xs, ys, params, g, new_params, preds, err2, loss, hp, shown,
            state):
        single = len(rows) == 1
        put = lambda key, value: self._put(self.steps, key, value)  # noqa: E731
        put("epoch", e + 1)
        put("step", k + 1)
        put("row", rows[0] + 1)
        put("size", len(rows))
        first = row_values(xs[0])
        for j, name in enumerate(self.inputs):
            put(name, first[j] if single else np.nan)
        if self.target:
            put("y", ys[0] if single else np.nan)
        for j, n in enumerate(self.names):
            put(n, params[:, j])
            put(f"grad_{n}", g[:, j])
            put(f"new_{n}", new_params[:, j])
        put("pred", preds[0] if single else np.full_like(loss, np.nan))
        put("loss", loss)
        put("lr", np.broadcast_to(hp["lr"], (len(loss), 1))[:, 0])
        if self.sheet.schedule.records_mom(self.sheet.hypers):
            put("mom", np.broadcast_to(hp["mom"], (len(loss), 1))[:, 0])
        for method, values in shown.items():
            for n in self.names:
                put(f"{method}_{n}", values[n])
        for s in self.state_names:
            for j, n in enumerate(self.names):
                put(f"{s}_{n}", state[s][:, j])
        for i, row in enumerate(rows):
            self._put(self.rows, "epoch", e + 1)
            self._put(self.rows, "step", k + 1)
            self._put(self.rows, "row", row + 1)
            for name, value in zip(self.inputs, row_values(xs[i])):
                self._put(self.rows, name, value)
            if self.target:
                self._put(self.rows, "y", ys[i])
            self._put(self.rows, "pred", preds[i])
            self._put(self.rows, "err2", err2[i])

    def arrays(self):
        def stack(table):
            return {key: np.array(np.broadcast_arrays(*values)) for key, values in table.items()}
        return stack(self.steps), stack(self.rows)
