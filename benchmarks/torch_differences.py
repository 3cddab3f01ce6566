"""Where sheetopt's torch flavour accepts or refuses an optimizer argument differently from the
installed torch.optim, found by trying both.

For every torch.optim class of the rule registry and every numeric constructor argument (each
element of a pair such as ``betas``), a value at each edge (negative, zero, the unit interval's
ends, above one, huge, infinite, NaN) is given to the torch class's constructor and to
sheetopt's spec parser (a torch-flavour sheet with that argument, spelled as torch spells it).
The two verdicts differ only where docs/torch-differences.md says so, and why.

    python benchmarks/torch_differences.py          # the differences, as a markdown table
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass

PROBES = (-1.0, -1e-9, 0.0, 0.5, 1.0, 1.5, 1e300, math.inf, -math.inf, math.nan)


@dataclass(frozen=True)
class Verdicts:
    optimizer: str  # torch's class name
    argument: str  # as torch spells it; "betas[0]" for an element of a pair
    value: float
    torch: bool  # torch's constructor accepts it
    sheetopt: bool  # sheetopt's spec parser accepts it


def _torch_accepts(cls, kwargs: dict) -> bool:
    import torch

    try:
        cls([torch.zeros(1, dtype=torch.float64, requires_grad=True)], **kwargs)
    except (ValueError, TypeError, RuntimeError):
        return False
    return True


def _sheetopt_accepts(optimizer: str, key: str, value) -> bool:
    from sheetopt.errors import SheetoptError
    from sheetopt.spec import parse

    raw = {"data": {"preset": "lecture"},
           "sheet": [{"optimizer": optimizer, "flavor": "torch", key: value}]}
    try:
        parse(raw)
    except SheetoptError:
        return False
    return True


def probes():
    """Every (class, argument, value) with both verdicts."""
    import torch

    from sheetopt.rules import torch_classes

    for rule in torch_classes():
        cls = getattr(torch.optim, rule.torch.name)
        for arg, ours in rule.torch.args.items():
            names = ours if isinstance(ours, tuple) else (ours,)
            if names[0] not in rule.hypers:
                continue  # a flag
            for i in range(len(names)):
                defaults = [rule.hypers[n] for n in names]
                for value in PROBES:
                    given = list(defaults)
                    given[i] = value
                    torch_value = tuple(given) if len(names) > 1 else value
                    spec_value = given if len(names) > 1 else value
                    label = f"{arg}[{i}]" if len(names) > 1 else arg
                    yield Verdicts(rule.torch.name, label, value,
                                   _torch_accepts(cls, {arg: torch_value}),
                                   _sheetopt_accepts(rule.optimizer, arg, spec_value))


SCHEDULER_PROBES = (-1, 0, 1, 2, -1.0, 0.0, 0.5, 1.0, 1.5, 1e300, math.inf, math.nan)
EPOCHS = 4
RUN_STEPS = 29 * EPOCHS  # online epochs of the lecture's rows: past every example's horizon


def _torch_scheduler_accepts(name: str, kwargs: dict) -> bool:
    """torch builds the scheduler and steps it through the run without raising."""
    import torch

    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=0.01, momentum=0.9)
    try:
        scheduler = getattr(torch.optim.lr_scheduler, name)(optimizer, **kwargs)
        for _ in range(EPOCHS if name == "ReduceLROnPlateau" else RUN_STEPS):
            optimizer.step()
            scheduler.step(1.0) if name == "ReduceLROnPlateau" else scheduler.step()
    except (ValueError, TypeError, ZeroDivisionError, OverflowError, IndexError):
        return False
    return True


def _sheetopt_scheduler_accepts(table: dict) -> bool:
    """sheetopt parses the sheet and runs it (anything but a SheetoptError is a bug)."""
    from sheetopt.protocol import engine
    from sheetopt.errors import SheetoptError
    from sheetopt.spec import parse

    raw = {"data": {"preset": "lecture"},
           "sheet": [{"optimizer": "sgd", "flavor": "torch", "lr": 0.01, "mom": 0.9,
                      "epochs": EPOCHS,
                      "schedule": {**table, "per": "epoch" if table["torch"] ==
                                   "ReduceLROnPlateau" else "step"}}]}
    try:
        spec = parse(raw)
        engine.run(spec, spec.sheets[0])
    except SheetoptError:
        return False
    return True


def scheduler_probes():
    """Every (scheduler, argument, value) with both verdicts: torch's constructor and steps
    through one online epoch against sheetopt's parser and run."""
    from sheetopt.schedules import TORCH_SCHEDULERS

    for name, cls in TORCH_SCHEDULERS.items():
        if cls.composite:
            continue
        example = {k: (RUN_STEPS if v == "RUN" else v) for k, v in cls.example.items()}
        if name == "OneCycleLR":
            example["total_steps"] = RUN_STEPS
        numbers = [k for k, v in cls.args.items() if k in cls.numeric or isinstance(v, int)
                   and not isinstance(v, bool)]
        for arg in numbers:
            for value in SCHEDULER_PROBES:
                kwargs = {**example, arg: value}
                yield Verdicts(name, arg, value, _torch_scheduler_accepts(name, kwargs),
                               _sheetopt_scheduler_accepts({"torch": name, **kwargs}))


def differences(schedulers: bool = True) -> list[Verdicts]:
    """The probes on which torch and sheetopt disagree."""
    found = [v for v in probes() if v.torch != v.sheetopt]
    if schedulers:
        found += [v for v in scheduler_probes() if v.torch != v.sheetopt]
    return found


def markdown(found: list[Verdicts]) -> str:
    lines = ["| torch class | argument | value | torch | sheetopt |", "|---|---|---|---|---|"]
    for v in found:
        lines.append(f"| {v.optimizer} | `{v.argument}` | {v.value!r} | "
                     f"{'accepts' if v.torch else 'refuses'} | "
                     f"{'accepts' if v.sheetopt else 'refuses'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    found = differences()
    print(markdown(found))
    print(f"\n{len(found)} differences", file=sys.stderr)
