"""Every torch.optim class in the rules registry, against torch.optim itself.

For each class and each option set of its registry grid (spelled as torch's constructor takes
them, maximize and weight decay included), a torch-flavour sheet written with those names runs
3 epochs of online, mini-batch and full-batch steps, the state carried across epochs; a plain
torch.optim loop (foreach=False, float64 as the default dtype, one tensor per parameter,
torch's own start state) over the same rows must give the same losses, parameters and state
to 1e-12 relative. The reference is torch's for-loop code path, built here from the class name
and the grid's own torch keywords, not through sheetopt's name mapping. Beside it: the same
sheet written with sheetopt's names gives the identical trace, the compiled executor equals
the numpy executor bit for bit on every rule, and bad torch-style input gets one line.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sheetopt import cli, spec as spec_mod
from conftest import LECTURE_DATA, options_id, spec_with  # noqa: E402
from sheetopt.executors import compiled
from sheetopt.protocol import engine  # noqa: E402
from sheetopt.errors import SheetoptError  # noqa: E402
from sheetopt.rules import torch_classes  # noqa: E402
from sheetopt.verification.compare import relative, running_scale  # noqa: E402

DATA = LECTURE_DATA
BATCHES = ("online", 7, "full")
EPOCHS = 3
CASES = [(rule, i) for rule in torch_classes() for i in range(len(rule.grid))]


def case_id(case) -> str:
    rule, i = case
    return options_id(rule.optimizer, rule.grid[i])


def make_spec(**sheet):
    return spec_with([{"name": "s", "flavor": "torch", **sheet}])


@pytest.fixture
def numpy_executor(monkeypatch):
    """The numpy executor (the compiled one equals it bit for bit: see the test below), so
    that this file does not compile a kernel per option set."""
    monkeypatch.setenv("SHEETOPT_EXECUTOR", "numpy")


def torch_loop(rule, options: dict, spec, sheet) -> dict[str, np.ndarray]:
    """torch.optim's own steps over the sheet's batches: loss, parameters and state after."""
    names = spec.model.params  # ("a", "b")
    x = torch.as_tensor(spec.data.x, dtype=torch.float64)
    y = torch.as_tensor(spec.data.y, dtype=torch.float64)
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # ASGD rebuilds eta and mu in the default dtype
    try:
        leaves = {p: torch.tensor([sheet.init[p]], requires_grad=True) for p in names}
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
        optimizer = getattr(torch.optim, rule.torch.name)(list(leaves.values()), **kwargs,
                                                          foreach=False)
        states = rule.states(sheet.static)
        out: dict[str, list] = {"loss": []}
        plan = engine.batches(len(spec.data), sheet.batch_size, sheet.epochs, False, 0)
        for epoch in plan:
            for rows in epoch:
                optimizer.zero_grad()
                rows = torch.as_tensor(rows)
                pred = leaves["a"] * x[rows] + leaves["b"]
                loss = ((y[rows] - pred) ** 2).mean()
                loss.backward()
                optimizer.step()
                out["loss"].append(loss.item())
                for p in names:
                    out.setdefault(f"new_{p}", []).append(leaves[p].item())
                    for s in states:
                        value = optimizer.state[leaves[p]][rule.torch.state_keys[s]]
                        out.setdefault(f"{s}_{p}", []).append(value.reshape(-1)[0].item())
    finally:
        torch.set_default_dtype(saved)
    return {k: np.array(v) for k, v in out.items()}


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_rule_equals_torch_optim(case, batch, numpy_executor):
    rule, i = case
    options = rule.grid[i]
    spec = make_spec(optimizer=rule.optimizer, epochs=EPOCHS, batch=batch, **options)
    sheet = spec.sheets[0]
    trace = engine.run(spec, sheet)
    assert not trace.diverged
    expected = torch_loop(rule, options, spec, sheet)
    assert set(expected) == {"loss", "new_a", "new_b",
                             *(f"{s}_{p}" for s in trace.state_names for p in "ab")}
    for key, values in expected.items():
        assert len(trace.steps[key]) == len(values) == spec.steps(sheet)
        rel = relative(trace.steps[key], values, running_scale(values))
        assert rel.max() <= 1e-12, (key, int(rel.argmax()), float(rel.max()))


@pytest.mark.parametrize("rule", torch_classes(), ids=lambda r: r.optimizer)
def test_torch_names_give_the_same_trace_as_sheetopt_names(rule, numpy_executor):
    for torch_spelled in rule.grid:
        ours = {}
        for key, value in torch_spelled.items():
            target = rule.torch.args[key]
            ours.update(zip(target, value) if isinstance(target, tuple) else [(target, value)])
        assert set(ours) <= set(rule.hypers) | set(rule.settable_flags)
        a = engine.run(make_spec(optimizer=rule.optimizer, epochs=2, batch=5, **torch_spelled),
                       "s")
        b = engine.run(make_spec(optimizer=rule.optimizer, epochs=2, batch=5, **ours), "s")
        assert list(a.steps) == list(b.steps)
        for key in a.steps:
            assert np.array_equal(a.steps[key], b.steps[key], equal_nan=True), key


@pytest.mark.skipif(not compiled.available(), reason="numba is not installed")
@pytest.mark.parametrize("rule", torch_classes(), ids=lambda r: r.optimizer)
def test_compiled_executor_runs_every_rule_bit_for_bit(rule):
    for options in rule.grid[-1:]:  # the richest option set: one kernel per class
        spec = make_spec(optimizer=rule.optimizer, epochs=EPOCHS, batch=4, **options)
        sheet = spec.sheets[0]
        assert compiled.supports(spec, sheet, record=True)
        hp = engine.hyper_arrays(sheet, 3, {"lr": sheet.hypers["lr"] * np.array([1, 0.5, 2])})
        state = engine.start_state(spec, sheet, hp)
        params = np.tile([[sheet.init[p] for p in spec.model.params]], (3, 1))
        plan = engine.batches(len(spec.data), sheet.batch_size, EPOCHS, False, 0)
        fast = compiled.simulate(spec, sheet, hp, params, state, plan, record=True)
        slow = engine.simulate(spec, sheet, hp, params, state, plan, record=True,
                               executor="numpy")
        for name in ("params", "epoch_sum_err2", "epoch_params", "diverged_at"):
            assert np.array_equal(getattr(fast, name), getattr(slow, name), equal_nan=True)
        for table in ("state", "steps", "rows"):
            x, y = getattr(fast, table), getattr(slow, table)
            assert list(x) == list(y), table
            for key in x:
                assert np.array_equal(x[key], y[key], equal_nan=True), (table, key)


def test_start_state_follows_torch_and_the_spec(numpy_executor):
    trace = engine.run(make_spec(optimizer="rprop", lr=0.25), "s")
    assert trace.start["step_size_a"] == trace.start["step_size_b"] == 0.25
    assert trace.start["prev_a"] == 0.0
    trace = engine.run(make_spec(optimizer="adagrad", initial_accumulator_value=0.3), "s")
    assert trace.start["sum_a"] == 0.3
    trace = engine.run(make_spec(optimizer="asgd", lr=0.001), "s")
    assert (trace.start["eta_b"], trace.start["mu_b"], trace.start["ax_b"]) == (0.001, 1.0, 0.0)
    trace = engine.run(make_spec(optimizer="rprop", state={"step_size": {"a": 0.5}}), "s")
    assert (trace.start["step_size_a"], trace.start["step_size_b"]) == (0.5, 0.01)


def toml(value) -> str:
    """A value as TOML text (inline tables and arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return repr(value)


BAD = [
    ({"flavor": "lecture", "optimizer": "adam", "lr": 1.0, "betas": [0.9, 0.9]},
     ["betas", "torch.optim's name", "'mom' and 'sqr_mom'"]),
    ({"optimizer": "sgd", "lr": 0.1, "mom": 0.9, "momentum": 0.9},
     ["mom and momentum both give mom"]),
    ({"optimizer": "adam", "betas": [0.9, 0.999], "sqr_mom": 0.9},
     ["betas and sqr_mom both give sqr_mom"]),
    ({"optimizer": "rprop", "etas": [1.5, 1.2]}, ["etas", "0 < eta_minus < 1 < eta_plus"]),
    ({"optimizer": "rprop", "etas": [0.5]}, ["etas must be a list of 2 numbers"]),
    ({"optimizer": "adam", "betas": [0.9, 1.0]}, ["betas (sqr_mom) must be in [0, 1)"]),
    ({"optimizer": "adagrad", "lr_decay": -0.1}, ["lr_decay must be >= 0"]),
    ({"optimizer": "adadelta", "rho": 1.5}, ["rho must be in [0, 1]"]),
    ({"optimizer": "nadam", "momentum_decy": 0.1}, ["momentum_decy", "'momentum_decay'"]),
    ({"optimizer": "adam", "momentum_decay": 0.1},
     ["adam (torch) has no hyperparameter or option 'momentum_decay'", "torch.optim.Adam's"]),
    ({"optimizer": "rmsprop", "rho": 0.9}, ["rho is keras's name for 'sqr_mom'",
                                            "did you mean 'sqr_mom', torch.optim's 'alpha'?"]),
    ({"optimizer": "rmsprop", "lambd": 0.9}, ["has no hyperparameter or option 'lambd'",
                                              "(lambd is asgd's)", "alpha"]),
    ({"optimizer": "adamw", "decoupled_weight_decay": False},
     ["adamw (torch) has no hyperparameter or option 'decoupled_weight_decay'"]),
    ({"optimizer": "adam", "state": {"sqr_avg": {"a": -1.0}}},
     ["state.sqr_avg.a must be >= 0"]),
    ({"optimizer": "adafactor", "d": 0.5}, ["d must be >= 1"]),
    ({"optimizer": "asgd", "maximize": 1}, ["maximize must be true or false"]),
]


@pytest.mark.parametrize("sheet, expect", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_torch_style_input_is_one_line(sheet, expect, tmp_path, capsys):
    sheet = {"name": "s", "flavor": "torch", **sheet}
    (tmp_path / "spec.toml").write_text(f"data = {toml(DATA)}\n[[sheet]]\n" + "".join(
        f"{key} = {toml(value)}\n" for key, value in sheet.items()))
    out = tmp_path / "out.csv"
    code = cli.main(["trace", str(tmp_path / "spec.toml"), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "spec.toml" in err and "sheet " in err, err
    for text in expect:
        assert text in err, (text, err)
    assert not out.exists()
    with pytest.raises(SheetoptError):
        spec_mod.load(tmp_path / "spec.toml")


def test_docs_table_lists_every_class_as_the_registry_has_it():
    from pathlib import Path

    from sheetopt.rules.registry import markdown_table

    page = (Path(__file__).resolve().parent.parent / "docs" / "optimizers.md").read_text()
    assert markdown_table() in page, "docs/optimizers.md's torch.optim table is stale: paste " \
        "sheetopt.rules.registry.markdown_table()"
    for rule in torch_classes():
        assert f"| `{rule.optimizer}` | {rule.torch.name} |" in page


def test_torch_sweep_backend_equals_the_numpy_engine_on_every_class(numpy_executor):
    """The torch rendering of each rule (tensors over configurations) gives the numpy
    engine's final parameters on torch-optim's sheets, lr swept (Rprop's and ASGD's start
    state follow the swept lr)."""
    from sheetopt.sweeps.sweep import run_sweep

    spec = spec_mod.load("torch-optim")
    assert sorted(s.optimizer for s in spec.sheets) == sorted(r.optimizer
                                                              for r in torch_classes())
    for sheet in spec.sheets:
        grid = {"lr": sheet.hypers["lr"] * np.array([0.5, 1.0, 2.0])}
        ours = run_sweep(spec, sheet, grid, backend="numpy", executor="numpy")
        theirs = run_sweep(spec, sheet, grid, backend="torch")
        assert np.all(np.isfinite(ours.params))
        assert np.array_equal(ours.params, theirs.params), sheet.name


def test_torch_optimizer_on_one_tensor_of_all_parameters(numpy_executor):
    """``replay.torch_optimizer`` and ``_preload`` on one (P,) tensor, as other callers use
    them: the elementwise classes step as with one tensor per parameter; Adafactor, whose
    norms run over the whole tensor, is refused."""
    from sheetopt.verification import replay

    spec = spec_mod.load("torch-optim")
    for sheet in spec.sheets:
        trace = engine.run(spec, sheet)
        weights = torch.tensor([trace.start["a"], trace.start["b"]], dtype=torch.float64,
                               requires_grad=True)
        if not sheet.rule.torch.elementwise:
            with pytest.raises(ValueError, match="not elementwise"):
                replay.torch_optimizer(sheet, weights)
            continue
        optimizer = replay.torch_optimizer(sheet, weights)
        replay._preload(optimizer, sheet, weights, trace)
        x, y = (torch.as_tensor(trace.rows[k]) for k in "xy")
        for i in range(len(trace)):
            optimizer.zero_grad()
            ((y[i] - (weights[0] * x[i] + weights[1])) ** 2).backward()
            optimizer.step()
        found = weights.detach().numpy()
        expected = [trace.steps["new_a"][-1], trace.steps["new_b"][-1]]
        assert relative(found, expected).max() <= 1e-12, sheet.name


def test_a_class_the_lecture_did_not_have_is_torch_flavour_by_default(numpy_executor):
    spec = spec_mod.parse({"data": DATA, "sheet": [{"optimizer": "rprop"},
                                                   {"optimizer": "adam", "lr": 1.0}]})
    assert [s.flavor for s in spec.sheets] == ["torch", "lecture"]
    assert spec.sheets[0].hypers["lr"] == 0.01  # torch.optim.Rprop's default


def test_torch_optimizer_alone_steps_in_float64_under_a_float32_default(numpy_executor):
    """``replay.torch_optimizer`` without ``_preload`` (torch starts its own state) and with
    torch's default dtype float32, as a user's script has it: every torch-optim sheet still
    equals the engine to 1e-12. torch keeps NAdam's mu_product and ASGD's eta and mu in the
    default dtype (1e-8 off in float32); the registry's ``float64_default`` covers them."""
    from sheetopt.verification import replay

    spec = spec_mod.load("torch-optim")
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        for sheet in spec.sheets:
            trace = engine.run(spec, sheet)
            leaves = replay.parameter_tensors(sheet, [trace.start["a"], trace.start["b"]])
            optimizer = replay.torch_optimizer(sheet, leaves)
            x, y = (torch.as_tensor(trace.rows[k]) for k in "xy")
            for i in range(len(trace)):
                optimizer.zero_grad()
                ((y[i] - (leaves[0] * x[i] + leaves[1])) ** 2).backward()
                optimizer.step()
            found = [leaf.item() for leaf in leaves]
            expected = [trace.steps["new_a"][-1], trace.steps["new_b"][-1]]
            assert relative(found, expected).max() <= 1e-12, sheet.name
            if sheet.optimizer == "nadam":
                assert optimizer.state[leaves[0]]["mu_product"].dtype == torch.float64
    finally:
        torch.set_default_dtype(saved)
