"""Given gradients: ``kind = "gradients"``, a CSV whose header names the parameters and whose
rows are the gradients of successive steps, replayed through any rule like any model's run.

The frameworks' published values (Keras's golden rows, fastai's hand-computed steps, see
test_framework_goldens.py, which feeds the rules directly) are reproduced here through the whole
engine: spec, data file, trace, workbook. torch.optim itself, handed the same gradients, must
follow the engine to 1e-12 relative.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import sheetopt
from sheetopt import Spec, cli
from sheetopt.errors import SheetoptError
from sheetopt.executors import compiled
from sheetopt.protocol import engine

from frameworks import rule_path
from test_framework_goldens import KERAS_GOLDEN, KERAS_GRADS, ONES, PARAMS, PARAMS_G

torch = pytest.importorskip("torch")

GRADS = np.array([[0.5, -1.0, 0.25], [0.25, 2.0, -0.5], [-1.5, 0.75, 0.0], [0.1, 0.1, 3.0],
                  [2.0, -0.3, 1.0], [-0.2, 0.0, -1.0]])
START = {"a": 1.0, "b": -2.0, "c": 0.5}


def given(grads, names, sheet: dict, start) -> Spec:
    frame = pd.DataFrame(np.asarray(grads, dtype=float), columns=list(names))
    return Spec.from_arrays(frame, model="gradients",
                            sheets=[{"name": "s", "init": dict(zip(names, start)), **sheet}])


def new_params(spec: Spec) -> np.ndarray:
    trace = engine.run(spec, "s")
    return np.column_stack([trace.steps[f"new_{p}"] for p in spec.model.params])


@pytest.mark.parametrize("optimizer", list(KERAS_GOLDEN))
def test_keras_golden_values_through_the_engine(optimizer):
    args, golden = KERAS_GOLDEN[optimizer]
    names = [f"w{i}" for i in range(1, 11)]
    spec = given(KERAS_GRADS, names, {"optimizer": optimizer, "flavor": "keras", **args}, ONES)
    path = new_params(spec)
    np.testing.assert_allclose(path, golden, rtol=5e-4, atol=5e-4)
    # and exactly what the rule does when fed the gradients directly
    assert np.array_equal(path, rule_path("keras", optimizer, args, ONES, KERAS_GRADS))


def test_fastai_hand_computed_steps_through_the_engine():
    names = ["p0", "p1", "p2", "p3"]
    spec = given([PARAMS_G] * 2, names, {"optimizer": "sgd", "flavor": "fastai", "lr": 0.1,
                                         "mom": 0.9}, PARAMS)
    path = new_params(spec)
    np.testing.assert_allclose(path[0], [i * 0.99 for i in range(4)], rtol=0, atol=1e-5)
    np.testing.assert_allclose(path[1], [i * (1 - 0.1 * (0.1 + 0.1 * 1.9)) for i in range(4)],
                               rtol=0, atol=1e-5)


TORCH_CASES = [
    ("SGD", {"momentum": 0.9, "nesterov": True}, {"optimizer": "sgd", "momentum": 0.9,
                                                  "nesterov": True}),
    ("Adam", {"amsgrad": True}, {"optimizer": "adam", "amsgrad": True}),
    ("RMSprop", {"centered": True}, {"optimizer": "rmsprop", "centered": True}),
    ("Adagrad", {}, {"optimizer": "adagrad"}),
    ("AdamW", {"weight_decay": 0.1}, {"optimizer": "adamw", "weight_decay": 0.1}),
]


@pytest.mark.parametrize("name, options, keys", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_torch_optim_handed_the_same_gradients_follows_the_engine(name, options, keys):
    spec = given(GRADS, START, {"flavor": "torch", "lr": 0.1, **keys}, START.values())
    ours = new_params(spec)
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in START.values()]
    optimizer = getattr(torch.optim, name)(leaves, lr=0.1, foreach=False, **options)
    theirs = []
    for row in GRADS:
        for leaf, g in zip(leaves, row):
            leaf.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
        theirs.append([leaf.item() for leaf in leaves])
    worst = np.max(np.abs(ours - np.array(theirs)) / np.maximum(np.abs(theirs), 1.0))
    assert worst <= 1e-12, f"{name}: {worst:.3g}"


def test_the_row_loss_is_the_linear_function_whose_gradient_is_the_row():
    model = given(GRADS, START, {"optimizer": "sgd", "lr": 0.1}, START.values()).model
    leaves = {p: torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for p, v in START.items()}
    row = tuple(torch.tensor(g) for g in GRADS[0])
    found = torch.autograd.grad(model.loss(leaves, row, 0.0), list(leaves.values()))
    assert [g.item() for g in found] == GRADS[0].tolist()
    assert model.loss(START, tuple(GRADS[0]), 0.0) == 0.5 * 1.0 + -1.0 * -2.0 + 0.25 * 0.5


def test_the_command_line_traces_and_writes_a_checked_workbook(tmp_path, capsys):
    csv = tmp_path / "grads.csv"
    csv.write_text("a,b,c\n" + "".join(",".join(map(repr, r)) + "\n" for r in GRADS.tolist()))
    toml = tmp_path / "given.toml"
    toml.write_text('[model]\nkind = "gradients"\n[data]\ncsv = "grads.csv"\n[defaults]\n'
                    'init = { a = 1.0, b = -2.0, c = 0.5 }\n[[sheet]]\noptimizer = "adam"\n'
                    'flavor = "torch"\nlr = 0.1\n[[sheet]]\noptimizer = "sgd"\n'
                    'flavor = "torch"\nlr = 0.1\nmomentum = 0.9\nbatch = 2\n')
    assert cli.main(["trace", str(toml), "--sheet", "adam", "--format", "json"]) == 0
    trace = json.loads(capsys.readouterr().out)
    assert trace["steps"]["g_b"] == trace["steps"]["grad_b"] == GRADS[:, 1].tolist()
    book = tmp_path / "given.xlsx"
    assert cli.main(["workbook", str(toml), "-o", str(book)]) == 0
    assert cli.main(["check", str(book)]) == 0
    assert cli.main(["verify", str(toml)]) == 0
    capsys.readouterr()
    checks = sheetopt.verify(Spec.load(toml), device="cpu")
    assert bool(checks["ok"].all())


@pytest.mark.parametrize("body, message", [
    ("a,b\n1,2\n3\n", "line 3: expected 2 cells, found 1"),
    ("a,b\n1,2\n3,\n", "line 3: column b is empty"),
    ("a,b\n1,2\n3,nan\n", "line 3: column b is 'nan'; values must be finite"),
    ("a,a\n1,2\n", "line 1: the column 'a' appears twice"),
    ("a,lr\n1,2\n", "line 1: the parameter 'lr' is named like a column of the trace"),
    ("a,g_b\n1,2\n", "line 1: the parameter 'g_b' is named like a column of the trace"),
    ("a,\n1,2\n", "line 1: the parameter '' is not a name of letters"),
    ("", "the CSV is empty; expected a header naming the parameters"),
    ("a,b\n", "the CSV has a header but no rows"),
])
def test_bad_gradients_are_one_line_exit_2(tmp_path, capsys, body, message):
    (tmp_path / "grads.csv").write_text(body)
    toml = tmp_path / "given.toml"
    toml.write_text('[model]\nkind = "gradients"\n[data]\ncsv = "grads.csv"\n[[sheet]]\n'
                    'optimizer = "sgd"\nlr = 0.1\n')
    assert cli.main(["compare", str(toml)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "grads.csv" in err and "\n" not in err


@pytest.mark.parametrize("toml, message", [
    ('[model]\nkind = "gradients"\n[data]\nrows = 5\n[[sheet]]\noptimizer = "sgd"\nlr = 0.1\n',
     "the gradients model reads its rows from a file; give data.csv"),
    ('[model]\nkind = "gradients"\n[data]\ncsv = "{csv}"\n[[sheet]]\noptimizer = "sgd"\n'
     'lr = 0.1\ninit = {{ z = 1.0 }}\n', "init.z: the gradients model has no parameter 'z' "
                                         "(it has a, b)"),
    ('[model]\nkind = "gradients"\n[data]\ncsv = "{csv}"\ntrue = {{ a = 1.0 }}\n[[sheet]]\n'
     'optimizer = "sgd"\nlr = 0.1\n', None),
])
def test_spec_mistakes_name_the_key(tmp_path, toml, message):
    csv = tmp_path / "grads.csv"
    csv.write_text("a,b\n1,2\n")
    text = toml.format(csv=csv)
    if message is None:  # known true values are allowed (a distance is then reported)
        assert Spec.from_toml(text).data.true == {"a": 1.0}
        return
    with pytest.raises(SheetoptError, match=re.escape(message)):
        Spec.from_toml(text)


@pytest.mark.skipif(not compiled.available(), reason="numba is not installed")
def test_compiled_equals_numpy_bit_for_bit():
    from test_features import assert_executors_agree

    for names in (START, {"a": 1.0}):  # several parameters (a 2-D X) and one (a 1-D X)
        grads = GRADS[:, :len(names)]
        assert_executors_agree(given(grads, names, {"optimizer": "adam", "flavor": "torch",
                                                    "lr": 0.1}, names.values()))
        assert_executors_agree(given(grads, names, {"optimizer": "rmsprop", "lr": 0.01,
                                                    "batch": 4, "gradient": "forward"},
                                     names.values()))


def test_one_parameter_writes_a_checked_workbook_without_a_path_chart(tmp_path):
    spec = given(GRADS[:, :1], ["a"], {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9},
                 [1.0])
    path = tmp_path / "one.xlsx"
    sheetopt.write_workbook(spec, path)
    assert cli.main(["check", str(path)]) == 0
