"""Trace output: the columns the issue names, and CSV/JSON that read back to the same floats."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sheetopt import cli, spec as spec_mod
from sheetopt.protocol import engine
from sheetopt.protocol.trace import Trace


def adam_spec(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "adam.toml"
    path.write_text(f"""
[data]
preset = "lecture"
true = {{ a = 2.0, b = 30.0 }}
[[sheet]]
name = "adam"
optimizer = "adam"
lr = 0.3
epochs = 2
show = ["forward", "central"]
{extra}
""")
    return path


def issue_columns(params, shown, states):
    """The step columns in the order issue 2 lists them."""
    columns = ["epoch", "step", "x", "y"]
    for p in params:
        columns += [p, f"grad_{p}", f"new_{p}"]
    columns += ["pred", "loss", "lr"]
    columns += [f"{m}_{p}" for m in shown for p in params]
    columns += [f"{s}_{p}" for s in states for p in params]
    return columns


def test_step_columns_are_named_and_ordered_as_the_issue_lists(tmp_path):
    spec = spec_mod.load(adam_spec(tmp_path))
    trace = engine.run(spec, "adam")
    expected = issue_columns("ab", ["forward", "central"], ["grad_avg", "sqr_avg"])
    columns = list(trace.steps)
    assert set(expected) <= set(columns)
    assert set(columns) - set(expected) <= {"row", "size"}  # where the step's rows start, how many
    assert [c for c in columns if c in expected] == expected
    quad = spec_mod.load("quadratic")
    assert list(engine.run(quad, "book").steps)[:4] == ["epoch", "step", "row", "size"]
    assert [c for c in engine.run(quad, "book").steps if c not in ("row", "size")] == \
        issue_columns("abc", [], [])


RECORDED = [  # presets and layouts: shown differences, mini-batches, one-cycle's mom column
    ("lesson5", None), ("lecture-vs-torch", None), ("quadratic", None),
    ("extras", {"data": {"preset": "lecture"}, "sheet": [
        {"name": "shown", "optimizer": "adam", "lr": 0.1, "show": ["forward", "central"],
         "batch": 4, "state": {"grad_avg": {"a": 0.0, "b": 0.0}, "sqr_avg": {"a": 1.0, "b": 1.0}}},
        {"name": "cycle", "optimizer": "momentum", "flavor": "torch", "lr": 1e-4,
         "schedule": "one_cycle", "gradient": "central"}]}),
]


@pytest.mark.parametrize("name, raw", RECORDED, ids=[r[0] for r in RECORDED])
@pytest.mark.parametrize("executor", ["numpy", "compiled"])
def test_both_recorders_fill_exactly_the_step_columns(name, raw, executor):
    spec = spec_mod.parse(raw) if raw else spec_mod.load(name)
    for sheet in spec.sheets:
        hp = engine.hyper_arrays(sheet)
        params = np.array([[sheet.init[p] for p in spec.model.params]])
        plan = engine.plan_for(spec, sheet, epochs=2)
        result = engine.simulate(spec, sheet, hp, params, engine.start_state(spec, sheet, hp),
                                 plan, record=True, executor=executor)
        assert list(result.steps) == list(engine.step_columns(spec, sheet)), sheet.name
        assert list(result.rows) == list(engine.ROW_COLUMNS), sheet.name


def test_a_run_that_records_nothing_still_names_its_columns(tmp_path, capsys):
    path = adam_spec(tmp_path, "diverge_above = 1.0")  # the first loss is far above 1
    assert cli.main(["trace", str(path)]) == 0
    expected = issue_columns("ab", ["forward", "central"], ["grad_avg", "sqr_avg"])
    expected[2:2] = ["row", "size"]
    assert capsys.readouterr().out.splitlines() == [",".join(expected)]
    assert cli.main(["trace", str(path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["steps"] == {c: [] for c in expected}


def test_state_columns_follow_the_rule():
    spec = spec_mod.load("lesson5")
    assert "grad_avg_a" not in engine.run(spec, "basic").steps
    def state_columns(name):
        return [c for c in engine.run(spec, name).steps if "avg" in c]
    assert state_columns("rmsprop") == ["sqr_avg_a", "sqr_avg_b"]
    assert state_columns("momentum") == ["grad_avg_a", "grad_avg_b"]
    assert state_columns("adam") == ["grad_avg_a", "grad_avg_b", "sqr_avg_a", "sqr_avg_b"]


def parse_csv(text: str) -> dict[str, list[float]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    rows = list(reader)
    return {name: [float(row[i]) if row[i] != "" else math.nan for row in rows]
            for i, name in enumerate(header)}


def same_floats(read_back, original) -> bool:
    """Exactly equal, NaN where NaN, and the sign of zero kept."""
    original = np.asarray(original, dtype=float).tolist()
    if len(read_back) != len(original):
        return False
    for r, o in zip(read_back, original):
        if math.isnan(o):
            if not (r is None or (isinstance(r, float) and math.isnan(r))):
                return False
        elif not (r == o and math.copysign(1, r) == math.copysign(1, o)):
            return False
    return True


def check_csv(text: str, trace: Trace) -> None:
    table = parse_csv(text)
    assert list(table) == list(trace.steps)
    for column, values in trace.steps.items():
        assert same_floats(table[column], values), column


def check_json(text: str, trace: Trace) -> None:
    document = json.loads(text)
    assert list(document["steps"]) == list(trace.steps)
    for column, values in trace.steps.items():
        assert same_floats(document["steps"][column], values), column
    for column, values in trace.epochs.items():
        assert same_floats(document["epochs"][column], values), column
    assert document["start"] == trace.start
    assert document["params"] == list(trace.params)
    assert document["diverged_at"] == (list(trace.diverged_at) if trace.diverged_at else None)


def test_csv_and_json_round_trip_every_float(tmp_path):
    trace = engine.run(spec_mod.load(adam_spec(tmp_path)), "adam")
    check_csv(trace.to_csv(), trace)
    check_json(trace.to_json(), trace)


def test_minibatch_trace_round_trips_its_missing_x(tmp_path):
    trace = engine.run(spec_mod.load(adam_spec(tmp_path, "batch = 4\nshuffle = true\nseed = 3")),
                       "adam")
    several = trace.steps["size"] > 1  # a step over several rows has no single x; 29 = 7*4 + 1
    assert np.isnan(trace.steps["x"][several]).all() and (~several).sum() == 2
    check_csv(trace.to_csv(), trace)
    check_json(trace.to_json(), trace)


def test_the_trace_command_writes_what_reads_back(tmp_path, capsys):
    path = adam_spec(tmp_path)
    trace = engine.run(spec_mod.load(path), "adam")
    assert cli.main(["trace", str(path)]) == 0
    check_csv(capsys.readouterr().out, trace)
    assert cli.main(["trace", str(path), "--format", "json"]) == 0
    check_json(capsys.readouterr().out, trace)
    out = tmp_path / "adam.csv"
    assert cli.main(["trace", str(path), "-o", str(out)]) == 0
    check_csv(out.read_text(), trace)
    out_json = tmp_path / "adam.json"
    assert cli.main(["trace", str(path), "--sheet", "adam", "--format", "json",
                     "-o", str(out_json)]) == 0
    check_json(out_json.read_text(), trace)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adam.csv", "adam.json", "adam.toml"]


def test_diverged_trace_json_names_where(tmp_path):
    path = adam_spec(tmp_path, "diverge_above = 100.0")
    trace = engine.run(spec_mod.load(path), "adam")
    assert trace.diverged_at is not None
    check_json(trace.to_json(), trace)


awkward = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(awkward, awkward, awkward), min_size=1, max_size=20))
def test_any_float_round_trips(values):
    # subnormals, -0.0, 0.1 + 0.2, the largest doubles: 17 significant digits bring each back
    a, g, new = (np.array(column) for column in zip(*values))
    n = len(values)
    steps = {"epoch": np.ones(n), "step": np.arange(1.0, n + 1), "x": new[::-1].copy(),
             "y": g[::-1].copy(), "a": a, "grad_a": g, "new_a": new, "pred": a, "loss": g,
             "lr": new}
    epochs = {"epoch": np.array([1.0]), "lecture_rmse": a[:1], "rmse": g[:1], "lr": new[:1]}
    trace = Trace(sheet="awkward", params=("a",), state_names=(), steps=steps, rows={},
                  epochs=epochs, start={"a": float(a[0]), "lr": 1.0})
    check_csv(trace.to_csv(), trace)
    check_json(trace.to_json(), trace)


@pytest.mark.parametrize("value", [0.1 + 0.2, 5e-324, -0.0, 1.7976931348623157e308,
                                   2.2250738585072014e-308, 1 / 3, -2.569996469807525])
def test_known_awkward_floats_round_trip(value):
    steps = {"epoch": np.array([1.0]), "step": np.array([1.0]), "a": np.array([value])}
    trace = Trace(sheet="one", params=("a",), state_names=(), steps=steps, rows={},
                  epochs={"epoch": np.array([1.0])}, start={"a": value})
    check_csv(trace.to_csv(), trace)
    check_json(trace.to_json(), trace)


def test_to_dataframe_holds_every_step(tmp_path):
    trace = engine.run(spec_mod.load(adam_spec(tmp_path)), "adam")
    frame = trace.to_dataframe()
    assert list(frame.columns) == list(trace.steps)
    assert len(frame) == len(trace) == 58
    for column, values in trace.steps.items():
        assert frame[column].to_numpy(dtype=float).tolist() == values.tolist(), column
    assert frame["new_a"].iloc[-1] == trace.final()["a"]
    assert frame.loc[frame["epoch"] == 2, "step"].tolist() == list(range(1, 30))


def test_show_accepts_one_method_by_name(tmp_path):
    path = adam_spec(tmp_path).read_text().replace('show = ["forward", "central"]',
                                                   'show = "central"')
    (tmp_path / "one.toml").write_text(path)
    trace = engine.run(spec_mod.load(tmp_path / "one.toml"), "adam")
    assert [c for c in trace.steps if c.startswith(("forward", "central"))] == ["central_a",
                                                                                  "central_b"]


def test_output_files_get_the_usual_permissions(tmp_path):
    # written through a private temporary file, the result must still be a normal file
    path = adam_spec(tmp_path)
    old = os.umask(0o022)
    try:
        assert cli.main(["trace", str(path), "-o", str(tmp_path / "t.csv")]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t.csv").stat().st_mode) == 0o644
