"""Every flavour through every rendering: the keras, optax and fastai sheets of the frameworks
preset run by the compiled kernel, swept by numpy and torch, re-checked by torch autograd
(verify), drawn, and written to workbooks that `check` reads back."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import sheetopt
from sheetopt.cli import main
from sheetopt.rules.registry import FRAMEWORK_RULES


def one_epoch():
    spec = sheetopt.Spec.load("frameworks")
    return replace(spec, sheets=tuple(replace(s, epochs=1) for s in spec.sheets))


def test_verify_rechecks_every_framework_sheet():
    pytest.importorskip("torch")
    table = sheetopt.verify(one_epoch(), drift_steps=0)
    assert set(table["sheet"]) >= {"keras adam", "optax rmsprop", "fastai sgd"}
    assert table["ok"].all(), table[~table["ok"]]


@pytest.mark.parametrize("sheet", ["keras adam", "optax rmsprop", "fastai sgd", "keras sgd"])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_sweeps_equal_the_runs(sheet, backend):
    if backend == "torch":
        pytest.importorskip("torch")
    spec = one_epoch()
    lr = spec.sheet(sheet).hypers["lr"]
    table = sheetopt.sweep(spec, sheet, lr=[lr, lr / 2], backend=backend)
    final = sheetopt.run(spec, sheet)[sheet].final()
    for p, value in final.items():
        assert table[p][0] == pytest.approx(value, rel=1e-12)


def test_the_compiled_kernel_equals_the_numpy_engine(monkeypatch):
    pytest.importorskip("numba")
    from sheetopt.executors import compiled
    tables = [{"name": f"{r.flavor} {r.optimizer} {i} {batch}", "optimizer": r.optimizer,
               "flavor": r.flavor, "epochs": 1, "batch": batch, **options}
              for r in FRAMEWORK_RULES for i, options in enumerate(r.grid[:2])
              for batch in ("online", 4)]
    spec = sheetopt.spec.parse({"data": {"preset": "lecture"}, "sheet": tables})
    assert all(compiled.supports(spec, s, True, True) for s in spec.sheets)
    kernel = sheetopt.run(spec)
    monkeypatch.setenv("SHEETOPT_EXECUTOR", "numpy")
    engine = sheetopt.run(spec)
    for sheet in spec.sheets:
        for key in ("new_a", "new_b", "loss"):
            np.testing.assert_array_equal(kernel[sheet.name].steps[key],
                                          engine[sheet.name].steps[key], err_msg=sheet.name)


def test_workbook_of_every_framework_rule_checks(tmp_path):
    tables = [{"name": f"{r.flavor} {r.optimizer} {i}", "optimizer": r.optimizer,
               "flavor": r.flavor, "epochs": 2, "batch": 5, **options}
              for r in FRAMEWORK_RULES for i, options in enumerate(r.grid)]
    spec = sheetopt.spec.parse({"data": {"preset": "lecture"}, "sheet": tables})
    path = tmp_path / "all.xlsx"
    sheetopt.write_workbook(spec, path)
    results = sheetopt.check_workbook(path)
    assert results["ok"].all(), results[~results["ok"]]
    assert len(results) > len(tables)


def test_plots_draw_every_flavour(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "path.png"
    assert main(["plot", "frameworks", "--kind", "path", "-o", str(out)]) == 0
    assert out.stat().st_size > 10_000
