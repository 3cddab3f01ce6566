"""The small ReLU net (``kind = "relu_net"``): against torch itself (an ``nn.Sequential`` of
``Linear(1, H)``, ``ReLU``, ``Linear(H, 1)`` trained by a torch.optim loop with autograd),
numpy == compiled bit for bit, the gradient at the kink, the workbook's activation columns and
the refusals.

The torch loop and the engine differ only in how torch multiplies the chain rule's factors and
sums the output layer's dot product (BLAS), so they agree to 1e-12 relative (to the larger of
the value and 1) over the steps compared.
"""
from __future__ import annotations

import numpy as np
import pytest

from sheetopt import Spec, cli
from sheetopt.errors import SheetoptError
from sheetopt.executors import compiled
from sheetopt.models import model_for
from sheetopt.protocol import engine
from sheetopt.spec.data import PRESET_DIR
from conftest import assert_executors_agree  # noqa: E402

torch = pytest.importorskip("torch")

DATA = PRESET_DIR / "relu-net-data.csv"


def relu_spec(sheets: str, hidden: int = 2, epochs: int = 3, extra: str = "") -> Spec:
    return Spec.from_toml(f"""
[model]
kind = "relu_net"
hidden = {hidden}
[data]
csv = "{DATA}"
[defaults]
flavor = "torch"
epochs = {epochs}
{extra}
{sheets}""")


def torch_net(model, init: dict):
    """The torch module with the sheet's starts, in float64."""
    units = int(model.keys["hidden"])
    net = torch.nn.Sequential(torch.nn.Linear(1, units), torch.nn.ReLU(),
                              torch.nn.Linear(units, 1)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[init[f"w{j}"]] for j in range(1, units + 1)]))
        net[0].bias.copy_(torch.tensor([init[f"c{j}"] for j in range(1, units + 1)]))
        net[2].weight.copy_(torch.tensor([[init[f"v{j}"] for j in range(1, units + 1)]]))
        net[2].bias.copy_(torch.tensor([init["d"]]))
    return net


def flat(net) -> list[float]:
    """The net's parameters in the model's order: w, c, v, d."""
    return [v.item() for tensor in net.parameters() for v in tensor.detach().reshape(-1)]


def torch_run(spec: Spec, sheet: str, optimizer: str, options: dict) -> np.ndarray:
    """Online steps over the rows in order, torch.optim's loop on (y - net(x))^2."""
    settings = spec.sheet(sheet)
    net = torch_net(spec.model, settings.init)
    opt = getattr(torch.optim, optimizer)(net.parameters(), foreach=False, **options)
    x = torch.tensor(spec.data.x, dtype=torch.float64).reshape(-1, 1, 1)
    y = torch.tensor(spec.data.y, dtype=torch.float64)
    out = []
    for _ in range(settings.epochs):
        for i in range(len(y)):
            opt.zero_grad()
            ((y[i] - net(x[i])[0, 0]) ** 2).backward()
            opt.step()
            out.append(flat(net))
    return np.array(out)


CASES = [  # (sheet TOML, torch class, its keywords)
    ('optimizer = "sgd"\nlr = 0.01\nmomentum = 0.9', "SGD", {"lr": 0.01, "momentum": 0.9}),
    ('optimizer = "adam"\nlr = 0.05', "Adam", {"lr": 0.05}),
    ('optimizer = "rmsprop"\nlr = 0.01\ncentered = true', "RMSprop",
     {"lr": 0.01, "centered": True}),
]


@pytest.mark.parametrize("hidden", [1, 2, 3])
@pytest.mark.parametrize("sheet, optimizer, options", CASES, ids=[c[1] for c in CASES])
def test_the_engine_follows_torch_nn_and_torch_optim(hidden, sheet, optimizer, options):
    spec = relu_spec(f'[[sheet]]\nname = "s"\n{sheet}', hidden)
    trace = engine.run(spec, "s")
    ours = np.column_stack([trace.steps[f"new_{p}"] for p in spec.model.params])
    theirs = torch_run(spec, "s", optimizer, options)
    assert ours.shape == theirs.shape == (3 * len(spec.data), 3 * hidden + 1)
    worst = np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1.0))
    assert worst <= 1e-12, f"{optimizer}, {hidden} units: {worst:.3g}"
    assert np.abs(ours[-1] - ours[0]).max() > 0.05  # it really moved


def test_the_preset_meets_a_kink_where_torch_passes_no_gradient():
    """Unit 1 starts with its kink at x = -0.5 and is off for the ten rows before that one
    (x = -3 to -0.75), so at step 11 its input is exactly 0; torch's ReLU passes 0 there."""
    spec = Spec.load("relu-net")
    trace = engine.run(spec, spec.sheets[0].name)
    step = 10
    assert trace.steps["x"][step] == -0.5
    assert trace.steps["c1"][step] + trace.steps["w1"][step] * -0.5 == 0.0
    assert trace.steps["grad_w1"][step] == trace.steps["grad_c1"][step] == 0.0
    assert trace.steps["grad_v1"][step] == 0.0 and trace.steps["grad_d"][step] != 0.0
    net = torch_net(spec.model, {p: trace.steps[p][step] for p in spec.model.params})
    x = torch.tensor([[-0.5]], dtype=torch.float64)
    ((trace.steps["y"][step] - net(x)[0, 0]) ** 2).backward()
    grads = [v.item() for t in net.parameters() for v in t.grad.reshape(-1)]
    ours = [trace.steps[f"grad_{p}"][step] for p in spec.model.params]
    assert grads[0] == grads[2] == 0.0  # w1, c1
    assert ours == pytest.approx(grads, rel=1e-15, abs=0)


def test_the_analytic_gradient_is_autograds_away_from_the_kinks():
    model = model_for("relu_net", {"hidden": 3})
    rng = np.random.default_rng(3)
    for _ in range(20):
        params = dict(zip(model.params, rng.normal(size=len(model.params))))
        x, y = rng.uniform(-3, 3, size=2)
        net = torch_net(model, params)
        ((y - net(torch.tensor([[x]], dtype=torch.float64))[0, 0]) ** 2).backward()
        theirs = [v.item() for t in net.parameters() for v in t.grad.reshape(-1)]
        ours = model.gradient(params, x, y)
        assert [float(ours[p]) for p in model.params] == pytest.approx(theirs, rel=1e-13,
                                                                        abs=1e-14)


def test_default_starts_spread_the_kinks():
    model = model_for("relu_net", {"hidden": 2})
    assert model.starts == {"w1": 1.0, "w2": -1.0, "c1": 0.5, "c2": 0.5, "v1": 1.0, "v2": 1.0,
                            "d": 0.0}
    three = model_for("relu_net", {"hidden": 3}).starts
    kinks = [-three[f"c{j}"] / three[f"w{j}"] for j in (1, 2, 3)]
    assert kinks == [-1.0, 0.0, 1.0]
    spec = relu_spec('[[sheet]]\nname = "s"\noptimizer = "sgd"\nlr = 0.01\ninit = { d = 2 }')
    assert spec.sheet("s").init == {**model.starts, "d": 2.0}


@pytest.mark.skipif(not compiled.available(), reason="numba is not installed")
def test_compiled_equals_numpy_bit_for_bit():
    spec = relu_spec('[[sheet]]\nname = "adam"\noptimizer = "adam"\nlr = 0.05\n'
                     '[[sheet]]\nname = "batch"\noptimizer = "sgd"\nlr = 0.01\nbatch = 4\n'
                     'show = ["forward", "central"]', hidden=3)
    for sheet in spec.sheets:
        hp = engine.hyper_arrays(sheet, 40, {"lr": np.geomspace(1e-4, 0.1, 40)})
        state = engine.start_state(spec, sheet, hp)
        params = np.tile([[sheet.init[p] for p in spec.model.params]], (40, 1))
        plan = engine.plan_for(spec, sheet)
        assert_executors_agree(spec, sheet, hp, params, state, plan)


def test_the_workbook_shows_each_units_activation_and_checks(preset_workbook, capsys):
    path = preset_workbook("relu-net")  # sheetopt workbook relu-net, written once per run
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True)  # formulas, the two rows read
    header, row = book["SGD"].iter_rows(min_row=9, max_row=10, values_only=True)
    book.close()
    first = dict(zip(header, row))
    assert list(header[header.index("d") + 1:header.index("d") + 4]) == ["a1", "a2", "pred"]
    assert first["a1"].startswith("=MAX(0,") and first["pred"].count("MAX") == 0
    assert cli.main(["check", str(path)]) == 0
    assert "every stored value agrees" in capsys.readouterr().out


def test_every_command_takes_the_preset(tmp_path, capsys):
    assert cli.main(["compare", "relu-net"]) == 0
    out = capsys.readouterr().out
    assert "a_j = max(0, c_j + w_j*x) (2 units)" in out and "w1" in out and "v2" in out
    assert cli.main(["trace", "relu-net", "--sheet", "Adam"]) == 0
    assert "new_w1" in capsys.readouterr().out
    assert cli.main(["plot", "relu-net", "--kind", "fits", "-o", str(tmp_path / "f.png")]) == 0
    assert cli.main(["sweep", "relu-net", "--sheet", "Adam", "--lr", "0.001:0.1:5"]) == 0


@pytest.mark.parametrize("value, message", [
    ("0", "model.hidden must be a whole number of units from 1 to 64 (got 0)"),
    ("2.5", "model.hidden must be a whole number of units from 1 to 64 (got 2.5)"),
    ("65", "(got 65)"),
    ('"two"', "model.hidden must be a number"),
])
def test_a_bad_hidden_is_one_line(tmp_path, capsys, value, message):
    path = tmp_path / "bad.toml"
    path.write_text(f'[model]\nkind = "relu_net"\nhidden = {value}\n[data]\ncsv = "{DATA}"\n'
                    '[[sheet]]\noptimizer = "sgd"\n')
    with pytest.raises(SheetoptError, match=None) as caught:
        Spec.load(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert cli.main(["compare", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_an_init_of_another_models_parameter_is_refused():
    with pytest.raises(SheetoptError, match="has no parameter 'a'.*w1, w2, c1, c2, v1, v2, d"):
        relu_spec('[[sheet]]\nname = "s"\noptimizer = "sgd"\ninit = { a = 1 }')


def test_the_readme_picture_is_up_to_date(tmp_path):
    from pathlib import Path

    from sheetopt import plots

    root = Path(__file__).resolve().parents[1]
    command = "sheetopt plot relu-net --kind fits -o workbooks/relu-net-fits.png --force"
    readme = (root / "README.md").read_text()
    assert "](workbooks/relu-net-fits.png)" in readme and command in readme
    fresh = tmp_path / "fresh.png"
    assert cli.main(["plot", "relu-net", "--kind", "fits", "-o", str(fresh)]) == 0
    stored = plots.stored_fingerprint(root / "workbooks" / "relu-net-fits.png")
    assert stored and plots.stored_fingerprint(fresh) == stored, f"stale; run: {command}"
