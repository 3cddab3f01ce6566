"""adam_ann: the lecture's between-epoch learning-rate annealing (see lecture/SPEC.md)."""
from __future__ import annotations

from typing import Sequence


def gradient_scale(sqr_avgs: Sequence, ops):
    """sqrt(s_b) + sqrt(s_a) + ...: the size of the squared-gradient averages, in model order."""
    total = ops.sqrt(sqr_avgs[0])
    for s in sqr_avgs[1:]:
        total = total + ops.sqrt(s)
    return total


def anneal(lr, scale, best, ops):
    """After an epoch: divide lr by 4 when the gradient scale has more than doubled over the best
    seen; then remember the smaller scale. Returns (next lr, next best)."""
    return ops.where(scale / best > 2, lr / 4, lr), ops.minimum(best, scale)
