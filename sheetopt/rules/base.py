"""What a rule is: the two pure functions of a step, and what the registry says about them.

A rule is two pure functions of one parameter's values (they work elementwise, so a value may
be a number, an array over configurations and parameters, a tensor or a symbolic cell):

- ``update_state(p, g, state, hp, t, ops, static)`` returns the optimizer state after the step;
- ``step(p, g, prev, new, hp, t, ops, static)`` returns the parameter after the step, reading
  the state from before (``prev``) and after (``new``) this step.

``hp`` holds the numeric hyperparameters as values of the same kind as ``p``; ``static`` holds
the spec's plain Python values of all hyperparameters and flags, which decide the shape of the
computation (nesterov, centered, amsgrad, maximize, whether there is a momentum buffer). ``t``
is the step number, counted from 1 across epochs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping


@dataclass(frozen=True)
class Reset:
    """The lecture workbook's reset macro: start averages, then warm-up passes over the rows."""

    state: Mapping[str, float]
    passes: int


@dataclass(frozen=True)
class TorchClass:
    """The torch.optim class a torch-flavour rule follows, and how sheetopt's names map to it.

    ``args`` maps each constructor argument, spelled as torch spells it, to sheetopt's name (or
    a pair of names for a tuple argument such as ``betas``). ``state_keys`` maps sheetopt's
    state names to the keys of ``optimizer.state[p]``. ``paths``: the code paths torch has
    besides the single-tensor for-loop (the reference). ``elementwise``: False when the update
    of one element reads the others (Adafactor's norms over the whole tensor), so each of
    sheetopt's scalar parameters must be its own tensor. ``float64_default``: torch keeps some
    of the state as tensors of the *default* dtype (ASGD's eta and mu are rebuilt with
    ``torch.as_tensor`` every step; NAdam starts mu_product as ``torch.ones((),
    dtype=_get_scalar_dtype())``, float32 unless the default is float64: 1e-8 off), so the
    float64 reference steps under ``torch.set_default_dtype(torch.float64)``.
    """

    name: str
    args: Mapping[str, str | tuple[str, str]]
    state_keys: Mapping[str, str] = field(default_factory=dict)
    paths: tuple[str, ...] = ("foreach",)
    elementwise: bool = True
    float64_default: bool = False
    scalar_states: tuple[str, ...] = ()  # state keys torch keeps once per tensor (0-dim)
    preload: bool = True  # False: torch starts its state from the first gradient (SGD's buffer)

    @property
    def stackable(self) -> bool:
        """Whether several parameters (or several steps' copies of them) may share one tensor
        and still each step as on its own: elementwise, and no state kept once per tensor."""
        return self.elementwise and not self.scalar_states

    def torch_names(self) -> dict[str, str]:
        """sheetopt name -> the torch argument that carries it (``mom`` -> ``betas``)."""
        out = {}
        for arg, ours in self.args.items():
            for name in (ours if isinstance(ours, tuple) else (ours,)):
                out[name] = arg
        return out

    def constructor_args(self, values: Mapping) -> dict:
        """The keyword arguments of the torch class for sheetopt's hyperparameters and flags."""
        out = {}
        for arg, ours in self.args.items():
            if isinstance(ours, tuple):
                if all(name in values for name in ours):
                    out[arg] = tuple(float(values[name]) for name in ours)
            elif ours in values:
                value = values[ours]
                out[arg] = value if isinstance(value, bool) else float(value)
        return out


@dataclass(frozen=True, kw_only=True)
class Library:
    """The framework function or class a rule of the keras, optax or fastai flavour follows.

    ``args`` maps each argument, spelled as the framework spells it, to sheetopt's name (a sheet
    of that flavour may use either); ``source`` is the file of the installed library the rule
    was read from, operation for operation; ``state_keys`` maps sheetopt's state names to the
    framework's; ``differs`` says, per aspect of the update (``eps``, ``bias``, ``momentum``,
    ``start``, ``decay``), what this framework does: the rows of the "same name, different
    update" table.

    Example:
        >>> from sheetopt.rules import rule_for
        >>> rule_for("adam", "keras").library.args["beta_1"]
        'mom'
    """

    name: str
    source: str
    args: Mapping[str, str]
    state_keys: Mapping[str, str] = field(default_factory=dict)
    differs: Mapping[str, str] = field(default_factory=dict)


@dataclass(kw_only=True, frozen=True)
class Rule:
    optimizer: str
    flavor: str
    summary: str
    hypers: Mapping[str, float | None]  # numeric hyperparameters and their defaults (None: required)
    flags: Mapping[str, bool]
    state_names: Callable[[Mapping], tuple[str, ...]]
    update_state: Callable
    step: Callable
    reset: Reset | None = None
    notes: Mapping[str, str] = field(default_factory=dict)  # state or column name -> quirk note
    schedule: str = "constant"  # the learning-rate schedule the optimizer's name implies
    # each state's start when the spec gives none: a number, or the hyperparameter it starts at
    start: Mapping[str, float | str] = field(default_factory=dict)
    nonnegative: tuple[str, ...] = ()  # states a start value may not make negative
    torch: TorchClass | None = None
    options: tuple[str, ...] | None = None  # the flags a spec may set (None: all of ``flags``)
    check: Callable[[Mapping], str | None] | None = None  # relations between values torch checks
    # option sets the parity tests run, spelled as torch.optim's constructor takes them
    grid: tuple[Mapping, ...] = ()
    # the keras, optax or fastai function or class a rule of those flavours follows
    library: Library | None = None

    @property
    def spellings(self) -> Mapping[str, str | tuple[str, str]]:
        """The framework's argument names a sheet may use for this rule's hyperparameters and
        flags (torch.optim's, Keras's, optax's or fastai's) -> sheetopt's names."""
        if self.torch:
            return self.torch.args
        return self.library.args if self.library else {}

    def spelled(self, values: Mapping, keep_defaults: bool = False) -> dict:
        """sheetopt's hyperparameters and flags as the framework's own arguments (torch's
        ``betas=(0.9, 0.999)``, Keras's ``beta_1``), leaving out those at the rule's defaults
        unless ``keep_defaults``.

        Example:
            >>> from sheetopt.rules import rule_for
            >>> rule_for("adam", "keras").spelled({"lr": 0.1, "mom": 0.9, "eps": 1e-3})
            {'learning_rate': 0.1, 'epsilon': 0.001}
        """
        defaults = {**self.hypers, **self.flags}
        keep = {k: v for k, v in values.items() if k in self.settable_flags or k in self.hypers}
        if not keep_defaults:
            keep = {k: v for k, v in keep.items() if defaults.get(k) != v}
        out, used = {}, set()
        for arg, ours in self.spellings.items():
            names = ours if isinstance(ours, tuple) else (ours,)
            if any(n in keep for n in names) and not set(names) & used:
                out[arg] = (tuple(float(values[n]) for n in names) if isinstance(ours, tuple)
                            else keep[ours])
                used.update(names)
        out.update({name: value for name, value in keep.items() if name not in used})
        return out

    def states(self, static: Mapping) -> tuple[str, ...]:
        return self.state_names(static)

    def updated(self, p, g, state, *, hp, t, ops, static) -> dict:
        """The state after a step (``update_state`` called by name): from the parameter ``p``,
        its gradient ``g`` and the ``state`` before, with the step's hyperparameters ``hp``,
        count ``t`` (from 1), ``ops`` and the rule's ``static`` flags."""
        return self.update_state(p, g, state, hp, t, ops, static)

    def stepped(self, p, g, prev, new, *, hp, t, ops, static):
        """The parameter after a step (``step`` called by name), from the state before
        (``prev``) and after (``new``, as :meth:`updated` gives it)."""
        return self.step(p, g, prev, new, hp, t, ops, static)

    def new_state(self, p, g, state, *, hp, t, ops, static) -> dict:
        """:meth:`updated`, each value given the shape of ``p``: a state that depends on the
        step only (ASGD's eta and mu) comes out one per configuration otherwise."""
        new = self.updated(p, g, state, hp=hp, t=t, ops=ops, static=static)
        return {s: ops.broadcast(v, p) for s, v in new.items()}

    @property
    def settable_flags(self) -> tuple[str, ...]:
        return tuple(self.flags) if self.options is None else self.options

    def start_value(self, state: str, hp: Mapping):
        """The start of ``state`` when the spec gives none (``hp``: the hyperparameters as
        numbers or arrays): torch's zeros, or what its class starts with (Rprop's step size
        at lr, Adagrad's sum at initial_accumulator_value, ASGD's eta at lr and mu at 1)."""
        value = self.start.get(state, 0.0)
        return hp[value] if isinstance(value, str) else value
