"""The smoothed loss of fastai's recorder: an exponentially weighted moving average of the
per-step losses with bias correction, so that the curve of a noisy online run can be read.

fastai's ``AvgSmoothLoss`` keeps ``val = beta * val + (1 - beta) * loss`` from ``val = 0`` and
shows ``val / (1 - beta**t)`` after step t; that is the weighted mean of the losses so far with
weights beta**age, which is what :func:`smoothed` computes.
"""
from __future__ import annotations

import numpy as np

from ..errors import SheetoptError

BETA = 0.98  # fastai's Recorder (AvgSmoothLoss(beta=0.98))


def check_beta(beta: float, name: str = "smooth") -> float:
    """``beta`` as a float in [0, 1), or one line saying what it must be.

    >>> check_beta(0.9)
    0.9
    """
    try:
        value = float(beta)
    except (TypeError, ValueError):
        raise SheetoptError(f"{name}: give a smoothing factor beta in [0, 1) (fastai's is "
                            f"{BETA}), not {beta!r}") from None
    if not 0.0 <= value < 1.0:  # also refuses nan
        raise SheetoptError(f"{name}: the smoothing factor beta must be in [0, 1) (fastai's is "
                            f"{BETA}), not {value!r}")
    return value


def smoothed(losses, beta: float = BETA) -> np.ndarray:
    """Each step's smoothed loss: the bias-corrected exponentially weighted average of the
    losses up to it, as fastai's recorder shows it (beta = 0 gives the losses themselves).

    Example:
        >>> smoothed([1.0, 0.0, 0.0]).round(6).tolist()
        [1.0, 0.494949, 0.326622]
    """
    import pandas as pd

    beta = check_beta(beta)
    values = np.asarray(losses, dtype=float)
    if values.ndim != 1:
        raise SheetoptError(f"losses: give one value per step (a 1-d sequence), "
                            f"not an array of shape {values.shape}")
    if not len(values):
        return values.copy()
    with np.errstate(all="ignore"):
        return pd.Series(values).ewm(alpha=1.0 - beta, adjust=True).mean().to_numpy()
