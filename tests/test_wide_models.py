"""Wide models: many feature columns. Finite differences cost a shifted loss per parameter per
row, so the engine counts a model's work when it picks its executor (a wide forward-difference
job runs compiled), and the compiled kernel computes those shifted losses in a loop over the
parameters (its text grows with the parameters, not their square). Whatever runs, the outputs
are the same bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

import sheetopt
from sheetopt.executors import compiled
from sheetopt.executors.compiled import codegen
from sheetopt.protocol import engine
from sheetopt.spec import parse

from conftest import assert_executors_agree

needs_numba = pytest.mark.skipif(not compiled.available(), reason="numba is not installed")


def wide_spec(tmp_path, features: int, rows: int, sheets: list):
    rng = np.random.default_rng(features)
    x = np.round(rng.normal(size=(rows, features)), 4)
    y = np.round(x @ rng.normal(size=features) + 0.5, 4)
    lines = [",".join([*(f"f{j}" for j in range(features)), "y"])]
    lines += [",".join(repr(float(v)) for v in (*row, t)) for row, t in zip(x, y)]
    csv = tmp_path / f"wide{features}.csv"
    csv.write_text("\n".join(lines) + "\n")
    return parse({"data": {"csv": str(csv)}, "model": {"kind": "linear"}, "sheet": sheets})


def _arrays(spec, sheet, lrs):
    hp = engine.hyper_arrays(sheet, len(lrs), {"lr": np.asarray(lrs)})
    params = np.tile([[sheet.init[p] for p in spec.model.params]], (len(lrs), 1)).astype(float)
    return hp, params, engine.start_state(spec, sheet, hp), engine.plan_for(spec, sheet)


@needs_numba
def test_a_wide_models_finite_differences_agree_numpy_and_compiled_bit_for_bit(tmp_path):
    features = codegen.LOOP_FROM + 2  # the shifted losses computed in a loop over parameters
    spec = wide_spec(tmp_path, features, 9, [
        {"name": "forward", "optimizer": "adam", "lr": 0.05, "epochs": 2,
         "gradient": "forward", "show": ["central"]},
        {"name": "central", "optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "epochs": 2,
         "batch": 4, "gradient": "central", "show": ["forward", "analytic"]}])
    for sheet in spec.sheets:
        kernel = compiled.kernel_for(spec, sheet, schedule=sheet.schedule, record=True,
                                     online=sheet.batch_size == 1, parallel=False,
                                     hyper_names=tuple(sheet.hypers), load=False)
        assert "for jj in range" in kernel.source
        # three configurations, one of which diverges
        assert_executors_agree(spec, sheet, *_arrays(spec, sheet, [0.001, 0.05, 1e6]))


@needs_numba
def test_the_executor_is_chosen_by_the_models_work_and_reported_on_the_trace(tmp_path):
    # 10 features, 40 rows, 70 epochs: 2,800 steps. Forward differences evaluate the model
    # 12 times a row (11 parameters): a big job. The analytic gradient twice: a small one.
    # (A narrow model keeps the kernel's first compile short: a 30-feature one took 5 s.)
    sheets = [{"name": name, "optimizer": "adam", "lr": 0.01, "epochs": 70, "gradient": name}
              for name in ("forward", "analytic")]
    spec = wide_spec(tmp_path, 10, 40, sheets)
    forward, analytic = spec.sheets
    assert engine.step_work(spec, forward) == 1 + 12 * 11 / engine.TERMS_PER_STEP
    assert engine.work(2800, 1, engine.step_work(spec, forward)) >= engine.COMPILE_FROM
    assert engine.work(2800, 1, engine.step_work(spec, analytic)) < engine.COMPILE_FROM
    fast = sheetopt.run(spec, "forward")["forward"]
    slow = engine.run(spec, forward, executor="numpy")
    assert (fast.executor, slow.executor) == ("compiled", "numpy")
    assert sheetopt.run(spec, "analytic")["analytic"].executor == "numpy"
    assert fast.to_csv() == slow.to_csv() and fast.to_json() == slow.to_json()
    for name in ("rows", "epochs"):
        a, b = getattr(fast, name), getattr(slow, name)
        assert a.keys() == b.keys()
        assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in a), name


def test_a_lecture_sized_job_stays_on_numpy():
    spec = sheetopt.Spec.load("lesson5")
    for sheet in spec.sheets:  # 145 steps of one row, two parameters: the model is little
        assert engine.step_work(spec, sheet) < 1.1
    assert sheetopt.run(spec, "adam")["adam"].executor == "numpy"
