"""Translate an optimizer between frameworks: run its namesakes in the other flavours on the same
rows and say, per framework, which arguments reproduce it (when any do), else the closest ones,
how far the two runs drift apart and which operations differ.

The candidates for a framework are its rule with the source's values carried over by
sheetopt's names (lr, mom, sqr_mom, eps, wd...; a feature the source lacks switched off), each
combination of the framework's own switches (optax's eps_in_sqrt, nesterov...), and, when the
two put eps in different places, eps scaled by powers of sqrt(10). Every candidate runs from
the same start on the same rows; their parameter paths are compared step by step.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import SheetoptError
from .rules import FLAVORS, REGISTRY, Rule, rule_for
from .rules.aspects import ASPECTS, differing
from .spec import Sheet, Spec, load, parse
from .protocol.trace import Trace

# a hyperparameter the source does not have is set where the target's feature is off
NEUTRAL = {"wd": 0.0, "eps_root": 0.0, "lr_decay": 0.0, "dampening": 0.0, "init_acc": 0.0}
EPS_FACTORS = tuple(10 ** (k / 2) for k in range(-8, 9))  # 1e-4 ... 1e4 around the source's
EXACT = 1e-12  # largest relative difference two runs may have and still be "the same update"


@dataclass(frozen=True, kw_only=True)
class Match:
    """One framework's answer: its arguments (spelled its way) and how its run compares."""

    flavor: str
    optimizer: str
    args: Mapping[str, Any]  # the framework's own names, only those not at its defaults
    exact: bool
    max_rel: float  # the largest relative difference of the parameters over the run
    worst_step: int | None  # 1-based step of that difference (None: no step differs)
    first_step: int | None  # 1-based first step whose difference exceeds EXACT
    differs: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # aspect -> words
    sheet: Sheet | None = None

    def verdict(self) -> str:
        """"exact": the same update; "exact here": the same numbers on this run although an
        operation differs (eps placed elsewhere but too small to show, lr inside a momentum
        buffer while lr is constant...); "closest": no arguments tried reproduce it."""
        if not self.exact:
            return "closest"
        return "exact here" if self.differs else "exact"


@dataclass(frozen=True, kw_only=True)
class Translation:
    """Every framework's namesake of one optimizer, compared with it.

    Example:
        >>> import sheetopt
        >>> t = sheetopt.translate("adam", "torch", {"lr": 0.1}, epochs=1)
        >>> {m.flavor: m.exact for m in t.matches}
        {'keras': False, 'optax': True, 'fastai': True}
    """

    source: Sheet
    spec: Spec
    matches: tuple[Match, ...]
    traces: Mapping[str, Trace]

    def to_dict(self) -> dict:
        """The answer as plain values (what ``--json`` prints)."""
        src = self.source
        return {"optimizer": src.optimizer, "flavor": src.flavor,
                "args": src.rule.spelled({**src.hypers, **src.flags}, keep_defaults=True),
                "steps": len(self.traces[src.name]),
                "frameworks": [{"flavor": m.flavor, "verdict": m.verdict(), "args": dict(m.args),
                                "max_rel": m.max_rel, "worst_step": m.worst_step,
                                "first_step": m.first_step,
                                "differs": {k: list(v) for k, v in m.differs.items()}}
                               for m in self.matches]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_dataframe(self):
        """One row per framework: flavor, verdict, arguments, drift figures."""
        import pandas as pd
        return pd.DataFrame([{"flavor": m.flavor, "verdict": m.verdict(),
                              "args": _args_text(m.args), "max_rel": m.max_rel,
                              "worst_step": m.worst_step, "first_step": m.first_step,
                              "differs": ", ".join(m.differs)} for m in self.matches])

    def table(self) -> str:
        """The answer as a terminal table, then the operations that differ in words."""
        src = self.source
        head = (f"{src.optimizer} ({src.flavor}) {_args_text(src.rule.spelled({**src.hypers, **src.flags}))}"
                f" on {len(self.spec.data)} rows, {len(self.traces[src.name])} steps")
        rows = [[m.flavor, m.verdict(), _args_text(m.args) or "(defaults)",
                 f"{m.max_rel:.3g}", "-" if m.first_step is None else str(m.first_step),
                 "-" if m.worst_step is None else str(m.worst_step)] for m in self.matches]
        lines = [head, "", *_grid(["framework", "verdict", "arguments", "max rel diff",
                                   "first step > 1e-12", "worst step"], rows)]
        for m in self.matches:
            for aspect, (mine, theirs) in m.differs.items():
                lines.append(f"{m.flavor} differs in {ASPECTS[aspect]}: {src.flavor}: {mine}; "
                             f"{m.flavor}: {theirs}")
        return "\n".join(lines) + "\n"

    def write_workbook(self, path: str | Path, force: bool = False):
        """A workbook with the source's sheet and each framework's side by side, and a sheet
        of live differences of their parameters, step by step."""
        from .workbook.differences import write_translation
        return write_translation(self, path, force)


def _args_text(args: Mapping) -> str:
    return ", ".join(f"{k}={_value_text(v)}" for k, v in args.items())


def _value_text(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(f"{v:g}" for v in value) + ")"
    return f"{value:g}"


def _grid(headers, rows) -> list[str]:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _candidates(source: Sheet, target: Rule) -> list[dict]:
    """The sheet tables (sheetopt's names) tried for ``target``, the carried-over one first."""
    base = {}
    for name, default in target.hypers.items():
        if name in source.hypers:
            base[name] = source.hypers[name]
        elif name in NEUTRAL:
            base[name] = NEUTRAL[name]
    switches = [f for f in target.settable_flags if f not in source.flags]
    for f in target.settable_flags:
        if f in source.flags:
            base[f] = source.flags[f]
    eps_factors = (1.0,)
    if "eps" in source.hypers and "eps" in target.hypers and source.hypers["eps"] > 0 and \
            "eps" in differing(source.rule, target, source.static, {**target.hypers, **target.flags}):
        eps_factors = (1.0, *(f for f in EPS_FACTORS if f != 1.0))
    out = []
    for on in itertools.product((False, True), repeat=len(switches)):
        for factor in eps_factors:
            table = {**base, **dict(zip(switches, on))}
            if factor != 1.0:
                table["eps"] = source.hypers["eps"] * factor
            out.append(table)
    # the framework's own switch values first (its defaults are what users meet)
    out.sort(key=lambda t: sum(t[f] != target.flags[f] for f in switches))
    return out


def _path(trace: Trace) -> np.ndarray:
    return np.stack([np.asarray(trace.steps[f"new_{p}"], dtype=float) for p in trace.params],
                    axis=1)


def compare_paths(mine: np.ndarray, theirs: np.ndarray) -> tuple[float, int | None, int | None]:
    """Largest relative difference of two parameter paths (each step judged against the
    largest size the source's parameters have had so far), its step, and the first step
    whose difference exceeds ``EXACT`` (steps counted from 1)."""
    n = min(len(mine), len(theirs))
    if n == 0:
        return 0.0, None, None
    scale = np.maximum.accumulate(np.abs(mine[:n]), axis=0)
    scale[scale == 0] = 1.0
    with np.errstate(invalid="ignore"):
        rel = np.abs(mine[:n] - theirs[:n]) / scale
    rel = np.where(np.isnan(rel), np.inf, rel).max(axis=1)
    if len(mine) != len(theirs):  # one run stopped (diverged) before the other
        rel = np.append(rel, np.inf)
    worst = float(rel.max())
    over = np.nonzero(rel > EXACT)[0]
    return (worst, int(np.argmax(rel)) + 1 if worst > 0 else None,
            int(over[0]) + 1 if len(over) else None)


def translate(optimizer: str, flavor: str = "torch", args: Mapping[str, Any] | None = None, *,
              spec: Spec | str | Path = "frameworks", into: Sequence[str] | None = None,
              epochs: int = 3, batch: int | str = "online",
              schedule: Any = None) -> Translation:
    """Runs ``optimizer`` of ``flavor`` with ``args`` (the framework's own names, or
    sheetopt's) on the rows of ``spec`` (default: the lecture's), then its namesake in each
    flavour of ``into`` (default: every other flavour that has one), and returns, per
    framework, the arguments that reproduce it exactly if there are any, else the closest.

    Example:
        >>> import sheetopt
        >>> t = sheetopt.translate("rmsprop", "torch", {"lr": 0.01, "momentum": 0.9}, epochs=1)
        >>> [(m.flavor, m.verdict(), dict(m.args)) for m in t.matches][:2]
        [('keras', 'closest', {'learning_rate': 0.01, 'rho': 0.99, 'momentum': 0.9, 'epsilon': 1e-08}), ('optax', 'exact', {'learning_rate': 0.01, 'decay': 0.99, 'momentum': 0.9, 'eps_in_sqrt': False})]
    """
    base = spec if isinstance(spec, Spec) else load(spec)
    if flavor not in FLAVORS:
        raise SheetoptError(f"translate: flavor {flavor!r} is not one of {', '.join(FLAVORS)}")
    try:
        rule_for(optimizer, flavor)
    except KeyError:
        owners = sorted({r.flavor for r in REGISTRY if r.optimizer == optimizer})
        raise SheetoptError(f"translate: {flavor} has no optimizer {optimizer!r}"
                            + (f" (it is in {', '.join(owners)})" if owners else "")) from None
    targets = [f for f in (into or FLAVORS) if f != flavor and f != "lecture"]
    for f in targets:
        if f not in FLAVORS:
            raise SheetoptError(f"translate: flavor {f!r} is not one of {', '.join(FLAVORS)}")
    common = {"epochs": epochs, "batch": batch, "init": dict(base.sheets[0].init)
              if base.sheets else {}}
    if schedule is not None:
        common["schedule"] = schedule
    source_table = {"name": "source", "optimizer": optimizer, "flavor": flavor,
                    **dict(args or {}), **common}
    raw = {"model": {"kind": base.model.kind}, "sheet": [source_table]}
    source_spec = parse(raw, base.path, data=base.data, label="translate")
    source = source_spec.sheets[0]
    tables, owners = [], []
    for f in targets:
        try:
            target = rule_for(optimizer, f)
        except KeyError:
            continue
        for n, table in enumerate(_candidates(source, target)):
            tables.append({"name": f"{f} {n}", "optimizer": optimizer, "flavor": f, **table,
                           **common})
            owners.append(f)
    everything = parse({**raw, "sheet": [source_table, *tables]}, base.path, data=base.data,
                       label="translate")
    from .protocol.engine import run_all
    traces = run_all(everything)
    mine = _path(traces["source"])
    best: dict[str, tuple] = {}
    for sheet, f in zip(everything.sheets[1:], owners):
        figures = compare_paths(mine, _path(traces[sheet.name]))
        if f not in best or figures[0] < best[f][1][0] and not best[f][1][0] <= EXACT:
            best[f] = (sheet, figures)
    matches = []
    for f in [f for f in targets if f in best]:
        sheet, (worst, at, first) = best[f]
        exact = worst <= EXACT
        differs = differing(source.rule, sheet.rule, source.static, sheet.static)
        if not source.hypers.get("wd") and not sheet.hypers.get("wd"):
            differs.pop("decay", None)
        matches.append(Match(flavor=f, optimizer=optimizer,
                             args=sheet.rule.spelled({**sheet.hypers, **sheet.flags}),
                             exact=exact, max_rel=worst, worst_step=at, first_step=first,
                             differs=differs, sheet=sheet))
    kept = {"source", *(m.sheet.name for m in matches)}
    return Translation(source=source, spec=everything, matches=tuple(matches),
                       traces={k: v for k, v in traces.items() if k in kept})
