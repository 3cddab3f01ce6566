"""Keras's and optax's learning-rate schedules (``schedule = { keras = "ExponentialDecay", ... }``,
``{ optax = "exponential_decay", ... }``): each a pure function of the step count written once
over ``ops``, ``lr(step, lr, args, ops)``, operation for operation as the library's source
computes it, so that one schedule class (kinds.FrameworkSchedule) renders it in the engine, the
compiled kernel, a workbook row's lr formula and torch.

``step`` is the library's count of optimizer steps already taken (Keras's ``iterations``,
optax's ``count``): 0 at the first step. ``lr`` is the sheet's learning rate, which stands for
the schedule's own starting value (Keras's ``initial_learning_rate``, optax's ``init_value``,
``peak_value`` of optax's warmup_cosine_decay_schedule, the first of Keras's
PiecewiseConstantDecay ``values``); ``args`` holds the other arguments, given or defaulted.

Example:
    >>> from sheetopt.ops import numpy_ops
    >>> decay = LIBRARY_SCHEDULES["keras", "ExponentialDecay"]
    >>> float(decay.lr(20, 0.1, decay.arguments({"decay_steps": 10, "decay_rate": 0.5}),
    ...                numpy_ops))
    0.025
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

REQUIRED = object()
# arguments that are learning rates or their factors: a negative one would make lr negative
# (or, for a decay rate, NaN at a fraction of a step), which the libraries do not check
NONNEGATIVE = ("decay_rate", "values", "init_value", "end_value", "warmup_target")
KERAS_SOURCE = "keras/src/optimizers/schedules/learning_rate_schedule.py"
OPTAX_SOURCE = "optax/schedules/_schedule.py"


@dataclass(frozen=True, kw_only=True)
class LibrarySchedule:
    """One library's schedule: its arguments (defaults, REQUIRED) besides ``lr_arg``, the one
    the sheet's learning rate supplies, and ``lr(step, lr, args, ops)``."""

    library: str
    name: str
    source: str
    lr_arg: str
    defaults: Mapping[str, object]
    lr: Callable
    whole: tuple[str, ...] = ()  # arguments that count steps (whole numbers)
    flags: tuple[str, ...] = ()  # true or false
    check: Callable[[Mapping], str | None] = field(default=lambda args: None)
    # argument sets the tests run against the library (with a sheet lr of 1e-4)
    grid: tuple[Mapping, ...] = ()

    def arguments(self, given: Mapping) -> dict:
        """The given arguments with the defaults filled in."""
        return {**{k: v for k, v in self.defaults.items() if v is not REQUIRED}, **given}

    @property
    def spelled(self) -> str:
        return f"{self.library}.{'optimizers.schedules.' if self.library == 'keras' else ''}" \
               f"{self.name}"


# --- Keras --------------------------------------------------------------------------------------
def keras_exponential(step, lr, a, ops):
    p = step / a["decay_steps"]
    if a["staircase"]:
        p = ops.floor(p)
    return lr * ops.power(a["decay_rate"], p)


def _keras_cosine(step, decay_steps, decay_from_lr, alpha, ops):
    """CosineDecay._decay_function: the cosine from decay_from_lr down to alpha times it."""
    completed_fraction = step / decay_steps
    cosine_decayed = 0.5 * (1.0 + ops.cos(ops.pi * completed_fraction))
    return decay_from_lr * ((1 - alpha) * cosine_decayed + alpha)


def keras_cosine(step, lr, a, ops):
    decay_steps, target, warm = a["decay_steps"], a["warmup_target"], a["warmup_steps"]
    if target is None:
        return _keras_cosine(ops.minimum(step, decay_steps), decay_steps, lr, a["alpha"], ops)
    step = ops.minimum(step, decay_steps + warm)
    decayed = _keras_cosine(step - warm, decay_steps, target, a["alpha"], ops)
    if warm == 0:  # (the warm-up branch is never taken, and would divide by 0)
        return decayed
    return ops.where(step < warm, (target - lr) * (step / warm) + lr, decayed)


def keras_piecewise(step, lr, a, ops):
    """values[i] where boundaries[i-1] < step <= boundaries[i] (values[0], the sheet's lr, up
    to the first boundary): Keras adds the indicator of each range times its value, which
    leaves exactly the chosen value."""
    bounds, values = a["boundaries"], [lr, *a["values"][1:]]
    out = values[-1]
    for bound, value in zip(reversed(bounds), reversed(values[:-1])):
        out = ops.where(step <= bound, value, out)
    return out


def _keras_checks(args: Mapping) -> str | None:
    if "decay_steps" in args and not args["decay_steps"] > 0:
        return f"decay_steps must be > 0, as Keras checks (got {args['decay_steps']})"
    return None


def _piecewise_check(args: Mapping) -> str | None:
    if len(args["boundaries"]) != len(args["values"]) - 1:
        return (f"boundaries must be one fewer than values, as Keras checks (got "
                f"{len(args['boundaries'])} and {len(args['values'])})")
    if not args["boundaries"]:
        return "boundaries must hold at least one step"
    return None


# --- optax --------------------------------------------------------------------------------------
def optax_exponential(step, lr, a, ops):
    if a["transition_steps"] <= 0 or a["decay_rate"] == 0:  # optax: a constant schedule
        return lr
    decreased = step - max(a["transition_begin"], 0)  # (a negative begin falls back to 0)
    p = decreased / a["transition_steps"]
    if a["staircase"]:
        p = ops.floor(p)
    value = ops.where(decreased <= 0, lr, lr * ops.power(a["decay_rate"], p))
    if a["end_value"] is None:
        return value
    clip = ops.maximum if a["decay_rate"] < 1.0 else ops.minimum
    return clip(value, a["end_value"])


def _optax_cosine(step, init, decay_steps, alpha, exponent, ops):
    """cosine_decay_schedule: (1 - alpha)*cos^exponent + alpha, times init."""
    step = ops.minimum(step, decay_steps)
    cosine_decay = 0.5 * (1 + ops.cos(ops.pi * step / decay_steps))
    return init * ((1 - alpha) * ops.power(cosine_decay, exponent) + alpha)


def optax_cosine(step, lr, a, ops):
    return _optax_cosine(step, lr, a["decay_steps"], a["alpha"], a["exponent"], ops)


def optax_warmup_cosine(step, lr, a, ops):
    """join_schedules of linear_schedule(init_value -> peak_value over warmup_steps) and
    cosine_decay_schedule(peak_value, decay_steps - warmup_steps, end_value/peak_value)."""
    warm, init = a["warmup_steps"], a["init_value"]
    alpha = a["end_value"] / lr  # (optax: 0 where peak_value is 0; a sheet's lr is > 0)
    decayed = _optax_cosine(step - warm, lr, a["decay_steps"] - warm, alpha, a["exponent"],
                            ops)
    if warm <= 0:  # linear_schedule is then the constant init_value, never chosen
        return decayed
    count = ops.minimum(ops.maximum(step, 0), warm)  # jnp.clip(count - 0, 0, warmup_steps)
    linear = (init - lr) * (1 - count / warm) + lr
    return ops.where(step < warm, linear, decayed)


def optax_piecewise(step, lr, a, ops):
    """init_value scaled by each scale whose boundary the count has reached: optax's
    ``v*indicator + (1 - indicator)*scale*v`` with an indicator of 0 or 1 is v or scale*v."""
    value = lr
    for bound, scale in sorted((a["boundaries_and_scales"] or {}).items()):
        value = ops.where(step < bound, value, scale * value)
    return value


def _optax_warmup_check(args: Mapping) -> str | None:
    if not args["decay_steps"] - args["warmup_steps"] > 0:
        return (f"decay_steps must be larger than warmup_steps: optax's cosine part decays over "
                f"decay_steps - warmup_steps (got {args['decay_steps']} and "
                f"{args['warmup_steps']})")
    return None


def _optax_cosine_check(args: Mapping) -> str | None:
    if not args["decay_steps"] > 0:
        return f"decay_steps must be > 0, as optax checks (got {args['decay_steps']})"
    return None


def _scales_check(args: Mapping) -> str | None:
    if any(s < 0 for s in (args["boundaries_and_scales"] or {}).values()):
        return "boundaries_and_scales: optax expects non-negative scale factors"
    return None


_SCHEDULES = (
    LibrarySchedule(library="keras", name="ExponentialDecay", source=KERAS_SOURCE,
                    lr_arg="initial_learning_rate",
                    defaults={"decay_steps": REQUIRED, "decay_rate": REQUIRED,
                              "staircase": False},
                    lr=keras_exponential, flags=("staircase",), check=_keras_checks,
                    grid=({"decay_steps": 10, "decay_rate": 0.5},
                          {"decay_steps": 7, "decay_rate": 0.9, "staircase": True})),
    LibrarySchedule(library="keras", name="CosineDecay", source=KERAS_SOURCE,
                    lr_arg="initial_learning_rate",
                    defaults={"decay_steps": REQUIRED, "alpha": 0.0, "warmup_target": None,
                              "warmup_steps": 0},
                    lr=keras_cosine, whole=("warmup_steps",), check=_keras_checks,
                    grid=({"decay_steps": 40},
                          {"decay_steps": 30, "alpha": 0.1, "warmup_target": 3e-4,
                           "warmup_steps": 10},
                          {"decay_steps": 20, "warmup_target": 2e-4})),
    LibrarySchedule(library="keras", name="PiecewiseConstantDecay", source=KERAS_SOURCE,
                    lr_arg="values[0]",
                    defaults={"boundaries": REQUIRED, "values": REQUIRED},
                    lr=keras_piecewise, check=_piecewise_check,
                    grid=({"boundaries": [10, 30], "values": [1e-4, 5e-5, 1e-5]},)),
    LibrarySchedule(library="optax", name="exponential_decay", source=OPTAX_SOURCE,
                    lr_arg="init_value",
                    defaults={"transition_steps": REQUIRED, "decay_rate": REQUIRED,
                              "transition_begin": 0, "staircase": False, "end_value": None},
                    lr=optax_exponential, whole=("transition_steps", "transition_begin"),
                    flags=("staircase",),
                    grid=({"transition_steps": 10, "decay_rate": 0.5},
                          {"transition_steps": 7, "decay_rate": 0.8, "transition_begin": 5,
                           "staircase": True, "end_value": 3e-5},
                          {"transition_steps": 10, "decay_rate": 1.5, "end_value": 2e-4})),
    LibrarySchedule(library="optax", name="cosine_decay_schedule", source=OPTAX_SOURCE,
                    lr_arg="init_value",
                    defaults={"decay_steps": REQUIRED, "alpha": 0.0, "exponent": 1.0},
                    lr=optax_cosine, whole=("decay_steps",), check=_optax_cosine_check,
                    grid=({"decay_steps": 40},
                          {"decay_steps": 30, "alpha": 0.1, "exponent": 2.0})),
    LibrarySchedule(library="optax", name="warmup_cosine_decay_schedule", source=OPTAX_SOURCE,
                    lr_arg="peak_value",
                    defaults={"init_value": REQUIRED, "warmup_steps": REQUIRED,
                              "decay_steps": REQUIRED, "end_value": 0.0, "exponent": 1.0},
                    lr=optax_warmup_cosine, whole=("warmup_steps", "decay_steps"),
                    check=_optax_warmup_check,
                    grid=({"init_value": 0.0, "warmup_steps": 10, "decay_steps": 50},
                          {"init_value": 1e-5, "warmup_steps": 5, "decay_steps": 40,
                           "end_value": 1e-5, "exponent": 1.5})),
    LibrarySchedule(library="optax", name="piecewise_constant_schedule", source=OPTAX_SOURCE,
                    lr_arg="init_value", defaults={"boundaries_and_scales": None},
                    lr=optax_piecewise, check=_scales_check,
                    grid=({"boundaries_and_scales": {10: 0.5, 30: 0.2}},)),
)
LIBRARY_SCHEDULES: dict[tuple[str, str], LibrarySchedule] = {
    (s.library, s.name): s for s in _SCHEDULES}
LIBRARIES = ("keras", "optax")

