"""The batched re-check and the replay: they pass on honest traces and name the step of a
corrupted one; ``sheetopt verify`` reports them and exits 0 or 1."""
from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'sheetopt[torch]')")

from benchmark_cases import benchmark  # noqa: E402
from conftest import options_id  # noqa: E402
from sheetopt import cli
from sheetopt.protocol import engine  # noqa: E402
from sheetopt.spec import load, parse  # noqa: E402
from sheetopt.verification.recheck import recheck  # noqa: E402
from sheetopt.verification.replay import replay, verify  # noqa: E402


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
    failures = _failures(replay(spec, sheet.with_hypers(lr=0.5), trace))
    assert failures[("replay", "lr")] == (1, 1) and failures[("replay", "new_b")] == (1, 1)


@pytest.mark.parametrize("preset", ["lesson5", "lecture-vs-torch"])
def test_verify_command_passes_the_presets(preset, capsys):
    assert cli.main(["verify", preset, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "OK: every step" in out and "FAIL" not in out


def test_verify_command_fails_naming_sheet_quantity_and_step(adam, monkeypatch, capsys):
    spec, sheet, trace = adam
    real_run = engine.run

    def corrupting_run(spec, sheet, progress=None, **options):
        honest = real_run(spec, sheet, **options)
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
    from sheetopt.verification.recheck import recheck_all

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


def _spec_of(sheet: dict, epochs: int = 3, **data):
    return parse({"data": {"preset": "lecture", **data}, "model": {"kind": "linear"},
                  "sheet": [{"name": "s", "flavor": "torch", "epochs": epochs, **sheet}]})


FINITE_DIFFERENCE_SHEETS = [
    {"optimizer": "sgd", "lr": 1e-4, "mom": 0.9, "gradient": "forward"},
    {"optimizer": "momentum", "lr": 1e-4, "nesterov": True, "gradient": "central"},
    {"optimizer": "adam", "lr": 0.1, "gradient": "forward", "batch": 7},
]


@pytest.mark.parametrize("sheet", FINITE_DIFFERENCE_SHEETS, ids=[
    options_id(s["optimizer"], {k: v for k, v in s.items() if k != "optimizer"})
    for s in FINITE_DIFFERENCE_SHEETS])
def test_replay_of_a_finite_difference_sheet_hands_torch_optim_the_traces_gradient(sheet):
    # a forward difference of torch.optim's own trajectory would magnify the last-bit
    # differences of torch's fused kernels (rel 2.7e-9 for the first sheet, epoch 1 step 9)
    spec = _spec_of(sheet)
    trace = engine.run(spec, spec.sheets[0])
    differences = replay(spec, spec.sheets[0], trace)
    assert all(d.ok for d in differences), _failures(differences)
    steps = [d for d in differences if d.check == "replay"]
    assert {d.quantity for d in steps} >= {"new_a", "new_b"}
    assert not {"grad_a", "grad_b"} & {d.quantity for d in differences}
    assert all("from the trace's state and gradient" in d.against
               for d in steps if d.quantity != "lr")
    drift, = [d for d in differences if d.check == "drift"]
    assert f"fed the trace's {sheet['gradient']} differences" in drift.against
    # the gradient it was fed is checked by the re-check, from the step's own inputs
    index = 9  # epoch 1, step 10 (online), or epoch 2, step 5 (5 batches an epoch: 4 of 7, 1)
    failures = _failures(recheck(spec, spec.sheets[0], _corrupted(trace, "grad_b", index, 1 + 1e-9)))
    assert failures[("re-check", "grad_b")] == ((2, 5) if "batch" in sheet else (1, 10))


def test_replay_of_torch_momentum_is_torch_optim_sgd_with_mom_0_9():
    from sheetopt.verification.replay import torch_optimizer

    spec = _spec_of({"optimizer": "momentum", "lr": 1e-4})
    sheet = spec.sheets[0]
    optimizer = torch_optimizer(sheet, torch.zeros(2, dtype=torch.float64, requires_grad=True))
    assert type(optimizer) is torch.optim.SGD
    assert optimizer.param_groups[0]["momentum"] == 0.9
    differences = replay(spec, sheet, engine.run(spec, sheet))
    assert all(d.ok for d in differences)
    assert differences[1].against.startswith("torch.optim.SGD, each step")


def test_verify_command_passes_a_finite_difference_torch_sheet(tmp_path, capsys):
    path = tmp_path / "fd.toml"
    path.write_text('[data]\npreset = "lecture"\n[model]\nkind = "linear"\n[[sheet]]\n'
                    'name = "sgd_fd"\noptimizer = "sgd"\nflavor = "torch"\nlr = 1e-4\n'
                    'mom = 0.9\ngradient = "forward"\nepochs = 3\n')
    assert cli.main(["verify", str(path), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "OK: every step" in out
    assert "note: sheet 'sgd_fd' steps with forward differences" in out


def _spliced(spec, sheet, trace, epoch_steps, b_shift=0.0, state_shift=0.0):
    """The trace's first epoch, then a run of the remaining epochs started from the first
    epoch's end with b (or the state) moved: every step consistent on its own, one broken link."""
    end = epoch_steps - 1
    init = {p: float(trace.steps[f"new_{p}"][end]) for p in trace.params}
    init["b"] += b_shift
    state = {s: {p: float(trace.steps[f"{s}_{p}"][end]) + state_shift for p in trace.params}
             for s in trace.state_names}
    rest_sheet = sheet.__class__(**{**sheet.__dict__, "init": init, "state": state,
                                    "epochs": sheet.epochs - 1})
    rest = engine.run(spec, rest_sheet)
    joined = copy.deepcopy(trace)
    for table, first in ((joined.steps, epoch_steps), (joined.rows, epoch_steps)):
        source = rest.steps if table is joined.steps else rest.rows
        for key in table:
            head = np.asarray(table[key])[:first]
            tail = np.asarray(source[key], dtype=float) + (key == "epoch")
            table[key] = np.concatenate([head, tail])
    return joined


@pytest.fixture(scope="module")
def lecture_momentum():
    spec = _spec_of({"optimizer": "momentum", "flavor": "lecture", "lr": 1e-4,
                     "state": {"grad_avg": {"a": 0.0, "b": 0.0}}})
    sheet = spec.sheets[0]
    return spec, sheet, engine.run(spec, sheet)


def test_recheck_catches_a_jump_in_the_parameters_between_steps(lecture_momentum):
    spec, sheet, trace = lecture_momentum
    assert len(trace) == 87
    honest = _spliced(spec, sheet, trace, 29)
    assert all(d.ok for d in recheck(spec, sheet, honest)), _failures(recheck(spec, sheet, honest))
    jumped = _spliced(spec, sheet, trace, 29, b_shift=1e-6)  # across the epoch boundary
    failures = _failures(recheck(spec, sheet, jumped))
    assert failures == {("re-check", "b"): (2, 1)}  # every step is right on its own
    difference = next(d for d in recheck(spec, sheet, jumped) if d.quantity == "b")
    assert difference.against == "previous step's new_b (the start at the first step)"
    # a replay from the start alone strays from the jumped trace (by the jump, not by rounding)
    drift, = replay(spec, sheet, jumped)
    assert drift.info and drift.ok and drift.max_rel > 1e-9 and drift.worst_at[0] == 2


def test_recheck_catches_a_jump_in_the_state_between_steps(lecture_momentum):
    spec, sheet, trace = lecture_momentum
    jumped = _spliced(spec, sheet, trace, 29, state_shift=1e-3)
    failures = _failures(recheck(spec, sheet, jumped))
    # the state before a step is read as the previous step's state after: the rule is off
    assert failures[("re-check", "grad_avg_b")] == (2, 1)
    assert ("re-check", "b") not in failures


def test_recheck_catches_a_start_other_than_the_runs_and_rows_other_than_the_data(
        lecture_momentum):
    spec, sheet, trace = lecture_momentum
    moved = copy.deepcopy(trace)
    moved.start["a"] += 1e-9
    assert _failures(recheck(spec, sheet, moved)) == {("re-check", "a"): (1, 1)}
    other = copy.deepcopy(trace)
    other.rows["x"] = np.array(other.rows["x"], dtype=float)
    other.rows["x"][40] += 1.0  # epoch 2, step 12; its prediction no longer matches either
    x = next(d for d in recheck(spec, sheet, other) if d.quantity == "x")
    assert x.first_bad == (2, 12) and x.against == "the spec's data at the row"


def test_left_to_right_sum_adds_one_value_at_a_time():
    from sheetopt.executors.torch.batch import left_to_right_sum, mean

    rng = np.random.default_rng(0)
    values = rng.standard_normal((4, 5000)) * 10.0 ** rng.uniform(-8, 8, (4, 5000))
    expected = []
    for row in values:
        total = row[0]
        for value in row[1:]:
            total = total + value
        expected.append(total)
    got = left_to_right_sum(torch.tensor(values)).numpy()
    assert got.tolist() == expected  # bit for bit: torch's CPU cumsum is sequential
    assert got.tolist() != values.sum(axis=1).tolist()  # numpy's pairwise sum is not
    assert mean(torch.tensor(values[:, :1])).tolist() == values[:, 0].tolist()
    assert mean(torch.tensor(values)).tolist() == (np.array(expected) / 5000).tolist()


def test_recheck_and_replay_of_a_large_full_batch_are_exact():
    # (benchmarks/sweep.py times this case: well under a second, where a row-by-row loop in
    # Python took 8-10 s)
    spec = benchmark("sweep").large_full_batch_spec(20_000)
    differences = verify(spec, [(sheet, engine.run(spec, sheet)) for sheet in spec.sheets])
    # finite differences of a 20,000-row mean cancel most digits: only the engine's
    # left-to-right order of summing reproduces them to 1e-12
    assert all(d.ok for d in differences), _failures(differences)
    assert {d.quantity for d in differences} >= {"forward_a", "central_b", "grad_a", "new_b"}
