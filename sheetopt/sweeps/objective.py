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

from dataclasses import dataclass, replace

import numpy as np

from ..errors import SheetoptError, option

KINDS = ("final", "best", "epoch:N", "step:N")


@dataclass(frozen=True)
class Objective:
    """``kind``: "final", "best", "epoch" or "step"; ``epoch``: the epoch (from 1) of "epoch";
    ``step``: the step (from 1, counted over the whole run) of "step"; ``mean_loss``: an
    epoch's figure is its mean loss (a model whose loss is not the squared error: a surface,
    a classifier, given gradients), else the lecture's true RMSE.

    >>> Objective("final", mean_loss=True).words
    'final loss (the mean loss over the last epoch)'
    """

    kind: str = "final"
    epoch: int = 0
    step: int = 0
    mean_loss: bool = False

    @property
    def final(self) -> "Objective":
        """The final figure measured the same way (every sweep reports it beside the objective)."""
        return Objective("final", mean_loss=self.mean_loss)

    @property
    def column(self) -> str:
        """Its column in sweep tables: final_rmse, best_rmse, rmse_epoch_N, loss_step_N (a
        mean-loss model: final_loss, best_loss, loss_epoch_N)."""
        what = "loss" if self.mean_loss else "rmse"
        return {"final": f"final_{what}", "best": f"best_{what}",
                "step": f"loss_step_{self.step}"}.get(self.kind, f"{what}_epoch_{self.epoch}")

    @property
    def words(self) -> str:
        """What it is, in words, for the output."""
        if self.kind == "step":
            return (f"loss at step {self.step} (its batch's loss before the update, the "
                    f"trace's loss column)")
        if self.mean_loss:
            return {"final": "final loss (the mean loss over the last epoch)",
                    "best": "best loss (the smallest mean loss of an epoch)"
                    }.get(self.kind, f"mean loss over epoch {self.epoch}")
        return {"final": "final RMSE (true RMSE over the last epoch)",
                "best": "best RMSE (the smallest true RMSE of an epoch)"
                }.get(self.kind, f"RMSE over epoch {self.epoch}")

    @property
    def short(self) -> str:
        """Its name in a table's header: final RMSE, best RMSE, RMSE e3, loss s30 (a mean-loss
        model: final loss, best loss, loss e3)."""
        what = "loss" if self.mean_loss else "RMSE"
        return {"final": f"final {what}", "best": f"best {what}", "step": f"loss s{self.step}"
                }.get(self.kind, f"{what} e{self.epoch}")

    @property
    def capture(self) -> int:
        """The step whose loss a run must keep (0: none): what executors get as ``capture``."""
        return self.step if self.kind == "step" else 0

    def values(self, epoch_sum: np.ndarray, epoch_rows: np.ndarray,
               diverged_epoch: np.ndarray, step_loss: np.ndarray | None = None) -> np.ndarray:
        """Each configuration's value from its per-epoch sums of row losses and rows
        (E, C) and the epoch it diverged in (0: none): the epochs it completed count; NaN where
        the epoch asked for was not completed. "step" reads ``step_loss`` (C,), the loss at
        that step, NaN where the step diverged or came after a divergence."""
        if self.kind == "step":
            return np.asarray(step_loss, dtype=float)
        E = epoch_sum.shape[0]
        completed = np.where(diverged_epoch > 0, diverged_epoch - 1, E)  # epochs done whole
        if self.kind in ("final", "epoch"):  # one epoch's figure: the others are not computed
            e = E if self.kind == "final" else self.epoch
            return np.where(e <= completed, self._figure(epoch_sum[e - 1], epoch_rows[e - 1]),
                            np.nan)
        done = np.arange(1, E + 1)[:, None] <= completed[None, :]
        figure = np.where(done, self._figure(epoch_sum, epoch_rows), np.nan)
        best = np.where(done, figure, np.inf).min(axis=0)
        return np.where(done.any(axis=0), best, np.nan)

    def _figure(self, epoch_sum: np.ndarray, epoch_rows: np.ndarray) -> np.ndarray:
        """An epoch's figure from its sum of row losses and its rows: the mean loss, or the
        true RMSE (its square root)."""
        with np.errstate(all="ignore"):
            mean = epoch_sum / epoch_rows
            return mean if self.mean_loss else np.sqrt(mean)


def parse_objective(text: str | Objective, epochs: int, steps: int | None = None,
                    mean_loss: bool = False) -> Objective:
    """``final``, ``best``, ``epoch:N`` (N from 1 to the sheet's epochs) or ``step:N`` (N from
    1 to its ``steps``) as an Objective; one line naming the option otherwise. ``mean_loss``:
    the model's epochs are measured by their mean loss (see Objective)."""
    if isinstance(text, Objective):
        return replace(text, mean_loss=mean_loss)
    return replace(_parsed(text, epochs, steps), mean_loss=mean_loss)


def _parsed(text: str, epochs: int, steps: int | None) -> Objective:
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
