"""The compiled executor: the engine's loop as generated Python source compiled by numba.

This is a fourth rendering of the same definitions. The model's prediction and loss
(models.py), the gradient methods (gradients.py), the rule's ``update_state``/``step``
(rules.py) and the one-cycle schedule (schedules.py) are called with ``symbolic.var`` leaves,
printed with ``symbolic.to_python`` and pasted into the source of a kernel that loops over steps,
rows and configurations with scalar locals. Nothing here restates an update by hand.

The kernel performs the IEEE operations of :func:`engine.simulate` in the same order (numba
compiles with fastmath off, so no reassociation or fused multiply-adds), so its Result equals
the numpy executor's bit for bit. Two operations are not correctly rounded, ``power`` and
``cos``, and LLVM may rewrite them (``pow(x, 2.0)`` becomes ``x * x``). Their arguments depend
only on the step (t, the one-cycle position) and the hyperparameters, so the host computes them
before each epoch into per-step tables the kernel reads, with the C library's functions as
numpy_ops does (ops.py). A power of a data value (``x ** 2`` in the quadratic model) is a
numpy *scalar* power in the numpy executor, which calls the C library's ``pow``; the kernel
calls the same ``pow`` with an exponent LLVM cannot fold.

Kernels are cached in memory by their source and on disk (the source is written to a file in
:func:`cache_dir` and imported, so numba's ``cache=True`` can reuse the machine code).

Modules by job: ``codegen`` (the kernel's source), ``cache`` (generating, writing and loading
kernels once), ``executor`` (the host side: arrays, per-step tables, schedule events, the
Result), ``native`` (numba's presence, the square root kernels import, libm over arrays) and
``scalars`` (the small functions every kernel calls, compiled once).
"""
from .native import HAVE_NUMBA
if HAVE_NUMBA:  # generated kernels import their square root from here
    from .native import ieee_sqrt  # noqa: F401
from .codegen import Kernel, Unsupported, generate  # noqa: F401
from .cache import available, cache_dir, kernel_for  # noqa: F401
from .executor import (CHUNK, PARALLEL_FROM, PROGRESS_CALLS, TABLE_CELLS, simulate,  # noqa: F401
                       supports, table_bytes)
