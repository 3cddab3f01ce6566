"""Speed of each model beside the linear one: rows/s of one online torch-Adam run (engine.run,
trace recorded), on the compiled executor and on the numpy one, timed in the same process.

A surface has no rows: each of its steps evaluates the function once, so its "rows/s" is
steps/s (one row a step, as its trivial plan says). A classifier runs on a shipped labelled
set (blobs: 40 rows of one column; digits-4x4: 362 rows of 16 features), epochs over it. Every figure is printed with its ratio to
the linear model's, measured the same way in the same run; nothing is asserted.

Run:  python benchmarks/models.py            (--quick for a smaller run)
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from sheetopt.executors import compiled
from sheetopt.models.surfaces import SURFACES
from sheetopt.protocol import engine
from sheetopt import spec as spec_mod


PRESET_DATA = {"logistic": "blobs", "logistic mnist": "blobs",  # labelled rows: 40, 362
               "logistic16": "digits-4x4"}


def spec_for(kind: str, steps: int) -> spec_mod.Spec:
    sheet = {"name": "adam", "optimizer": "adam", "flavor": "torch", "lr": 1e-4}
    if kind in PRESET_DATA:  # a classifier's rows are labels: a shipped set, epochs over it
        rows = {"blobs": 40, "digits-4x4": 362}[PRESET_DATA[kind]]
        return spec_mod.parse({"data": {"preset": PRESET_DATA[kind]},
                               "model": {"kind": "logistic",  # fastbook's mnist_loss
                                         **({"loss": "mnist"} if "mnist" in kind else {})},
                               "sheet": [{**sheet, "epochs": max(1, steps // rows)}]})
    if kind in COLUMNS:  # rows of several columns: three features and y, or two gradients
        import pandas as pd

        rng = np.random.default_rng(1)
        names = COLUMNS[kind]
        frame = pd.DataFrame(rng.uniform(-1.0, 1.0, size=(steps, len(names))), columns=names)
        return spec_mod.Spec.from_arrays(frame, sheets=[sheet], model=kind.split()[0])
    if kind in SURFACES:
        return spec_mod.parse({"model": {"kind": kind}, "sheet": [
            {**sheet, "steps": steps, "init": {"x": 0.7, "y": -0.4}}]})
    return spec_mod.parse({
        "data": {"rows": steps, "true": TRUE.get(kind, {"a": 2.0, "b": 30.0}), "x": "uniform",
                 "x_min": 0.0, "x_max": 1.0, "seed": 1, "noise": "normal",
                 "noise_scale": 0.1},
        "model": {"kind": kind, **KEYS.get(kind, {})}, "sheet": [sheet]})


TRUE = {"quadratic": {"a": 2.0, "b": 30.0, "c": 1.0},
        "relu_net": {"w1": 1.0, "w2": -1.0, "c1": -0.3, "c2": 0.6, "v1": 2.0, "v2": 1.5,
                     "d": 0.1}}
KEYS = {"relu_net": {"hidden": 2}}
COLUMNS = {"linear (3 features)": ["area", "rooms", "age", "y"],
           "gradients (2)": ["a", "b"]}


def rate(spec, steps: int, executor: str, repeat: int = 3) -> float:
    sheet = spec.sheets[0]
    hp = engine.hyper_arrays(sheet)
    state = engine.start_state(spec, sheet, hp)
    params = np.array([[sheet.init[p] for p in spec.model.params]])
    plan = engine.batches(len(spec.data), 1, sheet.epochs, False, 0)
    engine.simulate(spec, sheet, hp, params, state, plan, record=True,
                    executor=executor)  # compiles (and warms) first
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        engine.simulate(spec, sheet, hp, params, state, plan, record=True, executor=executor)
        best = min(best, time.perf_counter() - start)
    return spec.steps(sheet) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    steps = 20_000 if args.quick else 200_000
    numpy_steps = 2_000 if args.quick else 20_000
    print(f"numba available: {compiled.available()}")
    print(f"== one online torch Adam run, trace recorded: {steps:,} steps compiled, "
          f"{numpy_steps:,} on numpy; best of 3 ==")
    kinds = ["linear", "linear (3 features)", "gradients (2)", "quadratic", "relu_net",
             "logistic", "logistic mnist", "logistic16", *SURFACES]
    base = {}
    for kind in kinds:
        figures = []
        for executor, n in (("compiled", steps), ("numpy", numpy_steps)):
            spec = spec_for(kind, n)
            if executor == "compiled" and not (compiled.available() and compiled.supports(
                    spec, spec.sheets[0], record=True)):
                figures.append(f"compiled: {'-':>12} (not compiled)         ")
                continue
            value = rate(spec, n, executor)
            base.setdefault(executor, value)
            figures.append(f"{executor}: {value:>12,.0f} rows/s ({value / base[executor]:4.2f}x "
                           f"linear)")
        print(f"{kind:>19}  " + "   ".join(figures))
    print("logistic16: logistic regression on 16 features (the digits preset's pooled pixels)")


if __name__ == "__main__":
    main()
