"""sheetopt torch-suite: a small grid passes against this torch, a deliberately altered rule is
caught with the optimizer and step named, JSON output, CUDA when there is a GPU."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from sheetopt import cli, rules
from sheetopt.rules import registry

torch = pytest.importorskip("torch")
from sheetopt.verification import suite  # noqa: E402


def test_small_grid_passes_on_every_path(capsys):
    code = cli.main(["torch-suite", "--device", "cpu", "--elements", "64", "--epochs", "1",
                     "--optimizer", "sgd", "--optimizer", "adam",
                     "--scheduler", "OneCycleLR", "--scheduler", "ReduceLROnPlateau"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"torch {torch.__version__}" in out
    assert "OK: torch" in out
    for path in ("loop", "foreach", "fused"):  # SGD and Adam have all three on the CPU
        assert f"  {path}  " in out
    assert "OneCycleLR per step" in out and "ReduceLROnPlateau per epoch" in out


def test_json_lists_every_case_and_path(capsys):
    code = cli.main(["torch-suite", "--device", "cpu", "--elements", "8", "--epochs", "1",
                     "--optimizer", "rmsprop", "--scheduler", "none", "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["ok"] and document["torch"] == torch.__version__
    rows = document["rows"]
    cases = suite.optimizer_cases(8, ["rmsprop"])
    assert len(rows) == 2 * len(cases)  # RMSprop: loop and foreach, no fused
    assert {r["path"] for r in rows} == {"loop", "foreach"}
    assert all(r["max_rel"] <= 1e-12 and r["verdict"] == "ok" for r in rows)
    # well conditioned: a one-ulp change of the starts stays near an ulp, so 1e-12 judges
    assert all(r["sensitivity"] < 1e-13 and r["tolerance"] == r["base_tolerance"]
               and r["judged_by"] == "tol" for r in rows)


def suite_with_an_altered_rule(optimizer: str, capsys, monkeypatch) -> tuple[int, str]:
    """torch-suite on one optimizer whose rule is off by one part in a million from the 7th
    step on (a wrong formula's size); returns the exit code and what it printed."""
    original = rules.rule_for(optimizer, "torch")

    def altered_step(p, g, prev, new, hp, t, ops, static):
        return original.step(p, g, prev, new, hp, t, ops, static) * ops.where(t >= 7, 1 + 1e-6,
                                                                              1.0)
    altered = replace(original, step=altered_step)
    monkeypatch.setattr(registry, "REGISTRY", tuple(altered if r is original else r
                                                    for r in registry.REGISTRY))
    code = cli.main(["torch-suite", "--device", "cpu", "--elements", "16", "--epochs", "1",
                     "--optimizer", optimizer, "--scheduler", "none"])
    return code, capsys.readouterr().out


def test_an_altered_rule_is_caught_with_optimizer_and_step(capsys, monkeypatch):
    code, out = suite_with_an_altered_rule("adam", capsys, monkeypatch)
    assert code == 1, out
    assert "FAIL: adam (lr=0.1) loop differs from sheetopt" in out
    assert "at epoch 1, step 7" in out


def test_bad_options_are_one_line(capsys):
    assert cli.main(["torch-suite", "--optimizer", "adamm"]) == 2
    assert "--optimizer 'adamm' is not one of" in capsys.readouterr().err
    assert cli.main(["torch-suite", "--path", "fast"]) == 2
    err = capsys.readouterr().err
    assert "--path 'fast' is not one of 'loop', 'foreach', 'fused', 'capturable'" in err
    assert len(err.strip().splitlines()) == 1


def test_every_class_runs_each_path_it_has():
    """No path of the registry is dropped by the probe: Adafactor's foreach runs too (its
    probe takes one-element tensors, as its run does)."""
    for rule in rules.torch_classes():
        sheet = suite._sheet_spec(suite.optimizer_cases(4, [rule.optimizer])[0], 1).sheets[0]
        paths = suite.class_paths(sheet, suite.PATHS)
        assert paths == ["loop", *rule.torch.paths], rule.optimizer
        assert suite.refusals(sheet, "cpu", paths) == {}, rule.optimizer


def test_cuda_only_paths_are_not_run_on_the_cpu_and_say_why(capsys):
    assert set(suite.default_paths("cpu")) == {"loop", "foreach", "fused"}
    assert set(suite.default_paths("cuda")) == set(suite.PATH_OPTIONS)
    code = cli.main(["torch-suite", "--device", "cpu", "--elements", "4", "--epochs", "1",
                     "--optimizer", "adam", "--optimizer", "sgd", "--scheduler", "none",
                     "--path", "capturable", "--path", "foreach capturable", "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["rows"] == []
    not_run = document["not_run"]
    assert set(not_run) == {"capturable", "foreach capturable"}
    for path in not_run:
        assert not_run[path]["sgd"] == "torch.optim.SGD has no capturable option"
        # torch 2.13: "If capturable=True, params and state_steps must be on supported
        # devices: ['cuda', ...]"
        assert not_run[path]["adam"].startswith("torch refuses it on cpu: AssertionError: If "
                                                "capturable=True"), not_run


def test_each_path_builds_torch_with_its_options():
    sheet = suite._sheet_spec(suite.optimizer_cases(4, ["adam"])[0], 1).sheets[0]
    params = [torch.zeros(3, dtype=torch.float64, requires_grad=True)]
    for path, expected in suite.PATH_OPTIONS.items():
        group = suite.optimizer_on(sheet, params, path).param_groups[0]
        assert group["foreach"] is expected.get("foreach", False), path
        assert group["capturable"] is expected.get("capturable", False), path
        assert bool(group["fused"]) is expected.get("fused", False), path
        if expected.get("lr") == "tensor":
            assert isinstance(group["lr"], torch.Tensor) and group["lr"].numel() == 1, path
            assert group["lr"].dtype == torch.float64 and float(group["lr"]) == 0.1, path
        else:
            assert group["lr"] == 0.1, path


def test_a_tensor_lr_runs_where_torch_takes_it_with_a_scheduler_filling_it_in(capsys):
    # the CPU takes a tensor lr on fused Adam and SGD: the same arithmetic the CUDA run
    # checks, here with a scheduler writing each step's lr into the tensor
    code = cli.main(["torch-suite", "--device", "cpu", "--elements", "16", "--epochs", "2",
                     "--optimizer", "sgd", "--optimizer", "adam", "--scheduler", "OneCycleLR",
                     "--path", "fused lr tensor", "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["ok"], document
    rows = document["rows"]
    assert {r["path"] for r in rows} == {"fused lr tensor"}
    assert {r["optimizer"] for r in rows} == {"sgd", "adam"}
    assert any(r["options"].startswith("OneCycleLR") for r in rows)
    assert all(r["max_rel"] <= 1e-12 for r in rows), rows


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to torch here")
def test_cuda_runs_its_cuda_only_paths(capsys):
    code = cli.main(["torch-suite", "--device", "cuda", "--elements", "256", "--epochs", "1",
                     "--optimizer", "adam", "--optimizer", "rmsprop", "--scheduler", "StepLR",
                     "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0, [r for r in document["rows"] if r["verdict"] != "ok"]
    ran = {(r["optimizer"], r["path"]) for r in document["rows"]}
    for path in ("capturable", "foreach capturable", "foreach capturable lr tensor"):
        assert ("adam", path) in ran and ("rmsprop", path) in ran, document["not_run"]
    assert ("adam", "fused lr tensor") in ran and ("rmsprop", "fused lr tensor") not in ran


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to torch here")
def test_cuda_runs_the_same_suite(capsys):
    code = cli.main(["torch-suite", "--device", "cuda", "--elements", "256", "--epochs", "1",
                     "--optimizer", "adam", "--scheduler", "CyclicLR"])
    out = capsys.readouterr().out
    assert "on cuda" in out
    assert code == 0, out


def test_the_bound_is_the_tolerance_unless_the_case_amplifies_an_ulp():
    assert suite.bound(1e-12, 1e-15) == 1e-12  # well conditioned: unchanged
    assert suite.bound(1e-12, 1.7e-11) == pytest.approx(1.7e-10)
    assert suite.bound(1e-10, 1.7e-11) == pytest.approx(1.7e-10)
    assert suite.bound(1e-12, 1e-6) == suite.MAX_BOUND  # never near a wrong formula's size
    # measured by the engine alone: the grid's Adafactor lr=0.5, d=2 amplifies a one-ulp
    # change of its starts a thousand times more than plain SGD does
    found = {}
    for case in (suite.optimizer_cases(200, ["sgd"])[0],
                 suite.optimizer_cases(200, ["adafactor"])[1]):
        spec = suite._sheet_spec(case, 3)
        sheet = spec.sheets[0]
        starts = suite._starts(200, 2, seed=1)
        mine, stop = suite.sheetopt_run(spec, sheet, starts, "numpy")
        found[case.optimizer] = suite.sensitivity(spec, sheet, starts, mine, stop, "numpy")
    assert found["sgd"] < 1e-14 and found["adafactor"] > 1e-12, found


def test_an_altered_rule_is_caught_on_the_ill_conditioned_case(capsys, monkeypatch):
    """The raised bound of the Adafactor grid case (about 1e-10) still catches a rule off by
    one part in a million: the sensitivity is measured with the altered rule itself."""
    code, out = suite_with_an_altered_rule("adafactor", capsys, monkeypatch)
    assert code == 1, out
    assert ("FAIL: adafactor (lr=0.5, beta2_decay=-0.5, eps=[1e-20, 0.1], d=2.0, "
            "weight_decay=0.01) loop differs from sheetopt") in out
    for path in ("loop", "foreach"):  # every Adafactor case on both its paths, at the same step
        assert out.count(f" {path} differs from sheetopt") == 3, out
    assert out.count("at epoch 1, step 7") == 6, out
