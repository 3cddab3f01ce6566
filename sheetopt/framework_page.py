"""docs/frameworks.md, generated from the rules registry and from ``translate`` runs so that it
cannot drift from the code: per optimizer name, what each framework does (where eps goes, bias
correction, where lr enters momentum, starting state, weight decay, defaults, the source file
each rule was read from), then whether torch's optimizer has an exact counterpart in each
framework, with drift figures where it has not.

Regenerate: ``python -m sheetopt.framework_page > docs/frameworks.md``
"""
from __future__ import annotations

from .rules import REGISTRY, RULE_ALIASES, Rule
from .rules.aspects import ASPECTS, aspects_of

ORDER = ("torch", "keras", "optax", "fastai")
# the runs the page translates: (flavour, optimizer, its arguments, a schedule or None); torch's
# where torch has the name, else the first framework's (Lion and Lamb are not in torch.optim)
STEP_LR = {"torch": "StepLR", "step_size": 29, "gamma": 0.5, "per": "step"}
CASES = (("torch", "sgd", {"lr": 3e-5, "momentum": 0.9}, None),
         ("torch", "sgd", {"lr": 3e-5, "momentum": 0.9}, STEP_LR),
         ("torch", "rmsprop", {"lr": 0.01, "momentum": 0.9}, None),
         ("torch", "rmsprop", {"lr": 0.01}, None),
         ("torch", "adam", {"lr": 0.1}, None),
         ("torch", "adamw", {"lr": 0.1, "weight_decay": 0.05}, None),
         ("torch", "adagrad", {"lr": 0.5}, None),
         ("torch", "adadelta", {"lr": 1.0}, None),
         ("torch", "adamax", {"lr": 0.1}, None),
         ("torch", "nadam", {"lr": 0.1}, None),
         ("torch", "radam", {"lr": 0.01}, None),
         ("keras", "lion", {"learning_rate": 0.001}, None),
         ("keras", "lamb", {"learning_rate": 0.01}, None))


def _source(rule: Rule) -> str:
    if rule.library is not None:
        return f"`{rule.library.name}` ({rule.library.source})"
    return f"`torch.optim.{rule.torch.name}` (torch/optim/{rule.torch.name.lower()}.py)"


def _defaults(rule: Rule) -> str:
    values = rule.spelled({**rule.hypers, **rule.flags}, keep_defaults=True)
    words = []
    for arg, value in values.items():
        if value is None:
            words.append(f"{arg} required")
        elif isinstance(value, bool):
            words.append(f"{arg}={value}")
        elif isinstance(value, tuple):
            words.append(f"{arg}=({', '.join(f'{v:g}' for v in value)})")
        else:
            words.append(f"{arg}={value:g}")
    return ", ".join(words)


def _value(value) -> str:
    if isinstance(value, bool):
        return str(value)
    return f"{value:g}"


def namesakes() -> dict[str, list[Rule]]:
    """Each optimizer name that more than one framework has -> its rules, torch's first: the
    rows of the differences table.

    Example:
        >>> [r.flavor for r in namesakes()["lamb"]]
        ['keras', 'optax', 'fastai']
    """
    names = [r for r in REGISTRY if r.flavor in ORDER and r.optimizer not in RULE_ALIASES]
    by_name: dict[str, list[Rule]] = {}
    for rule in names:
        by_name.setdefault(rule.optimizer, []).append(rule)
    return {name: sorted(rules, key=lambda r: ORDER.index(r.flavor))
            for name, rules in by_name.items() if len(rules) > 1}


def differences_table() -> str:
    """Per optimizer name with more than one framework, one row per framework."""
    lines = ["| optimizer | framework | follows | " + " | ".join(ASPECTS.values())
             + " | defaults |", "|---" * (4 + len(ASPECTS)) + "|"]
    for name, rules in namesakes().items():
        for rule in rules:
            said = aspects_of(rule)
            lines.append(f"| `{name}` | {rule.flavor} | {_source(rule)} | "
                         + " | ".join(said.get(k, "").replace("|", "\\|") for k in ASPECTS)
                         + f" | {_defaults(rule)} |")
    return "\n".join(lines)


def translations() -> list[tuple[str, str, str, object]]:
    """``translate`` of each case into every framework that has its name: (source flavour,
    optimizer, the arguments as shown, the Translation)."""
    from .translation import translate
    out = []
    for flavor, optimizer, args, schedule in CASES:
        shown = ", ".join(f"{k}={v:g}" for k, v in args.items())
        shown += " with StepLR(29, 0.5)" if schedule else ""
        out.append((flavor, optimizer, shown, translate(optimizer, flavor, args,
                                                        schedule=schedule)))
    return out


def translation_table() -> str:
    """The translations as a table: one row per case and framework."""
    lines = ["| from | framework | verdict | their arguments | max rel diff | "
             "first step > 1e-12 | what differs |", "|---|---|---|---|---|---|---|"]
    for flavor, optimizer, shown, answer in translations():
        for m in answer.matches:
            given = ", ".join(f"{k}={_value(v)}" for k, v in m.args.items()) or "(defaults)"
            first = "-" if m.first_step is None else str(m.first_step)
            differs = ", ".join(ASPECTS[a] for a in m.differs) or "-"
            lines.append(f"| {flavor} `{optimizer}`({shown}) | {m.flavor} | {m.verdict()} | "
                         f"{given} | {m.max_rel:.2g} | {first} | {differs} |")
    return "\n".join(lines)


INTRO = """\
# Same name, different update

sheetopt runs each optimizer in the flavour of the framework it comes from: `torch`
(torch.optim), `keras` (Keras 3), `optax` and `fastai`, beside the lecture's. Each rule follows
its framework's source operation for operation, takes the framework's own argument names and
defaults (a sheet with `flavor = "keras"` takes `learning_rate`, `beta_1`, `epsilon`...), and is
tested step by step against the installed library in float64 (tests/test_frameworks.py).

This page is generated from the rules registry and from `sheetopt translate` runs
(`python -m sheetopt.framework_page > docs/frameworks.md`); a test fails when it is stale.

## What each framework does

The phrases come from `sheetopt/rules/aspects.py`; two rules doing the same thing use the same
words. Defaults are the framework's, in its own spelling.

"""

MIDDLE = """

Quirks found while reading the sources (each pinned by a test against the library):
- fastai's `RMSProp` accepts `eps` but never passes it to its optimizer, so its step always adds
  1e-8 (sheetopt's fastai rmsprop has no `eps`).
- optax's `amsgrad` takes the running maximum of the *bias-corrected* second moment.
- optax's `adadelta` defaults `learning_rate` to None, which scales by nothing and flips no
  sign: the update is *added* and the parameters climb the gradient (sheetopt asks for a
  learning rate).
- fastai's `Larc` puts `wd` into the layer's learning rate (`||g|| + wd*||p|| + eps`) even when
  the decay itself is decoupled, so `wd` acts twice.
- Keras on the torch backend runs its own `torch_adadelta.py` and `torch_nadam.py` (torch's
  foreach operations; the rules follow those), and its Nadam keeps the product of the momenta
  from step to step as torch's does.
- Lamb's and LARC's trust ratios are norms over a whole tensor; sheetopt's parameters are
  scalars, each its own tensor, so each ratio is |p| over |u| (the tests give each parameter its
  own tensor in the library too).

## Does torch's optimizer have an exact counterpart?

`sheetopt translate OPTIMIZER` with torch's arguments (Keras's for Lion and Lamb, which
torch.optim does not have), for every optimizer of the table above, on the lecture's 29 rows,
online, 3 epochs (87 steps) from a = b = 1. "exact": the framework's arguments shown reproduce every
step within 1e-12 relative (rounding only); "closest": no combination tried does (sheetopt's
values carried over, each of the framework's switches, eps scaled by powers of sqrt(10)), and
the figures say how far the two paths drift apart.

"""


def schedules_table() -> str:
    """Keras's and optax's schedules: the sheet's lr stands for which argument, the others
    with their defaults, the source each was read from."""
    from .schedules.library import LIBRARY_SCHEDULES, REQUIRED
    lines = ["| schedule | the sheet's lr is | other arguments (defaults) | follows |",
             "|---|---|---|---|"]
    for spec in LIBRARY_SCHEDULES.values():
        args = ", ".join(k if v is REQUIRED else f"{k}={v}" for k, v in spec.defaults.items())
        lines.append(f"| `{spec.library} = \"{spec.name}\"` | `{spec.lr_arg}` | {args} | "
                     f"{spec.source} |")
    return "\n".join(lines)


SCHEDULES = """

## Keras's and optax's schedules

`schedule = { keras = "ExponentialDecay", decay_steps = 10, decay_rate = 0.5 }` or
`{ optax = "exponential_decay", transition_steps = 10, decay_rate = 0.5 }`, on a sheet of any
flavour but the lecture's warmed-up ones: the library's schedule with its own argument names
and defaults, evaluated at the library's step count (0 at the first step), each written once as
a function of the step (`sheetopt/schedules/library.py`), so a workbook row's lr is a live
formula of its step and the sheet's lr. Tested against `keras.optimizers.schedules` and optax's
schedules themselves, and an optimizer stepping under each against the library's, to 1e-12
(tests/test_framework_schedules.py). optax's optimizers count steps in int32, and JAX divides an
int32 by a Python int in float32 even with x64 enabled: under optax's own count,
`exponential_decay` and `warmup_cosine_decay_schedule` come out in float32 (lr off by up to
3.9e-7 relative; the parameters drift by up to 1.4e-7), the others in float64. sheetopt
computes them in float64, optax's formula at a float64 count, bit for bit.

"""


def page() -> str:
    """The whole of docs/frameworks.md."""
    return (INTRO + differences_table() + MIDDLE + translation_table() + SCHEDULES
            + schedules_table() + "\n")


if __name__ == "__main__":
    print(page(), end="")
