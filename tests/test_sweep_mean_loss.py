"""A sweep of a model whose loss is not the squared error (a classifier, a test surface) ranks
and reports the mean loss of an epoch, as compare and summary() do, and says so; the lecture's
models keep the true RMSE."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import sheetopt


@pytest.mark.parametrize("objective", ["final", "best", "epoch:3"])
def test_a_classifier_sweep_reports_the_mean_loss_that_summary_shows(objective):
    lrs = [0.01, 0.1, 1.0]
    table = sheetopt.sweep("blobs", "SGD", lr=lrs, backend="numpy", objective=objective)
    column = {"final": "final_loss", "best": "best_loss", "epoch:3": "loss_epoch_3"}[objective]
    assert column in table and "final_rmse" not in table
    assert "mean loss" in table.attrs["objective_words"]
    for lr, value in zip(lrs, table[column]):
        spec = sheetopt.Spec.load("blobs").with_sheet("SGD", lr=lr)
        alone = sheetopt.run(spec, "SGD").summary()
        losses = alone["loss"].to_numpy()
        expected = {"final": losses[-1], "best": losses.min(), "epoch:3": losses[2]}[objective]
        assert value == pytest.approx(expected, rel=1e-12, abs=0)


def test_the_lecture_model_keeps_the_rmse():
    table = sheetopt.sweep("lesson5", "adam", lr=[0.1, 1.0], backend="numpy")
    assert "final_rmse" in table and "final_loss" not in table
    assert table.attrs["objective"] == "final_rmse"


def test_the_command_line_says_loss_for_a_surface():
    out = subprocess.run([sys.executable, "-m", "sheetopt", "sweep", "rosenbrock", "--sheet",
                          sheetopt.Spec.load("rosenbrock").sheets[0].name, "--lr", "1e-4:1e-3:2",
                          "--format", "json"], capture_output=True, text=True, check=True).stdout
    found = json.loads(out)
    assert found["objective"] == "final_loss" and "RMSE" not in found["objective_words"]
    assert all(np.isfinite(c["final_loss"]) for c in found["configurations"])
