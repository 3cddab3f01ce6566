"""The engine's walk over epochs and batches, its schedules, divergence and batched runs.

Expected values come from small reimplementations written here (Python floats, SPEC.md's and
fastai's formulas), never from the engine itself.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sheetopt import cli, spec as spec_mod
from conftest import options_id, spec_with  # noqa: E402
from sheetopt.protocol import engine
from sheetopt.schedules import Schedule

REL = 1e-12


def make_spec(sheet: dict, data: dict | None = None, model: str = "linear"):
    spec = spec_with([sheet], data, model)
    return spec, spec.sheets[0]


def close(actual, expected, what="", rel=REL):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rel, atol=0, err_msg=what)


def rows_of(spec):
    return list(zip(spec.data.x.tolist(), spec.data.y.tolist()))


# --- epochs carry parameters and state over ---------------------------------------------------
def test_each_epoch_starts_where_the_last_one_ended():
    spec, sheet = make_spec({"optimizer": "adam", "lr": 0.5, "epochs": 3,
                             "state": {"grad_avg": {"a": 0.0, "b": 0.0},
                                       "sqr_avg": {"a": 1e4, "b": 1e4}}})
    trace = engine.run(spec, sheet)
    steps = trace.steps
    for epoch in (2, 3):
        first = np.where((steps["epoch"] == epoch) & (steps["step"] == 1))[0][0]
        last = first - 1
        assert steps["epoch"][last] == epoch - 1 and steps["step"][last] == 29
        for p in "ab":
            assert steps[p][first] == steps[f"new_{p}"][last]
            # the state carried in: this step's averages are built on the last step's ones
            g = steps[f"grad_{p}"][first]
            m, s = steps[f"grad_avg_{p}"][last], steps[f"sqr_avg_{p}"][last]
            assert steps[f"grad_avg_{p}"][first] == 0.9 * m + (1 - 0.9) * g
            assert steps[f"sqr_avg_{p}"][first] == 0.9 * s + (1 - 0.9) * g ** 2


def test_two_epochs_equal_one_epoch_restarted_from_its_end():
    base = {"optimizer": "momentum", "lr": 0.0001, "mom": 0.9,
            "state": {"grad_avg": {"a": 0.0, "b": 0.0}}}
    spec, two = make_spec({**base, "epochs": 2})
    both = engine.run(spec, two)
    first = engine.run(spec, replace(two, epochs=1))
    final, state = first.final(), first.final_state()
    _, again = make_spec({**base, "epochs": 1, "init": final,
                          "state": {"grad_avg": {p: state[f"grad_avg_{p}"] for p in "ab"}}})
    second = engine.run(spec, again)
    for column, values in second.steps.items():
        if column not in ("epoch",):
            assert values.tolist() == both.steps[column][29:].tolist(), column


def test_torch_adam_counts_steps_across_epochs():
    # bias correction uses t = 1, 2, ... through every epoch (t = n + 1 on epoch 2's first step)
    spec, sheet = make_spec({"optimizer": "adam", "flavor": "torch", "lr": 0.1, "epochs": 2,
                             "init": {"a": 1.0, "b": 1.0}},
                            data={"rows": 7, "true": {"a": 2.0, "b": 3.0}, "seed": 4})
    trace = engine.run(spec, sheet)
    a, b, m, v, t = 1.0, 1.0, [0.0, 0.0], [0.0, 0.0], 0
    expected = []
    for _ in range(2):
        for x, y in rows_of(spec):
            t += 1
            d = 2 * (b + a * x - y)
            new = []
            for j, (p, g) in enumerate(((a, x * d), (b, d))):
                m[j] = m[j] + (g - m[j]) * (1 - 0.9)
                v[j] = v[j] * 0.999 + (1 - 0.999) * g * g
                denom = math.sqrt(v[j]) / math.sqrt(1 - 0.999 ** t) + 1e-8
                new.append(p - 0.1 / (1 - 0.9 ** t) * m[j] / denom)
            a, b = new
            expected.append((a, b))
    close(trace.steps["new_a"], [e[0] for e in expected], "new_a")
    close(trace.steps["new_b"], [e[1] for e in expected], "new_b")


# --- explicit start state ---------------------------------------------------------------------
def test_explicit_start_state_is_used_as_given():
    state = {"grad_avg": {"a": -5.0, "b": 0.5}, "sqr_avg": {"a": 100.0, "b": 4.0}}
    spec, sheet = make_spec({"optimizer": "adam", "lr": 0.1, "mom": 0.8, "sqr_mom": 0.7,
                             "init": {"a": 1.5, "b": -2.0}, "state": state})
    trace = engine.run(spec, sheet)
    assert trace.start == {"a": 1.5, "b": -2.0, "grad_avg_a": -5.0, "grad_avg_b": 0.5,
                           "sqr_avg_a": 100.0, "sqr_avg_b": 4.0, "lr": 0.1}
    x, y = spec.data.x[0], spec.data.y[0]
    d = 2 * ((-2.0 + 1.5 * x) - y)
    for p, g, value in (("a", x * d, 1.5), ("b", d, -2.0)):
        m = 0.8 * state["grad_avg"][p] + 0.2 * g
        s = 0.7 * state["sqr_avg"][p] + 0.3 * g ** 2
        close(trace.steps[f"grad_avg_{p}"][0], m)
        close(trace.steps[f"sqr_avg_{p}"][0], s)
        close(trace.steps[f"new_{p}"][0], value - 0.1 * m / math.sqrt(s))


def test_state_left_out_starts_at_zero():
    spec, sheet = make_spec({"optimizer": "momentum", "lr": 0.001, "state": {}})
    trace = engine.run(spec, sheet)
    assert trace.start["grad_avg_a"] == 0.0 and trace.start["grad_avg_b"] == 0.0
    g = trace.steps["grad_a"][0]
    assert trace.steps["grad_avg_a"][0] == (1 - 0.9) * g


# --- batches ----------------------------------------------------------------------------------
def mean_gradient(a: float, b: float, xs, ys):
    """d/da and d/db of mean((a*x + b - y)^2): (2/n)*sum(x*r) and (2/n)*sum(r)."""
    xs, ys = np.asarray(xs), np.asarray(ys)
    r = a * xs + b - ys
    return 2 * np.sum(xs * r) / len(xs), 2 * np.sum(r) / len(xs), np.mean(r ** 2)


def check_batch_steps(spec, trace):
    """Every recorded step's gradient and loss are the batch means at that step's params."""
    x, y = spec.data.x, spec.data.y
    rows_seen = trace.rows["row"].astype(int) - 1
    at = 0
    for i in range(len(trace)):
        size = int(trace.steps["size"][i])
        index = rows_seen[at:at + size]
        at += size
        g_a, g_b, loss = mean_gradient(trace.steps["a"][i], trace.steps["b"][i], x[index], y[index])
        close(trace.steps["grad_a"][i], g_a, f"grad_a at step {i}")
        close(trace.steps["grad_b"][i], g_b, f"grad_b at step {i}")
        close(trace.steps["loss"][i], loss, f"loss at step {i}")
    assert at == len(rows_seen)


def test_minibatches_in_order():
    spec, sheet = make_spec({"optimizer": "sgd", "lr": 1e-5, "batch": 5, "epochs": 2})
    trace = engine.run(spec, sheet)
    assert trace.steps["size"].tolist() == [5, 5, 5, 5, 5, 4] * 2
    assert trace.steps["step"].tolist() == [1, 2, 3, 4, 5, 6] * 2
    assert trace.rows["row"].tolist() == list(range(1, 30)) * 2
    assert trace.steps["row"].tolist() == [1, 6, 11, 16, 21, 26] * 2
    assert np.isnan(trace.steps["x"]).all()  # a batch has no single x
    check_batch_steps(spec, trace)
    # each step moves the params by -lr * the batch gradient
    close(trace.steps["new_a"], trace.steps["a"] - 1e-5 * trace.steps["grad_a"])


def epoch_orders(trace):
    return [trace.rows["row"][trace.rows["epoch"] == e].astype(int).tolist()
            for e in range(1, int(trace.rows["epoch"].max()) + 1)]


def test_shuffled_minibatches_are_a_fresh_seeded_permutation_each_epoch():
    sheet = {"optimizer": "sgd", "lr": 1e-5, "batch": 4, "epochs": 3, "shuffle": True}
    spec, seeded = make_spec({**sheet, "seed": 7})
    first, again = engine.run(spec, seeded), engine.run(spec, seeded)
    orders = epoch_orders(first)
    for order in orders:
        assert sorted(order) == list(range(1, 30))
    assert orders[0] != list(range(1, 30))
    assert orders[0] != orders[1] != orders[2]
    for column in first.steps:  # the same seed gives the same run, bit for bit
        assert np.array_equal(first.steps[column], again.steps[column], equal_nan=True)
    _, other_seed = make_spec({**sheet, "seed": 8})
    assert epoch_orders(engine.run(spec, other_seed)) != orders
    check_batch_steps(spec, first)


def test_batches_plan_shapes():
    plan = list(engine.batches(10, 3, 2, shuffle=True, seed=1))
    assert [len(b) for b in plan[0]] == [3, 3, 3, 1]
    for epoch in plan:
        assert sorted(np.concatenate(epoch).tolist()) == list(range(10))
    assert np.concatenate(plan[0]).tolist() != np.concatenate(plan[1]).tolist()
    again = engine.batches(10, 3, 2, shuffle=True, seed=1)
    assert all(np.array_equal(u, v) for e, f in zip(plan, again) for u, v in zip(e, f))
    ordered = list(engine.batches(10, 4, 1, shuffle=False, seed=0))
    assert [b.tolist() for b in ordered[0]] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_full_batch_steps_with_the_mean_gradient():
    data = {"rows": 50, "x": "uniform", "x_min": -1.0, "x_max": 1.0, "noise": "normal",
            "noise_scale": 0.5, "seed": 3, "true": {"a": 3.0, "b": 2.0}}
    spec, sheet = make_spec({"optimizer": "sgd", "lr": 0.1, "batch": "full", "epochs": 20,
                             "init": {"a": -1.0, "b": 1.0}}, data=data)
    trace = engine.run(spec, sheet)
    assert len(trace) == 20 and (trace.steps["size"] == 50).all()
    a, b = -1.0, 1.0
    for i in range(20):
        g_a, g_b, loss = mean_gradient(a, b, spec.data.x, spec.data.y)
        close(trace.steps["grad_a"][i], g_a)
        close(trace.steps["grad_b"][i], g_b)
        close(trace.steps["loss"][i], loss)
        a, b = a - 0.1 * g_a, b - 0.1 * g_b
        close(trace.steps["new_a"][i], a)
        close(trace.steps["new_b"][i], b)
    close(trace.epochs["rmse"], np.sqrt(trace.steps["loss"]))  # one step per epoch: the same rows


def test_full_batch_quadratic_gradient():
    data = {"rows": 20, "x": "range", "x_min": 0.0, "x_max": 19.0, "seed": 1,
            "true": {"a": 0.75, "b": -14.25, "c": 68.6875}}
    spec, sheet = make_spec({"optimizer": "sgd", "lr": 1e-5, "batch": "full", "epochs": 3,
                             "init": {"a": -0.4, "b": 0.8, "c": 1.3}}, data=data,
                            model="quadratic")
    trace = engine.run(spec, sheet)
    t, speed = spec.data.x, spec.data.y
    a, b, c = -0.4, 0.8, 1.3
    for i in range(3):
        r = a * t ** 2 + b * t + c - speed
        grads = 2 * np.mean(t ** 2 * r), 2 * np.mean(t * r), 2 * np.mean(r)
        for name, g in zip("abc", grads):
            close(trace.steps[f"grad_{name}"][i], g)
        a, b, c = (v - 1e-5 * g for v, g in zip((a, b, c), grads))
    close([trace.final()[p] for p in "abc"], [a, b, c])


# --- schedules --------------------------------------------------------------------------------
def sched_cos(start, end, pos):
    """fastai's SchedCos."""
    return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def fastai_one_cycle(i, total, lr_max, div=25.0, div_final=1e5, pct_start=0.25,
                     moms=(0.95, 0.85, 0.95)):
    """fit_one_cycle at iteration i of total: combined_cos for lr and for the momentum."""
    pos = i / total
    if pos < pct_start:
        p = pos / pct_start
        return sched_cos(lr_max / div, lr_max, p), sched_cos(moms[0], moms[1], p)
    p = (pos - pct_start) / (1 - pct_start)
    return sched_cos(lr_max, lr_max / div_final, p), sched_cos(moms[1], moms[2], p)


ONE_CYCLE_OPTIONS = [
    {},
    {"div": 10.0, "div_final": 100.0, "pct_start": 0.3, "moms": [0.9, 0.8, 0.99]},
]


@pytest.mark.parametrize("options", ONE_CYCLE_OPTIONS,
                         ids=[options_id("one_cycle", o) for o in ONE_CYCLE_OPTIONS])
def test_one_cycle_lr_and_momentum_follow_fastai(options):
    schedule = {"kind": "one_cycle", **options} if options else "one_cycle"
    spec, sheet = make_spec({"optimizer": "momentum", "lr": 0.001, "epochs": 3, "batch": 2,
                             "schedule": schedule, "state": {"grad_avg": {"a": 0.0, "b": 0.0}}})
    trace = engine.run(spec, sheet)
    total = 3 * 15
    assert len(trace) == total
    kw = {k: tuple(v) if k == "moms" else v for k, v in options.items()}
    lrs, moms = zip(*(fastai_one_cycle(i, total, 0.001, **kw) for i in range(total)))
    close(trace.steps["lr"], lrs, "lr", rel=1e-13)
    close(trace.steps["mom"], moms, "mom", rel=1e-13)
    # and the update really uses them: grad_avg = mom*grad_avg + (1-mom)*g; p -= lr*grad_avg
    a, b, m = 1.0, 1.0, [0.0, 0.0]
    x, y = spec.data.x, spec.data.y
    for i in range(total):
        index = list(range(29))[2 * (i % 15): 2 * (i % 15) + 2]  # the last batch is row 29
        g_a, g_b, _ = mean_gradient(a, b, x[index], y[index])
        m = [moms[i] * m[0] + (1 - moms[i]) * g_a, moms[i] * m[1] + (1 - moms[i]) * g_b]
        a, b = a - lrs[i] * m[0], b - lrs[i] * m[1]
        close(trace.steps["new_a"][i], a, f"new_a at {i}")
        close(trace.steps["new_b"][i], b, f"new_b at {i}")
    # the shape fastai promises: up for pct_start of the run, then far below the start
    peak = int(np.argmax(trace.steps["lr"]))
    assert trace.steps["lr"][-1] < trace.steps["lr"][0] < trace.steps["lr"][peak] <= 0.001
    assert trace.steps["mom"][peak] == pytest.approx(min(trace.steps["mom"]), rel=1e-2)


def test_adam_ann_anneals_by_its_rule():
    # Start the averages tiny, so the first epoch's gradient scale is far more than twice the
    # start's and lr drops by 4; the rule is applied here to the engine's recorded averages.
    spec, sheet = make_spec({"optimizer": "adam_ann", "lr": 1.0, "mom": 0.9, "sqr_mom": 0.95,
                             "epochs": 12, "state": {"grad_avg": {"a": 0.0, "b": 0.0},
                                                     "sqr_avg": {"a": 1.0, "b": 1.0}}})
    trace = engine.run(spec, sheet)
    end = lambda column, e: trace.steps[column][trace.steps["epoch"] == e][-1]  # noqa: E731
    lr, best, expected = 1.0, math.sqrt(1.0) + math.sqrt(1.0), [1.0]
    for e in range(1, 12):
        g2 = math.sqrt(end("sqr_avg_b", e)) + math.sqrt(end("sqr_avg_a", e))
        if g2 / best > 2:
            lr /= 4
        best = min(best, g2)
        expected.append(lr)
    assert trace.epochs["lr"].tolist() == expected
    assert expected[1] == 0.25
    for e in range(1, 13):
        assert (trace.steps["lr"][trace.steps["epoch"] == e] == expected[e - 1]).all()


def test_adam_ann_keeps_lr_when_gradients_stay_small():
    spec, sheet = make_spec({"optimizer": "adam_ann", "lr": 0.01, "epochs": 4,
                             "state": {"grad_avg": {"a": 0.0, "b": 0.0},
                                       "sqr_avg": {"a": 1e12, "b": 1e12}}})
    assert engine.run(spec, sheet).epochs["lr"].tolist() == [0.01] * 4


# --- divergence -------------------------------------------------------------------------------
def sgd_until_divergence(rows, lr, epochs, bound):
    """Online SGD that stops at the first step whose loss or new params are not finite or
    whose loss exceeds the bound. Returns the steps kept and (epoch, step) or None."""
    a = b = 1.0
    kept = []
    with np.errstate(all="ignore"):
        for epoch in range(1, epochs + 1):
            for step, (x, y) in enumerate(rows, start=1):
                pred = np.float64(b) + np.float64(a) * x
                loss = (y - pred) ** 2
                d = 2 * (pred - y)
                new_a, new_b = a - lr * (x * d), b - lr * d  # de/da = x * de/db
                if not (np.isfinite(loss) and loss <= bound and np.isfinite([new_a, new_b]).all()):
                    return kept, (epoch, step)
                kept.append((a, b, loss, new_a, new_b))
                a, b = new_a, new_b
    return kept, None


DIVERGING = [  # lr, diverge_above: overflow to inf, the default bound, a lowered bound
    (0.01, 1.7e308),
    (0.001, 1e30),
    (0.00055, 1e12),
]


def diverging_spec(tmp_path: Path, lr: float, bound: float) -> Path:
    path = tmp_path / "diverge.toml"
    path.write_text(f"""
[data]
preset = "lecture"
true = {{ a = 2.0, b = 30.0 }}
[[sheet]]
name = "calm"
optimizer = "sgd"
lr = 0.0001
epochs = 6
[[sheet]]
name = "wild"
optimizer = "sgd"
lr = {lr!r}
epochs = 6
diverge_above = {bound!r}
""")
    return path


@pytest.mark.parametrize("lr, bound", DIVERGING)
def test_divergence_stops_the_run_and_keeps_what_came_before(tmp_path, lr, bound):
    spec = spec_mod.load(diverging_spec(tmp_path, lr, bound))
    kept, where = sgd_until_divergence(rows_of(spec), lr, 6, bound)
    assert where is not None and where[0] >= 2, "the case should diverge after epoch 1"
    trace = engine.run(spec, "wild")
    assert trace.diverged_at == where
    assert len(trace) == len(kept)
    close(trace.steps["a"], [k[0] for k in kept])
    close(trace.steps["loss"], [k[2] for k in kept])
    close(trace.steps["new_b"], [k[4] for k in kept])
    assert np.isfinite(trace.steps["new_a"]).all()
    assert trace.epochs["epoch"].tolist() == list(range(1, where[0]))  # finished epochs only
    assert trace.final() == {"a": kept[-1][3], "b": kept[-1][4]}
    assert engine.run(spec, "calm").diverged_at is None


def test_compare_shows_the_divergence_marker(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # a table wider than the terminal wraps its status
    lr, bound = DIVERGING[0]
    path = diverging_spec(tmp_path, lr, bound)
    _, (epoch, step) = sgd_until_divergence(rows_of(spec_mod.load(path)), lr, 6, bound)
    assert cli.main(["compare", str(path)]) == 0
    table = capsys.readouterr().out
    wild = [line for line in table.splitlines() if line.startswith("wild") and "DIVERGED" in line]
    assert len(wild) == 1 and f"epoch {epoch}, step {step}" in wild[0]
    assert not any(line.startswith("calm") and "DIVERGED" in line for line in table.splitlines())
    assert cli.main(["compare", str(path), "--format", "markdown"]) == 0
    assert f"DIVERGED at epoch {epoch}, step {step}" in capsys.readouterr().out
    assert cli.main(["compare", str(path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    sheets = {s["name"]: s for s in document["sheets"]}
    assert sheets["wild"]["diverged_at"] == [epoch, step]
    assert sheets["calm"]["diverged_at"] is None
    assert len(sheets["wild"]["epochs"]) == epoch - 1
    assert cli.main(["compare", str(path), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split(",")
    diverged = {tuple(line.split(",")[i] for i in (0, header.index("diverged")))
                for line in lines[1:]}
    assert diverged == {("calm", "false"), ("wild", "true")}


def test_compare_shows_the_epoch_a_divergence_cut_short(tmp_path, capsys):
    lr, bound = DIVERGING[2]
    path = diverging_spec(tmp_path, lr, bound)
    kept, (epoch, step) = sgd_until_divergence(rows_of(spec_mod.load(path)), lr, 6, bound)
    assert step > 1, "the case should diverge inside an epoch"
    cut = [k[2] for k in kept[-(step - 1):]]  # the losses of that epoch's steps before it
    expected = {"lecture_rmse": math.sqrt(sum(cut)), "rmse": math.sqrt(sum(cut) / len(cut))}
    assert cli.main(["compare", str(path), "--format", "json"]) == 0
    wild = {s["name"]: s for s in json.loads(capsys.readouterr().out)["sheets"]}["wild"]
    partial = wild["partial_epoch"]
    assert (partial["epoch"], partial["steps"], partial["rows"]) == (epoch, step - 1, step - 1)
    for key, value in expected.items():
        close([partial[key]], [value])
    assert [partial["a"], partial["b"]] == [kept[-1][3], kept[-1][4]]
    assert cli.main(["compare", str(path)]) == 0
    table = capsys.readouterr().out
    assert f"{expected['lecture_rmse']:.6g}*" in table
    assert f"* wild: epoch {epoch} cut short by the divergence" in table
    assert cli.main(["compare", str(path), "--format", "csv"]) == 0
    lines = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    last = [line for line in lines if line["sheet"] == "wild"][-1]
    assert (last["epoch"], last["partial"]) == (str(epoch), "true")
    assert float(last["rmse"]) == partial["rmse"]


def test_compare_survives_parameters_near_overflow(tmp_path, capsys):
    path = tmp_path / "huge.toml"  # torch Adam's first step moves each parameter by about lr
    path.write_text('[data]\npreset = "lecture"\ntrue = { a = 2.0, b = 30.0 }\n[[sheet]]\n'
                    'name = "huge"\noptimizer = "adam"\nflavor = "torch"\nlr = 1e300\n')
    assert cli.main(["compare", str(path), "--format", "json"]) == 0
    sheet = json.loads(capsys.readouterr().out)["sheets"][0]
    assert sheet["diverged_at"] == [1, 2]
    final = sheet["final"]
    assert abs(final["a"]) > 1e299
    # the squares overflow float64 here: ops.distance folds by hypot instead (a spreadsheet
    # shows #NUM!), so JSON still has the number
    close([sheet["distance"]], [math.hypot(final["a"] - 2.0, final["b"] - 30.0)])
    assert cli.main(["compare", str(path)]) == 0
    assert "DIVERGED at epoch 1, step 2" in capsys.readouterr().out


def test_torch_momentum_is_sgd_with_a_momentum_buffer():
    spec, sheet = make_spec({"optimizer": "momentum", "flavor": "torch", "lr": 0.0001})
    assert sheet.hypers["mom"] == 0.9
    trace = engine.run(spec, sheet)
    g, buf = trace.steps["grad_b"], trace.steps["mom_buf_b"]
    assert buf[0] == g[0]  # torch starts the buffer at the first gradient
    close(buf[1:], 0.9 * buf[:-1] + g[1:])


def test_trace_of_a_diverged_sheet_says_so_and_exits_0(tmp_path, capsys):
    path = diverging_spec(tmp_path, *DIVERGING[0])
    assert cli.main(["trace", str(path), "--sheet", "wild"]) == 0
    captured = capsys.readouterr()
    assert "diverged at epoch" in captured.err and "Traceback" not in captured.err


# --- many configurations in one pass ------------------------------------------------------------
BATCHED = [  # sheet of lesson5, changes to it, grid, which configurations diverge
    ("adam", {}, {"lr": [1.0, 1e15, 0.5, 0.05], "mom": [0.9, 0.9, 0.8, 0.95]},
     [False, True, False, False]),
    ("basic", {}, {"lr": [0.0001, 0.001, 0.00005, 0.01, 0.0003]},  # diverge in epochs 2 and 1
     [False, True, False, True, False]),
    ("adam_ann", {"epochs": 25}, {"lr": [1.0, 0.5, 2.0], "sqr_mom": [0.95, 0.9, 0.99]},
     [False, False, False]),
    ("momentum", {"schedule": Schedule("one_cycle"), "epochs": 3},
     {"lr": [0.0001, 0.0003, 0.00005], "mom": [0.9, 0.9, 0.9]}, [False, False, False]),
]


@pytest.mark.parametrize("name, changes, grid, diverges", BATCHED, ids=[b[0] for b in BATCHED])
def test_batched_simulate_equals_separate_runs(name, changes, grid, diverges):
    spec = spec_mod.load("lesson5")
    sheet = replace(spec.sheet(name), **changes)
    configs = len(grid["lr"])
    hp = engine.hyper_arrays(sheet, configs, {k: np.array(v) for k, v in grid.items()})
    assert hp["lr"].shape == (configs, 1)
    state = engine.start_state(spec, sheet, hp)
    params = np.tile([sheet.init[p] for p in spec.model.params], (configs, 1)).astype(float)
    plan = engine.plan_for(spec, sheet)
    result = engine.simulate(spec, sheet, hp, params, state, plan, record=True)
    assert result.params.shape == (configs, 2)
    diverged = []
    for c in range(configs):
        single_sheet = sheet.with_hypers(**{k: v[c] for k, v in grid.items()})
        single = engine.run(spec, single_sheet)
        batched = engine.to_trace(spec, single_sheet, params, state, result, config=c)
        assert batched.diverged_at == single.diverged_at
        assert batched.start == single.start
        assert set(batched.steps) == set(single.steps)
        for column in single.steps:
            assert batched.steps[column].tolist() == single.steps[column].tolist(), (c, column)
        for column in single.epochs:
            assert batched.epochs[column].tolist() == single.epochs[column].tolist(), (c, column)
        diverged.append(single.diverged_at is not None)
    assert diverged == diverges


def test_divergence_on_the_very_first_step_keeps_the_start(tmp_path, capsys):
    path = tmp_path / "instant.toml"
    path.write_text('[data]\npreset = "lecture"\n[[sheet]]\nname = "instant"\noptimizer = "sgd"\n'
                    'lr = 1.0\nepochs = 2\ndiverge_above = 1.0\n')  # the first loss is 1849
    trace = engine.run(spec_mod.load(path), "instant")
    assert trace.diverged_at == (1, 1) and len(trace) == 0
    assert trace.final() == {"a": 1.0, "b": 1.0}
    assert len(trace.epochs["epoch"]) == 0
    for fmt in ("table", "markdown"):
        assert cli.main(["compare", str(path), "--format", fmt]) == 0
        assert "DIVERGED at epoch 1, step 1" in capsys.readouterr().out
    assert cli.main(["compare", str(path), "--format", "json"]) == 0
    sheet = json.loads(capsys.readouterr().out)["sheets"][0]
    assert sheet["diverged_at"] == [1, 1] and sheet["epochs"] == []
    assert sheet["final"] == {"a": 1.0, "b": 1.0}
    assert cli.main(["compare", str(path), "--format", "csv"]) == 0
    assert capsys.readouterr().out.count("\n") == 1  # the header; no epoch finished
    assert cli.main(["compare", str(path), "--plot", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 0
    for fmt in ("csv", "json"):
        assert cli.main(["trace", str(path), "--format", fmt]) == 0
        assert "diverged at epoch 1, step 1" in capsys.readouterr().err


# --- which gradient steps --------------------------------------------------------------------
@pytest.mark.parametrize("method", ["forward", "central"])
def test_the_engine_steps_with_the_chosen_gradient(method):
    h = 0.01
    spec, sheet = make_spec({"optimizer": "sgd", "lr": 1e-5, "epochs": 1, "gradient": method,
                             "h": h, "show": ["forward", "central"], "batch": 3})
    trace = engine.run(spec, sheet)
    x, y = spec.data.x, spec.data.y
    a, b = 1.0, 1.0
    for i in range(len(trace)):
        index = list(range(29))[3 * i: 3 * i + 3]
        g_a, g_b, _ = mean_gradient(a, b, x[index], y[index])
        if method == "forward":  # exceeds the analytic gradient by the curvature terms
            g_a, g_b = g_a + h * np.mean(x[index] ** 2), g_b + h
        for p, g in (("a", g_a), ("b", g_b)):
            assert trace.steps[f"grad_{p}"][i] == trace.steps[f"{method}_{p}"][i]
            close(trace.steps[f"grad_{p}"][i], g, f"grad_{p} at {i}", rel=1e-9)
        a, b = trace.steps["new_a"][i], trace.steps["new_b"][i]
        close(a, trace.steps["a"][i] - 1e-5 * trace.steps["grad_a"][i])


# --- the shipped notebook presets behave as SPEC.md tells ------------------------------------
def test_lesson2_full_batch_fit():
    # "the loss falls from about 8.9 to about 0.08"; uniform [0, 1) noise: intercept near 2.5
    spec = spec_mod.load("lesson2")
    trace = engine.run(spec, "sgd")
    mse = trace.steps["loss"]
    assert len(trace) == 100 and (trace.steps["size"] == 100).all()
    assert 5 < mse[0] < 12 and 0.06 < mse[-1] < 0.1
    assert np.all(np.diff(mse) < 0)
    final = trace.final()
    assert abs(final["a"] - 3) < 0.1 and abs(final["b"] - 2.5) < 0.1


def test_quadratic_book_lr_learns_and_the_aloud_lr_diverges():
    spec = spec_mod.load("quadratic")
    book, aloud = engine.run(spec, "book"), engine.run(spec, "aloud")
    assert book.diverged_at is None and np.all(np.diff(book.steps["loss"]) < 0)
    assert aloud.diverged_at is not None and np.isfinite(aloud.steps["new_a"]).all()
