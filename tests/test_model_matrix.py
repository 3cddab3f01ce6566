"""Every optimizer in every flavour, and every schedule, on every model: a few steps each
through the engine (numpy executor), the summary and a trace named by the model's parameters,
and one workbook per model holding every sheet, read back and rerun by ``check``.

The other model tests hold each model to torch and the spreadsheet programs on a few
optimizers; this one is the breadth: no (optimizer, flavour, schedule) x model combination
may fail where the same sheet runs on the lecture's line. Tiny data (a few rows, two epochs,
four surface steps) keeps it quick.
"""
from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import numpy as np
import pytest

import sheetopt
from sheetopt.rules.registry import REGISTRY
from sheetopt.spec import parse

WORKBOOKS = Path(__file__).resolve().parent.parent / "workbooks"

DATA = {  # CSV rows of each kind a model reads
    "line": "x,y\n1,32\n2,34.5\n3,35\n4,38.5\n5,40\n",
    "features": "area,rooms,y\n1.5,2,9\n2,3,15\n3,5,24\n1,1,7.5\n",
    "labels": "x1,x2,y\n1,-2,0\n2,0.5,1\n-1.5,1,0\n0.5,2,1\n",
    "label": "x,y\n-2,0\n-0.5,0\n0.25,1\n1.5,1\n",
    "grads": "a,b\n0.5,-1\n0.25,2\n-1.5,0.75\n",
}
MODELS = {  # name -> ([model] table, data rows or None, starts)
    "linear": ({"kind": "linear"}, "line", {"a": 1.0, "b": 30.0}),
    "features": ({"kind": "linear"}, "features", None),
    "quadratic": ({"kind": "quadratic"}, "line", None),
    "gradients": ({"kind": "gradients"}, "grads", None),
    "logistic": ({"kind": "logistic"}, "label", None),
    "logistic features mnist": ({"kind": "logistic", "loss": "mnist"}, "labels", None),
    "relu_net": ({"kind": "relu_net", "hidden": 2}, "line", None),
    "rosenbrock": ({"kind": "rosenbrock"}, None, {"x": -1.5, "y": 2.0}),
    "beale": ({"kind": "beale"}, None, {"x": 1.0, "y": 1.0}),
    "himmelblau": ({"kind": "himmelblau"}, None, {"x": 0.5, "y": 0.5}),
    "rastrigin": ({"kind": "rastrigin", "A": 5}, None, {"x": 2.3, "y": -1.7}),
    "booth": ({"kind": "booth"}, None, {"x": 0.0, "y": 0.0}),
    "bowl": ({"kind": "bowl", "condition": 20}, None, {"x": 1.5, "y": 1.0}),
}


def rule_sheets() -> list[dict]:
    """Every (optimizer, flavour) of the registry, and the lecture's warm-up passes."""
    sheets = [{"name": f"{r.flavor} {r.optimizer}", "optimizer": r.optimizer,
               "flavor": r.flavor, "lr": 0.001} for r in REGISTRY]
    return sheets + [{"name": f"lecture-reset {o}", "optimizer": o, "flavor": "lecture",
                      "state": "lecture-reset", "lr": 0.001} for o in ("rmsprop", "adam")]


def schedule_sheets() -> list[dict]:
    """Every torch scheduler of the shipped preset (OneCycleLR long enough for any run), the
    lecture's annealing, fastai's one cycle and Keras's and optax's schedules."""
    raw = tomllib.loads((WORKBOOKS / "torch-schedules.toml").read_text())
    shared = {k: v for k, v in raw["defaults"].items() if k in ("optimizer", "flavor")}
    sheets = []
    for table in raw["sheet"]:
        table = {**shared, **copy.deepcopy(table), "lr": 0.001, "name": f"torch {table['name']}"}
        table.pop("epochs", None)
        if table["schedule"].get("torch") == "OneCycleLR":
            table["schedule"]["total_steps"] = 1000
        sheets.append(table)
    return sheets + [
        {"name": "adam_ann", "optimizer": "adam_ann", "flavor": "lecture", "lr": 0.001},
        {"name": "fastai one cycle", "optimizer": "adam", "flavor": "fastai", "lr": 0.001,
         "schedule": {"kind": "fastai_one_cycle"}},
        {"name": "keras exp", "optimizer": "sgd", "flavor": "keras", "lr": 0.001,
         "schedule": {"keras": "ExponentialDecay", "decay_steps": 2, "decay_rate": 0.5}},
        {"name": "keras cos", "optimizer": "adam", "flavor": "keras", "lr": 0.001,
         "schedule": {"keras": "CosineDecay", "decay_steps": 5, "warmup_target": 0.002,
                      "warmup_steps": 2}},
        {"name": "keras pieces", "optimizer": "adam", "flavor": "keras", "lr": 0.001,
         "schedule": {"keras": "PiecewiseConstantDecay", "boundaries": [2],
                      "values": [0.001, 0.0005]}},
        {"name": "optax warm cos", "optimizer": "adam", "flavor": "optax", "lr": 0.001,
         "schedule": {"optax": "warmup_cosine_decay_schedule", "init_value": 0.0,
                      "warmup_steps": 2, "decay_steps": 6}},
        {"name": "optax exp", "optimizer": "sgd", "flavor": "optax", "lr": 0.001,
         "schedule": {"optax": "exponential_decay", "transition_steps": 2, "decay_rate": 0.5}},
        {"name": "optax cos", "optimizer": "adam", "flavor": "optax", "lr": 0.001,
         "schedule": {"optax": "cosine_decay_schedule", "decay_steps": 5}},
        {"name": "optax pieces", "optimizer": "sgd", "flavor": "optax", "lr": 0.001,
         "schedule": {"optax": "piecewise_constant_schedule", "boundaries_and_scales": {"2": 0.5}}},
    ]


def matrix_spec(name: str, tmp_path: Path) -> sheetopt.Spec:
    table, rows, starts = MODELS[name]
    raw: dict = {"title": f"every sheet on {name}", "model": dict(table),
                 "defaults": {"steps": 4} if rows is None else {"epochs": 2}}
    if rows is not None:
        (tmp_path / f"{rows}.csv").write_text(DATA[rows])
        raw["data"] = {"csv": str(tmp_path / f"{rows}.csv")}
    if starts is not None:
        raw["defaults"]["init"] = starts
    params = parse({**raw, "sheet": [{"optimizer": "sgd", "lr": 0.1}]}).model.params
    sheets = rule_sheets() + schedule_sheets()
    for sheet in sheets:  # torch's adam_ann divides by its start state's scale: not zero
        if sheet["optimizer"] == "adam_ann" and sheet["flavor"] == "torch":
            sheet["state"] = {"sqr_avg": {p: 1.0 for p in params}}
    return parse({**raw, "sheet": sheets})


@pytest.mark.parametrize("name", list(MODELS))
def test_every_optimizer_and_schedule_runs_writes_and_checks(name, tmp_path, monkeypatch):
    monkeypatch.setenv("SHEETOPT_EXECUTOR", "numpy")
    spec = matrix_spec(name, tmp_path)
    assert len(spec.sheets) == len(rule_sheets()) + len(schedule_sheets())
    result = sheetopt.run(spec)
    summary = result.summary()
    assert set(summary["sheet"]) == {s.name for s in spec.sheets}
    for sheet in spec.sheets:
        steps = result.trace(sheet.name)
        assert len(steps) == spec.steps(sheet), sheet.name
        for p in spec.model.params:  # named by the model, every step a number
            assert np.isfinite(steps[f"new_{p}"].to_numpy()).all(), (sheet.name, p)
    book = sheetopt.write_workbook(result, tmp_path / "matrix.xlsx")
    checked = sheetopt.check_workbook(book)
    assert checked["ok"].all(), checked[~checked["ok"]].to_string()
    assert {s.name for s in spec.sheets} <= set(checked["sheet"])
