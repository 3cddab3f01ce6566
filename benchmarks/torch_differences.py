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


def differences() -> list[Verdicts]:
    """The probes on which torch and sheetopt disagree."""
    return [v for v in probes() if v.torch != v.sheetopt]


def markdown(found: list[Verdicts]) -> str:
    lines = ["| torch.optim class | argument | value | torch | sheetopt |", "|---|---|---|---|---|"]
    for v in found:
        lines.append(f"| {v.optimizer} | `{v.argument}` | {v.value!r} | "
                     f"{'accepts' if v.torch else 'refuses'} | "
                     f"{'accepts' if v.sheetopt else 'refuses'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    found = differences()
    print(markdown(found))
    print(f"\n{len(found)} differences", file=sys.stderr)
