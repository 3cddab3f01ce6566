"""torch.optim.lr_scheduler, exactly: every class against torch's own scheduler, per step and
per epoch, on SGD with momentum, Adam and RMSprop; the host clock against torch over long runs
and per configuration; the spec's refusals."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from sheetopt.protocol import engine
from conftest import spec_with  # noqa: E402
from sheetopt.errors import SheetoptError
from sheetopt.schedules import TORCH_SCHEDULERS, Clock, build_node
from test_bad_input import Case, check_error, prepare, snapshot, spec_text

torch = pytest.importorskip("torch")
from sheetopt.verification.replay import replay  # noqa: E402
from sheetopt.verification.schedulers import torch_scheduler, group_momentum  # noqa: E402
from sheetopt.schedules import Schedule  # noqa: E402

EPOCHS, ROWS = 4, 29  # the lecture's rows
STEPS = EPOCHS * ROWS

# one case per class (several for the classes with modes); the arguments make each change the
# lr within 4 epochs whether it is stepped per step or per epoch
CASES = {
    "StepLR": {"torch": "StepLR", "step_size": 2, "gamma": 0.5},
    "MultiStepLR": {"torch": "MultiStepLR", "milestones": [1, 3, 3, 40], "gamma": 0.6},
    "ConstantLR": {"torch": "ConstantLR", "factor": 0.25, "total_iters": 2},
    "LinearLR": {"torch": "LinearLR", "start_factor": 0.2, "end_factor": 0.9, "total_iters": 3},
    "ExponentialLR": {"torch": "ExponentialLR", "gamma": 0.97},
    "PolynomialLR": {"torch": "PolynomialLR", "total_iters": 3, "power": 1.7},
    "CosineAnnealingLR": {"torch": "CosineAnnealingLR", "T_max": 3, "eta_min": 1e-6},
    "CosineAnnealingWarmRestarts": {"torch": "CosineAnnealingWarmRestarts", "T_0": 2,
                                    "T_mult": 2, "eta_min": 1e-6},
    "CyclicLR-triangular": {"torch": "CyclicLR", "base_lr": "LOW", "max_lr": "HIGH",
                            "step_size_up": 2, "cycle_momentum": False},
    "CyclicLR-triangular2": {"torch": "CyclicLR", "base_lr": "LOW", "max_lr": "HIGH",
                             "step_size_up": 1, "step_size_down": 2, "mode": "triangular2"},
    "CyclicLR-exp_range": {"torch": "CyclicLR", "base_lr": "LOW", "max_lr": "HIGH",
                           "step_size_up": 2, "mode": "exp_range", "gamma": 0.9,
                           "base_momentum": 0.85, "max_momentum": 0.95},
    "OneCycleLR-cos": {"torch": "OneCycleLR", "max_lr": "HIGH", "total_steps": STEPS},
    "OneCycleLR-linear-three_phase": {"torch": "OneCycleLR", "max_lr": "HIGH", "total_steps": STEPS + 5,
                                      "anneal_strategy": "linear", "three_phase": True,
                                      "cycle_momentum": False},
    "ReduceLROnPlateau": {"torch": "ReduceLROnPlateau", "patience": 0, "factor": 0.5,
                          "threshold": 0.9, "cooldown": 1},
    "SequentialLR": {"torch": "SequentialLR", "milestones": [2], "schedulers": [
        {"torch": "LinearLR", "start_factor": 0.1, "total_iters": 2},
        {"torch": "CosineAnnealingLR", "T_max": 3}]},
    "ChainedScheduler": {"torch": "ChainedScheduler", "schedulers": [
        {"torch": "ConstantLR", "factor": 0.5, "total_iters": 2},
        {"torch": "ExponentialLR", "gamma": 0.9}]},
}
OPTIMIZERS = {  # name -> sheet keys; lr levels chosen so that nothing diverges
    "sgd-momentum": ({"optimizer": "sgd", "mom": 0.9, "lr": 1e-4}, 1e-4),
    "adam": ({"optimizer": "adam", "lr": 0.05}, 0.05),
    "rmsprop-momentum": ({"optimizer": "rmsprop", "mom": 0.5, "lr": 0.01}, 0.01),
}


def test_every_class_is_covered():
    named = {case["torch"] for case in CASES.values()}
    assert named == set(TORCH_SCHEDULERS)


def _filled(table, lr: float):
    if isinstance(table, dict):
        return {k: _filled(v, lr) for k, v in table.items()}
    if isinstance(table, list):
        return [_filled(v, lr) for v in table]
    return {"LOW": lr / 5, "HIGH": lr * 2}.get(table, table) if isinstance(table, str) else table


def make_spec(sheet_keys: dict, schedule: dict, epochs: int = EPOCHS, **extra):
    return spec_with([{"name": "s", "flavor": "torch", "epochs": epochs,
                       "init": {"a": 1.0, "b": 1.0}, **sheet_keys, "schedule": schedule,
                       **extra}])


@pytest.mark.parametrize("per", ["step", "epoch"])
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("case", list(CASES))
def test_scheduler_matches_torch(case, optimizer, per):
    if case == "ReduceLROnPlateau" and per == "step":
        pytest.skip("ReduceLROnPlateau steps per epoch only (refused per step, tested below)")
    keys, lr = OPTIMIZERS[optimizer]
    spec = make_spec(keys, {**_filled(CASES[case], lr), "per": per})
    sheet = spec.sheets[0]
    trace = engine.run(spec, sheet)
    assert len(trace) == STEPS
    lrs = np.asarray(trace.steps["lr"])
    assert len(np.unique(lrs)) > 1, "the case must change the lr"
    found = {d.quantity: d for d in replay(spec, sheet, trace)}
    assert "lr" in found  # replayed with torch's own scheduler
    assert found["lr"].max_abs == 0.0, found["lr"]  # the same lr at every step, bit for bit
    if "mom" in trace.steps:
        assert found["mom"].max_abs == 0.0, found["mom"]
    for name in ("new_a", "new_b"):
        assert found[name].max_rel <= 1e-12, found[name]


def _torch_lrs(table: dict, steps: int, lr: float, momentum: float = 0.9):
    weight = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([weight], lr=lr, momentum=momentum)
    scheduler = torch_scheduler(Schedule("torch", {**table, "per": "step"}), optimizer)
    lrs, moms = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps):
            lrs.append(optimizer.param_groups[0]["lr"])
            moms.append(group_momentum(optimizer.param_groups[0]))
            optimizer.step()
            scheduler.step()
    return np.array(lrs), np.array(moms)


LONG = 3000


@pytest.mark.parametrize("case", [c for c in CASES if c != "ReduceLROnPlateau"])
def test_clock_follows_torch_over_a_long_run(case):
    # many cycles and restarts: a closed form would drift from torch's recursion here
    table = _filled(CASES[case], 0.1)
    if table["torch"] == "OneCycleLR":
        table["total_steps"] = LONG
    scale = {"StepLR": 200, "CosineAnnealingLR": 70, "CosineAnnealingWarmRestarts": 30,
             "PolynomialLR": 900, "ConstantLR": 50, "LinearLR": 60, "CyclicLR": 45}
    for key in ("step_size", "T_max", "T_0", "total_iters", "step_size_up"):
        if key in table:
            table[key] = scale.get(table["torch"], 1) * table[key]
    want_lr, want_mom = _torch_lrs(table, LONG, 0.1)
    clock = Clock(build_node(table), 0.1, 0.9)
    lrs, moms = clock.table(LONG)
    np.testing.assert_array_equal(np.array(lrs, dtype=float), want_lr)
    if clock.mom is not None:
        np.testing.assert_array_equal(np.array(moms, dtype=float), want_mom)


@pytest.mark.parametrize("executor", ["numpy", "compiled"])
def test_configurations_with_their_own_lr_follow_torch(executor):
    """A sweep of lr under a recursive schedule: each configuration is its own torch run."""
    from sheetopt.executors.compiled import available

    if executor == "compiled" and not available():
        pytest.skip("numba is not installed")
    schedule = {"torch": "CosineAnnealingWarmRestarts", "T_0": 7, "T_mult": 2, "per": "step"}
    spec = make_spec({"optimizer": "sgd", "mom": 0.9, "lr": 1e-4}, schedule, epochs=2)
    sheet = spec.sheets[0]
    lrs = np.array([1e-5, 3e-5, 1e-4])
    hp = engine.hyper_arrays(sheet, len(lrs), {"lr": lrs})
    params = np.ones((len(lrs), 2))
    state = engine.start_state(spec, sheet, hp)
    plan = engine.batches(len(spec.data), 1, 2, False, 0)
    result = engine.simulate(spec, sheet, hp, params, state, plan, record=True,
                             executor=executor)
    for c, lr in enumerate(lrs):
        want, _ = _torch_lrs({k: v for k, v in schedule.items() if k != "per"}, 2 * ROWS, lr)
        np.testing.assert_array_equal(result.steps["lr"][:, c], want)


def test_compiled_executor_runs_scheduled_sheets():
    from sheetopt.executors import compiled

    if not compiled.available():
        pytest.skip("numba is not installed")
    for case in ("ReduceLROnPlateau", "OneCycleLR-cos", "SequentialLR"):
        keys, lr = OPTIMIZERS["adam"]
        spec = make_spec(keys, {**_filled(CASES[case], lr), "per": "epoch"})
        assert compiled.supports(spec, spec.sheets[0], True, True), case


def test_lecture_flavour_sheet_takes_a_torch_schedule():
    spec = make_spec({"optimizer": "adam", "flavor": "lecture", "lr": 0.5, "state": "lecture-reset"},
                     {"torch": "ExponentialLR", "gamma": 0.9, "per": "epoch"})
    trace = engine.run(spec, "s")
    lrs = trace.epochs["lr"]
    assert [float(v) for v in lrs] == [0.5, 0.5 * 0.9, 0.5 * 0.9 * 0.9, 0.5 * 0.9 * 0.9 * 0.9]
    # a lecture sheet's replay is its trajectory from the start alone (the drift): short, exact
    drift, = [d for d in replay(spec, spec.sheets[0], trace) if d.check == "drift"]
    assert drift.count == len(trace) and drift.max_rel <= 1e-12


def test_old_one_cycle_name_is_fastai():
    spec = make_spec({"optimizer": "momentum", "lr": 1e-4}, "one_cycle")
    assert spec.sheets[0].schedule.kind == "fastai_one_cycle"


# --- refusals ----------------------------------------------------------------------------------
BAD = [
    ("unknown class", {"torch": "StepLr", "step_size": 2, "per": "step"},
     ["schedule.torch 'StepLr'", "did you mean 'StepLR'"]),
    ("unknown argument", {"torch": "StepLR", "step_size": 2, "gama": 0.5, "per": "step"},
     ["no argument 'gama'", "did you mean 'gamma'"]),
    ("per missing", {"torch": "StepLR", "step_size": 2}, ["schedule.per is missing"]),
    ("per wrong", {"torch": "StepLR", "step_size": 2, "per": "batch"}, ["schedule.per is 'batch'"]),
    ("one-cycle too short", {"torch": "OneCycleLR", "max_lr": 0.1, "total_steps": 4,
                             "cycle_momentum": False, "per": "step"}, ["total_steps = 4", "the run's 5"]),
    ("cycle_momentum without momentum", {"torch": "CyclicLR", "base_lr": 0.001, "max_lr": 0.01,
                                         "per": "step"}, ["cycle_momentum", "sgd"]),
    ("plateau per step", {"torch": "ReduceLROnPlateau", "per": "step"}, ["per must be \"epoch\""]),
    ("missing argument", {"torch": "ExponentialLR", "per": "step"}, ["needs gamma"]),
    ("plateau in a sequence", {"torch": "SequentialLR", "milestones": [2], "per": "step",
                               "schedulers": [{"torch": "ExponentialLR", "gamma": 0.9},
                                              {"torch": "ReduceLROnPlateau"}]},
     ["cannot hold ReduceLROnPlateau"]),
]


@pytest.mark.parametrize("schedule, expect", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_schedule_is_one_line(tmp_path, monkeypatch, capsys, schedule, expect):
    from sheetopt import cli

    case = Case("schedule", ["spec.toml", "sheet 's'", *expect], spec=spec_text({"schedule": schedule}))
    args = prepare(tmp_path, case)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    code = cli.main(args)
    out, err = capsys.readouterr()
    check_error(tmp_path, before, code, out, err, case)


def test_torch_schedule_refused_on_adam_ann():
    with pytest.raises(SheetoptError, match="already anneals"):
        make_spec({"optimizer": "adam_ann", "flavor": "lecture", "lr": 1.0},
                  {"torch": "ExponentialLR", "gamma": 0.9, "per": "epoch"})


def test_cycle_momentum_refused_on_a_lecture_rule_without_momentum():
    with pytest.raises(SheetoptError, match="has no momentum"):
        make_spec({"optimizer": "rmsprop", "flavor": "lecture", "lr": 0.01},
                  {"torch": "OneCycleLR", "max_lr": 0.01, "total_steps": STEPS, "per": "step"})


def test_reference_values_are_torchs_own():
    # the first and last lr of torch's OneCycleLR with its defaults, by hand from its docs'
    # formula: max_lr/div_factor, and max_lr/(div_factor*final_div_factor) at the last step
    want, _ = _torch_lrs({"torch": "OneCycleLR", "max_lr": 0.05, "total_steps": 111}, 111, 0.1)
    assert math.isclose(want[0], 0.05 / 25) and math.isclose(want[-1], 0.05 / 25 / 1e4,
                                                               rel_tol=1e-3)
    clock = Clock(build_node({"torch": "OneCycleLR", "max_lr": 0.05, "total_steps": 111}), 0.1,
                  0.9)
    np.testing.assert_array_equal(clock.table(111)[0], want)
