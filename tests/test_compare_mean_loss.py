"""What compare reports, in its CSV and JSON and in ``RunResult.summary()``, for a model whose
loss is not the squared error: each epoch's mean loss (``loss``), never the lecture's
sqrt-of-sum or an RMSE of a cross-entropy. The expected losses are computed here from each
step's parameters and row, by torch's own binary cross-entropy and by Rosenbrock's formula;
squared-error models keep the lecture's columns.
"""
from __future__ import annotations

import csv
import io
import json

import pytest

import sheetopt
from sheetopt.cli import main

torch = pytest.importorskip("torch")


def compare(capsys, spec: str, fmt: str) -> str:
    assert main(["compare", spec, "--format", fmt]) == 0
    return capsys.readouterr().out


def bce(a: float, b: float, x: float, y: float) -> float:
    logit = torch.tensor(b + a * x, dtype=torch.float64)
    return float(torch.nn.functional.binary_cross_entropy_with_logits(
        logit, torch.tensor(float(y), dtype=torch.float64)))


def epoch_means(steps, loss_of) -> dict[int, float]:
    """Each epoch's losses (one per step, at the parameters before it) added in order, over
    the epoch's step count."""
    sums: dict[int, list[float]] = {}
    for row in steps.itertuples(index=False):
        sums.setdefault(int(row.epoch), []).append(loss_of(row))
    return {epoch: sum(values, 0.0) / len(values) for epoch, values in sums.items()}


def test_a_classifiers_csv_has_its_mean_cross_entropy_and_no_rmse(capsys):
    rows = list(csv.DictReader(io.StringIO(compare(capsys, "blobs", "csv"))))
    assert list(rows[0]) == ["sheet", "optimizer", "flavor", "epoch", "loss", "lr", "a", "b",
                             "accuracy", "distance", "diverged", "partial"]
    result = sheetopt.run("blobs")
    for sheet in result.sheets:
        expected = epoch_means(result.trace(sheet), lambda r: bce(r.a, r.b, r.x, r.y))
        got = {int(r["epoch"]): float(r["loss"]) for r in rows if r["sheet"] == sheet}
        assert got.keys() == expected.keys()
        for epoch, loss in got.items():
            assert loss == pytest.approx(expected[epoch], rel=1e-13, abs=0), (sheet, epoch)


def test_a_surfaces_json_names_only_its_mean_loss(capsys):
    document = json.loads(compare(capsys, "rosenbrock", "json"))
    assert "rmse" not in document["epoch_figures"]
    assert "lecture_rmse" not in document["epoch_figures"]
    assert document["epoch_figures"]["loss"] == "the mean of the epoch's per-step losses"
    first = document["sheets"][0]
    steps = sheetopt.run("rosenbrock").trace(first["name"])
    expected = epoch_means(steps, lambda r: (1 - r.x) ** 2 + 100 * (r.y - r.x ** 2) ** 2)
    for epoch in first["epochs"]:
        assert set(epoch) == {"epoch", "loss", "lr", "x", "y", "distance"}
        assert epoch["loss"] == pytest.approx(expected[epoch["epoch"]], rel=1e-15, abs=0)


def test_the_epoch_a_divergence_cut_short_has_the_mean_loss_of_its_steps(tmp_path, capsys):
    spec = tmp_path / "diverge.toml"
    spec.write_text('[data]\npreset = "blobs"\n[model]\nkind = "logistic"\n'
                    '[[sheet]]\nname = "sgd"\noptimizer = "sgd"\nlr = 1e306\nepochs = 3\n')
    rows = list(csv.DictReader(io.StringIO(compare(capsys, str(spec), "csv"))))
    assert len(rows) == 1 and rows[0]["partial"] == "true"
    assert rows[0]["accuracy"] == ""  # not measured on part of an epoch
    result = sheetopt.run(str(spec), record="step")
    epoch, step = result["sgd"].diverged_at
    steps = result.trace("sgd")
    before = steps[(steps.epoch == epoch) & (steps.step < steps.step.iloc[0] + step - 1)]
    losses = [bce(r.a, r.b, r.x, r.y) for r in before.itertuples(index=False)]
    assert len(losses) == step - 1
    assert float(rows[0]["loss"]) == pytest.approx(sum(losses, 0.0) / len(losses),
                                                   rel=1e-13, abs=0)


def test_squared_error_models_keep_the_lectures_columns(capsys):
    header = compare(capsys, "lesson5", "csv").splitlines()[0]
    assert header == ("sheet,optimizer,flavor,epoch,lecture_rmse,rmse,lr,a,b,distance,"
                      "diverged,partial")
    assert list(json.loads(compare(capsys, "lesson5", "json"))["epoch_figures"]) == [
        "lecture_rmse", "rmse", "lr", "params", "distance"]
