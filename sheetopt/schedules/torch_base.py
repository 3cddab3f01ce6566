"""What every torch.optim.lr_scheduler class here is made of, and how one is stepped.

A class is a few pure functions of the optimizer's param group ``g`` (``lr``, ``initial_lr``
and, where a scheduler cycles it, ``mom``: SGD's momentum or Adam's beta1) and the scheduler's
own values ``p`` (``base``: torch's ``base_lrs``; counters such as CosineAnnealingWarmRestarts'
T_cur). ``get_lr`` is torch's: each lr from the previous one where torch recurses. The step
count ``k`` (torch's ``last_epoch``) is passed in, so a composite scheduler can hand each child
its own count and a workbook can write it as a formula of the step cell.

Values may be numbers (the host, exactly as torch's Python floats), numpy arrays over
configurations, or symbolic cells; branches go through :func:`pick`, which computes only the
branch taken when the condition is a plain bool (as torch does) and both through ``ops.where``
otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable, Mapping

import numpy as np

from ..errors import SheetoptError

from ..ops import numpy_ops

REQUIRED = object()  # an argument torch's constructor has no default for


def plain(value) -> bool:
    return isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating))


def pick(cond, yes: Callable, no: Callable, ops):
    """torch's ``if cond: yes else: no``; ``yes``/``no`` are thunks returning a value or a
    (group, private) pair of dicts."""
    if isinstance(cond, (bool, np.bool_)):
        return yes() if cond else no()
    return _where(cond, yes(), no(), ops)


def _where(cond, a, b, ops):
    """ops.where through dicts and tuples of values (a scheduler's state)."""
    if a is b:
        return a
    if isinstance(a, dict):
        return {**b, **{key: _where(cond, value, b[key], ops) if key in b else value
                        for key, value in a.items()}}
    if isinstance(a, (tuple, list)):
        return type(a)(_where(cond, x, y, ops) for x, y in zip(a, b))
    return ops.where(cond, a, b)


def same(a, b, ops):
    """a == b (Python's for plain numbers, ``ops.eq`` for arrays and cells)."""
    return a == b if plain(a) and plain(b) else ops.eq(a, b)


def divides(m, n, ops):
    """n % m == 0, Python's modulo (floor division) for negative n too."""
    if plain(m) and plain(n):
        return n % m == 0
    return ops.eq(ops.floor(n / m) * m, n)


def floor(x, ops):
    return math.floor(x) if plain(x) else ops.floor(x)


def _host(fn, np_fn):
    return lambda *args: fn(*args) if all(plain(a) for a in args) else np_fn(*args)


# numpy_ops, with Python's math on plain numbers: on the host a scheduler computes with Python
# floats, as torch's schedulers do, and numpy only where values differ by configuration
host_ops = SimpleNamespace(**{**vars(numpy_ops), "name": "host",
                              "cos": _host(math.cos, numpy_ops.cos),
                              "power": _host(math.pow, numpy_ops.power),
                              "floor": _host(math.floor, np.floor)})


@dataclass(frozen=True)
class TorchScheduler:
    """One torch.optim.lr_scheduler class.

    ``args``: its constructor's arguments as torch spells them, with torch's defaults
    (``REQUIRED`` where it has none). ``get_lr(g, p, k, a, ops, initial)`` returns the new
    (g, p) for step count ``k``; ``initial`` is torch's ``_is_initial`` (the constructor's
    step). ``setup(g, p, a, ops)`` is what the constructor does before torch's base class runs
    (CyclicLR and OneCycleLR overwrite lr and momentum); ``after`` what it does after.
    ``zero`` is torch's ``_update_lr(0)`` (SequentialLR at a milestone: the closed form at 0
    where the class has one). ``dynamic``: names in ``p`` that change from step to step.
    """

    name: str
    summary: str
    args: Mapping[str, object]
    get_lr: Callable
    zero: Callable | None = None
    setup: Callable | None = None
    after: Callable | None = None
    dynamic: tuple[str, ...] = ()
    cycles: Callable[[Mapping], bool] = lambda a: False
    lr_scheduler: bool = True  # False: ReduceLROnPlateau, which is not an LRScheduler subclass
    composite: bool = False
    numeric: tuple[str, ...] = field(default=())  # arguments that are input cells in workbooks
    example: Mapping = field(default_factory=dict)  # arguments for a run of ~100 steps, lr 0.01

    def construct(self, g: dict, a: Mapping, ops) -> tuple[dict, dict]:
        """The constructor: (param group, own values) after it, its first step included."""
        g, p = dict(g), {}
        if self.setup is not None:
            g, p = self.setup(g, p, a, ops)
        if not self.lr_scheduler:
            return g, p
        g.setdefault("initial_lr", g["lr"])
        p["base"] = g["initial_lr"]
        g, p = self.get_lr(g, p, 0, a, ops, True)
        if self.after is not None:
            g, p = self.after(g, p, a, ops)
        return g, p

    def update_zero(self, g: dict, p: dict, a: Mapping, ops) -> tuple[dict, dict]:
        if self.zero is not None:
            return self.zero(g, p, a, ops)
        return self.get_lr(g, p, 0, a, ops, False)


def with_lr(g: dict, lr, mom=None) -> dict:
    out = dict(g, lr=lr)
    if mom is not None:
        out["mom"] = mom
    return out


@dataclass(frozen=True)
class Node:
    """A scheduler as the spec names it: a class, its arguments, its children (composites)."""

    cls: TorchScheduler
    args: Mapping
    children: tuple["Node", ...] = ()

    @property
    def cycles(self) -> bool:
        return self.cls.cycles(self.args) or any(c.cycles for c in self.children)

    def construct(self, g: dict, ops) -> tuple[dict, list]:
        """(group, own values of this node and its children as a list)."""
        if not self.cls.composite:
            g, p = self.cls.construct(g, self.args, ops)
            return g, [p]
        return self.cls.setup(self, g, ops)

    def step(self, g: dict, state: list, k, ops, metric=None) -> tuple[dict, list]:
        """torch's ``scheduler.step()`` (``step(metric)`` for ReduceLROnPlateau) at count k."""
        if self.cls.composite:
            return self.cls.get_lr(self, g, state, k, ops)
        if not self.cls.lr_scheduler:
            g, p = self.cls.get_lr(g, state[0], metric, self.args, ops)
            return g, [p]
        g, p = self.cls.get_lr(g, state[0], k, self.args, ops, False)
        return g, [p]


class Clock:
    """A scheduler stepped on the host: the lr (and momentum) that each step or epoch uses.

    ``lr`` is a number when every configuration shares the optimizer's lr (computed with
    Python floats, as torch does), else an array like the given one."""

    def __init__(self, node: Node, lr, mom=None):
        g = {"lr": _scalar(lr)}
        if node.cycles:
            g["mom"] = _scalar(mom) if mom is not None else 0.0
        with np.errstate(all="ignore"):
            self.group, self.state = node.construct(g, host_ops)
        self.node, self.k = node, 0

    @property
    def lr(self):
        return self.group["lr"]

    @property
    def mom(self):
        return self.group.get("mom")

    def advance(self, metric=None) -> None:
        self.k += 1
        with np.errstate(all="ignore"):
            try:
                self.group, self.state = self.node.step(self.group, self.state, self.k,
                                                        host_ops, metric)
            except (OverflowError, ValueError, ZeroDivisionError) as exc:
                # Python's float arithmetic, as torch's: torch raises at the same step
                raise SheetoptError(f"schedule {self.node.cls.name}: the lr cannot be computed "
                                    f"at scheduler step {self.k} ({exc}; torch raises there "
                                    f"too); change the schedule's arguments") from None

    def table(self, steps: int) -> tuple[list, list]:
        """The lr and momentum of the next ``steps`` steps, advancing after each."""
        lrs, moms = [], []
        for _ in range(steps):
            lrs.append(self.lr)
            moms.append(self.mom)
            self.advance()
        return lrs, moms


def _scalar(value):
    """A number when all configurations agree, else the (C, 1) array."""
    array = np.asarray(value, dtype=float)
    if array.size and np.all(array == array.flat[0]):
        return float(array.flat[0])
    return array
