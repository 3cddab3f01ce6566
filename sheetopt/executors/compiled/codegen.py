"""Code generation: the source of a kernel for one shape of run.

The model's prediction and loss, the gradient methods, the rule's ``update_state``/``step`` and
the one-cycle schedule are called with ``symbolic.var`` leaves, printed with
``symbolic.to_python`` and pasted into the source of a kernel that loops over steps, rows and
configurations with scalar locals (see the package docstring).
"""
from __future__ import annotations

import functools
import hashlib
import textwrap
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Mapping

from ...models import gradients
from ...ops import symbolic_ops
from ...ops.symbolic import (Expr, common_subtrees, deep_trees, lift, replace_subtree, to_python,
                             var)


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


# A model of this many parameters or more has its finite differences' shifted losses computed
# in a loop over the parameters (see _Probe.loss): unrolled, their text grows as the square of
# the parameters and numba's compile time faster still (11 minutes for 100 features).
LOOP_FROM = 8


@dataclass(frozen=True)
class _Family:
    """The shifted losses of one finite difference, one per parameter: ``name[j]`` is the
    loss with parameter j moved to ``shift`` (of the parameter's value ``qsv``), the others
    in place (``loss`` reads the parameters as ``qa[0]``, ``qa[1]``, ...)."""

    name: str
    shift: Expr
    loss: Expr


class _Probe:
    """Stands in for the model inside gradients.py: each loss or gradient that a method asks
    for becomes a variable (its batch mean), and the real per-row expression is kept. For a
    model of LOOP_FROM parameters or more, a loss at parameters of which one is shifted
    becomes ``F<i>[j]`` of a :class:`_Family`, computed in a loop over j."""

    def __init__(self, model, pvars: Mapping[str, Expr] | None = None):
        self.model, self.params = model, model.params
        self.row_exprs: dict[str, Expr] = {}  # variable -> per-row expression
        self.pvars = pvars if pvars is not None and len(model.params) >= LOOP_FROM else None
        self.families: dict[str, _Family] = {}  # the shift's text -> its family

    def _name(self, prefix: str, expr: Expr) -> Expr:
        for name, known in self.row_exprs.items():
            if name.startswith(prefix) and to_python(known) == to_python(expr):
                return var(name)
        name = f"{prefix}{len(self.row_exprs)}"
        self.row_exprs[name] = expr
        return var(name)

    def loss(self, params, x, y):
        moved = [] if self.pvars is None else [
            j for j, n in enumerate(self.params) if params[n] is not self.pvars[n]]
        if len(moved) != 1:
            return self._name("L", self.model.loss(params, x, y))
        j = moved[0]
        shift = _renamed(lift(params[self.params[j]]), f"p{j}", "qsv")
        key = to_python(shift)
        if key not in self.families:
            qa = {n: var(f"qa[{i}]") for i, n in enumerate(self.params)}
            self.families[key] = _Family(name=f"F{len(self.families)}", shift=shift,
                                         loss=lift(self.model.loss(qa, x, y)))
        return var(f"{self.families[key].name}[{j}]")

    def gradient(self, params, x, y):
        rows = self.model.gradient(params, x, y)
        return {n: self._name("G", lift(rows[n])) for n in self.params}


@dataclass(kw_only=True)
class Kernel:
    """A generated kernel and what the host needs to feed it."""

    source: str
    tables: list[tuple[str, Expr]]  # table variable -> expression the host evaluates
    defs: dict[str, Expr]  # per-step locals the tables may read (one-cycle lr and mom)
    columns: list[str]  # recorded per-configuration step columns, in kernel order
    pow_exponents: list[float]
    function: object = None
    parallel: bool = False
    # per-epoch records the host fills in rather than the kernel each step: ``elr`` (the lr
    # comes from the host, LR) and ``eloss`` (one row a step: the step's loss is the row's
    # squared error, so eloss equals esum); epoch_rows always (from where each configuration
    # diverged, see executor.py)
    host_lr: bool = False
    loss_is_sum: bool = False
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


def _renamed(expr: Expr, old: str, new: str) -> Expr:
    """``expr`` with the variable ``old`` read as ``new``."""
    if expr.op == "var":
        return var(new) if expr.args[0] == old else expr
    if expr.op == "const":
        return expr
    return Expr(expr.op, *(_renamed(a, old, new) if isinstance(a, Expr) else a
                           for a in expr.args))


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


@dataclass(frozen=True, kw_only=True)
class Shape:
    """What a kernel is generated for: the definitions it prints and the run's shape."""

    model: object
    rule: object
    static: Mapping
    state_names: tuple
    hyper_names: tuple
    gradient: str  # the method the update uses
    show: tuple  # the methods recorded beside it
    schedule: object  # a schedules.Schedule, or None: lr is the epoch's, given by the host
    mom_column: bool  # record the momentum each step used
    record: bool
    online: bool  # one row a step
    parallel: bool
    capture: bool = False  # keep the loss of one step (``cap``) in CL: a sweep's step:N


@dataclass(kw_only=True)
class KernelCall:
    """The arguments of one kernel call, by name: the generated ``def kernel(...)`` lists these
    fields in this order (:func:`signature`) and the host passes :meth:`values`.

    One call runs NE epochs of K steps each: epoch e walks ``idx[e * istride:]`` in the slices
    ``starts[k]:starts[k + 1]``; its sums go to row e of esum/elr/eloss (where the kernel keeps
    them, see Kernel), its end parameters to ``EP[e]``. A configuration is alive while its
    ``dstep`` is 0."""

    X: object  # (rows,) the data's x
    Y: object  # (rows,) the data's y
    idx: object  # the rows' order, epoch after epoch
    istride: int  # rows per epoch in idx (0: one order for every epoch)
    starts: object  # (K + 1,) each step's first row
    PT: object  # (P, C) parameters, updated in place
    ST: object  # (S, P, C) the rule's state, updated in place
    HP: object  # (H, C) hyperparameters
    LR: object  # (C,) the epoch's lr (where the schedule leaves it to the host)
    dstep: object  # (C,) the step it diverged at (0: none, alive)
    esum: object  # (NE, C) per-epoch sum of the rows' squared errors
    elr: object  # (NE, C) lr of each epoch's first step ((NE, 0) where the kernel keeps none)
    eloss: object  # (NE, C) per-epoch sum of the steps' losses ((NE, 0): likewise)
    EP: object  # (NE, P, C) parameters at each epoch's end, or (NE, 0, C): not kept
    tab: object  # (tables, NE * K, width) per-step values the host computes: width 1 (the
    # same for every configuration) or C (one column each)
    kbase: int  # steps before this call
    t0: int  # steps before the run
    total: int  # steps in the run
    h: float  # the finite differences' step
    bound: float  # a loss above this diverges
    RS: object  # (columns, steps, C) recorded step columns
    RR: object  # (2, rows, C) recorded rows: pred, err2
    rbase: int  # recorded rows before this call
    W: int  # configurations per block
    pe: object  # exponents of the data's powers
    cap: int = 0  # the step (from 1 in the run) whose loss a capture kernel keeps
    CL: object = None  # (C,) that step's loss where the configuration lived through it

    def values(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self))


def signature() -> list[str]:
    """The kernel's ``def`` line (wrapped): :class:`KernelCall`'s fields in order."""
    return textwrap.wrap(f"def kernel({', '.join(f.name for f in fields(KernelCall))}):",
                         width=90, subsequent_indent=" " * 11)


@dataclass(kw_only=True)
class _Traced:
    """The definitions traced with ``var`` leaves: the expressions the kernel prints."""

    shape: Shape
    calls: list  # (table variable, expression the host evaluates)
    defs: dict  # per-step locals from the schedule: lr_s (and mom_s)
    row_exprs: dict  # per-row expressions: pred, e2 and the gradient methods' terms
    families: list  # per-row shifted losses computed in a loop over the parameters (_Family)
    results: dict  # method -> parameter -> gradient expression
    new_state: dict
    new_p: Expr
    exps: list  # exponents of the data's powers (pe)


def input_names(model) -> list[str]:
    """The kernel's names of a row's input values: ``x`` (a 1-D X) for one column, ``x0``,
    ``x1``, ... (the columns of a 2-D X) for several."""
    count = len(model.inputs)
    return ["x"] if count <= 1 else [f"x{j}" for j in range(count)]


def _data_loads(model, row: str) -> list[str]:
    """The lines loading data row ``row``'s inputs and target."""
    names = input_names(model)
    if names == ["x"]:
        return [f"x = X[{row}]", f"y = Y[{row}]"]
    return [*(f"{n} = X[{row}, {j}]" for j, n in enumerate(names)), f"y = Y[{row}]"]


def _trace(shape: Shape) -> _Traced:
    """The model, gradients, schedule and rule called with ``var`` leaves."""
    calls = _Calls()
    kops = calls.ops()
    model = shape.model
    pvars = {n: var(f"p{j}") for j, n in enumerate(model.params)}
    x, y = model.row([var(n) for n in input_names(model)]), var("y")
    pred = model.predict(pvars, x)
    err2 = model.row_loss(var("pred"), y)
    probe = _Probe(model, pvars)
    methods = [shape.gradient] + ([m for m in dict.fromkeys(shape.show)] if shape.record else [])
    results = {m: gradients.gradient(m, probe, pvars, [x], [y], h=var("h"), loss=var("loss"))
               for m in dict.fromkeys(methods)}

    hp = {n: var(f"hp_{n}") for n in shape.hyper_names}
    hp["lr"] = var("lr_s")
    defs: dict[str, Expr] = {}
    if shape.schedule is not None:
        defs = shape.schedule.kernel_hypers(var("hp_lr"), "mom" in hp, var("pos"), calls.table,
                                            kops)
        if defs is None:
            raise Unsupported(f"schedule {shape.schedule.label} has no kernel rendering")
    if "mom_s" in defs:
        hp["mom"] = var("mom_s")
    t, static, state_names = var("t"), shape.static, shape.state_names
    state = {s: var(f"s_{s}") for s in state_names}
    new_state = shape.rule.updated(var("p"), var("g"), state, hp=hp, t=t, ops=kops, static=static)
    new_vars = {s: var(f"ns_{s}") for s in state_names}
    new_p = shape.rule.stepped(var("p"), var("g"), state, new_vars, hp=hp, t=t, ops=kops,
                               static=static)

    host_names = {"t", "pos", *(f"hp_{n}" for n in shape.hyper_names), "lr_s", "mom_s",
                  "sched_lr", "sched_mom"}
    for name, expr in calls.calls.values():
        if not _only(host_names | {v for v, _ in calls.calls.values()})(expr):
            raise Unsupported(f"{expr.args[0]} of a value that changes within a step")
    exps: list[float] = []
    data_only = _only({*input_names(model), "y"})
    row_exprs = {"pred": _check_powers(lift(pred), data_only, exps),
                 "e2": _check_powers(lift(err2), data_only, exps)}
    for name, expr in probe.row_exprs.items():
        # a gradient term reads the row's prediction from its variable, computed once: the
        # same value, and a kernel of P parameters no longer P copies of a P-term sum to compile
        row_exprs[name] = replace_subtree(_check_powers(lift(expr), data_only, exps),
                                          row_exprs["pred"], var("pred"))
    families = [replace(f, loss=_check_powers(f.loss, data_only, exps))
                for f in probe.families.values()]
    return _Traced(shape=shape, calls=list(calls.calls.values()), defs=defs,
                   row_exprs=row_exprs, families=families, results=results,
                   new_state={s: _check_powers(lift(new_state[s]), data_only, exps)
                              for s in state_names},
                   new_p=_check_powers(lift(new_p), data_only, exps), exps=exps)


def generate(shape: Shape) -> Kernel:
    """Source of the kernel for one shape of run (see the package docstring)."""
    with deep_trees():
        return _generate(shape)


def _generate(shape: Shape) -> Kernel:
    traced = _trace(shape)
    shared = {*input_names(shape.model), "y", "t", "pos", "h", "kg", "k", "kt", "nr", "wide",
              "rb", "ib", "e", "capnow"}
    lines = _Lines()
    w = lines.add
    for text in signature():
        w(0, text)
    w(1, "C = PT.shape[1]")
    w(1, "K = starts.shape[0] - 1")
    w(1, "NE = esum.shape[0]")
    w(1, "wide = tab.shape[2] > 1")
    w(1, "for ch in prange((C + W - 1) // W):" if shape.parallel else
      "for ch in range((C + W - 1) // W):")
    w(2, "c0 = ch * W")
    w(2, "c1 = min(C, c0 + W)")
    if traced.families:  # scratch arrays of the loops over parameters, one set per block
        for array in ("qa", *(f.name for f in traced.families)):
            w(2, f"{array} = np.empty({len(shape.model.params)})")
    w(2, "for e in range(NE):")
    w(3, "ib = e * istride")
    w(3, "rb = rbase + e * starts[K]")
    w(3, "for k in range(K):")
    w(4, "kt = e * K + k")
    w(4, "kg = kbase + kt")
    w(4, "t = t0 + kg + 1")
    w(4, "pos = kg / total")
    if shape.capture:
        w(4, "capnow = np.int64(kg + 1 == cap)")
    w(4, "r0 = starts[k]")
    w(4, "nr = starts[k + 1] - r0")
    if shape.online:
        for text in _data_loads(shape.model, "idx[ib + r0]"):
            w(4, text)
    # the loop over configurations: contiguous loads and stores, straight-line arithmetic and
    # divergence as masks, which LLVM's loop vectorizer turns into SIMD instructions (numba
    # compiles without fastmath, so lanes round exactly as the scalar code would)
    for i, (tname, _) in enumerate(traced.calls):  # a table of one column: read once a step
        w(4, f"{tname}_k = tab[{i}, kt, 0]")
    w(4, "for c in range(c0, c1):")
    w(5, "cu = np.uint64(c)")
    loads, code, stores, columns = _config_code(traced, _Names(shared, shape.state_names))
    for depth, text in loads + code + stores:
        w(5 + depth, text)
    w(3, "for j in range(EP.shape[1]):")  # none where the run keeps no per-epoch parameters
    w(4, "for c in range(c0, c1):")
    w(5, "EP[e, j, c] = PT[j, c]")
    return Kernel(source=_HEADER.format(parallel=shape.parallel, scalars=scalars_stamp())
                  + lines.text(),
                  tables=traced.calls, defs=traced.defs, columns=columns,
                  pow_exponents=traced.exps, parallel=shape.parallel,
                  host_lr="lr_s" not in traced.defs, loss_is_sum=shape.online)


# unsigned indices: numba then skips its negative-index wraparound, which would hide from LLVM
# that c, c + 1, ... are neighbours
_C = "cu"


class _Names:
    """The kernel's local names: per-parameter values get the parameter's index."""

    def __init__(self, shared: set, state_names):
        self.shared = {*shared, "qsv", "jj", "fv"}
        self.per_param = {"p", "g", *(f"s_{s}" for s in state_names),
                          *(f"ns_{s}" for s in state_names)}

    def __call__(self, n: str, j: int | None = None) -> str:
        if n in self.shared or "[" in n:  # pe[i]; qa[i], F<i>[j] of a loop
            return n
        return f"{n}{'' if j is None else j}"

    def py(self, expr, j: int | None = None) -> str:
        return to_python(expr, lambda n: self(n, j if n in self.per_param else None),
                         select="sel")


def _config_code(traced: _Traced, name: _Names) -> tuple[list, ...]:
    """Loads, arithmetic and stores of one configuration ``c`` within a step, and the names of
    the recorded columns."""
    loads, code, stores = _loads(traced, name), [], []
    for n, expr in traced.defs.items():
        code.append((0, f"{name(n)} = {name.py(expr)}"))
    if traced.shape.online:
        _online_rows(traced, name, code, stores)
    else:
        _batch_rows(traced, name, code)
    _update(traced, name, code)
    finite = " & ".join([f"(abs({name('loss')}) <= MAXF)", f"({name('loss')} <= bound)"]
                        + [f"(abs({name('np', j)}) <= MAXF)"
                           for j in range(len(traced.shape.model.params))])
    now, was = name("now"), name("was")
    code.append((0, f"{name('ok')} = {finite}"))
    code.append((0, f"{now} = {was} & {name('ok')}"))
    # divergence as a mask: a configuration that is (or just went) off keeps its values by a
    # select in every store, never a branch, so the loop over configurations is straight-line
    # code the compiler turns into vector instructions
    stores.append((0, f"dstep[{_C}] = sel({was} != {now}, kg + 1, {name('dsv')})"))
    if traced.shape.capture:  # a select, as every store: the loop stays straight-line
        stores.append((0, f"CL[{_C}] = sel(capnow & {now}, {name('loss')}, CL[{_C}])"))
    columns = _record_stores(traced, name, stores) if traced.shape.record else []
    _state_stores(traced, name, stores)
    return loads, code, stores, columns


def _loads(traced: _Traced, name: _Names) -> list:
    c, shape = _C, traced.shape
    loads = []
    for j in range(len(shape.model.params)):
        loads.append((0, f"{name('p', j)} = PT[{j}, {c}]"))
        for i, s in enumerate(shape.state_names):
            loads.append((0, f"{name('s_' + s, j)} = ST[{i}, {j}, {c}]"))
    for i, n in enumerate(shape.hyper_names):
        loads.append((0, f"{name('hp_' + n)} = HP[{i}, {c}]"))
    for i, (tname, _) in enumerate(traced.calls):
        # a select on a loop invariant: LLVM makes a loop of each kind, both vectorized
        loads.append((0, f"{name(tname)} = tab[{i}, kt, {c}] if wide else {tname}_k"))
    if "lr_s" not in traced.defs:
        loads.append((0, f"{name('lr_s')} = LR[{c}]"))
    loads.append((0, f"{name('dsv')} = dstep[{c}]"))
    loads.append((0, f"{name('was')} = {name('dsv')} == 0"))
    loads.append((0, f"{name('esm')} = esum[e, {c}]"))
    if "lr_s" in traced.defs:  # else the host's LR is the epoch's lr (Kernel.host_lr)
        loads.append((0, f"{name('elv')} = elr[e, {c}]"))
    if not shape.online:  # else eloss equals esum (Kernel.loss_is_sum)
        loads.append((0, f"{name('els')} = eloss[e, {c}]"))
    return loads


def _row_names(traced: _Traced) -> list[str]:
    return [n for n in traced.row_exprs if n not in ("pred", "e2")]


def _row_terms(traced: _Traced, name: _Names, prefix: str, depth: int) -> list:
    """A row's prediction, then its loss and gradient terms (each named ``prefix`` + its
    name), with what they repeat computed once (symbolic.common_subtrees), after the
    prediction they read."""
    rows = traced.row_exprs
    shared, terms = common_subtrees({n: rows[n] for n in ("e2", *_row_names(traced))})
    named = {"e2": "e2", **{n: prefix + n for n in _row_names(traced)}}
    return ([(depth, f"{name('pred')} = {name.py(rows['pred'])}")]
            + [(depth, f"{name(n)} = {name.py(expr)}") for n, expr in shared.items()]
            + [(depth, f"{name(named[n])} = {name.py(expr)}") for n, expr in terms.items()])


def _online_rows(traced: _Traced, name: _Names, code: list, stores: list) -> None:
    """One row a step: its prediction, squared error and gradient terms."""
    code += _row_terms(traced, name, "", 0)
    _family_rows(traced, name, code, 0, batch=False)
    code.append((0, f"{name('pred0')} = {name('pred')}"))
    code.append((0, f"{name('acc_e2')} = {name('e2')}"))
    code.append((0, f"{name('loss')} = {name('e2')}"))
    if traced.shape.record:
        stores.append((0, f"RR[0, rb + r0, {_C}] = {name('pred')}"))
        stores.append((0, f"RR[1, rb + r0, {_C}] = {name('e2')}"))


def _batch_rows(traced: _Traced, name: _Names, code: list) -> None:
    """A batch's rows: the per-row terms summed left to right, then divided (gradients.mean)."""
    row_names = _row_names(traced)
    code.append((0, f"{name('pred0')} = 0.0"))
    code.append((0, f"{name('acc_e2')} = 0.0"))
    for n in row_names:
        code.append((0, f"{name(n)} = 0.0"))
    code += _family_params(traced, name, 0)
    code.append((0, "for r in range(r0, r0 + nr):"))
    code += [(1, text) for text in _data_loads(traced.shape.model, "idx[ib + r]")]
    code += _row_terms(traced, name, "r", 1)
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
    _family_rows(traced, name, code, 1, batch=True)
    if traced.shape.record:
        code.append((1, f"RR[0, rb + r, {_C}] = {name('pred')}"))
        code.append((1, f"RR[1, rb + r, {_C}] = {name('e2')}"))
    code.append((0, f"{name('loss')} = {name('acc_e2')}"))
    code.append((0, "if nr > 1:"))  # gradients.mean divides only a batch of several rows
    code.append((1, f"{name('loss')} = {name('acc_e2')} / nr"))
    for n in row_names:
        code.append((1, f"{name(n)} = {name(n)} / nr"))
    for family in traced.families:
        code.append((1, f"for jj in range({len(traced.shape.model.params)}):"))
        code.append((2, f"{family.name}[jj] = {family.name}[jj] / nr"))


def _family_params(traced: _Traced, name: _Names, depth: int) -> list:
    """The parameters copied to ``qa``, the array a family's loss reads them from."""
    if not traced.families:
        return []
    return [(depth, f"qa[{j}] = {name('p', j)}")
            for j in range(len(traced.shape.model.params))]


def _family_rows(traced: _Traced, name: _Names, code: list, depth: int, batch: bool) -> None:
    """Each family's shifted losses of one row, a loop over the parameters: parameter jj
    shifted in ``qa``, the loss, ``qa[jj]`` restored; a batch sums them row after row as
    gradients.mean does (the first row's value, then + each next row's)."""
    if not traced.families:
        return
    if not batch:
        code += _family_params(traced, name, depth)
    for family in traced.families:
        f = family.name
        code.append((depth, f"for jj in range({len(traced.shape.model.params)}):"))
        code.append((depth + 1, "qsv = qa[jj]"))
        code.append((depth + 1, f"qa[jj] = {name.py(family.shift)}"))
        code.append((depth + 1, f"fv = {name.py(family.loss)}"))
        code.append((depth + 1, "qa[jj] = qsv"))
        if not batch:
            code.append((depth + 1, f"{f}[jj] = fv"))
            continue
        code.append((depth + 1, f"{f}[jj] = fv if r == r0 else {f}[jj] + fv"))


def _update(traced: _Traced, name: _Names, code: list) -> None:
    """The gradient methods, then the rule's new state and new parameter per parameter."""
    shape = traced.shape
    params = shape.model.params
    for m, values in traced.results.items():
        for j, n in enumerate(params):
            code.append((0, f"{name(m + '_', j)} = {name.py(values[n])}"))
    for j in range(len(params)):
        code.append((0, f"{name('g', j)} = {name(shape.gradient + '_', j)}"))
    for j in range(len(params)):
        for s in shape.state_names:
            code.append((0, f"{name('ns_' + s, j)} = {name.py(traced.new_state[s], j)}"))
        code.append((0, f"{name('np', j)} = {name.py(traced.new_p, j)}"))


def _record_stores(traced: _Traced, name: _Names, stores: list) -> list[str]:
    """The recorded step columns' stores; their names in kernel order."""
    shape = traced.shape
    params = shape.model.params
    values = []
    for j, n in enumerate(params):
        values += [(n, name("p", j)), (f"grad_{n}", name("g", j)), (f"new_{n}", name("np", j))]
    values += [("pred", f"sel(nr == 1, {name('pred0')}, np.nan)"),
               ("loss", name("loss")), ("lr", name("lr_s"))]
    if shape.mom_column:
        values.append(("mom", name("mom_s") if "mom_s" in traced.defs else name("hp_mom")))
    for m in dict.fromkeys(shape.show):
        values += [(f"{m}_{n}", name(m + "_", j)) for j, n in enumerate(params)]
    for s in shape.state_names:
        values += [(f"{s}_{n}", name("ns_" + s, j)) for j, n in enumerate(params)]
    for i, (col, text) in enumerate(values):
        stores.append((0, f"RS[{i}, kg, {_C}] = {text}"))
    return [col for col, _ in values]


def _state_stores(traced: _Traced, name: _Names, stores: list) -> None:
    """Parameters, state and the epoch's sums, each kept where the configuration is off."""
    now = name("now")

    def kept(new: str, old: str) -> str:
        return f"sel({now}, {new}, {old})"

    for j in range(len(traced.shape.model.params)):
        stores.append((0, f"PT[{j}, {_C}] = {kept(name('np', j), name('p', j))}"))
        for i, s in enumerate(traced.shape.state_names):
            stores.append((0, f"ST[{i}, {j}, {_C}] = "
                              f"{kept(name('ns_' + s, j), name('s_' + s, j))}"))
    # the engine adds 0.0 for a configuration that is off (np.where(alive, value, 0.0)); what
    # the host can fill in once a call (Kernel.host_lr, loss_is_sum) is not stored each step
    sums = [("esum", "esm", "acc_e2")]
    if not traced.shape.online:
        sums.append(("eloss", "els", "loss"))
    for target, loaded, value in sums:
        stores.append((0, f"{target}[e, {_C}] = {name(loaded)} + sel({now}, {name(value)}, 0.0)"))
    if "lr_s" in traced.defs:
        stores.append((0, f"elr[e, {_C}] = sel(k == 0, {name('lr_s')}, {name('elv')})"))


@functools.cache
def scalars_stamp() -> str:
    """A hash of the native functions a kernel calls (scalars.py, and native.py's square root):
    part of every kernel's source, so a kernel cached on disk is compiled again when they change.

        >>> len(scalars_stamp())
        16
    """
    folder = Path(__file__).parent
    text = b"".join((folder / name).read_bytes() for name in ("scalars.py", "native.py"))
    return hashlib.sha256(text).hexdigest()[:16]


_HEADER = '''"""Generated by sheetopt.executors.compiled; do not edit (named by a hash of this text)."""
import math
import numpy as np
from math import cos, sin, exp, log, pi
from numba import njit, prange
from sheetopt.executors.compiled import ieee_sqrt as sqrt
from sheetopt.executors.compiled.scalars import cpow, maximum, minimum, sel, sign  # {scalars}

MAXF = 1.7976931348623157e308


@njit(cache=True, error_model="numpy", fastmath=False, nogil=True, parallel={parallel})
'''


class _Lines:
    def __init__(self):
        self.lines: list[str] = []

    def add(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

