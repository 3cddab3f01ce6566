"""Code generation: the source of a kernel for one shape of run.

The model's prediction and loss, the gradient methods, the rule's ``update_state``/``step`` and
the one-cycle schedule are called with ``symbolic.var`` leaves, printed with
``symbolic.to_python`` and pasted into the source of a kernel that loops over steps, rows and
configurations with scalar locals (see the package docstring).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Mapping

from ...models import gradients
from ...ops import symbolic_ops
from ...schedules import one_cycle
from ...ops.symbolic import Expr, lift, to_python, var


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

