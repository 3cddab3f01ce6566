"""Symbolic expressions: the value type that turns a rule into formula text.

A rule, a model or a schedule is a plain function of its inputs written with arithmetic
operators and the ``ops`` namespace it is given. Called with numpy arrays it computes; called
with :class:`Expr` leaves it records the computation as a tree, which prints as a spreadsheet
formula (:func:`to_excel`) or as Python source (:func:`to_python`). Both printers keep the tree's
evaluation order exactly (parentheses wherever regrouping could change a floating-point result),
so every rendering performs the same IEEE operations in the same order.
"""
from __future__ import annotations

import contextlib
import math
import sys
from collections import Counter
from typing import Callable, Mapping

Number = (int, float)


class Expr:
    """A node: ``op`` names the operation, ``args`` holds child nodes or a leaf's payload."""

    __slots__ = ("op", "args")

    def __init__(self, op: str, *args):
        self.op = op
        self.args = args

    # arithmetic -------------------------------------------------------------------------
    def __add__(self, other): return Expr("+", self, lift(other))
    def __radd__(self, other): return Expr("+", lift(other), self)
    def __sub__(self, other): return Expr("-", self, lift(other))
    def __rsub__(self, other): return Expr("-", lift(other), self)
    def __mul__(self, other): return Expr("*", self, lift(other))
    def __rmul__(self, other): return Expr("*", lift(other), self)
    def __truediv__(self, other): return Expr("/", self, lift(other))
    def __rtruediv__(self, other): return Expr("/", lift(other), self)
    def __neg__(self): return Expr("neg", self)

    def __pow__(self, exponent):
        if not isinstance(exponent, int) or exponent < 1:
            raise TypeError("Expr supports only positive integer powers; use ops.power")
        return Expr("^", self, Expr("const", exponent))

    def __lt__(self, other): return Expr("<", self, lift(other))
    def __gt__(self, other): return Expr(">", self, lift(other))
    def __le__(self, other): return Expr("<=", self, lift(other))
    def __ge__(self, other): return Expr(">=", self, lift(other))

    def __bool__(self):
        raise TypeError("a symbolic value has no truth value; use ops.where")

    def __repr__(self) -> str:
        return f"Expr({to_python(self)})"


def var(name: str) -> Expr:
    """A named input: a cell reference in a formula, a local variable in Python source."""
    return Expr("var", name)


def lift(value) -> Expr:
    if isinstance(value, Expr):
        return value
    if isinstance(value, bool):
        return Expr("const", int(value))
    if isinstance(value, Number) or hasattr(value, "__float__"):
        return Expr("const", value if isinstance(value, int) else float(value))
    raise TypeError(f"cannot use {type(value).__name__} in a formula")


# binding strength of each operator; a higher number binds tighter
_PRECEDENCE = {"<": 0, ">": 0, "<=": 0, ">=": 0, "=": 0, "+": 1, "-": 1, "*": 2, "/": 2, "^": 3}


def _const_text(value, python: bool) -> str:
    if isinstance(value, int):
        text = str(value)
    elif math.isinf(value) or math.isnan(value):
        raise ValueError(f"{value} cannot be written into a formula")
    else:
        text = repr(float(value))
        if not python:
            text = text.upper()  # 1e-08 -> 1E-08, the spreadsheet spelling
            if text.endswith(".0"):
                text = text[:-2]
    return f"({text})" if text.startswith("-") else text


class _Printer:
    """Prints a tree in one target syntax; subclasses name the functions and operators."""

    python = False

    def __init__(self, name_of: Callable[[str], str]):
        self.name_of = name_of

    def text(self, node: Expr) -> tuple[str, int]:
        """Returns (text, precedence); atoms have precedence 9."""
        op = node.op
        if op == "var":
            return self.name_of(node.args[0]), 9
        if op == "const":
            return _const_text(node.args[0], self.python), 9
        if op == "neg":
            inner, _ = self.text(node.args[0])
            return f"(-({inner}))" if not inner.isidentifier() else f"(-{inner})", 9
        if op == "call":
            name, *children = node.args
            inner = ",".join(self.text(child)[0] for child in children)
            return f"{self.function(name)}({inner})", 9
        if op == "where":
            cond, yes, no = (self.text(child)[0] for child in node.args)
            return self.conditional(cond, yes, no), 9
        prec = _PRECEDENCE[op]
        left, left_prec = self.text(node.args[0])
        right, right_prec = self.text(node.args[1])
        if left_prec < prec:
            left = f"({left})"
        if right_prec <= prec:
            right = f"({right})"
        return f"{left}{self.operator(op)}{right}", prec

    def function(self, name: str) -> str:
        raise NotImplementedError

    def operator(self, op: str) -> str:
        return op

    def conditional(self, cond: str, yes: str, no: str) -> str:
        raise NotImplementedError


class _ExcelPrinter(_Printer):
    _FUNCTIONS = {"sqrt": "SQRT", "cos": "COS", "sin": "SIN", "exp": "EXP", "log": "LN",
                  "maximum": "MAX", "minimum": "MIN", "abs": "ABS",
                  "sign": "SIGN", "floor": "INT"}  # INT rounds down, negative numbers too

    def function(self, name):
        return self._FUNCTIONS[name]

    def conditional(self, cond, yes, no):
        return f"IF({cond},{yes},{no})"

    def text(self, node):
        if node.op == "const" and node.args[0] == "pi":
            return "PI()", 9
        return super().text(node)


class _PythonPrinter(_Printer):
    python = True

    def __init__(self, name_of: Callable[[str], str], select: str | None = None):
        super().__init__(name_of)
        self.select = select

    def function(self, name):
        return name

    def operator(self, op):
        return {"^": "**", "=": "=="}.get(op, op)

    def conditional(self, cond, yes, no):
        if self.select:
            return f"{self.select}({cond},{yes},{no})"
        return f"({yes} if {cond} else {no})"

    def text(self, node):
        if node.op == "const" and node.args[0] == "pi":
            return "pi", 9
        return super().text(node)


class _RememberingPrinter(_PythonPrinter):
    """Prints each node once (a tree's subtrees, and trees that share them)."""

    def __init__(self):
        super().__init__(lambda name: name)
        self.memo: dict[int, tuple] = {}

    def text(self, node):
        seen = self.memo.get(id(node))
        if seen is not None and seen[0] is node:
            return seen[1]
        out = super().text(node)
        self.memo[id(node)] = (node, out)  # the node is kept, so its id is not reused
        return out


def python_texts() -> Callable[[Expr], str]:
    """``to_python`` (default names) for many trees that share subtrees, each printed once:
    cutting a model of many features into cells asks for every subtree's text."""
    printer = _RememberingPrinter()

    def text(node) -> str:
        with deep_trees():
            return printer.text(lift(node))[0]
    return text


# A model of many features sums hundreds of terms left to right: a tree as deep as it is long.
# The printers recurse once or twice per level; a formula a spreadsheet takes (8,192
# characters) is at most a few thousand levels deep.
DEEP = 20_000


@contextlib.contextmanager
def deep_trees():
    """Room for the recursion of printing (or walking) a deep tree."""
    limit = sys.getrecursionlimit()
    if limit >= DEEP:
        yield
        return
    sys.setrecursionlimit(DEEP)
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def to_excel(node, refs: Mapping[str, str] | Callable[[str], str]) -> str:
    """Formula text (with the leading ``=``) for ``node``; ``refs`` maps each variable to a cell."""
    name_of = refs if callable(refs) else refs.__getitem__
    with deep_trees():
        return "=" + _ExcelPrinter(name_of).text(lift(node))[0]


def to_python(node, names: Mapping[str, str] | Callable[[str], str] | None = None, *,
              select: str | None = None) -> str:
    """Python expression text for ``node``; functions print as sqrt, cos, maximum, minimum, abs,
    sign; a condition as ``(yes if cond else no)``, or with ``select`` as a call of that
    function, ``select(cond,yes,no)`` (both sides evaluated).

    Example:
        >>> from sheetopt.ops import symbolic_ops
        >>> x = var("x")
        >>> absolute = symbolic_ops.where(x >= 0, x, -x)
        >>> to_python(absolute), to_python(absolute, select="sel")
        ('(x if x>=0 else (-x))', 'sel(x>=0,x,(-x))')
    """
    name_of = (lambda n: n) if names is None else (names if callable(names) else names.__getitem__)
    with deep_trees():
        return _PythonPrinter(name_of, select).text(lift(node))[0]


def text_length(node, ref_length: Callable[[str], int]) -> int:
    """About how long ``node``'s formula text is (an upper bound: every operator counted
    with a pair of parentheses), its variables ``ref_length`` characters each; walked without
    recursion, so a tree too deep to print is measured too."""
    total, stack = 0, [lift(node)]
    while stack:
        item = stack.pop()
        if item.op == "var":
            total += ref_length(item.args[0])
        elif item.op == "const":
            value = item.args[0]
            total += len(_const_text(value, False)) if isinstance(value, Number) else len(str(value))
        else:
            children = [c for c in item.args if isinstance(c, Expr)]
            total += 3 + (len(str(item.args[0])) if item.op == "call" else 0) + len(children)
            stack.extend(children)
    return total


def variables(node) -> set[str]:
    """The names of the variables a tree reads."""
    found: set[str] = set()
    stack = [lift(node)]
    while stack:
        item = stack.pop()
        if item.op == "var":
            found.add(item.args[0])
        elif item.op not in ("const",):
            stack.extend(child for child in item.args if isinstance(child, Expr))
    return found


def evaluate(node, values: Mapping[str, float]) -> float:
    """Evaluates a tree with Python floats (used to check printers, not on hot paths)."""
    namespace = dict(values, sqrt=math.sqrt, cos=math.cos, sin=math.sin, exp=math.exp,
                     log=math.log, maximum=max, minimum=min, abs=abs,
                     sign=lambda v: (v > 0) - (v < 0) if v == v else v, floor=math.floor,
                     pi=math.pi)
    return eval(to_python(node), {"__builtins__": {}}, namespace)  # noqa: S307 - our own text


def substitute(node, known: Mapping[str, "Expr"], root: bool = False, text_of=None):
    """``node`` with each subtree whose text (``text_of``, by default :func:`to_python`) is a
    key of ``known`` replaced by its value (``root``: never the whole tree itself)."""
    text_of = text_of or to_python
    if not isinstance(node, Expr) or node.op in ("var", "const"):
        return node
    if not root:
        found = known.get(text_of(node))
        if found is not None:
            return found
    if node.op == "call":
        name, *children = node.args
        return Expr("call", name, *(substitute(c, known, text_of=text_of) for c in children))
    return Expr(node.op, *(substitute(c, known, text_of=text_of) for c in node.args))


def replace_subtree(tree: "Expr", old: "Expr", new: "Expr") -> "Expr":
    """``tree`` with every occurrence of ``old`` read from ``new`` (a cell or a variable
    holding it): the same value, computed once.

    >>> x, y = var("x"), var("y")
    >>> to_python(replace_subtree((x + y) * (x + y) + x, x + y, var("s")))
    's*s+x'
    """
    return substitute(tree, {to_python(old): new}, root=False)


def common_subtrees(trees: Mapping[str, "Expr"], prefix: str = "cs"
                    ) -> tuple[dict[str, "Expr"], dict[str, "Expr"]]:
    """Every subtree that occurs more than once across ``trees``, computed once: returns the
    shared values (named ``prefix0``, ``prefix1``, ..., in an order where each reads only
    earlier ones) and the trees reading them. The same operations on the same values, so
    each result is bit for bit the one the trees as given compute; a kernel's gradient terms
    repeat their loss's derivative once per parameter, which numba would type and lower each
    time.

    Example:
        >>> x, y = var("x"), var("y")
        >>> shared, out = common_subtrees({"u": (x + y) * (x + y), "v": (x + y) / 2})
        >>> {k: to_python(v) for k, v in shared.items()}, {k: to_python(v) for k, v in out.items()}
        ({'cs0': 'x+y'}, {'u': 'cs0*cs0', 'v': 'cs0/2'})
    """
    text = python_texts()
    counts: Counter = Counter()
    stack = [lift(tree) for tree in trees.values()]
    while stack:
        node = stack.pop()
        if node.op in ("var", "const"):
            continue
        counts[text(node)] += 1
        stack.extend(a for a in node.args if isinstance(a, Expr))
    shared: dict[str, Expr] = {}
    done: dict[str, Expr] = {}

    def rewrite(node: Expr) -> Expr:
        if node.op in ("var", "const"):
            return node
        key = text(node)
        if key not in done:
            value = Expr(node.op, *(rewrite(a) if isinstance(a, Expr) else a for a in node.args))
            if counts[key] > 1 and not (node.op == "neg" and node.args[0].op in ("var", "const")):
                shared[f"{prefix}{len(shared)}"] = value
                value = var(f"{prefix}{len(shared) - 1}")
            done[key] = value
        return done[key]

    with deep_trees():
        return shared, {n: rewrite(lift(tree)) for n, tree in trees.items()}
