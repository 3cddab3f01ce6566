"""The notes a workbook shows on its header cells: what a column computes, and the quirks.

A rule's quirks are its own notes (``Rule.notes``, keyed by state name or ``new_p``); the ones
here explain workbook columns (finite differences, sums, the epoch summary).
"""
from __future__ import annotations

from typing import Mapping

from ..rules import Rule

ERR2 = "The row's squared error (y - pred)^2: no mean and no 1/2, as in the lecture."
EPOCH_SUM = ("Running sum of err^2 over the epoch; the lecture's 'rmse' is the square root of "
             "this SUM (not of the mean): see the epoch summary.")
FIXED = "Fixed by the spec: not used by these formulas; set it in the spec."
H = "The finite-difference step h: the est/central columns read it."

def quirk_lines(rules: Mapping[str, Rule]) -> list[str]:
    """One line per noted quirk of the given rules (name -> rule), for the intro sheet."""
    return [f"{name}: {note}" for name, rule in rules.items()
            for note in rule.notes.values()]


def forward_difference(p: str) -> str:
    return (f"Forward difference (loss at {p} + h minus loss) / h, h from the input cell: close "
            f"to the analytic de/d{p} but off by a term proportional to h (a central difference "
            f"would be exact for this loss).")


def central_difference(p: str) -> str:
    return f"Central difference (loss at {p} + h minus loss at {p} - h) / 2h, h from the input cell."


# the epoch summary
LR = "The lr this epoch's steps use."
FIRST_STEP_LR = ("The lr of the epoch's first step: the schedule changes it every step (the "
                 "steps' lr column holds each).")
EPOCH_DISTANCE = ("The distance of this epoch's end parameters to the true ones (the data "
                  "sheet's true row): sqrt of the sum of the squared differences.")
SCHEDULE = ("torch.optim.lr_scheduler, stepped as torch steps it: the first value is what the "
            "scheduler's constructor leaves, each later one comes from the one before (and the "
            "scheduler's yellow inputs). Edit an input and the whole run follows.")
PLATEAU_METRIC = ("ReduceLROnPlateau's metric: the epoch's mean per-step loss (the step losses "
                  "summed, divided by the number of steps), as a training loop logs it.")
ANNEALED_LR = ("adam_ann: epoch 1 uses the lr input; each later epoch's lr is the one before, "
               "divided by 4 when the previous epoch's gradient scale is more than twice the "
               "best scale before it.")


def gradient_scale(params) -> str:
    terms = " + ".join(f"sqrt(avg (de/d{p})^2)" for p in params)
    return (f"{terms} after the epoch's last row: the lecture's measure of how large the "
            f"gradients are.")


BEST_SCALE = ("The smallest gradient scale so far, starting from the start state's ('start "
              "gradient scale' at the top).")
START_SCALE = "The gradient scale of the start state: adam_ann's first 'best'."
START_CELLS = {"start gradient scale": START_SCALE}  # a schedule's start cells' notes
LECTURE_RMSE = "The lecture's 'rmse': sqrt of the epoch's SUM of err^2 (not of the mean)."
RMSE = "The true root mean squared error of the epoch: sqrt(SUM err^2 / rows)."



def mean_loss(model) -> str:
    """The epoch summary's figure for a model whose loss is not the squared error."""
    return (f"The epoch's mean loss, as a training loop logs it: the sum of its steps' losses "
            f"(the Σ loss column on the epoch's last step) divided by the number of steps. "
            f"The loss: {model.loss_name}. Not an RMSE: this loss is not a squared error.")


def epoch_loss_sum(model) -> str:
    return (f"Running sum of the step losses over the epoch (a step's loss: its row's {model.loss_name}; "
            f"a batch's: the mean of its rows'). The epoch summary's mean loss divides it by "
            f"the number of steps.")


def batch_loss(model) -> str:
    return f"The step's loss: the mean of its rows' losses ({model.loss_name})."


ACCURACY = ("The share of all the data's rows that the epoch's final parameters (this row's) "
            "classify right: p > 0.5 predicts a 1, that is pred > 0. SUMPRODUCT over the data "
            "sheet's columns, so an edited data cell or start value moves it too.")
