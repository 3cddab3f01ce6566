"""The sweep objective "loss at step N" (``--objective step:N``, ``objective="step:N"``): each
configuration's value is the loss at step N of the same configuration run alone (the trace's
loss column, row N), on every executor and backend; NaN where that step diverged or came after
a divergence."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import sheetopt
from sheetopt import cli

# lesson5's basic sheet: lr 1e-4 finishes, 1e-3 diverges at step 26 of epoch 2 (after step 20),
# 2e-3 at step 25 of epoch 1 (after step 20), 1e-2 at step 10 (before it)
BASIC_LRS = [0.0001, 0.001, 0.002, 0.01]
ONE_CYCLE = """
[data]
preset = "lecture"
true = {{ a = 2.0, b = 30.0 }}
[[sheet]]
name = "adam"
optimizer = "adam"
flavor = "torch"
lr = 0.05
epochs = 3
batch = 4
schedule = {{ torch = "OneCycleLR", max_lr = {max_lr!r}, total_steps = 24, pct_start = {pct_start!r}, per = "step" }}
"""


def alone(spec, sheet: str, step: int, **values) -> float:
    """The loss at ``step`` (from 1) of ``sheet`` run alone with ``values``; NaN when the run
    stopped before recording it."""
    trace = sheetopt.run(spec.with_sheet(sheet, **values), sheet)[sheet]
    losses = trace.steps["loss"]
    return float(losses[step - 1]) if len(losses) >= step else math.nan


def same(found, expected) -> bool:
    return (math.isnan(found) and math.isnan(expected)) or found == expected


@pytest.mark.parametrize("executor", ["numpy", "compiled"])
def test_the_loss_at_step_n_is_the_single_runs_on_both_executors(executor, monkeypatch):
    monkeypatch.setenv("SHEETOPT_EXECUTOR", executor)
    spec = sheetopt.Spec.load("lesson5")
    for sheet, step, values in (("basic", 20, {"lr": BASIC_LRS}),
                                ("adam", 100, {"lr": [0.1, 1.0, 30.0], "mom": [0.8, 0.9]})):
        table = sheetopt.sweep(spec, sheet, objective=f"step:{step}", backend="numpy",
                               **values)
        assert table.attrs["executor"] == executor
        assert table.attrs["objective"] == f"loss_step_{step}"
        for row in table.itertuples():
            chosen = {n: getattr(row, n) for n in values}
            expected = alone(spec, sheet, step, **chosen)
            assert same(getattr(row, f"loss_step_{step}"), expected), (sheet, chosen)
    basic = sheetopt.sweep(spec, "basic", lr=BASIC_LRS, objective="step:20", backend="numpy")
    losses = basic.loss_step_20.tolist()
    assert all(v > 0 for v in losses[:3]) and math.isnan(losses[3])  # diverged at step 10
    assert basic.attrs["best"] == 1  # ranked among the configurations that did not diverge


def test_a_scheduled_minibatch_sweep_too():
    """OneCycleLR's arguments swept on mini-batches of 4: each row against the spec written
    with its values."""
    spec = sheetopt.Spec.from_toml(ONE_CYCLE.format(max_lr=0.1, pct_start=0.3))
    table = sheetopt.sweep(spec, "adam", max_lr=[0.01, 0.3, 3.0], pct_start=[0.2, 0.5],
                           objective="step:17", backend="numpy")
    assert table.loss_step_17.nunique() == 6
    for row in table.itertuples():
        written = sheetopt.Spec.from_toml(ONE_CYCLE.format(max_lr=row.max_lr,
                                                           pct_start=row.pct_start))
        assert row.loss_step_17 == alone(written, "adam", 17)


def test_the_torch_backend_too():
    pytest.importorskip("torch")
    spec = sheetopt.Spec.load("lesson5")
    table = sheetopt.sweep(spec, "basic", lr=BASIC_LRS, objective="step:20", backend="torch",
                           device="cpu")
    numpy = sheetopt.sweep(spec, "basic", lr=BASIC_LRS, objective="step:20", backend="numpy")
    np.testing.assert_allclose(table.loss_step_20, numpy.loss_step_20, rtol=1e-12)
    assert math.isnan(table.loss_step_20[3])


def test_the_command_line_says_it_and_gives_the_same_values(capsys):
    args = ["sweep", "lesson5", "--sheet", "basic", "--lr", ",".join(map(str, BASIC_LRS)),
            "--objective", "step:20", "--backend", "numpy"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "objective: loss at step 20 (its batch's loss before the update" in out
    assert "loss s20" in next(line for line in out.splitlines()
                              if line.lstrip().startswith("config"))
    assert cli.main([*args, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["objective"] == "loss_step_20"
    spec = sheetopt.Spec.load("lesson5")
    for row, lr in zip(document["configurations"], BASIC_LRS):
        expected = alone(spec, "basic", 20, lr=lr)
        assert row["loss_step_20"] == (None if math.isnan(expected) else expected)


@pytest.mark.parametrize("objective, message", [
    ("step:0", "--objective step:0: the sheet runs steps 1 to 145"),
    ("step:146", "--objective step:146: the sheet runs steps 1 to 145"),
    ("step:x", "--objective 'step:x': expected one of final, best, epoch:N, step:N"),
])
def test_a_step_out_of_range_is_one_line(objective, message, capsys):
    assert cli.main(["sweep", "lesson5", "--sheet", "basic", "--lr", "0.0001",
                     "--objective", objective, "--backend", "numpy"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_the_multithreaded_kernel_too(monkeypatch):
    """From 4,096 configurations the compiled kernel runs its blocks in threads."""
    from sheetopt.executors import compiled

    pytest.importorskip("numba")
    lrs = np.geomspace(0.01, 100.0, compiled.PARALLEL_FROM + 4)
    found = {}
    for executor in ("compiled", "numpy"):
        monkeypatch.setenv("SHEETOPT_EXECUTOR", executor)
        found[executor] = sheetopt.sweep("lesson5", "adam", lr=lrs, objective="step:50",
                                         backend="numpy")
    np.testing.assert_array_equal(found["compiled"].loss_step_50, found["numpy"].loss_step_50)
