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
    assert out.count("at epoch 1, step 7") == 3, out  # every Adafactor case, at the same step
