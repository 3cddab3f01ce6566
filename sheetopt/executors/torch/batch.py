"""Whole batches as tensors: a model whose one "row" is a batch of rows, and left-to-right sums.

``gradients`` defines a batch's mean loss, its analytic gradient and its finite differences
over lists of rows, summed left to right (the order every rendering uses). Given a
``BatchModel`` and one-entry lists ``[X]``, ``[Y]`` (X holding the batch's rows along its last
dimension), those same definitions run on all the rows at once: the model's loss and gradient
are evaluated elementwise over the rows and reduced with ``mean``, which sums in the same
left-to-right order, so the results are the engine's to the last bit.
"""
from __future__ import annotations

from typing import Mapping

from ...models import Model


def left_to_right_sum(values):
    """The sum over the last dimension, adding one value at a time from the first.

    On the CPU this is the last entry of ``cumsum``, which torch computes sequentially
    (tests/test_torch_verify.py pins that down); on other devices a scan may pair values
    differently, so the values are added column by column there."""
    if values.device.type == "cpu":
        return values.cumsum(-1)[..., -1].clone()  # a copy, so the running sums are freed
    total = values[..., 0]
    for i in range(1, values.shape[-1]):
        total = total + values[..., i]
    return total


def mean(values):
    """``gradients.mean`` over the last dimension: a single value as it is, else the
    left-to-right sum divided by the count."""
    if values.shape[-1] == 1:
        return values[..., 0]
    return left_to_right_sum(values) / values.shape[-1]


def _rows(params: Mapping) -> dict:
    """Parameters with a trailing dimension, to broadcast against the rows of a batch."""
    return {name: value[..., None] for name, value in params.items()}


class BatchModel:
    """``model`` seen one batch at a time: loss and gradient are means over the batch's rows.

    Parameters are tensors shaped (..., ) (one value per configuration or per step); x and y
    hold the rows along their last dimension, shaped (rows,) or (..., rows)."""

    def __init__(self, model: Model):
        self.model = model
        self.params = model.params

    def predict(self, params: Mapping, x):
        return self.model.predict(_rows(params), x)

    def row_losses(self, params: Mapping, x, y):
        """Each row's loss, shaped (..., rows)."""
        return self.model.loss(_rows(params), x, y)

    def loss(self, params: Mapping, x, y):
        return mean(self.row_losses(params, x, y))

    def gradient(self, params: Mapping, x, y) -> dict:
        rows = self.model.gradient(_rows(params), x, y)
        return {name: mean(rows[name]) for name in self.params}
