"""Sweeps of any numeric hyperparameter or schedule argument, by name; the objective; ties.

Every swept row is checked against a run of the spec written with that row's values (the same
TOML with the number in place), bit for bit: the sweep's grouping by formula shape and by
schedule arguments cannot hide a wrong value.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import sheetopt
from sheetopt import cli
from sheetopt.errors import SheetoptError

ONE_CYCLE = """
title = "one cycle"
[data]
preset = "lecture"
true = {{ a = 2.0, b = 30.0 }}
[model]
kind = "linear"
[[sheet]]
name = "adam"
optimizer = "adam"
flavor = "torch"
lr = 0.05
eps = {eps}
epochs = 3
schedule = {{ torch = "OneCycleLR", max_lr = {max_lr}, total_steps = 87, pct_start = {pct_start}, per = "step" }}
"""
SGD = """
title = "sgd"
[data]
preset = "lecture"
true = {{ a = 2.0, b = 30.0 }}
[model]
kind = "linear"
[[sheet]]
name = "sgd"
optimizer = "sgd"
flavor = "torch"
lr = 0.0001
mom = {mom}
wd = {wd}
dampening = {dampening}
epochs = 3
schedule = {{ torch = "StepLR", step_size = {step_size}, gamma = {gamma}, per = "epoch" }}
"""
ONE_CYCLE_AT = {"eps": 1e-8, "max_lr": 0.1, "pct_start": 0.3}
SGD_AT = {"mom": 0.0, "wd": 0.0, "dampening": 0.0, "step_size": 1, "gamma": 0.5}


def single_run(template: str, values: dict):
    """The spec written with these values, run on its own: (final RMSE, epoch RMSEs, a, b)."""
    result = sheetopt.run(sheetopt.Spec.from_toml(template.format(**values)))
    trace = result.traces[next(iter(result.traces))]
    rmse = result.summary().rmse.to_numpy()
    return rmse[-1], rmse, trace.final()


def assert_rows_equal_single_runs(table, template, defaults, names):
    for row in table.itertuples():
        values = {**defaults, **{n: getattr(row, n) for n in names}}
        if "step_size" in values:
            values["step_size"] = int(values["step_size"])
        final, _, params = single_run(template, values)
        assert row.final_rmse == final, values
        assert (row.a, row.b) == (params["a"], params["b"]), values


# --- Python ---------------------------------------------------------------------------------
def test_a_sweep_over_max_lr_differs_run_to_run_and_equals_single_runs():
    spec = sheetopt.Spec.from_toml(ONE_CYCLE.format(**ONE_CYCLE_AT))
    table = sheetopt.sweep(spec, "adam", max_lr=[0.01, 0.1, 1.0], backend="numpy")
    assert list(table.columns) == ["config", "max_lr", "final_rmse", "a", "b",
                                   "diverged_epoch", "diverged_step"]
    assert table.final_rmse.nunique() == 3  # the runs differ
    assert_rows_equal_single_runs(table, ONE_CYCLE, ONE_CYCLE_AT, ["max_lr"])
    assert table.attrs["best"] == int(table.final_rmse.idxmin()) + 1
    assert table.attrs["tied"] == 1


def test_schedule_arguments_and_hyperparameters_combine_first_name_fastest():
    spec = sheetopt.Spec.from_toml(ONE_CYCLE.format(**ONE_CYCLE_AT))
    table = sheetopt.sweep(spec, "adam", max_lr=[0.05, 0.2], pct_start=[0.2, 0.5],
                           eps=[1e-8, 0.5], backend="numpy")
    assert table.max_lr.tolist() == [0.05, 0.2] * 4
    assert table.pct_start.tolist() == [0.2, 0.2, 0.5, 0.5] * 2
    assert table.eps.tolist() == [1e-8] * 4 + [0.5] * 4
    assert_rows_equal_single_runs(table, ONE_CYCLE, ONE_CYCLE_AT, ["max_lr", "pct_start", "eps"])


def test_values_that_change_the_formulas_shape_run_in_their_own_groups():
    """torch SGD: mom 0 has no momentum buffer, wd 0 no decay term; a whole-number scheduler
    argument (StepLR's step_size) and a real one (gamma) vary per group."""
    spec = sheetopt.Spec.from_toml(SGD.format(**SGD_AT))
    table = sheetopt.sweep(spec, "sgd", mom=[0.0, 0.5, 0.9], wd=[0.0, 0.01],
                           step_size=[1, 2], gamma=[0.5, 0.9], backend="numpy")
    assert len(table) == 24 and table.final_rmse.nunique() == 24
    assert_rows_equal_single_runs(table, SGD, SGD_AT, ["mom", "wd", "step_size", "gamma"])


def test_a_value_the_schedule_replaces_is_refused_naming_what_to_sweep():
    spec = sheetopt.Spec.from_toml(ONE_CYCLE.format(**ONE_CYCLE_AT))
    with pytest.raises(SheetoptError) as error:
        sheetopt.sweep(spec, "adam", lr=[1e-4, 1e-3], backend="numpy")
    message = str(error.value)
    assert "\n" not in message and "does not use its lr" in message
    assert message.endswith("sweep max_lr instead")
    with pytest.raises(SheetoptError, match="sweep base_momentum or max_momentum instead"):
        sheetopt.sweep(spec, "adam", mom=[0.8, 0.9], backend="numpy")


@pytest.mark.parametrize("kwargs, message", [
    ({"max_lrr": [0.1]}, "has no numeric hyperparameter or schedule argument max_lrr (did you "
                         "mean max_lr?)"),
    ({"total_steps": [87.5]}, "total_steps must be a whole number (got 87.5)"),
    ({"total_steps": [50]}, "total_steps = 50 is smaller than the run's 87"),
    ({"pct_start": [1.5]}, "pct_start must be in [0, 1] (got 1.5)"),
    ({"eps": [-1.0]}, "eps: values must be >= 0 (got -1)"),
    ({"eps": [math.inf]}, "eps: values must be finite"),
    ({"max_lr": [0.1], "objective": "epoch:4"}, "objective epoch:4: the sheet runs epochs 1 to 3"),
    ({"max_lr": [0.1], "objective": "median"}, "objective 'median': expected one of final"),
])
def test_bad_names_and_values_are_one_line(kwargs, message):
    spec = sheetopt.Spec.from_toml(ONE_CYCLE.format(**ONE_CYCLE_AT))
    with pytest.raises(SheetoptError) as error:
        sheetopt.sweep(spec, "adam", backend="numpy", **kwargs)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_identical_runs_name_no_best():
    """torch SGD without momentum does not read dampening: three identical runs, no best."""
    spec = sheetopt.Spec.from_toml(SGD.format(**SGD_AT))
    table = sheetopt.sweep(spec, "sgd", dampening=[0.0, 0.5, 0.9], backend="numpy")
    assert table.final_rmse.nunique() == 1
    assert table.attrs["best"] is None and table.attrs["tied"] == 3


def test_the_objective_best_and_epoch_n_equal_the_single_runs_epochs():
    spec = sheetopt.Spec.from_toml(ONE_CYCLE.format(**ONE_CYCLE_AT))
    best = sheetopt.sweep(spec, "adam", max_lr=[0.01, 0.3, 3.0], objective="best",
                          backend="numpy")
    second = sheetopt.sweep(spec, "adam", max_lr=[0.01, 0.3, 3.0], objective="epoch:2",
                            backend="numpy")
    assert best.attrs["objective"] == "best_rmse" and second.attrs["objective"] == "rmse_epoch_2"
    for i, max_lr in enumerate([0.01, 0.3, 3.0]):
        _, epochs, _ = single_run(ONE_CYCLE, {**ONE_CYCLE_AT, "max_lr": max_lr})
        assert best.best_rmse[i] == epochs.min() and second.rmse_epoch_2[i] == epochs[1]
    assert best.attrs["best"] == int(best.best_rmse.idxmin()) + 1
    assert second.attrs["best"] == int(second.rmse_epoch_2.idxmin()) + 1


# --- command line ---------------------------------------------------------------------------
@pytest.fixture
def one_cycle_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(ONE_CYCLE.format(**ONE_CYCLE_AT))
    return str(path)


def test_cli_set_max_lr_log_equals_python(one_cycle_file, capsys):
    assert cli.main(["sweep", one_cycle_file, "--sheet", "adam", "--set", "max_lr=0.01:1:5",
                     "--log", "--set", "pct_start=0.2,0.4", "--backend", "numpy", "--format",
                     "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    rows = document["configurations"]
    table = sheetopt.sweep(one_cycle_file, "adam", max_lr=np.geomspace(0.01, 1, 5),
                           pct_start=[0.2, 0.4], backend="numpy")
    assert [r["max_lr"] for r in rows] == table.max_lr.tolist()
    assert [r["final_rmse"] for r in rows] == table.final_rmse.tolist()
    assert document["objective"] == "final_rmse" and document["tied"] == 1
    assert document["best"]["config"] == table.attrs["best"]


def test_cli_table_says_the_objective_and_the_best(one_cycle_file, capsys):
    assert cli.main(["sweep", one_cycle_file, "--sheet", "adam", "--set", "max_lr=0.01,0.3,3",
                     "--objective", "best", "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    table = sheetopt.sweep(one_cycle_file, "adam", max_lr=[0.01, 0.3, 3.0], objective="best",
                           backend="numpy")
    best = table.attrs["best"]
    assert "objective: best RMSE (the smallest true RMSE of an epoch)" in out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("config"))
    assert "final RMSE" in header and "best RMSE" in header
    assert out.rstrip().endswith(f"best: config {best}: max_lr={table.max_lr[best - 1]:g} -> "
                                 f"best RMSE {table.best_rmse[best - 1]:.6g}")


def test_cli_ties_name_no_best(tmp_path, capsys):
    path = tmp_path / "sgd.toml"
    path.write_text(SGD.format(**SGD_AT))
    assert cli.main(["sweep", str(path), "--sheet", "sgd", "--set", "dampening=0,0.5,0.9",
                     "--backend", "numpy"]) == 0
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert last.startswith("best: none (3 configurations tie at final RMSE")


@pytest.mark.parametrize("args, message", [
    (["--lr", "1e-4:1:9", "--log"], "--lr: sheet 'adam' does not use its lr: its schedule "
                                    "(torch OneCycleLR per step) sets lr every step from its own "
                                    "arguments; sweep --set max_lr instead"),
    (["--set", "max_lr"], "--set 'max_lr': expected NAME=VALUES"),
    (["--set", "max_lr=0.1", "--set", "max_lr=0.2"], "--set max_lr: max_lr is swept twice"),
    (["--set", "gamma=0.1"], "it can sweep lr, mom, sqr_mom, eps, wd, max_lr"),
    (["--set", "pct_start=0.2:x:3"], "--set pct_start '0.2:x:3': expected START:STOP:N"),
    (["--backend", "numpy"], "nothing to sweep: give --lr values"),
    (["--set", "max_lr=0.1", "--objective", "epoch:0"], "--objective epoch:0: the sheet runs"),
])
def test_cli_bad_sweeps_are_one_line_and_exit_2(one_cycle_file, args, message, capsys):
    assert cli.main(["sweep", one_cycle_file, "--sheet", "adam", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err and len(captured.err.strip().splitlines()) == 1
