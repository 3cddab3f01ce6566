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
"""
from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import SimpleNamespace
from typing import Mapping

import numpy as np

from ...models import gradients
from ...models import squared_error
from ...ops import numpy_ops, symbolic_ops
from ...protocol.driver import Result, epoch_metric, schedule_of, walk_calls
from ...ops.symbolic import Expr, lift, to_python, var

try:  # numba is optional: without it the engine uses the numpy executor
    import numba  # noqa: F401
    HAVE_NUMBA = True
except Exception:  # pragma: no cover - depends on the environment
    HAVE_NUMBA = False

if HAVE_NUMBA:
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

    def _libm(name: str, *args):
        """The C library's pow or cos element by element, as numpy_ops computes them (see
        ops.py), without a Python call per element."""
        if numba.config.USING_SVML:  # numba would vectorize with Intel's SVML: not libm
            return getattr(numpy_ops, name)(*args)
        # copies: a broadcast view handed to a compiled function draws numpy's FutureWarning
        arrays = [np.array(a, dtype=float) for a in np.broadcast_arrays(*args)]
        out = np.empty(arrays[0].shape)
        if out.size:
            _libm_loop(0 if name == "power" else 1, arrays[0].ravel(),
                       arrays[-1].ravel(), out.reshape(-1))
        return out

CHUNK = 128  # configurations per block of the kernel's config loop
PARALLEL_FROM = 4096  # use the multi-threaded kernel from this many configurations on
UNROLL, UNROLL_FROM = 8, 64  # online sweeps without a trace step 8 configurations at a time
_MAXF = 1.7976931348623157e308  # the largest finite float: |v| <= _MAXF is isfinite(v)


class Unsupported(Exception):
    """The case cannot be compiled faithfully; the engine falls back to numpy."""


# --- tracing ----------------------------------------------------------------------------------
class _Calls:
    """``cos`` and ``power`` calls met while tracing, each replaced by a table variable."""

    def __init__(self):
        self.calls: dict[str, tuple[str, Expr]] = {}

    def table(self, name: str) -> Expr:
        """A per-step table of a value the host computes (a torch schedule's lr, momentum)."""
        self.calls[name] = (f"tb{len(self.calls)}", var(name))
        return var(self.calls[name][0])

    def ops(self) -> SimpleNamespace:
        def intercept(name):
            def call(*args):
                expr = Expr("call", name, *(lift(a) for a in args))
                key = to_python(expr)
                if key not in self.calls:
                    self.calls[key] = (f"tb{len(self.calls)}", expr)
                return var(self.calls[key][0])
            return call
        return SimpleNamespace(**{**vars(symbolic_ops), "cos": intercept("cos"),
                                  "power": intercept("power")})


class _Probe:
    """Stands in for the model inside gradients.py: each loss or gradient that a method asks
    for becomes a variable (its batch mean), and the real per-row expression is kept."""

    def __init__(self, model):
        self.model, self.params = model, model.params
        self.row_exprs: dict[str, Expr] = {}  # variable -> per-row expression

    def _name(self, prefix: str, expr: Expr) -> Expr:
        for name, known in self.row_exprs.items():
            if name.startswith(prefix) and to_python(known) == to_python(expr):
                return var(name)
        name = f"{prefix}{len(self.row_exprs)}"
        self.row_exprs[name] = expr
        return var(name)

    def loss(self, params, x, y):
        return self._name("L", self.model.loss(params, x, y))

    def gradient(self, params, x, y):
        rows = self.model.gradient(params, x, y)
        return {n: self._name("G", lift(rows[n])) for n in self.params}


@dataclass
class Kernel:
    """A generated kernel and what the host needs to feed it."""

    source: str
    tables: list[tuple[str, Expr]]  # table variable -> expression the host evaluates
    defs: dict[str, Expr]  # per-step locals the tables may read (one-cycle lr and mom)
    columns: list[str]  # recorded per-configuration step columns, in kernel order
    pow_exponents: list[float]
    function: object = None
    parallel: bool = False
    unroll: int = 1
    meta: dict = field(default_factory=dict)


def _check_powers(expr: Expr, data_only, found: list) -> Expr:
    """Rewrites ``^`` nodes: a power of data values becomes a C ``pow`` call (numpy's scalar
    power); a power of an array is supported only as a square (numpy's ``np.square``)."""
    if not isinstance(expr, Expr) or expr.op in ("var", "const"):
        return expr
    args = tuple(_check_powers(a, data_only, found) if isinstance(a, Expr) else a
                 for a in expr.args)
    if expr.op == "^":
        base, exponent = args
        if data_only(base):
            found.append(float(exponent.args[0]))
            return Expr("call", "cpow", base, var(f"pe[{len(found) - 1}]"))
        if exponent.op != "const" or exponent.args[0] != 2:
            raise Unsupported("only squares of computed values are compiled")
    return Expr(expr.op, *args)


def _only(names):
    def test(expr) -> bool:
        stack = [lift(expr)]
        while stack:
            node = stack.pop()
            if node.op == "var" and node.args[0] not in names:
                return False
            if node.op not in ("var", "const"):
                stack.extend(a for a in node.args if isinstance(a, Expr))
        return True
    return test


def _py(expr, names=None) -> str:
    return to_python(expr, names)


def generate(model, rule, static: Mapping, state_names, hyper_names, gradient: str,
             show, schedule, mom_column: bool, record: bool, online: bool,
             parallel: bool, unroll: int = 1) -> Kernel:
    """Source of the kernel for one shape of run (see module docstring)."""
    calls = _Calls()
    kops = calls.ops()
    P = len(model.params)
    pvars = {n: var(f"p{j}") for j, n in enumerate(model.params)}
    x, y = var("x"), var("y")
    pred = model.predict(pvars, x)
    err2 = squared_error(var("pred"), y)
    probe = _Probe(model)
    methods = [gradient] + ([m for m in dict.fromkeys(show)] if record else [])
    results = {m: gradients.gradient(m, probe, pvars, [x], [y], var("h"), var("loss"))
               for m in dict.fromkeys(methods)}

    hp = {n: var(f"hp_{n}") for n in hyper_names}
    hp["lr"] = var("lr_s")
    defs: dict[str, Expr] = {}
    if schedule is not None:  # the step's lr (and momentum) as the schedule renders them
        defs.update(schedule.kernel_hypers(var("hp_lr"), "mom" in hp, var("pos"), calls.table,
                                           kops))
        if "mom_s" in defs:
            hp["mom"] = var("mom_s")
    t = var("t")
    state = {s: var(f"s_{s}") for s in state_names}
    new_state = rule.update_state(var("p"), var("g"), state, hp, t, kops, static)
    new_vars = {s: var(f"ns_{s}") for s in state_names}
    new_p = rule.step(var("p"), var("g"), state, new_vars, hp, t, kops, static)

    host_names = {"t", "pos", *(f"hp_{n}" for n in hyper_names), "lr_s", "mom_s",
                  "sched_lr", "sched_mom"}
    for name, expr in calls.calls.values():
        if not _only(host_names | {v for v, _ in calls.calls.values()})(expr):
            raise Unsupported(f"{expr.args[0]} of a value that changes within a step")
    exps: list[float] = []
    data_only = _only({"x", "y"})
    row_exprs = {"pred": _check_powers(lift(pred), data_only, exps),
                 "e2": _check_powers(lift(err2), data_only, exps)}
    for name, expr in probe.row_exprs.items():
        row_exprs[name] = _check_powers(lift(expr), data_only, exps)
    new_state = {s: _check_powers(lift(new_state[s]), data_only, exps) for s in state_names}
    new_p = _check_powers(lift(new_p), data_only, exps)

    shared = {"x", "y", "t", "pos", "h", "kg", "k", "kt", "nr", "rb", "ib", "e"}
    parts = dict(P=P, model=model, state_names=state_names, hyper_names=hyper_names,
                 calls=list(calls.calls.values()), defs=defs, row_exprs=row_exprs,
                 results=results, gradient=gradient, new_state=new_state, new_p=new_p,
                 record=record, online=online, show=show, mom_column=mom_column)
    lines = _Lines()
    w = lines.add
    # one call runs NE epochs of K steps each: epoch e walks idx[e * istride:] in the slices
    # starts[k]:starts[k + 1]; its sums go to row e of esum/erows/elr/eloss, its end params to
    # EP[e]
    w(0, f"def kernel({KernelArgs.signature()}):")
    w(1, "C = PT.shape[1]")
    w(1, "K = starts.shape[0] - 1")
    w(1, "NE = esum.shape[0]")
    w(1, "for ch in prange((C + W - 1) // W):" if parallel else
      "for ch in range((C + W - 1) // W):")
    w(2, "c0 = ch * W")
    w(2, "c1 = min(C, c0 + W)")
    w(2, "for e in range(NE):")
    w(3, "ib = e * istride")
    w(3, "rb = rbase + e * starts[K]")
    w(3, "for k in range(K):")
    w(4, "kt = e * K + k")
    w(4, "kg = kbase + kt")
    w(4, "t = t0 + kg + 1")
    w(4, "pos = kg / total")
    w(4, "r0 = starts[k]")
    w(4, "nr = starts[k + 1] - r0")
    if online:
        w(4, "x = X[idx[ib + r0]]")
        w(4, "y = Y[idx[ib + r0]]")
    w(4, f"for c in range(c0, c1, {unroll}):")
    # unrolled configurations: all loads, then all arithmetic, then all stores, so that LLVM's
    # SLP vectorizer can pack the independent copies into vector instructions
    w(5, "cu = np.uint64(c)")
    copies = [_config_code(parts, u, unroll > 1, shared) for u in range(unroll)]
    columns = copies[0][3]
    for section in range(3):
        for code in copies:
            for depth, text in code[section]:
                w(5 + depth, text)
    everyone = " & ".join(f"now{f'_{u}' if unroll > 1 else ''}" for u in range(unroll))
    w(5, f"if not ({everyone}):")
    for u, code in enumerate(copies):
        w(6, f"if not now{f'_{u}' if unroll > 1 else ''}:")
        for depth, text in code[4]:
            w(7 + depth, text)
    w(3, "for c in range(c0, c1):")
    w(4, "for j in range(PT.shape[0]):")
    w(5, "EP[e, j, c] = PT[j, c]")
    header = _HEADER.format(parallel=parallel)
    return Kernel(header + lines.text(), list(calls.calls.values()), defs, columns, exps,
                  parallel=parallel, unroll=unroll)


def _config_code(parts: dict, u: int, suffixed: bool, shared) -> tuple[list, ...]:
    """Loads, arithmetic and stores of one configuration ``c + u`` within a step, the names of
    the recorded columns, and the fix-up for a configuration that is off."""
    P, state_names, hyper_names = parts["P"], parts["state_names"], parts["hyper_names"]
    sfx = f"_{u}" if suffixed else ""
    # unsigned indices: numba then skips its negative-index wraparound, which would hide from
    # LLVM that c, c + 1, ... are neighbours
    c = f"cu + np.uint64({u})" if u else "cu"
    per_param = {"p", "g", *(f"s_{s}" for s in state_names), *(f"ns_{s}" for s in state_names)}

    def name(n: str, j: int | None = None) -> str:
        if n in shared or n.startswith("pe["):
            return n
        return f"{n}{'' if j is None else j}{sfx}"

    def py(expr, j: int | None = None) -> str:
        return to_python(expr, lambda n: name(n, j if n in per_param else None))

    loads, code, stores = [], [], []
    for j in range(P):
        loads.append((0, f"{name('p', j)} = PT[{j}, {c}]"))
        for i, s in enumerate(state_names):
            loads.append((0, f"{name('s_' + s, j)} = ST[{i}, {j}, {c}]"))
    for i, n in enumerate(hyper_names):
        loads.append((0, f"{name('hp_' + n)} = HP[{i}, {c}]"))
    for i, (tname, _) in enumerate(parts["calls"]):
        loads.append((0, f"{name(tname)} = tab[{i}, kt, ({c}) * np.uint64(ts[{i}])]"))
    if "lr_s" not in parts["defs"]:
        loads.append((0, f"{name('lr_s')} = LR[{c}]"))
    for n, source in (("was", "alive"), ("esm", "esum"), ("ers", "erows"), ("elv", "elr"),
                      ("els", "eloss")):
        loads.append((0, f"{name(n)} = {source}[{'' if n == 'was' else 'e, '}{c}]"))
    for n, expr in parts["defs"].items():
        code.append((0, f"{name(n)} = {py(expr)}"))
    rows = parts["row_exprs"]
    row_names = [n for n in rows if n not in ("pred", "e2")]
    record = parts["record"]
    if parts["online"]:
        code.append((0, f"{name('pred')} = {py(rows['pred'])}"))
        code.append((0, f"{name('e2')} = {py(rows['e2'])}"))
        for n in row_names:
            code.append((0, f"{name(n)} = {py(rows[n])}"))
        code.append((0, f"{name('pred0')} = {name('pred')}"))
        code.append((0, f"{name('acc_e2')} = {name('e2')}"))
        code.append((0, f"{name('loss')} = {name('e2')}"))
        if record:
            stores.append((0, f"RR[0, rb + r0, {c}] = {name('pred')}"))
            stores.append((0, f"RR[1, rb + r0, {c}] = {name('e2')}"))
    else:
        code.append((0, f"{name('pred0')} = 0.0"))
        code.append((0, f"{name('acc_e2')} = 0.0"))
        for n in row_names:
            code.append((0, f"{name(n)} = 0.0"))
        code.append((0, "for r in range(r0, r0 + nr):"))
        code.append((1, "x = X[idx[ib + r]]"))
        code.append((1, "y = Y[idx[ib + r]]"))
        code.append((1, f"{name('pred')} = {py(rows['pred'])}"))
        code.append((1, f"{name('e2')} = {py(rows['e2'])}"))
        for n in row_names:
            code.append((1, f"{name('r' + n)} = {py(rows[n])}"))
        # gradients.mean: the first value, then a left-to-right sum
        code.append((1, "if r == r0:"))
        code.append((2, f"{name('pred0')} = {name('pred')}"))
        code.append((2, f"{name('acc_e2')} = {name('e2')}"))
        for n in row_names:
            code.append((2, f"{name(n)} = {name('r' + n)}"))
        code.append((1, "else:"))
        code.append((2, f"{name('acc_e2')} = {name('acc_e2')} + {name('e2')}"))
        for n in row_names:
            code.append((2, f"{name(n)} = {name(n)} + {name('r' + n)}"))
        if record:
            code.append((1, f"RR[0, rb + r, {c}] = {name('pred')}"))
            code.append((1, f"RR[1, rb + r, {c}] = {name('e2')}"))
        code.append((0, f"{name('loss')} = {name('acc_e2')}"))
        code.append((0, "if nr > 1:"))  # gradients.mean divides only a batch of several rows
        code.append((1, f"{name('loss')} = {name('acc_e2')} / nr"))
        for n in row_names:
            code.append((1, f"{name(n)} = {name(n)} / nr"))
    params = parts["model"].params
    for m, values in parts["results"].items():
        for j, n in enumerate(params):
            code.append((0, f"{name(m + '_', j)} = {py(values[n])}"))
    for j in range(P):
        code.append((0, f"{name('g', j)} = {name(parts['gradient'] + '_', j)}"))
    for j in range(P):
        for s in state_names:
            code.append((0, f"{name('ns_' + s, j)} = {py(parts['new_state'][s], j)}"))
        code.append((0, f"{name('np', j)} = {py(parts['new_p'], j)}"))
    finite = " & ".join([f"(abs({name('loss')}) <= MAXF)", f"({name('loss')} <= bound)"]
                        + [f"(abs({name('np', j)}) <= MAXF)" for j in range(P)])
    now, was = name("now"), name("was")
    code.append((0, f"{name('ok')} = {finite}"))
    code.append((0, f"{now} = {was} & {name('ok')}"))
    stores.append((0, f"alive[{c}] = {now}"))
    # a configuration that is (or just went) off keeps its values: stores are unconditional
    # and a rarely taken fix-up puts the old values back (straight-line code vectorizes)
    fixups = [(0, f"if {was}:"), (1, f"dstep[{c}] = kg + 1")]
    columns: list[str] = []
    if record:
        values = []
        for j, n in enumerate(params):
            values += [(n, name("p", j)), (f"grad_{n}", name("g", j)),
                       (f"new_{n}", name("np", j))]
        values += [("pred", f"{name('pred0')} if nr == 1 else np.nan"),
                   ("loss", name("loss")), ("lr", name("lr_s"))]
        if parts["mom_column"]:
            values.append(("mom", name("mom_s") if "mom_s" in parts["defs"] else name("hp_mom")))
        for m in dict.fromkeys(parts["show"]):
            values += [(f"{m}_{n}", name(m + "_", j)) for j, n in enumerate(params)]
        for s in state_names:
            values += [(f"{s}_{n}", name("ns_" + s, j)) for j, n in enumerate(params)]
        for i, (col, text) in enumerate(values):
            stores.append((0, f"RS[{i}, kg, {c}] = {text}"))
        columns = [col for col, _ in values]
    for j in range(P):
        stores.append((0, f"PT[{j}, {c}] = {name('np', j)}"))
        fixups.append((0, f"PT[{j}, {c}] = {name('p', j)}"))
        for i, s in enumerate(state_names):
            stores.append((0, f"ST[{i}, {j}, {c}] = {name('ns_' + s, j)}"))
            fixups.append((0, f"ST[{i}, {j}, {c}] = {name('s_' + s, j)}"))
    stores.append((0, f"esum[e, {c}] = {name('esm')} + {name('acc_e2')}"))
    fixups.append((0, f"esum[e, {c}] = {name('esm')} + 0.0"))
    stores.append((0, f"eloss[e, {c}] = {name('els')} + {name('loss')}"))
    fixups.append((0, f"eloss[e, {c}] = {name('els')} + 0.0"))
    stores.append((0, f"erows[e, {c}] = {name('ers')} + float(nr)"))
    fixups.append((0, f"erows[e, {c}] = {name('ers')} + 0.0"))
    stores.append((0, f"elr[e, {c}] = {name('lr_s')} if k == 0 else {name('elv')}"))
    return loads, code, stores, columns, fixups


_HEADER = '''"""Generated by sheetopt.executors.compiled; do not edit (named by a hash of this text)."""
import math
import numpy as np
from math import cos, pi
from numba import njit, prange
from sheetopt.executors.compiled import ieee_sqrt as sqrt

MAXF = 1.7976931348623157e308


@njit(cache=True, error_model="numpy")
def maximum(a, b):
    return a if (a >= b or a != a) else b


@njit(cache=True, error_model="numpy")
def minimum(a, b):
    return a if (a <= b or a != a) else b


@njit(cache=True, error_model="numpy")
def sign(a):
    return 1.0 if a > 0 else (-1.0 if a < 0 else (a if a != a else 0.0))


@njit(cache=True, error_model="numpy")
def cpow(a, b):
    return math.pow(a, b)


@njit(cache=True, error_model="numpy", fastmath=False, nogil=True, parallel={parallel})
'''


class _Lines:
    def __init__(self):
        self.lines: list[str] = []

    def add(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


# --- compiling and caching --------------------------------------------------------------------
_KERNELS: dict[str, Kernel] = {}
_GENERATED: dict[tuple, Kernel] = {}


def cache_dir() -> Path:
    """Where generated kernel sources (and numba's cache beside them) live:
    $SHEETOPT_CACHE_DIR, else $XDG_CACHE_HOME/sheetopt/kernels, else ~/.cache/sheetopt/kernels."""
    if os.environ.get("SHEETOPT_CACHE_DIR"):
        return Path(os.environ["SHEETOPT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sheetopt" / "kernels"


def _load(kernel: Kernel) -> Kernel:
    digest = hashlib.sha256(kernel.source.encode()).hexdigest()[:20]
    if digest in _KERNELS:
        return _KERNELS[digest]
    module_name = f"sheetopt_kernel_{digest}"
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{module_name}.py"
        if not path.exists() or path.read_text() != kernel.source:
            fd, temp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "w") as handle:
                handle.write(kernel.source)
            os.replace(temp, path)
    except OSError:  # an unwritable cache: compile from a private temporary folder
        folder = Path(tempfile.mkdtemp(prefix="sheetopt-kernels-"))
        path = folder / f"{module_name}.py"
        path.write_text(kernel.source)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    kernel.function = module.kernel
    kernel.meta["path"] = str(path)
    _KERNELS[digest] = kernel
    return kernel


def kernel_for(spec, sheet, schedule, record: bool, online: bool, parallel: bool,
               hyper_names, load: bool = True, unroll: int = 1) -> Kernel:
    """The kernel for this shape of run, generated (and loaded) once per process."""
    model, rule, static = spec.model, sheet.rule, sheet.static
    shape = None if schedule is None else schedule.kernel_key()
    cycle = None if shape is None else schedule
    mom_column = sheet.schedule.records_mom(sheet.hypers)
    key = (model.kind, rule.optimizer, rule.flavor, tuple(sorted(static.items())),
           tuple(hyper_names), sheet.gradient, tuple(sheet.show) if record else (),
           shape, mom_column, record, online, parallel, unroll)
    if key not in _GENERATED:
        _GENERATED[key] = generate(model, rule, static, rule.states(static), hyper_names,
                                   sheet.gradient, sheet.show, cycle, mom_column, record,
                                   online, parallel, unroll)
    kernel = _GENERATED[key]
    return _load(kernel) if load else kernel


def available() -> bool:
    return HAVE_NUMBA


# --- running ----------------------------------------------------------------------------------
def _host_eval(expr: Expr, env: dict, defs: Mapping[str, Expr]):
    """Evaluates a table expression with numpy, as the numpy executor computes it."""
    op = expr.op
    if op == "var":
        name = expr.args[0]
        if name not in env:
            env[name] = _host_eval(defs[name], env, defs)
        return env[name]
    if op == "const":
        return math.pi if expr.args[0] == "pi" else expr.args[0]
    if op == "call":
        name, *args = expr.args
        values = [_host_eval(a, env, defs) for a in args]
        if HAVE_NUMBA and name in ("power", "cos"):
            return _libm(name, *values)
        return getattr(numpy_ops, name)(*values)
    if op == "where":
        cond, yes, no = (_host_eval(a, env, defs) for a in expr.args)
        return np.where(cond, yes, no)
    if op == "neg":
        return -_host_eval(expr.args[0], env, defs)
    a, b = (_host_eval(arg, env, defs) for arg in expr.args)
    return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
            "^": lambda: a ** b, "<": lambda: a < b, ">": lambda: a > b, "<=": lambda: a <= b,
            ">=": lambda: a >= b, "=": lambda: np.equal(a, b)}[op]()


def _tables(kernel: Kernel, kbase: int, K: int, t0: int, total: int, hp_cols: Mapping,
            lr: np.ndarray, C: int, scheduled: Mapping | None = None):
    """The per-step tables of one epoch: (tables, K, width) and each table's column stride.
    ``scheduled``: a torch schedule's per-step values (sched_lr, sched_mom), (K, 1) or (K, C)."""
    if not kernel.tables:
        return np.zeros((0, 1, 1)), np.zeros(0, dtype=np.int64)
    steps = kbase + np.arange(K, dtype=np.int64)
    env = {"t": (t0 + steps + 1)[:, None], "pos": (steps / total)[:, None], **(scheduled or {})}
    for name, column in hp_cols.items():
        env[f"hp_{name}"] = column[0] if np.all(column == column[0]) else column[None, :]
    if "lr_s" not in kernel.defs:
        env["lr_s"] = lr[0] if np.all(lr == lr[0]) else lr[None, :]
    with np.errstate(all="ignore"):
        values = [np.asarray(_evaluate_table(name, expr, env, kernel.defs), dtype=float)
                  for name, expr in kernel.tables]
    width = max(v.shape[1] if v.ndim == 2 else 1 for v in values)
    out = np.empty((len(values), K, width))
    strides = np.zeros(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        v = np.broadcast_to(v, (K, v.shape[1] if v.ndim == 2 else 1))
        out[i, :, :v.shape[1]] = v
        strides[i] = 1 if v.shape[1] > 1 else 0
    return out, strides


def _evaluate_table(name, expr, env, defs):
    value = _host_eval(expr, env, defs)
    env[name] = value
    return value


TABLE_CELLS = 1 << 18  # per kernel call: steps x table width (and shuffled rows) at most this


PROGRESS_CALLS = 20  # a long run reports its progress this many times at least


def _epochs_per_call(plan, width: int, anneals: bool) -> int:
    """How many epochs one kernel call runs: one when lr changes between epochs on the host
    (adam_ann's annealing, a torch schedule stepped per epoch), else as many as keep the per-call arrays small and the
    progress bar moving."""
    if anneals:
        return 1
    per_epoch = max(plan.steps_per_epoch * width, plan.rows if plan.shuffle else 1)
    return max(1, min(-(-plan.epochs // PROGRESS_CALLS), TABLE_CELLS // per_epoch))


def supports(spec, sheet, annealing: bool = True, record: bool = False) -> bool:
    """Whether the compiled executor can run this sheet (numba present, rule traceable)."""
    if not HAVE_NUMBA or spec.data.x.dtype != np.float64 or spec.data.y.dtype != np.float64:
        return False
    try:
        kernel_for(spec, sheet, schedule_of(sheet, annealing), record, False, False, tuple(sheet.hypers), load=False)
    except Unsupported:
        return False
    return True


@dataclass
class KernelArgs:
    """A kernel call's arguments, in the generated kernel's order: the one record that writes
    both the kernel's signature (:func:`generate`) and its call (:func:`_call`)."""

    X: np.ndarray  # the data's x and y
    Y: np.ndarray
    idx: np.ndarray  # the rows' order: one epoch's, or each epoch's when shuffled
    istride: int  # rows between epochs in idx (0: one order for every epoch)
    starts: np.ndarray  # each step's first position in an epoch's order, then the row count
    PT: np.ndarray  # parameters (P, C), updated in place
    ST: np.ndarray  # state (S, P, C), updated in place
    HP: np.ndarray  # hyperparameters (H, C)
    LR: np.ndarray  # the epoch's lr (C,)
    alive: np.ndarray  # (C,) configurations not diverged
    dstep: np.ndarray  # (C,) the step each diverged at (0: none)
    esum: np.ndarray  # per epoch of this call: sums of squared errors, rows, lr, losses
    erows: np.ndarray
    elr: np.ndarray
    eloss: np.ndarray
    EP: np.ndarray  # (NE, P, C) parameters at each epoch's end
    tab: np.ndarray  # the host's per-step tables, (tables, steps, width)
    ts: np.ndarray  # each table's column stride
    kbase: int  # steps before this call
    t0: int  # steps before the run
    total: int  # the run's steps
    h: float  # the finite-difference step
    bound: float  # diverge_above
    RS: np.ndarray  # recorded steps and rows (or empty)
    RR: np.ndarray
    rbase: int  # rows visited before this call
    W: int  # configurations per chunk (whole unrolled groups)
    pe: np.ndarray  # the exponents of the data-only powers

    @staticmethod
    def signature() -> str:
        return ", ".join(f.name for f in fields(KernelArgs))

    def values(self) -> list:
        return [getattr(self, f.name) for f in fields(self)]


class _Run:
    """The host side of one compiled run: the arrays the kernel updates, and its calls."""

    def __init__(self, spec, sheet, hp, params, state, plan, record, kernel, t0):
        C, P = params.shape
        E, self.K = plan.epochs, plan.steps_per_epoch
        self.spec, self.sheet, self.plan, self.kernel, self.t0 = spec, sheet, plan, kernel, t0
        self.state_names = sheet.rule.states(sheet.static)
        self.hyper_names, self.C, self.P = tuple(hp), C, P
        self.PT = _aligned(np.asarray(params, dtype=float).T)  # a copy: the kernel writes it
        self.ST = _aligned(np.zeros((len(self.state_names), P, C)))
        for i, s in enumerate(self.state_names):
            self.ST[i] = np.asarray(state[s], dtype=float).T
        self.hp_cols = {n: np.broadcast_to(np.asarray(hp[n], dtype=float), (C, 1))[:, 0]
                        for n in hp}
        self.HP = _aligned(np.stack([self.hp_cols[n] for n in self.hyper_names])
                           if self.hyper_names else np.zeros((0, C)))
        self.alive = _aligned(np.ones(C, dtype=np.bool_))
        self.dstep = _aligned(np.zeros(C, dtype=np.int64))
        self.epoch_sum, self.epoch_rows, self.epoch_lr, self.epoch_loss = (
            _aligned(np.zeros((E, C))) for _ in range(4))
        self.epoch_params = np.zeros((E, P, C))
        self.RS = (np.empty((len(kernel.columns), plan.steps, C)) if record
                   else np.zeros((0, 0, 0)))
        self.RR = np.empty((2, E * plan.rows, C)) if record else np.zeros((0, 0, 0))
        self.pe = np.array(kernel.pow_exponents + [0.0])
        self.starts = plan.bounds()
        self.orders = plan.orders()
        self.idx = next(self.orders) if not plan.shuffle else None

    def per_call(self) -> int:
        width = self.C if self.kernel.tables and any(
            not np.all(v == v.flat[0]) for v in self.hp_cols.values()) else 1
        return _epochs_per_call(self.plan, width, self.stepping.schedule.between_epochs)

    def call(self, e0: int, ne: int) -> None:
        plan, K, C, epochs = self.plan, self.K, self.C, slice(e0, e0 + ne)
        if plan.shuffle:
            self.idx = np.concatenate([next(self.orders) for _ in range(ne)])
        LR = _aligned(np.broadcast_to(np.asarray(self.stepping.lr, dtype=float), (C, 1))[:, 0])
        tab, ts = _tables(self.kernel, e0 * K, ne * K, self.t0, plan.steps, self.hp_cols, LR,
                          C, self.stepping.tables(ne * K))
        args = KernelArgs(
            X=self.spec.data.x, Y=self.spec.data.y, idx=self.idx,
            istride=plan.rows if plan.shuffle else 0, starts=self.starts, PT=self.PT,
            ST=self.ST, HP=self.HP, LR=LR, alive=self.alive, dstep=self.dstep,
            esum=self.epoch_sum[epochs], erows=self.epoch_rows[epochs],
            elr=self.epoch_lr[epochs], eloss=self.epoch_loss[epochs],
            EP=self.epoch_params[epochs], tab=tab, ts=ts, kbase=e0 * K, t0=self.t0,
            total=plan.steps, h=float(self.sheet.h), bound=float(self.sheet.diverge_above),
            RS=self.RS, RR=self.RR, rbase=e0 * plan.rows,
            W=-(-CHUNK // self.kernel.unroll) * self.kernel.unroll, pe=self.pe)
        _call(self.kernel.function, *args.values())  # whole unrolled groups per chunk
        if self.progress is not None:
            self.progress(ne * K)

    def columns(self, name: str) -> list:
        s = self.state_names.index(name)
        return [self.ST[s, j] for j in range(self.P)]

    def metric(self, e: int, steps: int):
        return epoch_metric(self.epoch_loss[e], steps)

    def result(self, record: bool) -> Result:
        epoch_params = np.ascontiguousarray(self.epoch_params.transpose(0, 2, 1))
        result = Result(params=np.ascontiguousarray(self.PT.T),
                        state={s: np.ascontiguousarray(self.ST[i].T)
                         for i, s in enumerate(self.state_names)},
                        epoch_sum_err2=self.epoch_sum, epoch_rows=self.epoch_rows,
                        epoch_lr=self.epoch_lr, epoch_params=epoch_params,
                        diverged_at=_diverged_at(self.dstep, self.K), epoch_loss=self.epoch_loss)
        if record:
            result.steps, result.rows = _recorded(self.spec, self.sheet, self.kernel, self.plan,
                                                  self.dstep, self.RS, self.RR)
        return result


def simulate(spec, sheet, hp: Mapping[str, np.ndarray], params: np.ndarray,
             state: Mapping[str, np.ndarray], plan, record: bool = False,
             annealing: bool = True, t0: int = 0, progress=None, parallel: bool | None = None):
    """The numpy executor's run on the compiled kernel; returns an identical ``Result``."""
    C = params.shape[0]
    online = plan.size == 1
    if parallel is None:
        parallel = C >= PARALLEL_FROM
    unroll = UNROLL if online and not record and C >= UNROLL_FROM else 1
    if C % unroll:  # run whole groups: pad with copies of the last configuration, then trim
        pad = unroll - C % unroll
        grow = lambda a: np.concatenate([a, np.repeat(a[-1:], pad, axis=0)])  # noqa: E731
        full = simulate(spec, sheet, {n: grow(np.broadcast_to(v, (C, 1))) for n, v in hp.items()},
                        grow(params), {s: grow(state[s]) for s in sheet.rule.states(sheet.static)},
                        plan, record,
                        annealing, t0, progress, parallel)
        return _trim(full, C)
    schedule = schedule_of(sheet, annealing)
    kernel = kernel_for(spec, sheet, schedule, record, online, parallel, tuple(hp),
                        unroll=unroll)
    run = _Run(spec, sheet, hp, params, state, plan, record, kernel, t0)
    run.progress = progress
    with np.errstate(all="ignore"):
        run.stepping = schedule.start(hp, run.columns, numpy_ops)
        walk_calls(plan, run.stepping, run.per_call(), run.call, run.columns, run.metric)
    return run.result(record)


def _aligned(values: np.ndarray) -> np.ndarray:
    """A C-ordered copy starting on a 64-byte boundary: rows of whole vector registers, so no
    vector load of the unrolled kernel straddles two cache lines."""
    values = np.asarray(values)
    raw = np.empty(values.nbytes + 64, dtype=np.uint8)
    start = -raw.ctypes.data % 64
    out = raw[start:start + values.nbytes].view(values.dtype).reshape(values.shape)
    out[...] = values
    return out


def _call(function, *args) -> None:
    """Calls a kernel; its first call compiles it with LLVM's SLP vectorizer on (numba leaves
    it off by default), which packs the unrolled configurations into vector instructions.
    Vector instructions round exactly as scalar ones; nothing is reassociated."""
    if function.signatures:
        function(*args)
        return
    from numba.core import config

    saved = config.SLP_VECTORIZE
    config.SLP_VECTORIZE = 1
    try:
        function(*args)
    finally:
        config.SLP_VECTORIZE = saved


def _trim(result, C: int):
    """The first C configurations of a padded result."""
    return Result(params=result.params[:C], state={k: v[:C] for k, v in result.state.items()},
                  epoch_sum_err2=result.epoch_sum_err2[:, :C],
                  epoch_rows=result.epoch_rows[:, :C], epoch_lr=result.epoch_lr[:, :C],
                  epoch_params=result.epoch_params[:, :C], diverged_at=result.diverged_at[:C],
                  epoch_loss=None if result.epoch_loss is None else result.epoch_loss[:, :C])


def _diverged_at(dstep: np.ndarray, K: int) -> np.ndarray:
    """Epoch and step (from 1) of each configuration's diverging step ``dstep`` (0: none)."""
    out = np.zeros((len(dstep), 2), dtype=int)
    hit = dstep > 0
    out[hit, 0] = (dstep[hit] - 1) // K + 1
    out[hit, 1] = (dstep[hit] - 1) % K + 1
    return out


def _recorded(spec, sheet, kernel: Kernel, plan, dstep, RS, RR):
    """The recorded tables, cut where the last configuration stopped (as the numpy recorder)."""
    total, K = plan.steps, plan.steps_per_epoch
    N = total if np.any(dstep == 0) else int(dstep.max()) - 1
    if N == 0:
        return {}, {}
    x, y = spec.data.x, spec.data.y
    bounds = plan.bounds()
    idx = np.concatenate(list(plan.orders())) if plan.shuffle else np.tile(
        np.arange(plan.rows, dtype=np.int64), plan.epochs)
    first = idx.reshape(plan.epochs, plan.rows)[:, bounds[:-1]].ravel()
    size = np.tile(np.diff(bounds), plan.epochs).astype(float)
    epoch = np.repeat(np.arange(1, plan.epochs + 1, dtype=float), K)
    step = np.tile(np.arange(1, K + 1, dtype=float), plan.epochs)
    single = size == 1
    R = int(size[:N].sum())
    steps = {"epoch": epoch[:N], "step": step[:N], "row": (first + 1.0)[:N], "size": size[:N],
             "x": np.where(single, x[first], np.nan)[:N],
             "y": np.where(single, y[first], np.nan)[:N]}
    for i, name in enumerate(kernel.columns):
        steps[name] = RS[i, :N]
    sizes = size.astype(np.int64)
    rows = {"epoch": np.repeat(epoch, sizes)[:R], "step": np.repeat(step, sizes)[:R],
            "row": (idx + 1.0)[:R], "x": x[idx][:R].astype(float), "y": y[idx][:R].astype(float),
            "pred": RR[0, :R], "err2": RR[1, :R]}
    return steps, rows
