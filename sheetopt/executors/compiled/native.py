"""The compiled executor's native pieces: whether numba is present, the correctly rounded square
root the kernels import, and the C library's ``pow`` and ``cos`` over arrays for the host's
per-step tables (as numpy_ops computes them, see ops.py)."""
from __future__ import annotations

import math

import numpy as np

from ...errors import interrupt_kept
from ...ops import numpy_ops

try:  # numba is optional: without it the engine uses the numpy executor
    import numba  # noqa: F401
    HAVE_NUMBA = True
except Exception:  # pragma: no cover - depends on the environment
    HAVE_NUMBA = False


def _arraymath_without_blas_probe() -> None:
    """In the ``sheetopt`` command's own process, imports numba's array functions with scipy's
    linear algebra hidden from them.

    When numba first compiles or loads a function it imports ``numba.np.arraymath``, which probes
    for a BLAS by importing ``scipy.linalg`` (about 0.3 s of CPU, a sixth of a 1,000,000-row
    ``compare``) only to choose how np.convolve and np.correlate are compiled; no kernel of
    sheetopt calls them, and the command runs no other compiled code. numba's linear algebra
    (np.dot and the rest) imports scipy itself when a function uses it, unaffected. From Python,
    where the process is the user's, nothing is hidden."""
    import sys

    from ...errors import on_command_line

    if (not on_command_line() or "numba.np.arraymath" in sys.modules
            or "scipy.linalg" in sys.modules):
        return
    sys.modules["scipy.linalg"] = None  # an import of it raises ImportError
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        if sys.modules.get("scipy.linalg", 0) is None:
            del sys.modules["scipy.linalg"]


if HAVE_NUMBA:
    _arraymath_without_blas_probe()
    from llvmlite import ir as _ir
    from numba import types as _types
    from numba.extending import intrinsic as _intrinsic

    @_intrinsic
    def ieee_sqrt(typingctx, value):
        """The correctly rounded square root as LLVM's intrinsic: numba's math.sqrt calls the C
        library (for errno), which LLVM will not vectorize; both round the same (IEEE 754)."""
        def codegen(context, builder, signature, args):
            function = builder.module.declare_intrinsic("llvm.sqrt", [_ir.DoubleType()])
            return builder.call(function, [context.cast(builder, args[0], signature.args[0],
                                                        _types.float64)])
        return _types.float64(_types.float64), codegen

    @numba.njit(cache=True, error_model="numpy")
    def _libm_loop(kind, a, b, out):
        for i in range(out.size):
            out[i] = math.pow(a[i], b[i]) if kind == 0 else math.cos(a[i])

    def libm(name: str, *args):
        """The C library's pow or cos element by element, as numpy_ops computes them (see
        ops.py), without a Python call per element."""
        if numba.config.USING_SVML:  # numba would vectorize with Intel's SVML: not libm
            return getattr(numpy_ops, name)(*args)
        # copies: a broadcast view handed to a compiled function draws numpy's FutureWarning
        arrays = [np.array(a, dtype=float) for a in np.broadcast_arrays(*args)]
        out = np.empty(arrays[0].shape)
        if out.size:
            with interrupt_kept():  # its first call compiles it (see interrupt_kept)
                _libm_loop(0 if name == "power" else 1, arrays[0].ravel(),
                           arrays[-1].ravel(), out.reshape(-1))
        return out
