"""The torch backend: the same rule, model and gradient definitions rendered on torch tensors.

- ``device``: imports torch lazily and picks the device (auto, cpu, cuda) and dtype;
- ``ops``: the ``ops`` namespace for tensors, beside ``sheetopt.ops.numpy_ops``;
- ``simulate``: the engine's stepping loop on (configurations, parameters) tensors;
- ``batch``: whole batches as tensors (a model whose one "row" is a batch of rows).

The checks against torch itself live in ``sheetopt.verification``, sweeps in ``sheetopt.sweeps``.

Nothing here imports torch at module import time, so ``import sheetopt`` works without it.
"""
