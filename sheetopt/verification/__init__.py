"""Checking a run against torch itself.

- ``recheck``: every step of a trace recomputed at once, the gradient by autograd;
- ``replay``: every step handed to torch.optim from the trace's own state (the verdict), and
  the drift of a replay from the start alone (information);
- ``schedulers``: torch.optim.lr_scheduler built from a sheet's schedule (the reference);
- ``suite``: the torch.optim regression suite (``sheetopt torch-suite``);
- ``compare``: how two columns are compared (max abs and rel difference, the worst step).
"""
