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
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Mapping

import numpy as np

from ...models import gradients
from ...ops import numpy_ops, symbolic_ops
from ...schedules import anneal, clock_for, gradient_scale, one_cycle, records_mom
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
             parallel: bool) -> Kernel:
    """Source of the kernel for one shape of run (see module docstring)."""
    calls = _Calls()
    kops = calls.ops()
    P = len(model.params)
    pvars = {n: var(f"p{j}") for j, n in enumerate(model.params)}
    x, y = var("x"), var("y")
    pred = model.predict(pvars, x)
    err2 = model.row_loss(var("pred"), y)
    probe = _Probe(model)
    methods = [gradient] + ([m for m in dict.fromkeys(show)] if record else [])
    results = {m: gradients.gradient(m, probe, pvars, [x], [y], var("h"), var("loss"))
               for m in dict.fromkeys(methods)}

    hp = {n: var(f"hp_{n}") for n in hyper_names}
    hp["lr"] = var("lr_s")
    defs: dict[str, Expr] = {}
    if schedule is not None and schedule.kind == "torch":
        # a torch scheduler recurses step to step: the host steps it (schedules.Clock) into
        # per-step tables of lr and momentum
        defs["lr_s"] = calls.table("sched_lr")
        if schedule.node.cycles:
            defs["mom_s"] = calls.table("sched_mom")
            hp["mom"] = var("mom_s")
    elif schedule is not None:
        defs["lr_s"], mom = one_cycle(var("pos"), var("hp_lr"), schedule, kops)
        if "mom" in hp:
            defs["mom_s"] = lift(mom)
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

    shared = {"x", "y", "t", "pos", "h", "kg", "k", "kt", "nr", "fnr", "rb", "ib", "e"}
    parts = dict(P=P, model=model, state_names=state_names, hyper_names=hyper_names,
                 calls=list(calls.calls.values()), defs=defs, row_exprs=row_exprs,
                 results=results, gradient=gradient, new_state=new_state, new_p=new_p,
                 record=record, online=online, show=show, mom_column=mom_column)
    lines = _Lines()
    w = lines.add
    # one call runs NE epochs of K steps each: epoch e walks idx[e * istride:] in the slices
    # starts[k]:starts[k + 1]; its sums go to row e of esum/erows/elr/eloss, its end params to
    # EP[e]
    w(0, "def kernel(X, Y, idx, istride, starts, PT, ST, HP, LR, alive, dstep, esum, erows, elr,")
    w(0, "           eloss, EP, tab, ts, kbase, t0, total, h, bound, RS, RR, rbase, W, pe):")
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
    w(4, "fnr = float(nr)")
    if online:
        w(4, "x = X[idx[ib + r0]]")
        w(4, "y = Y[idx[ib + r0]]")
    # the loop over configurations: contiguous loads and stores, straight-line arithmetic and
    # divergence as masks, which LLVM's loop vectorizer turns into SIMD instructions (numba
    # compiles without fastmath, so lanes round exactly as the scalar code would)
    w(4, "for c in range(c0, c1):")
    w(5, "cu = np.uint64(c)")
    loads, code, stores, columns = _config_code(parts, shared)
    for depth, text in loads + code + stores:
        w(5 + depth, text)
    w(3, "for c in range(c0, c1):")
    w(4, "for j in range(PT.shape[0]):")
    w(5, "EP[e, j, c] = PT[j, c]")
    header = _HEADER.format(parallel=parallel)
    return Kernel(header + lines.text(), list(calls.calls.values()), defs, columns, exps,
                  parallel=parallel)


def _config_code(parts: dict, shared) -> tuple[list, ...]:
    """Loads, arithmetic and stores of one configuration ``c`` within a step, and the names of
    the recorded columns."""
    P, state_names, hyper_names = parts["P"], parts["state_names"], parts["hyper_names"]
    # unsigned indices: numba then skips its negative-index wraparound, which would hide from
    # LLVM that c, c + 1, ... are neighbours
    c = "cu"
    per_param = {"p", "g", *(f"s_{s}" for s in state_names), *(f"ns_{s}" for s in state_names)}

    def name(n: str, j: int | None = None) -> str:
        if n in shared or n.startswith("pe["):
            return n
        return f"{n}{'' if j is None else j}"

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
    for n, source in (("was", "alive"), ("dsv", "dstep"), ("esm", "esum"), ("ers", "erows"),
                      ("elv", "elr"), ("els", "eloss")):
        loads.append((0, f"{name(n)} = {source}[{'' if n in ('was', 'dsv') else 'e, '}{c}]"))
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
    # divergence as a mask: a configuration that is (or just went) off keeps its values by a
    # select in every store, never a branch, so the loop over configurations is straight-line
    # code the compiler turns into vector instructions
    stores.append((0, f"alive[{c}] = {now}"))
    stores.append((0, f"dstep[{c}] = kg + 1 if {was} != {now} else {name('dsv')}"))
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
        stores.append((0, f"PT[{j}, {c}] = {name('np', j)} if {now} else {name('p', j)}"))
        for i, s in enumerate(state_names):
            stores.append((0, f"ST[{i}, {j}, {c}] = {name('ns_' + s, j)} if {now} else "
                              f"{name('s_' + s, j)}"))
    # the engine adds 0.0 for a configuration that is off (np.where(alive, value, 0.0))
    for target, loaded, value in (("esum", "esm", "acc_e2"), ("eloss", "els", "loss"),
                                  ("erows", "ers", "fnr")):
        stores.append((0, f"{target}[e, {c}] = {name(loaded)} + ({name(value)} if {now} "
                          f"else 0.0)"))
    stores.append((0, f"elr[e, {c}] = {name('lr_s')} if k == 0 else {name('elv')}"))
    return loads, code, stores, columns


_HEADER = '''"""Generated by sheetopt.executors.compiled; do not edit (named by a hash of this text)."""
import math
import numpy as np
from math import cos, sin, pi
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
            try:  # Ctrl-C or a full disk leaves no partial source behind
                with os.fdopen(fd, "w") as handle:
                    handle.write(kernel.source)
                os.replace(temp, path)
            finally:
                if os.path.exists(temp):
                    os.unlink(temp)
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
               hyper_names, load: bool = True) -> Kernel:
    """The kernel for this shape of run, generated (and loaded) once per process."""
    model, rule, static = spec.model, sheet.rule, sheet.static
    cycle = schedule if schedule is not None and (schedule.per_step or schedule.kind == "torch") \
        else None
    mom_column = records_mom(sheet.schedule, sheet.hypers)
    key = (model.kind, tuple(sorted(model.keys.items())), rule.optimizer, rule.flavor, tuple(sorted(static.items())),
           tuple(hyper_names), sheet.gradient, tuple(sheet.show) if record else (),
           None if cycle is None else (cycle.kind, cycle.node.cycles) if cycle.kind == "torch"
           else (cycle.kind, tuple(sorted(cycle.options.items()))),
           mom_column, record, online, parallel)
    if key not in _GENERATED:
        _GENERATED[key] = generate(model, rule, static, rule.states(static), hyper_names,
                                   sheet.gradient, sheet.show, cycle, mom_column, record,
                                   online, parallel)
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
        schedule = sheet.schedule if annealing else None
        kernel_for(spec, sheet, schedule, record, False, False, tuple(sheet.hypers), load=False)
    except Unsupported:
        return False
    return True


def table_bytes(spec, sheet, plan) -> int:
    """The memory of one kernel call's per-step tables (t-dependent terms such as bias
    corrections, a schedule's lr) in a recorded run of one configuration, with the temporaries
    of computing them: about a table's worth more per table.

    >>> table_bytes(spec, sheet, plan)  # doctest: +SKIP
    """
    kernel = kernel_for(spec, sheet, sheet.schedule, True, plan.size == 1, False,
                        tuple(sheet.hypers), load=False)
    per_call = _epochs_per_call(plan, 1, False) * plan.steps_per_epoch
    return 2 * 8 * len(kernel.tables) * per_call


def simulate(spec, sheet, hp: Mapping[str, np.ndarray], params: np.ndarray,
             state: Mapping[str, np.ndarray], plan, record: bool = False,
             annealing: bool = True, t0: int = 0, progress=None, parallel: bool | None = None):
    """engine.simulate on the compiled kernel; returns an identical engine.Result."""
    from ...protocol.driver import Result, epoch_metric

    model, rule, static = spec.model, sheet.rule, sheet.static
    names, state_names = model.params, rule.states(static)
    C, P = params.shape
    hyper_names = tuple(hp)
    E, K, total = plan.epochs, plan.steps_per_epoch, plan.steps
    online = plan.size == 1
    if parallel is None:
        parallel = C >= PARALLEL_FROM
    schedule = sheet.schedule if annealing else None
    kernel = kernel_for(spec, sheet, schedule, record, online, parallel, hyper_names)

    PT = _aligned(np.asarray(params, dtype=float).T)  # a copy: the kernel writes it
    ST = _aligned(np.zeros((len(state_names), P, C)))
    for i, s in enumerate(state_names):
        ST[i] = np.asarray(state[s], dtype=float).T
    hp_cols = {n: np.broadcast_to(np.asarray(hp[n], dtype=float), (C, 1))[:, 0] for n in hp}
    HP = _aligned(np.stack([hp_cols[n] for n in hyper_names]) if hyper_names
                  else np.zeros((0, C)))
    lr = hp["lr"]
    best = None
    if schedule is not None and schedule.kind == "adam_ann":
        s = state_names.index("sqr_avg")
        best = gradient_scale([ST[s, j] for j in range(P)], numpy_ops)[:, None]
    alive = _aligned(np.ones(C, dtype=np.int64))  # 64-bit lanes, as the doubles beside it
    dstep = _aligned(np.zeros(C, dtype=np.int64))
    epoch_sum, epoch_rows, epoch_lr, epoch_loss = (_aligned(np.zeros((E, C))) for _ in range(4))
    clock = clock_for(schedule, hp)
    epoch_params = np.zeros((E, P, C))
    RS = np.empty((len(kernel.columns), total, C)) if record else np.zeros((0, 0, 0))
    RR = np.empty((2, E * plan.rows, C)) if record else np.zeros((0, 0, 0))
    pe = np.array(kernel.pow_exponents + [0.0])
    starts = plan.bounds()
    width = C if kernel.tables and any(not np.all(v == v.flat[0]) for v in hp_cols.values()) else 1
    per_call = _epochs_per_call(plan, width, best is not None or (
        clock is not None and schedule.per == "epoch"))
    orders = plan.orders()
    idx = next(orders) if not plan.shuffle else None
    for e0 in range(0, E, per_call):
        ne = min(per_call, E - e0)
        if plan.shuffle:
            idx = np.concatenate([next(orders) for _ in range(ne)])
        LR = _aligned(np.broadcast_to(np.asarray(lr, dtype=float), (C, 1))[:, 0])
        tab, ts = _tables(kernel, e0 * K, ne * K, t0, total, hp_cols, LR, C,
                          _scheduled(clock, schedule, ne * K))
        _call(kernel.function, spec.data.x, spec.data.y, idx, plan.rows if plan.shuffle else 0,
              starts, PT, ST, HP, LR, alive, dstep, epoch_sum[e0:e0 + ne],
              epoch_rows[e0:e0 + ne], epoch_lr[e0:e0 + ne], epoch_loss[e0:e0 + ne],
              epoch_params[e0:e0 + ne], tab, ts, e0 * K, t0, total, float(sheet.h),
              float(sheet.diverge_above), RS, RR, e0 * plan.rows,
              CHUNK, pe)
        if progress is not None:
            progress(ne * K)
        if best is not None:
            with np.errstate(all="ignore"):
                scale = gradient_scale([ST[s, j] for j in range(P)], numpy_ops)
                lr, best = anneal(lr, scale[:, None], best, numpy_ops)
        if clock is not None and schedule.per == "epoch":  # one epoch a call (per_call)
            clock.advance(epoch_metric(epoch_loss[e0], K))
    # (C, P) views of the kernel's (P, C) arrays: a sweep's copies cost as much as its steps
    result = Result(params=PT.T, state={s: ST[i].T for i, s in enumerate(state_names)},
                    epoch_sum_err2=epoch_sum, epoch_rows=epoch_rows, epoch_lr=epoch_lr, epoch_params=epoch_params.transpose(0, 2, 1),
                    diverged_at=_diverged_at(dstep, K), epoch_loss=epoch_loss)
    if record:
        result.steps, result.rows = _recorded(spec, sheet, kernel, plan, dstep, RS, RR)
    return result


def _scheduled(clock, schedule, K: int) -> dict:
    """A torch schedule's lr (and momentum) for the K steps of the next epoch: stepped after
    every step (per = "step"), or the epoch's values repeated."""
    if clock is None:
        return {}
    if schedule.per == "step":
        lrs, moms = clock.table(K)
    else:
        lrs, moms = [clock.lr] * K, [clock.mom] * K
    out = {"sched_lr": _steps_table(lrs)}
    if clock.mom is not None:
        out["sched_mom"] = _steps_table(moms)
    return out


def _steps_table(values: list) -> np.ndarray:
    if all(isinstance(v, float) for v in values):
        return np.array(values, dtype=float)[:, None]
    return np.stack([np.broadcast_to(np.asarray(v, dtype=float).reshape(-1), (
        max(np.size(u) for u in values),)) for v in values])


def _aligned(values: np.ndarray) -> np.ndarray:
    """A C-ordered copy starting on a 64-byte boundary: rows of whole vector registers, so no
    vector load of the kernel's loop over configurations straddles two cache lines."""
    values = np.asarray(values)
    raw = np.empty(values.nbytes + 64, dtype=np.uint8)
    start = -raw.ctypes.data % 64
    out = raw[start:start + values.nbytes].view(values.dtype).reshape(values.shape)
    out[...] = values
    return out


def _call(function, *args) -> None:
    """Calls a kernel; its first call compiles it with LLVM's SLP vectorizer on (numba leaves
    it off by default) beside the loop vectorizer, which packs what is left of the scalar code
    (a parameter's pair of updates) into vector instructions. Vector instructions round
    exactly as scalar ones; nothing is reassociated."""
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
    steps = {"epoch": epoch[:N], "step": step[:N], "row": (first + 1.0)[:N], "size": size[:N]}
    if spec.model.has_data:  # a surface's x and y are its parameters, recorded by the kernel
        steps.update(x=np.where(single, x[first], np.nan)[:N],
                     y=np.where(single, y[first], np.nan)[:N])
    for i, name in enumerate(kernel.columns):
        steps[name] = RS[i, :N]
    sizes = size.astype(np.int64)
    rows = {"epoch": np.repeat(epoch, sizes)[:R], "step": np.repeat(step, sizes)[:R],
            "row": (idx + 1.0)[:R], "x": x[idx][:R].astype(float), "y": y[idx][:R].astype(float),
            "pred": RR[0, :R], "err2": RR[1, :R]}
    return steps, rows
