"""Keras's and optax's learning-rate schedules (sheetopt/schedules/library.py) equal the
libraries' own, step by step, and an optimizer stepping under each equals the library's
optimizer given the library's schedule, to 1e-12 relative in float64.

Each schedule's argument sets are its registry grid (``LibrarySchedule.grid``), with the
sheet's lr (the schedule's starting value) at 1e-4.

optax's optimizers count steps in int32, and JAX divides an int32 by a Python int in float32
even with jax_enable_x64: exponential_decay and warmup_cosine_decay_schedule then compute in
float32 (their lr is off by up to 3.9e-7 relative, measured on the grids), the others in
float64. sheetopt computes all in float64: it equals optax's schedules at a float64 count
(an int64 one) bit for bit, and optax's optimizers to 1e-12 when their schedule is handed the
count as int64; stepping with optax's own int32 count, the parameters drift by the float32
lr's rounding (FLOAT32_DRIFT, measured).
"""
from __future__ import annotations

import numpy as np
import pytest

import sheetopt
from sheetopt.ops import numpy_ops
from sheetopt.schedules import LIBRARY_SCHEDULES

from frameworks import library_path, library_schedule, schedule_values

TOL = 1e-12
LR = 1e-4
STEPS = 120
CASES = [pytest.param(spec, args, id=f"{spec.library}-{spec.name}-{n}")
         for spec in LIBRARY_SCHEDULES.values() for n, args in enumerate(spec.grid)]
OPTIMIZERS = {"keras": [("sgd", {"momentum": 0.9}), ("adamw", {"weight_decay": 0.05})],
              "optax": [("sgd", {"momentum": 0.9}), ("adamw", {"weight_decay": 0.05})]}


def test_every_schedule_has_a_grid():
    assert {lib for lib, _ in LIBRARY_SCHEDULES} == {"keras", "optax"}
    assert all(spec.grid for spec in LIBRARY_SCHEDULES.values())


FLOAT32 = {("optax", "exponential_decay"), ("optax", "warmup_cosine_decay_schedule")}
FLOAT32_LR = 4e-7  # measured: 3.9e-7 (warmup_cosine_decay_schedule, exponent 1.5)
FLOAT32_DRIFT = 2e-7  # measured: parameters' largest relative drift over the grids, 1.4e-7


def ours(spec, args, steps=STEPS):
    return np.array([float(spec.lr(k, LR, spec.arguments(args), numpy_ops))
                     for k in range(steps)])


@pytest.mark.parametrize("spec, args", CASES)
def test_each_step_count_equals_the_library(spec, args):
    theirs = schedule_values(spec.library, library_schedule(spec.library, spec.name, LR, args),
                             STEPS, count="int64")
    np.testing.assert_allclose(ours(spec, args), theirs, rtol=TOL, atol=0)
    assert len(set(theirs)) > 2  # the schedule does change over the steps tested


@pytest.mark.parametrize("spec, args", [c for c in CASES if c.values[0].library == "optax"])
def test_optax_schedules_of_its_int32_count(spec, args):
    """Which optax schedules compute in float32 at the optimizer's own int32 count, and by
    how much that moves their lr from sheetopt's float64 one."""
    import jax.numpy as jnp
    schedule = library_schedule("optax", spec.name, LR, args)
    float32 = schedule(jnp.asarray(3, dtype=jnp.int32)).dtype == jnp.float32
    assert float32 == ((spec.library, spec.name) in FLOAT32)
    theirs = schedule_values("optax", schedule, STEPS, count="int32")
    np.testing.assert_allclose(ours(spec, args), theirs, rtol=FLOAT32_LR if float32 else TOL,
                               atol=0)


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def scheduled_spec(spec, args, optimizer, options, batch):
    schedule = {spec.library: spec.name, **args}
    lines = ['[data]', 'preset = "lecture"', '[[sheet]]', 'name = "s"',
             f'optimizer = "{optimizer}"', f'flavor = "{spec.library}"', 'epochs = 2',
             f'batch = {batch if batch != "online" else chr(34) + "online" + chr(34)}',
             f"learning_rate = {LR!r}", *(f"{k} = {_toml(v)}" for k, v in options.items()),
             f"schedule = {_toml(schedule)}"]
    return sheetopt.Spec.from_toml("\n".join(lines) + "\n")


def _int64_count(schedule):
    import jax.numpy as jnp
    return lambda count: schedule(jnp.asarray(count, dtype=jnp.int64))


def _drift(ours, theirs) -> float:
    return float((np.abs(ours - theirs) / np.maximum.accumulate(np.abs(theirs), axis=0)).max())


@pytest.mark.parametrize("batch", ["online", 5])
@pytest.mark.parametrize("spec, args", CASES)
def test_an_optimizer_under_the_schedule_equals_the_library(spec, args, batch):
    for optimizer, options in OPTIMIZERS[spec.library]:
        trace = sheetopt.run(scheduled_spec(spec, args, optimizer, options, batch))["s"]
        params = trace.params
        grads = np.stack([trace.steps[f"grad_{p}"] for p in params], axis=1)
        path = np.stack([trace.steps[f"new_{p}"] for p in params], axis=1)
        start = [trace.start[p] for p in params]
        schedule = library_schedule(spec.library, spec.name, LR, args)
        np.testing.assert_allclose(trace.steps["lr"], ours(spec, args, len(trace)), rtol=0)
        if spec.library == "optax":  # its own int32 count: float32 where FLOAT32 says
            theirs = library_path("optax", optimizer, {**options, "learning_rate": schedule},
                                  start, grads)
            bound = FLOAT32_DRIFT if (spec.library, spec.name) in FLOAT32 else TOL
            assert _drift(path, theirs) <= bound, (optimizer, _drift(path, theirs))
            schedule = _int64_count(schedule)
        theirs = library_path(spec.library, optimizer, {**options, "learning_rate": schedule},
                              start, grads)
        assert _drift(path, theirs) <= TOL, (optimizer, _drift(path, theirs))


def every_schedule_spec(batch="online"):
    tables = [{"name": f"{s.name[:26]} {i}", "flavor": s.library, "epochs": 2, "batch": batch,
               "optimizer": OPTIMIZERS[s.library][0][0], "learning_rate": LR,
               **OPTIMIZERS[s.library][0][1], "schedule": {s.library: s.name, **args}}
              for s in LIBRARY_SCHEDULES.values() for i, args in enumerate(s.grid)]
    return sheetopt.spec.parse({"data": {"preset": "lecture"}, "sheet": tables})


def test_the_compiled_kernel_equals_the_numpy_engine(monkeypatch):
    pytest.importorskip("numba")
    spec = every_schedule_spec(batch=4)
    monkeypatch.setenv("SHEETOPT_EXECUTOR", "compiled")
    kernel = sheetopt.run(spec)
    monkeypatch.setenv("SHEETOPT_EXECUTOR", "numpy")
    engine = sheetopt.run(spec)
    for sheet in spec.sheets:
        for key in ("lr", "new_a", "new_b"):
            np.testing.assert_array_equal(kernel[sheet.name].steps[key],
                                          engine[sheet.name].steps[key], err_msg=sheet.name)


def test_verify_replays_every_schedule_with_torch():
    pytest.importorskip("torch")
    table = sheetopt.verify(every_schedule_spec(), drift_steps=0)
    assert len(set(table["sheet"])) == len(CASES)
    assert table["ok"].all(), table[~table["ok"]]


def test_a_torch_sheet_under_a_keras_schedule_and_its_workbook(tmp_path):
    """Any flavour may follow a library schedule: torch's Adam under Keras's CosineDecay
    steps with the schedule's lr, and its workbook's lr cells are live formulas of the step."""
    from sheetopt.cli import main
    path = tmp_path / "s.toml"
    path.write_text('[data]\npreset = "lecture"\n[[sheet]]\nname = "t"\noptimizer = "adam"\n'
                    'flavor = "torch"\nlr = 0.1\nepochs = 2\nschedule = { keras = '
                    '"CosineDecay", decay_steps = 40, warmup_target = 0.2, warmup_steps = 5 }\n')
    trace = sheetopt.run(sheetopt.Spec.load(path))["t"]
    spec = LIBRARY_SCHEDULES["keras", "CosineDecay"]
    args = spec.arguments({"decay_steps": 40, "warmup_target": 0.2, "warmup_steps": 5})
    np.testing.assert_array_equal(
        trace.steps["lr"], [float(spec.lr(k, 0.1, args, numpy_ops)) for k in range(58)])
    assert trace.steps["lr"][5] == 0.2 and trace.steps["lr"][-1] == 0.0
    book = tmp_path / "s.xlsx"
    assert main(["workbook", str(path), "-o", str(book)]) == 0
    assert main(["check", str(book)]) == 0


@pytest.mark.parametrize("schedule, words", [
    ('{ keras = "ExpDecay" }', "schedule.keras 'ExpDecay' is not one of"),
    ('{ keras = "ExponentialDecay", decay_steps = 10 }', "needs schedule.decay_rate"),
    ('{ keras = "ExponentialDecay", decay_steps = 0, decay_rate = 0.5 }', "decay_steps must be > 0"),
    ('{ keras = "ExponentialDecay", decay_step = 10, decay_rate = 0.5 }', "did you mean 'decay_steps'"),
    ('{ keras = "ExponentialDecay", initial_learning_rate = 0.1, decay_steps = 10, '
     'decay_rate = 0.5 }', "is the sheet's learning rate"),
    ('{ keras = "ExponentialDecay", decay_steps = 10, decay_rate = 0.5, staircase = 1 }',
     "staircase must be true or false"),
    ('{ keras = "ExponentialDecay", decay_steps = 10, decay_rate = "x" }', "must be a number"),
    ('{ keras = "PiecewiseConstantDecay", boundaries = [10], values = [0.5, 0.1] }',
     "values[0] is 0.5; give learning_rate = 0.5"),
    ('{ keras = "PiecewiseConstantDecay", boundaries = [10, 20], values = [0.001, 0.1] }',
     "boundaries must be one fewer than values"),
    ('{ keras = "CosineDecay", decay_steps = 10, warmup_steps = 2.5 }', "whole number"),
    ('{ optax = "exponential_decay", transition_steps = 10 }', "needs schedule.decay_rate"),
    ('{ optax = "warmup_cosine_decay_schedule", init_value = 0.0, warmup_steps = 10, '
     'decay_steps = 10 }', "decay_steps must be larger than warmup_steps"),
    ('{ optax = "piecewise_constant_schedule", boundaries_and_scales = { 10 = -1.0 } }',
     "non-negative scale factors"),
    ('{ optax = "piecewise_constant_schedule", boundaries_and_scales = { x = 0.5 } }',
     "'x' is not a step count"),
    ('{ optax = "exponential_decay", transition_steps = 10, decay_rate = -0.5 }', "must be >= 0"),
    ('{ optax = "cosine_decay_schedule", decay_steps = 10, keras = "CosineDecay" }',
     "more than one library"),
])
def test_bad_schedules_are_one_line(tmp_path, capsys, schedule, words):
    from sheetopt.cli import main
    path = tmp_path / "bad.toml"
    path.write_text('[data]\npreset = "lecture"\n[[sheet]]\noptimizer = "sgd"\n'
                    f'flavor = "keras"\nschedule = {schedule}\n')
    assert main(["compare", str(path)]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err


def test_the_lectures_warmed_up_rules_refuse_a_library_schedule():
    with pytest.raises(sheetopt.SheetoptError, match="warm-up passes"):
        sheetopt.Spec.from_toml('[data]\npreset = "lecture"\n[[sheet]]\noptimizer = "adam"\n'
                                'lr = 0.1\nschedule = { optax = "cosine_decay_schedule", '
                                'decay_steps = 10 }\n')


from hypothesis import given, settings, strategies as st  # noqa: E402

KEYS = ["decay_steps", "decay_rate", "staircase", "alpha", "warmup_target", "warmup_steps",
        "boundaries", "values", "transition_steps", "transition_begin", "end_value",
        "exponent", "init_value", "boundaries_and_scales", "x"]
VALUES = [0, 1, -3, 10, 2.5, 1e308, True, "a", [10], [0.1, 0.01], [], {"5": 0.5}, {"y": 1}]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list(LIBRARY_SCHEDULES)),
       st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=4))
def test_fuzzed_schedules_run_or_refuse_in_one_line(name, args):
    library, schedule = name
    table = {"optimizer": "sgd", "flavor": library, "learning_rate": 1e-5, "epochs": 1,
             "schedule": {library: schedule, **args}}
    try:
        spec = sheetopt.spec.parse({"data": {"preset": "lecture"}, "sheet": [table]})
    except sheetopt.SheetoptError as error:
        assert "\n" not in str(error)
        return
    trace = sheetopt.run(spec)[spec.sheets[0].name]
    assert 0 < len(trace) <= 29 and np.all(np.asarray(trace.steps["lr"]) >= 0)
