"""The torch backend: the same rule, model and gradient definitions rendered on torch tensors.

- ``device``: imports torch lazily and picks the device (auto, cpu, cuda) and dtype;
- ``ops``: the ``ops`` namespace for tensors, beside ``sheetopt.ops.numpy_ops``;
- ``simulate``: the engine's stepping loop on (configurations, parameters) tensors;
- ``recheck``: every step of a trace recomputed at once, the gradient by autograd;
- ``replay``: every step handed to torch.optim from the trace's own state (the verdict), and
  the drift of a replay from the start alone (information);
- ``compare``: how two columns are compared (max abs and rel difference, the worst step);
- ``sweep``: many configurations of one sheet at once, on numpy or torch.

Nothing here imports torch at module import time, so ``import sheetopt`` works without it.
"""
