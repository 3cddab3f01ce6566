"""What a sweep ranks its configurations by: the final loss (the true RMSE over the last epoch),
the best loss (the smallest per-epoch RMSE), the loss of a given epoch or the loss of a given
step (the trace's ``loss`` column at that step).

>>> objective = parse_objective("epoch:2", epochs=5)
>>> objective.column, objective.words
('rmse_epoch_2', 'RMSE over epoch 2')
>>> parse_objective("step:30", epochs=5, steps=145).column
'loss_step_30'
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SheetoptError, option

KINDS = ("final", "best", "epoch:N", "step:N")


@dataclass(frozen=True)
class Objective:
    """``kind``: "final", "best", "epoch" or "step"; ``epoch``: the epoch (from 1) of "epoch";
    ``step``: the step (from 1, counted over the whole run) of "step"."""

    kind: str = "final"
    epoch: int = 0
    step: int = 0

    @property
    def column(self) -> str:
        """Its column in sweep tables: final_rmse, best_rmse, rmse_epoch_N, loss_step_N."""
        return {"final": "final_rmse", "best": "best_rmse", "step": f"loss_step_{self.step}"
                }.get(self.kind, f"rmse_epoch_{self.epoch}")

    @property
    def words(self) -> str:
        """What it is, in words, for the output."""
        return {"final": "final RMSE (true RMSE over the last epoch)",
                "best": "best RMSE (the smallest true RMSE of an epoch)",
                "step": f"loss at step {self.step} (its batch's loss before the update, the "
                        f"trace's loss column)"}.get(self.kind, f"RMSE over epoch {self.epoch}")

    @property
    def short(self) -> str:
        """Its name in a table's header: final RMSE, best RMSE, RMSE e3, loss s30."""
        return {"final": "final RMSE", "best": "best RMSE", "step": f"loss s{self.step}"
                }.get(self.kind, f"RMSE e{self.epoch}")

    @property
    def capture(self) -> int:
        """The step whose loss a run must keep (0: none): what executors get as ``capture``."""
        return self.step if self.kind == "step" else 0

    def values(self, epoch_sum: np.ndarray, epoch_rows: np.ndarray,
               diverged_epoch: np.ndarray, step_loss: np.ndarray | None = None) -> np.ndarray:
        """Each configuration's value from its per-epoch sums of squared errors and rows
        (E, C) and the epoch it diverged in (0: none): the epochs it completed count; NaN where
        the epoch asked for was not completed. "step" reads ``step_loss`` (C,), the loss at
        that step, NaN where the step diverged or came after a divergence."""
        if self.kind == "step":
            return np.asarray(step_loss, dtype=float)
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


def parse_objective(text: str | Objective, epochs: int, steps: int | None = None) -> Objective:
    """``final``, ``best``, ``epoch:N`` (N from 1 to the sheet's epochs) or ``step:N`` (N from
    1 to its ``steps``) as an Objective; one line naming the option otherwise."""
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
    if kind == "step" and number.strip().isdigit() and steps is not None:
        step = int(number)
        if not 1 <= step <= steps:
            raise SheetoptError(f"{option('objective')} {text}: the sheet runs steps 1 to "
                                f"{steps:,}")
        return Objective("step", step=step)
    raise SheetoptError(f"{option('objective')} {text!r}: expected one of {', '.join(KINDS)} "
                        f"(e.g. epoch:3 or step:100)")
