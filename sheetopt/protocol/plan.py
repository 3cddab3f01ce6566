"""The batch plan of a run: which rows each step of each epoch takes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np


@dataclass(frozen=True)
class Plan:
    """Which rows each step of each epoch takes: consecutive slices of ``size`` rows (the last
    one may be shorter), in data order or in a fresh seeded permutation each epoch.

    Held as these five numbers; an epoch's order is drawn when the epoch is walked, so a plan
    of any number of epochs takes the memory of one order (see :attr:`nbytes`).

    >>> plan = Plan(rows=5, size=2, epochs=3)
    >>> plan.steps_per_epoch, plan.steps, [r.tolist() for r in next(iter(plan))]
    (3, 9, [[0, 1], [2, 3], [4]])
    """

    rows: int
    size: int
    epochs: int
    shuffle: bool = False
    seed: int = 0

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.rows // self.size)

    @property
    def steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def nbytes(self) -> int:
        """Memory the plan takes while it is walked: an order and its step bounds."""
        return 8 * (self.rows * (2 if self.shuffle else 1) + self.steps_per_epoch + 1)

    def __len__(self) -> int:
        return self.epochs

    def bounds(self) -> np.ndarray:
        """Where each step starts in an epoch's order, then the row count: (steps_per_epoch + 1,)."""
        return np.minimum(np.arange(self.steps_per_epoch + 1, dtype=np.int64) * self.size,
                          self.rows)

    def orders(self) -> Iterator[np.ndarray]:
        """Each epoch's order of the rows (the same array every epoch when not shuffled)."""
        rng = np.random.default_rng(self.seed)
        order = np.arange(self.rows, dtype=np.int64)
        for _ in range(self.epochs):
            yield rng.permutation(self.rows) if self.shuffle else order

    def __iter__(self) -> Iterator[list[np.ndarray]]:
        """Each epoch as the row indices of its steps."""
        bounds = self.bounds().tolist()
        for order in self.orders():
            yield [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def batches(n_rows: int, size: int, epochs: int, shuffle: bool, seed: int) -> Plan:
    """The batch plan of a run (see :class:`Plan`).

    >>> batches(29, 7, epochs=2, shuffle=True, seed=0).steps
    10
    """
    return Plan(n_rows, size, epochs, shuffle, seed)


def plan_for(spec, sheet, epochs: int | None = None, shuffle: bool | None = None) -> Plan:
    """The batch plan of a sheet's run: its batch size, epochs (or ``epochs``), shuffling (or
    ``shuffle``) and seed over the spec's rows. The one place a plan is made from a sheet.

    >>> import sheetopt
    >>> spec = sheetopt.Spec.load("lesson5")
    >>> plan_for(spec, spec.sheet("adam")).steps
    145
    """
    return Plan(len(spec.data), sheet.batch_size, sheet.epochs if epochs is None else epochs,
                sheet.shuffle if shuffle is None else shuffle, sheet.seed)
