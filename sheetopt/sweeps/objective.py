"""What a sweep ranks its configurations by: the final loss (the true RMSE over the last epoch),
the best loss (the smallest per-epoch RMSE) or the loss of a given epoch.

>>> objective = parse_objective("epoch:2", epochs=5)
>>> objective.column, objective.words
('rmse_epoch_2', 'RMSE over epoch 2')
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SheetoptError, option

KINDS = ("final", "best", "epoch:N")


@dataclass(frozen=True)
class Objective:
    """``kind``: "final", "best" or "epoch"; ``epoch``: the epoch (from 1) of "epoch"."""

    kind: str = "final"
    epoch: int = 0

    @property
    def column(self) -> str:
        """Its column in sweep tables: final_rmse, best_rmse, rmse_epoch_N."""
        return {"final": "final_rmse", "best": "best_rmse"}.get(self.kind,
                                                                f"rmse_epoch_{self.epoch}")

    @property
    def words(self) -> str:
        """What it is, in words, for the output."""
        return {"final": "final RMSE (true RMSE over the last epoch)",
                "best": "best RMSE (the smallest true RMSE of an epoch)"}.get(
                    self.kind, f"RMSE over epoch {self.epoch}")

    @property
    def short(self) -> str:
        """Its name in a table's header: final RMSE, best RMSE, RMSE e3."""
        return {"final": "final RMSE", "best": "best RMSE"}.get(self.kind,
                                                                f"RMSE e{self.epoch}")

    def values(self, epoch_sum: np.ndarray, epoch_rows: np.ndarray,
               diverged_epoch: np.ndarray) -> np.ndarray:
        """Each configuration's value from its per-epoch sums of squared errors and rows
        (E, C) and the epoch it diverged in (0: none): the epochs it completed count; NaN where
        the epoch asked for was not completed."""
        E = epoch_sum.shape[0]
        with np.errstate(all="ignore"):
            rmse = np.sqrt(epoch_sum / epoch_rows)
        completed = np.where(diverged_epoch > 0, diverged_epoch - 1, E)  # epochs done whole
        done = np.arange(1, E + 1)[:, None] <= completed[None, :]
        rmse = np.where(done, rmse, np.nan)
        if self.kind == "final":
            return rmse[-1]
        if self.kind == "epoch":
            return rmse[self.epoch - 1]
        best = np.where(done, rmse, np.inf).min(axis=0)
        return np.where(done.any(axis=0), best, np.nan)


def parse_objective(text: str | Objective, epochs: int) -> Objective:
    """``final``, ``best`` or ``epoch:N`` (N from 1 to the sheet's epochs) as an Objective;
    one line naming the option otherwise."""
    if isinstance(text, Objective):
        return text
    if not isinstance(text, str):
        raise SheetoptError(f"{option('objective')}: expected one of {', '.join(KINDS)} "
                            f"(got {text!r})")
    word = text.strip().lower()
    if word in ("final", "best"):
        return Objective(word)
    kind, _, number = word.partition(":")
    if kind == "epoch" and number.strip().isdigit():
        epoch = int(number)
        if not 1 <= epoch <= epochs:
            raise SheetoptError(f"{option('objective')} {text}: the sheet runs epochs 1 to "
                                f"{epochs}")
        return Objective("epoch", epoch)
    raise SheetoptError(f"{option('objective')} {text!r}: expected one of {', '.join(KINDS)} "
                        f"(e.g. epoch:3)")
