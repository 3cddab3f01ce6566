"""A sheet's schedule as an object: one class per kind, answering the run protocol's questions.

Every consumer (the numpy, compiled and torch executors through ``sheetopt.protocol.driver``,
the torch.optim replay) asks the schedule, never which kind it is:

- :meth:`Schedule.hypers`: a step's hyperparameters (lr, and momentum where it sets it);
- :meth:`Schedule.start`: the run-time state of one run (a :class:`Stepping`), which the
  driver tells after each step and after each epoch;
- :meth:`Schedule.kernel_hypers`: the step's lr (and momentum) as the compiled kernel's
  expressions, with :meth:`Schedule.kernel_key` naming the shape they give a kernel;
- :attr:`Schedule.between_epochs`: whether the host changes lr between epochs;
- :meth:`Schedule.records_mom`: whether the momentum of each step is its own trace column;
- as workbook cells (``sheetopt.workbook`` asks these, never the kind): :attr:`Schedule.lr_cells`
  (where a step reads its lr: the input cell, its row's own column or the epoch summary's),
  :meth:`Schedule.sets`, :meth:`Schedule.step_cells` (the step row's formulas of a schedule that
  is a closed form of the step), :attr:`Schedule.annealed` (the summary's gradient scale and
  best), :meth:`Schedule.start_cells` and :meth:`Schedule.start_problem`; a torch scheduler's
  own state renders through its :attr:`Schedule.node` (``sheetopt.workbook.schedule_cells``).

A new kind is one subclass here and its name in ``KINDS``.

>>> Schedule("torch", {"torch": "StepLR", "step_size": 10, "per": "epoch"}).per_step
False
>>> type(Schedule("adam_ann")).__name__
'Annealing'
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, ClassVar, Mapping

from .fastai import ONE_CYCLE_DEFAULTS, one_cycle
from .library import LIBRARIES, LIBRARY_SCHEDULES, LibrarySchedule
from .lecture import anneal, gradient_scale
from .torch_base import Clock, Node

KIND_ALIASES = {"one_cycle": "fastai_one_cycle"}
Columns = Callable[[str], list]  # a state's name -> its per-parameter (C,) arrays


class Stepping:
    """One run of a schedule: the lr the next epoch starts from and what each step uses.

    The driver calls :meth:`hypers` before each step, :meth:`after_step` after it and
    :meth:`after_epoch` after each epoch; the compiled executor asks :meth:`tables` for the
    next steps' host-computed values instead."""

    on_host = False  # True: hypers() gives the host's numbers (a torch scheduler's clock)

    def __init__(self, schedule: "Schedule", hp: Mapping, ops):
        self.schedule, self.lr, self.ops = schedule, hp["lr"], ops

    def hypers(self, hp: Mapping, done, total: int) -> dict:
        return self.schedule.hypers(hp, self.lr, done, total, self.ops)

    def after_step(self) -> None:
        pass

    def after_epoch(self, columns: Columns, metric: Callable) -> None:
        pass

    def tables(self, steps: int) -> dict:
        """Per-step values the host computes for the kernel's next ``steps`` steps."""
        return {}


@dataclass(frozen=True)
class Schedule:
    """A sheet's schedule: ``Schedule(kind, options)`` makes the kind's class. ``kind`` "torch":
    ``options`` holds ``torch`` (the class), ``per`` and the constructor's arguments as the
    spec gave them (``schedulers`` as a list of such tables for the composites)."""

    kind: str = "constant"
    options: Mapping = field(default_factory=dict)

    def __new__(cls, kind: str = "constant", options: Mapping | None = None):
        if cls is Schedule:
            cls = KINDS.get(KIND_ALIASES.get(kind, kind), Schedule)
        return object.__new__(cls)

    def __post_init__(self):
        object.__setattr__(self, "kind", KIND_ALIASES.get(self.kind, self.kind))

    def __getnewargs__(self):
        return (self.kind, self.options)

    def option(self, name: str):
        return self.options.get(name, ONE_CYCLE_DEFAULTS.get(name))

    per_step = False  # lr (and momentum) change every step rather than between epochs
    between_epochs = False  # the host changes lr after an epoch (compiled: one epoch a call)
    per = None  # when a torch scheduler steps: "step" or "epoch" (not a dataclass field)
    node = None  # the torch scheduler (a Node) this schedule stands for

    @property
    def label(self) -> str:
        return self.kind

    def hypers(self, hp: Mapping, lr, done, total: int, ops, clock: Clock | None = None) -> dict:
        """The hyperparameters of a step ``done`` steps into a run of ``total``; ``lr``: the
        epoch's (after any annealing)."""
        return dict(hp, lr=lr)

    def start(self, hp: Mapping, columns: Columns, ops, host=None) -> Stepping:
        """This schedule's state for one run from the hyperparameters ``hp``; ``columns`` reads
        the start state; ``host`` turns a value into the host's numpy array."""
        return Stepping(self, hp, ops)

    def records_mom(self, hypers: Mapping) -> bool:
        """Whether the schedule sets the momentum (a trace column ``mom``)."""
        return False

    def spec_table(self) -> dict:
        """The schedule as a spec's ``schedule`` table (what a workbook's metadata reads back):
        ``{ kind = ..., options }``, a torch scheduler's and a library's ``{ torch = ... }``,
        ``{ keras = ... }``."""
        return {"kind": self.kind, **self.options}

    def kernel_hypers(self, lr, mom: bool, pos, table: Callable, ops) -> dict | None:
        """The compiled kernel's definitions of the step's ``lr_s`` (and ``mom_s`` where it sets
        the momentum) from the sheet's ``lr``, whether it has a momentum ``mom``, the run's
        position ``pos`` and the host's per-step ``table(name)``; none: lr is the epoch's,
        given by the host. None: the kernel cannot render it (a per-step kind that does not
        say how), and the numpy executor runs the sheet."""
        return None if self.per_step else {}

    def kernel_key(self):
        """What about this schedule shapes the generated kernel (None: nothing; a per-step kind
        is told apart by its kind and options)."""
        return (self.kind, repr(self.options)) if self.per_step else None

    # --- as workbook cells -------------------------------------------------------------------
    @property
    def lr_cells(self) -> str:
        """Where a step reads its lr (and the momentum the schedule sets) in a workbook: the lr
        "input" cell, its row's own "step" column (it changes every step), or the epoch
        summary's "epoch" column (the host changes it between epochs)."""
        return "step" if self.per_step else "epoch" if self.between_epochs else "input"

    annealed = False  # the summary anneals lr from its gradient scale and best columns
    status: ClassVar[str | None] = None  # what the sheet's status line says of the schedule
    start_labels: ClassVar[tuple[str, ...]] = ()  # cells beside the start inputs (start_cells)

    def sets(self, hypers: Mapping) -> tuple[str, ...]:
        """The hyperparameters the schedule sets, each step or epoch (lr, and the momentum where
        it sets it); none: they are the sheet's inputs."""
        return ()

    def step_cells(self, hypers: Mapping, *, leaf: Callable, t, total: int, ops) -> dict:
        """The formulas of the step row's own lr (and momentum) cells where ``lr_cells`` is
        "step": :meth:`hypers` at step ``t`` (counted from 1) of ``total``, the sheet's inputs
        read by ``leaf(name)``. A torch scheduler's come from its node instead (its state is
        carried row to row: ``sheetopt.workbook.schedule_cells``)."""
        if self.lr_cells != "step" or self.node is not None:
            return {}
        hp = {name: leaf(name) for name in hypers}
        step_hp = self.hypers(hp, hp["lr"], t - 1, total, ops)
        return {name: step_hp[name] for name in self.sets(hypers)}

    def start_cells(self, state: Callable[[str], list], ops) -> dict:
        """The derived cells beside the start inputs (labelled ``start_labels``), from the
        start state (``state(name)``: its per-parameter values, leaves or numbers)."""
        return {}

    def start_problem(self, start: Callable[[str], list]) -> str | None:
        """Why a workbook of this start state (``start(name)``: a state's per-parameter start
        values, None where not given) could not agree with its own values; None: it can."""
        return None


class Annealing(Schedule):
    """adam_ann: the lecture's between-epoch annealing from the squared averages."""

    between_epochs = True
    annealed = True
    status = ("lr per epoch: the summary's lr column (annealed: / 4 when the gradient scale "
              "doubles over the best).")
    start_labels = ("start gradient scale",)

    def start(self, hp, columns, ops, host=None):
        return _Annealing(self, hp, columns, ops)

    def sets(self, hypers):
        return ("lr",)

    def start_cells(self, state, ops):
        return {"start gradient scale": gradient_scale(list(state("sqr_avg")), ops)}

    def start_problem(self, start):
        # the first annealing divides by the start state's gradient scale: where that is 0
        # (torch's zero start state) a spreadsheet computes #DIV/0! and every later cell with
        # it, while the engine anneals
        if all(v is not None and float(v) == 0.0 for v in start("sqr_avg")):
            return ("adam_ann's annealing divides by the start state's gradient scale (sqrt of "
                    "sqr_avg summed), which is 0 here: a spreadsheet computes #DIV/0!; start "
                    "sqr_avg above 0 (state = { sqr_avg = ... }) to write a workbook")
        return None


class _Annealing(Stepping):
    def __init__(self, schedule, hp, columns: Columns, ops):
        super().__init__(schedule, hp, ops)
        self.best = _column(gradient_scale(columns("sqr_avg"), ops))

    def after_epoch(self, columns, metric):
        scale = _column(gradient_scale(columns("sqr_avg"), self.ops))
        self.lr, self.best = anneal(self.lr, scale, self.best, self.ops)


def _column(value):
    """A per-configuration (C,) array as a (C, 1) column; a number as it is."""
    return value[:, None] if getattr(value, "ndim", 0) == 1 else value


class OneCycle(Schedule):
    """fastai's fit_one_cycle: lr and momentum a closed form of the run's position."""

    per_step = True

    def sets(self, hypers):
        return ("lr", "mom") if "mom" in hypers else ("lr",)

    def hypers(self, hp, lr, done, total, ops, clock=None):
        step_hp = dict(hp, lr=lr)
        step_hp["lr"], mom = one_cycle(done / total, hp["lr"], self, ops)
        if "mom" in hp:
            step_hp["mom"] = mom
        return step_hp

    def records_mom(self, hypers):
        return "mom" in hypers

    def kernel_hypers(self, lr, mom, pos, table, ops):
        from ..ops.symbolic import lift

        lr_s, mom_s = one_cycle(pos, lr, self, ops)
        return {"lr_s": lr_s, **({"mom_s": lift(mom_s)} if mom else {})}

    def kernel_key(self):
        return (self.kind, tuple(sorted(self.options.items())))


class TorchSchedule(Schedule):
    """A torch.optim.lr_scheduler class, stepped on the host by a :class:`Clock`."""

    @property
    def per(self) -> str | None:
        return self.options.get("per")

    @property
    def per_step(self) -> bool:
        return self.per == "step"

    @property
    def between_epochs(self) -> bool:
        return self.per == "epoch"

    def sets(self, hypers):
        return ("lr", "mom") if self.node.cycles else ("lr",)

    @cached_property
    def node(self) -> Node:
        from .torch_table import build_node

        return build_node(self.options)

    @property
    def label(self) -> str:
        return f"torch {self.options['torch']} per {self.options['per']}"

    def spec_table(self):
        return dict(self.options)

    def hypers(self, hp, lr, done, total, ops, clock=None):
        step_hp = dict(hp, lr=lr)
        if clock is not None:
            step_hp["lr"] = clock.lr
            if clock.mom is not None:
                step_hp["mom"] = clock.mom
        return step_hp

    def start(self, hp, columns, ops, host=None):
        return _Clocked(self, hp, ops, host)

    def records_mom(self, hypers):
        return self.node.cycles

    def kernel_hypers(self, lr, mom, pos, table, ops):
        # a torch scheduler recurses step to step: the host steps it (Clock) into tables
        if not self.node.cycles:
            return {"lr_s": table("sched_lr")}
        return {"lr_s": table("sched_lr"), "mom_s": table("sched_mom")}

    def kernel_key(self):
        return (self.kind, self.node.cycles)


class _Clocked(Stepping):
    on_host = True

    def __init__(self, schedule: TorchSchedule, hp, ops, host=None):
        super().__init__(schedule, hp, ops)
        host = host or (lambda v: v)
        self.clock = Clock(schedule.node, host(hp["lr"]),
                           host(hp["mom"]) if "mom" in hp else None)

    def hypers(self, hp, done, total):
        return self.schedule.hypers(hp, self.lr, done, total, self.ops, self.clock)

    def after_step(self):
        if self.schedule.per == "step":
            self.clock.advance()

    def after_epoch(self, columns, metric):
        if self.schedule.per == "epoch":
            self.clock.advance(metric())

    def tables(self, steps):
        """The next ``steps`` steps' lr (and momentum): stepped after every step, or the
        epoch's values repeated."""
        import numpy as np

        clock = self.clock
        if self.schedule.per == "step":
            lrs, moms = clock.table(steps)
        else:
            lrs, moms = [clock.lr] * steps, [clock.mom] * steps
        out = {"sched_lr": _steps_table(lrs, np)}
        if clock.mom is not None:
            out["sched_mom"] = _steps_table(moms, np)
        return out


def _steps_table(values: list, np):
    """Per-step values, each a number or a (C, 1) array, as a (K, 1) or (K, C) table."""
    if all(isinstance(v, float) for v in values):
        return np.array(values, dtype=float)[:, None]
    return np.stack([np.broadcast_to(np.asarray(v, dtype=float).reshape(-1), (
        max(np.size(u) for u in values),)) for v in values])


class FrameworkSchedule(Schedule):
    """A Keras or optax schedule (``kind`` "keras" or "optax", ``options[kind]`` its name and
    the rest its arguments): lr is a closed form of the step, each step's own."""

    per_step = True

    @property
    def definition(self) -> LibrarySchedule:
        return LIBRARY_SCHEDULES[self.kind, self.options[self.kind]]

    @property
    def arguments(self) -> dict:
        return self.definition.arguments({k: v for k, v in self.options.items()
                                          if k != self.kind})

    @property
    def label(self) -> str:
        return self.definition.spelled

    def spec_table(self):
        return dict(self.options)

    def sets(self, hypers):
        return ("lr",)

    def hypers(self, hp, lr, done, total, ops, clock=None):
        return dict(hp, lr=self.definition.lr(done, hp["lr"], self.arguments, ops))

    def kernel_hypers(self, lr, mom, pos, table, ops):
        from ..ops.symbolic import var

        # the kernel's t counts steps from 1 (no warm-up passes before a library schedule)
        return {"lr_s": self.definition.lr(var("t") - 1, lr, self.arguments, ops)}

    def kernel_key(self):
        return (self.kind, repr(sorted(self.options.items())))


KINDS: dict[str, type[Schedule]] = {"constant": Schedule, "adam_ann": Annealing,
                                    "fastai_one_cycle": OneCycle, "torch": TorchSchedule,
                                    **dict.fromkeys(LIBRARIES, FrameworkSchedule)}
