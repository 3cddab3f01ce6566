"""The compiled executor gives the numpy executor's results bit for bit.

Every rule x flavour x option shape of rules.py, online / mini-batch / full-batch / shuffled
plans, the one-cycle and adam_ann schedules, forward and central gradients with shown columns,
divergence, the quadratic model and grids of many configurations: each case is run through
engine.simulate with executor="numpy" and executor="compiled" and every array is compared with
np.array_equal (NaNs equal), dtypes and column order included.
"""
from __future__ import annotations

import platform
import re

import numpy as np
import pytest

pytest.importorskip("numba", reason="numba is not installed: the compiled executor is off")

from sheetopt.executors import compiled
from sheetopt.protocol import engine
from sheetopt.protocol.driver import schedule_of
from sheetopt import spec as spec_mod  # noqa: E402
from conftest import spec_with  # noqa: E402



def make_spec(sheets, data=None, model="linear"):
    return spec_with(sheets, data, model)


def assert_same_table(a, b, what):
    assert (a is None) == (b is None), what
    if a is None:
        return
    assert list(a) == list(b), f"{what}: columns differ"
    for key in a:
        x, y = np.asarray(a[key]), np.asarray(b[key])
        assert x.shape == y.shape and x.dtype == y.dtype, f"{what}.{key}: {x.shape} {y.shape}"
        assert np.array_equal(x, y, equal_nan=True), f"{what}.{key} differs"


def assert_same_result(fast, slow):
    for name in ("params", "epoch_sum_err2", "epoch_rows", "epoch_lr", "epoch_params",
                 "diverged_at"):
        x, y = getattr(fast, name), getattr(slow, name)
        assert x.shape == y.shape and x.dtype == y.dtype, name
        assert np.array_equal(x, y, equal_nan=True), f"{name} differs"
    assert_same_table(fast.state, slow.state, "state")
    assert_same_table(fast.steps, slow.steps, "steps")
    assert_same_table(fast.rows, slow.rows, "rows")


def run_both(spec, sheet, configs=1, grid=None, record=True, parallel=None):
    """engine.simulate on both executors from the same start (lecture-reset replayed by numpy)."""
    hp = engine.hyper_arrays(sheet, configs, grid)
    state = _numpy_start(spec, sheet, hp)
    params = np.tile([[sheet.init[p] for p in spec.model.params]], (configs, 1)).astype(float)
    plan = engine.plan_for(spec, sheet)
    slow = engine.simulate(spec, sheet, hp, params, state, plan, record=record,
                           executor="numpy")
    fast = compiled.simulate(spec, sheet, hp, params, state, plan, record=record,
                             parallel=parallel)
    assert_same_result(fast, slow)
    return fast, slow


def _numpy_start(spec, sheet, hp):
    import os

    old = os.environ.get("SHEETOPT_EXECUTOR")
    os.environ["SHEETOPT_EXECUTOR"] = "numpy"
    try:
        return engine.start_state(spec, sheet, hp)
    finally:
        if old is None:
            del os.environ["SHEETOPT_EXECUTOR"]
        else:
            os.environ["SHEETOPT_EXECUTOR"] = old


# --- every rule shape -----------------------------------------------------------------------
LECTURE_SHEETS = [
    {"optimizer": "sgd", "lr": 0.0001},
    {"optimizer": "momentum", "lr": 0.0001, "mom": 0.9},
    {"optimizer": "rmsprop", "lr": 0.02, "sqr_mom": 0.9},
    {"optimizer": "adam", "lr": 1.0, "mom": 0.9, "sqr_mom": 0.9},
    {"optimizer": "adam_ann", "lr": 1.0, "mom": 0.9, "sqr_mom": 0.95},
]
TORCH_SHEETS = (
    [{"optimizer": "sgd", "lr": 0.0001, "mom": mom, "wd": wd, "dampening": damp,
      "nesterov": nesterov}
     for mom, wd, damp, nesterov in [(0.0, 0.0, 0.0, False), (0.0, 0.01, 0.0, False),
                                     (0.9, 0.0, 0.1, False), (0.9, 0.01, 0.0, True)]]
    + [{"optimizer": "rmsprop", "lr": 0.02, "sqr_mom": sqr, "mom": mom, "wd": wd,
        "centered": centered}
       for centered in (False, True) for mom in (0.0, 0.9) for wd, sqr in ((0.0, 0.9),
                                                                          (0.01, 0.3))]
    + [{"optimizer": opt, "lr": 0.1, "mom": mom, "sqr_mom": 0.999, "wd": wd,
        "amsgrad": amsgrad}
       for opt in ("adam", "adamw") for amsgrad in (False, True)
       for wd, mom in ((0.0, 0.9), (0.05, 0.3))]
)


@pytest.mark.parametrize("options", LECTURE_SHEETS, ids=lambda o: o["optimizer"])
def test_lecture_rules_from_reset(options):
    spec = make_spec([{"name": "s", "flavor": "lecture", "epochs": 3, **options}])
    run_both(spec, spec.sheets[0])


@pytest.mark.parametrize("options", TORCH_SHEETS,
                         ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_torch_rules(options):
    spec = make_spec([{"name": "s", "flavor": "torch", "epochs": 3, **options}])
    run_both(spec, spec.sheets[0])


# --- plans, schedules, gradients --------------------------------------------------------------
@pytest.mark.parametrize("batch, shuffle", [(5, False), (7, True), ("full", False),
                                            (1, True)])
@pytest.mark.parametrize("flavor", ["lecture", "torch"])
def test_batches_and_shuffles(batch, shuffle, flavor):
    spec = make_spec([{"name": "s", "optimizer": "adam", "flavor": flavor, "lr": 0.1,
                       "epochs": 3, "batch": batch, "shuffle": shuffle, "seed": 3,
                       **({"state": {"sqr_avg": {"a": 1.0, "b": 1.0}}}
                          if flavor == "lecture" else {})}])
    run_both(spec, spec.sheets[0])


@pytest.mark.parametrize("options", [
    {"optimizer": "adam", "flavor": "torch", "lr": 0.5},
    {"optimizer": "momentum", "flavor": "lecture", "lr": 0.0001,
     "state": {"grad_avg": {"a": 0.0, "b": 0.0}}},
    {"optimizer": "sgd", "flavor": "torch", "lr": 0.0001, "mom": 0.9, "batch": 4},
], ids=["torch-adam", "lecture-momentum", "torch-sgd-batch"])
def test_one_cycle(options):
    spec = make_spec([{"name": "s", "epochs": 4, "schedule": {"kind": "one_cycle",
                                                              "pct_start": 0.3}, **options}])
    run_both(spec, spec.sheets[0])


@pytest.mark.parametrize("gradient", ["forward", "central"])
@pytest.mark.parametrize("batch", [1, 6])
def test_finite_difference_gradients_and_shown_columns(gradient, batch):
    spec = make_spec([{"name": "s", "optimizer": "sgd", "flavor": "lecture", "lr": 0.0001,
                       "epochs": 2, "gradient": gradient, "h": 0.01, "batch": batch,
                       "show": ["forward", "central", "analytic"]}])
    run_both(spec, spec.sheets[0])


def test_quadratic_model_on_generated_reals():
    data = {"rows": 40, "true": {"a": 0.5, "b": -2.0, "c": 3.0}, "x": "uniform",
            "x_min": -3.0, "x_max": 3.0, "seed": 5, "noise": "normal", "noise_scale": 0.3}
    spec = make_spec([{"name": "s", "optimizer": "adam", "flavor": "torch", "lr": 0.05,
                       "epochs": 2, "show": ["forward"]}], data=data, model="quadratic")
    run_both(spec, spec.sheets[0])


# --- divergence and grids ---------------------------------------------------------------------
def test_diverging_sheet_stops_at_the_same_step():
    spec = make_spec([{"name": "s", "optimizer": "sgd", "flavor": "lecture", "lr": 0.01,
                       "epochs": 3, "diverge_above": 1e12}])
    fast, slow = run_both(spec, spec.sheets[0])
    assert slow.diverged_at[0, 0] == 1 and slow.diverged_at[0, 1] > 1  # a real divergence


@pytest.mark.parametrize("record", [True, False])
def test_grid_with_some_configurations_diverging(record):
    spec = make_spec([{"name": "s", "optimizer": "adam", "flavor": "torch", "epochs": 3,
                       "lr": 0.1, "diverge_above": 1e8}])
    sheet = spec.sheets[0]
    grid = {"lr": np.geomspace(1e-3, 1e4, 37), "mom": np.linspace(0.1, 0.95, 37)}
    fast, slow = run_both(spec, sheet, 37, grid, record=record)
    assert 0 < np.count_nonzero(slow.diverged_at[:, 0]) < 37


def test_grid_where_every_configuration_diverges_records_nothing_after():
    spec = make_spec([{"name": "s", "optimizer": "sgd", "flavor": "lecture", "epochs": 2,
                       "lr": 1.0}])
    fast, slow = run_both(spec, spec.sheets[0], 3, {"lr": [1.0, 10.0, 100.0]})
    assert np.all(slow.diverged_at[:, 0] > 0)


@pytest.mark.parametrize("parallel", [False, True])
def test_chunked_and_parallel_sweeps(parallel, monkeypatch):
    monkeypatch.setattr(compiled.executor, "CHUNK", 32)
    spec = make_spec([{"name": "s", "optimizer": "adam_ann", "flavor": "lecture", "epochs": 4,
                       "lr": 1.0, "mom": 0.9, "sqr_mom": 0.95}])
    grid = {"lr": np.geomspace(0.01, 50.0, 101), "sqr_mom": np.linspace(0.5, 0.99, 101)}
    run_both(spec, spec.sheets[0], 101, grid, record=False, parallel=parallel)


# --- SIMD ---------------------------------------------------------------------------------------
# packed (several lanes at once) square roots and divisions, as each architecture spells them
PACKED = {"x86_64": (r"\bv?sqrtpd\b", r"\bv?divpd\b"), "AMD64": (r"\bv?sqrtpd\b", r"\bv?divpd\b"),
          "aarch64": (r"\bfsqrt\s+v\d+\.2d", r"\bfdiv\s+v\d+\.2d"),
          "arm64": (r"\bfsqrt\s+v\d+\.2d", r"\bfdiv\s+v\d+\.2d")}


@pytest.mark.skipif(platform.machine() not in PACKED, reason="packed-double mnemonics known for "
                    "x86-64 and aarch64 only")
@pytest.mark.parametrize("preset, name, swept", [
    ("lesson5", "adam", "lr"),
    # torch's bias corrections come from the host's per-step tables: one column for every
    # configuration when lr is swept, a column each when sqr_mom is
    ("lecture-vs-torch", "torch_adam", "lr"), ("lecture-vs-torch", "torch_adam", "sqr_mom")])
def test_the_loop_over_configurations_is_vectorized(tmp_path, monkeypatch, preset, name, swept):
    """Adam divides by a square root per parameter: in the sweep kernel both are packed
    instructions (several configurations a time), no scalar square root is left on the hot
    path (x86: sqrtsd would be one lane), and no multiply-add is fused (numpy rounds a*b+c
    twice; the kernel must too)."""
    monkeypatch.setenv("SHEETOPT_CACHE_DIR", str(tmp_path))  # numba inspects only fresh code
    monkeypatch.setattr(compiled.cache, "_KERNELS", {})
    monkeypatch.setattr(compiled.cache, "_GENERATED", {})
    spec = spec_mod.load(preset)
    sheet = spec.sheet(name)
    grid = {swept: sheet.hypers[swept] * np.geomspace(0.5, 1.0, 64) if swept == "lr"
            else np.linspace(0.9, 0.999, 64)}
    run_both(spec, sheet, 64, grid, record=False, parallel=False)
    kernel = compiled.kernel_for(spec, sheet, schedule=schedule_of(sheet, True), record=False,
                                online=True, parallel=False, hyper_names=tuple(sheet.hypers))
    assert "= sel(" in kernel.source and "if not" not in kernel.source  # masks, no fix-up branch
    asm = "\n".join(kernel.function.inspect_asm().values())
    sqrt, div = PACKED[platform.machine()]
    assert len(re.findall(sqrt, asm)) >= 2 and len(re.findall(div, asm)) >= 2
    if platform.machine() in ("x86_64", "AMD64"):
        # (torch's sqrt(1 - sqr_mom**t) of one table column is computed once a step, a scalar
        # outside the loop)
        assert len(re.findall(r"\bv?sqrtsd\b", asm)) <= (0 if name == "adam" else 1)
        assert not re.findall(r"\bvfn?m(add|sub)\d{3}[ps]d\b", asm)


def test_a_big_sweep_equals_one_run_per_configuration(monkeypatch):
    """4,100 configurations (the multi-threaded kernel, its vector loop and its remainder),
    some diverging: sampled rows equal single runs of the sheet with their values bit for bit."""
    import sheetopt

    monkeypatch.setenv("SHEETOPT_EXECUTOR", "compiled")  # the job is small enough for numpy

    from dataclasses import replace

    lesson5 = spec_mod.load("lesson5")
    adam = replace(lesson5.sheet("adam"), diverge_above=1e5)  # lr above about 2 diverges
    spec = spec_mod.Spec(lesson5.title, lesson5.model, lesson5.data, (adam,))
    lr = np.geomspace(1e-3, 300.0, 4_100)
    table = sheetopt.sweep(spec, "adam", lr=lr, backend="numpy")
    assert table.attrs["executor"] == "compiled"
    assert 0 < table.diverged_epoch.notna().sum() < len(table)
    for i in [0, 1, 777, 2_049, 3_000, 4_095, 4_096, 4_099, *np.flatnonzero(
            table.diverged_epoch.notna().to_numpy())[:3]]:
        sheet = spec.sheet("adam").with_hypers(lr=float(lr[i]))
        one = sheetopt.run(spec_mod.Spec(spec.title, spec.model, spec.data, (sheet,)))
        row = table.iloc[i]
        trace = one["adam"]
        if trace.diverged_at:
            assert (row.diverged_epoch, row.diverged_step) == trace.diverged_at
        else:
            assert row.final_rmse == one.summary().rmse.iloc[-1]
            assert (row.a, row.b) == (trace.final()["a"], trace.final()["b"])


# --- dispatch ---------------------------------------------------------------------------------
def _spy(monkeypatch) -> list:
    """A list that gets an entry each time the compiled executor runs."""
    calls = []
    original = compiled.simulate
    monkeypatch.setattr(compiled, "simulate", lambda *a, **k: calls.append(1) or original(*a, **k))
    return calls


def test_a_small_job_runs_on_numpy_a_big_one_compiled_with_the_same_trace(monkeypatch):
    spec = spec_mod.load("lesson5")
    sheet = spec.sheet("adam")  # 145 steps
    calls = _spy(monkeypatch)
    small = engine.run(spec, sheet)
    assert not calls  # no kernel to load for a lesson's run
    assert engine.executor_for(spec, sheet, engine.work(145)) == "numpy"
    assert engine.executor_for(spec, sheet, engine.work(145, 100_000)) == "compiled"
    assert engine.executor_for(spec, sheet, engine.work(engine.COMPILE_FROM)) == "compiled"
    # the whole job's size decides: many small sheets together are a big job
    many = spec_mod.parse({"data": {"preset": "lecture"},
                           "sheet": [{"name": f"s{i}", "optimizer": "adam", "lr": 0.01,
                                      "epochs": 35} for i in range(5)]})  # 5 x 1,015 steps
    assert engine.executor_for(many, many.sheets[0], engine.work(1015)) == "numpy"
    together = engine.run_all(many)
    assert len(calls) == 5
    calls.clear()
    monkeypatch.setattr(engine, "COMPILE_FROM", 100)  # the same sheet as a big job
    big = engine.run(spec, sheet)
    assert calls
    for name in ("steps", "rows", "epochs"):
        assert_same_table(getattr(small, name), getattr(big, name), name)
    assert small.start == big.start and small.diverged_at == big.diverged_at
    calls.clear()
    monkeypatch.setattr(engine, "COMPILE_FROM", 10**9)
    assert_same_table(engine.run(many, "s4").steps, together["s4"].steps, "s4")
    assert not calls


def test_the_env_var_chooses_the_executor_whatever_the_size(monkeypatch):
    spec = spec_mod.load("lesson5")
    sheet = spec.sheet("adam")
    calls = _spy(monkeypatch)
    monkeypatch.setenv("SHEETOPT_EXECUTOR", "compiled")
    fast = engine.run(spec, sheet)
    assert calls
    calls.clear()
    monkeypatch.setenv("SHEETOPT_EXECUTOR", "numpy")
    monkeypatch.setattr(engine, "COMPILE_FROM", 0)
    slow = engine.run(spec, sheet)
    assert not calls
    assert fast.start == slow.start and fast.diverged_at == slow.diverged_at
    assert_same_table(fast.steps, slow.steps, "steps")
    assert_same_table(fast.rows, slow.rows, "rows")
    assert_same_table(fast.epochs, slow.epochs, "epochs")


def test_runs_that_call_the_c_library_raise_no_warnings():
    """Torch-flavour Adam's bias corrections take pow from the C library over broadcast
    arrays; a run prints nothing but its output (no numpy FutureWarning on the terminal)."""
    import warnings

    spec = spec_mod.parse({"data": {"rows": 50, "true": {"a": 2.0, "b": 30.0}},
                           "model": {"kind": "linear"},
                           "sheet": [{"name": f"batch {batch}", "optimizer": "adam",
                                      "flavor": "torch", "lr": 0.1, "batch": batch, "epochs": 3}
                                     for batch in ("full", 1)]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        traces = engine.run_all(spec)
    assert [len(t.steps["loss"]) for t in traces.values()] == [3, 150]
