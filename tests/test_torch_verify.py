"""The batched re-check and the replay: they pass on honest traces and name the step of a
corrupted one; ``sheetopt verify`` reports them and exits 0 or 1."""
from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'sheetopt[torch]')")

from sheetopt import cli, engine  # noqa: E402
from sheetopt.spec import load, parse  # noqa: E402
from sheetopt.torch_backend.recheck import recheck  # noqa: E402
from sheetopt.torch_backend.replay import replay  # noqa: E402


def _failures(differences):
    return {(d.check, d.quantity): d.first_bad for d in differences if not d.ok}


def _corrupted(trace, column, index, factor=1 + 1e-9):
    bad = copy.deepcopy(trace)
    bad.steps[column] = np.array(bad.steps[column], dtype=float)
    bad.steps[column][index] *= factor
    return bad


@pytest.fixture(scope="module")
def adam():
    spec = load("lesson5")
    sheet = spec.sheet("adam")
    return spec, sheet, engine.run(spec, sheet)


def test_recheck_passes_every_quantity_of_an_honest_trace(adam):
    spec, sheet, trace = adam
    differences = recheck(spec, sheet, trace)
    quantities = {d.quantity for d in differences}
    assert {"pred", "err2", "loss", "grad_a", "grad_b", "grad_avg_a", "sqr_avg_b",
            "new_a", "new_b"} <= quantities
    assert all(d.ok for d in differences), _failures(differences)
    assert all(d.count == len(trace) for d in differences if d.quantity != "pred")


def test_recheck_names_the_step_of_one_wrong_state_value(adam):
    spec, sheet, trace = adam
    index = 40  # epoch 2, step 12 (29 steps an epoch)
    failures = _failures(recheck(spec, sheet, _corrupted(trace, "sqr_avg_a", index)))
    assert failures[("re-check", "sqr_avg_a")] == (2, 12)
    assert ("re-check", "sqr_avg_b") not in failures


def test_recheck_names_the_step_of_one_wrong_parameter(adam):
    spec, sheet, trace = adam
    failures = _failures(recheck(spec, sheet, _corrupted(trace, "new_b", 100)))
    assert failures[("re-check", "new_b")] == (4, 14)  # index 100 = 3 epochs of 29 + 13
    assert ("re-check", "new_a") not in failures


def test_recheck_compares_the_gradient_with_autograd_in_mini_batches():
    spec = parse({"data": {"preset": "lecture"}, "model": {"kind": "quadratic"},
                  "sheet": [{"name": "m", "optimizer": "adam", "flavor": "torch", "lr": 0.01,
                             "batch": 7, "epochs": 3, "show": ["forward", "central"],
                             "init": {"a": 0.0, "b": 1.0, "c": 1.0}}]})
    sheet = spec.sheets[0]
    trace = engine.run(spec, sheet)
    differences = recheck(spec, sheet, trace)
    assert all(d.ok for d in differences), _failures(differences)
    grad = next(d for d in differences if d.quantity == "grad_c")
    assert grad.against == "torch autograd" and grad.count == 15  # 5 batches (4 of 7, 1 of 1) x 3
    failures = _failures(recheck(spec, sheet, _corrupted(trace, "grad_c", 7, 1 + 1e-8)))
    assert failures[("re-check", "grad_c")] == (2, 3)


def test_replay_catches_a_rule_that_is_not_torch_optims(adam):
    spec = load("lecture-vs-torch")
    sheet = spec.sheet("torch_adam")
    trace = engine.run(spec, sheet)
    assert all(d.ok for d in replay(spec, sheet, trace))
    failures = _failures(replay(spec, sheet.with_hypers(eps=1e-3), trace))
    assert failures[("replay", "new_a")] == (1, 1)


@pytest.mark.parametrize("preset", ["lesson5", "lecture-vs-torch"])
def test_verify_command_passes_the_presets(preset, capsys):
    assert cli.main(["verify", preset, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "OK: every step" in out and "FAIL" not in out


def test_verify_command_fails_naming_sheet_quantity_and_step(adam, monkeypatch, capsys):
    spec, sheet, trace = adam
    real_run = engine.run

    def corrupting_run(spec, sheet, progress=None):
        honest = real_run(spec, sheet)
        return _corrupted(honest, "grad_avg_b", 60) if sheet.name == "adam" else honest

    monkeypatch.setattr(engine, "run", corrupting_run)
    assert cli.main(["verify", "lesson5", "--sheet", "adam", "--device", "cpu"]) == 1
    out = capsys.readouterr().out
    assert ("FAIL: sheet 'adam' re-check grad_avg_b differs from rule on the trace's inputs "
            "at epoch 3, step 3") in out


def test_verify_command_tolerance_option(capsys):
    assert cli.main(["verify", "lecture-vs-torch", "--sheet", "torch_adam", "--tol", "0"]) == 1
    assert "FAIL: sheet 'torch_adam' replay" in capsys.readouterr().out
    assert cli.main(["verify", "lesson5", "--tol", "-1"]) == 2
    assert "--tol must be a number >= 0" in capsys.readouterr().err


def test_recheck_of_all_sheets_at_once_names_the_corrupted_sheet():
    from sheetopt.torch_backend.recheck import recheck_all

    spec = parse({
        "data": {"preset": "lecture"}, "model": {"kind": "linear"},
        "defaults": {"epochs": 2, "flavor": "torch"},
        "sheet": [{"name": "online", "optimizer": "adam", "lr": 0.1, "show": ["central"]},
                  {"name": "minis", "optimizer": "rmsprop", "lr": 0.01, "batch": 8,
                   "gradient": "forward", "h": 0.001},
                  {"name": "full", "optimizer": "sgd", "lr": 1e-4, "mom": 0.9, "batch": "full"}]})
    runs = [(sheet, engine.run(spec, sheet)) for sheet in spec.sheets]
    together = recheck_all(spec, runs)
    assert {d.sheet for d in together} == {"online", "minis", "full"}
    assert all(d.ok for d in together), _failures(together)
    runs[1] = (runs[1][0], _corrupted(runs[1][1], "sqr_avg_b", 5))  # epoch 2, step 2 (4 a epoch)
    failed = [(d.sheet, d.quantity, d.first_bad) for d in recheck_all(spec, runs) if not d.ok]
    # the wrong state is named where it was written; the next step, which reads it, is then off
    assert failed == [("minis", "sqr_avg_b", (2, 2)), ("minis", "new_b", (2, 3))]
