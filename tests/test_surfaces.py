"""Test surfaces (models without data): against torch.optim with autograd on the same
function, numpy == compiled bit for bit, the spec's keys and refusals, reports and pictures.

The torch reference writes each function again here, in torch, with its textbook formula;
autograd gives its gradient and a plain torch.optim loop (foreach=False, float64) steps it.
The engine must follow that loop to 1e-12 relative (to the larger of the value and 1): the
arithmetic differs only in the order autograd multiplies the chain rule's factors.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from sheetopt import Spec, cli
from sheetopt.executors import compiled
from sheetopt.protocol import engine, report
from sheetopt.errors import SheetoptError
from sheetopt.models import model_for
from sheetopt.models.surfaces import SURFACES, nearest_minimum
from conftest import assert_executors_agree  # noqa: E402

torch = pytest.importorskip("torch")


def textbook(kind: str, x, y):
    """Each surface's function as the literature writes it (torch tensors)."""
    pi = math.pi
    return {
        "rosenbrock": lambda: (1 - x) ** 2 + 100 * (y - x ** 2) ** 2,
        "beale": lambda: ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2
                          + (2.625 - x + x * y ** 3) ** 2),
        "himmelblau": lambda: (x ** 2 + y - 11) ** 2 + (x + y ** 2 - 7) ** 2,
        "rastrigin": lambda: (20 + x ** 2 - 10 * torch.cos(2 * pi * x) + y ** 2
                              - 10 * torch.cos(2 * pi * y)),
        "booth": lambda: (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2,
        "bowl": lambda: 0.5 * (x ** 2 + 10 * y ** 2),
    }[kind]()


STARTS = {"rosenbrock": (-1.2, 1.0), "beale": (1.0, 1.5), "himmelblau": (0.5, -0.5),
          "rastrigin": (0.3, -0.2), "booth": (-3.0, 4.0), "bowl": (1.5, -1.0)}
OPTIMIZERS = [  # (torch class, its keywords, a small lr that keeps every surface in view)
    ("SGD", {"momentum": 0.9, "nesterov": True}, 1e-3),
    ("Adam", {"betas": (0.9, 0.99)}, 1e-2),
    ("RMSprop", {"alpha": 0.9, "centered": True}, 1e-3),
    ("Adagrad", {}, 5e-2),
]
SHEET_NAMES = {"SGD": "sgd", "Adam": "adam", "RMSprop": "rmsprop", "Adagrad": "adagrad"}
STEPS = 60


def surface_spec(kind: str, sheets: list[dict], **model_keys) -> Spec:
    x0, y0 = STARTS[kind]
    return Spec.from_toml("\n".join([
        "[model]", f'kind = "{kind}"', *(f"{k} = {v}" for k, v in model_keys.items()),
        "[defaults]", 'flavor = "torch"', f"steps = {STEPS}",
        f"init = {{ x = {x0}, y = {y0} }}",
        *(line for sheet in sheets for line in ["[[sheet]]", *(
            f"{k} = {v!r}".replace("'", '"').replace("True", "true").replace("(", "[").replace(
                ")", "]") for k, v in sheet.items())]),
    ]))


def torch_path(kind: str, name: str, options: dict, lr: float) -> np.ndarray:
    x0, y0 = STARTS[kind]
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(y0, dtype=torch.float64, requires_grad=True)
    optimizer = getattr(torch.optim, name)([x, y], lr=lr, foreach=False, **options)
    out = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        textbook(kind, x, y).backward()
        optimizer.step()
        out.append((x.item(), y.item()))
    return np.array(out)


@pytest.mark.parametrize("kind", sorted(SURFACES))
@pytest.mark.parametrize("name, options, lr", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_the_engine_follows_a_torch_optim_loop_with_autograd(kind, name, options, lr):
    sheet = {"name": "s", "optimizer": SHEET_NAMES[name], "lr": lr, **options}
    trace = engine.run(surface_spec(kind, [sheet]), "s")
    ours = np.column_stack([trace.steps["new_x"], trace.steps["new_y"]])
    theirs = torch_path(kind, name, options, lr)
    assert not trace.diverged and ours.shape == theirs.shape == (STEPS, 2)
    worst = np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1.0))
    assert worst <= 1e-12, f"{kind} {name}: {worst:.3g}"
    assert np.abs(np.diff(ours, axis=0)).max() > 1e-3  # it really moved


@pytest.mark.parametrize("kind", sorted(SURFACES))
def test_the_analytic_gradient_is_autograds(kind):
    model = model_for(kind)
    rng = np.random.default_rng(1)
    for x0, y0 in rng.uniform(-2, 2, size=(20, 2)):
        x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        y = torch.tensor(y0, dtype=torch.float64, requires_grad=True)
        gx, gy = torch.autograd.grad(textbook(kind, x, y), [x, y])
        ours = model.gradient({"x": x0, "y": y0}, 0.0, 0.0)
        assert float(ours["x"]) == pytest.approx(gx.item(), rel=1e-13, abs=1e-12)
        assert float(ours["y"]) == pytest.approx(gy.item(), rel=1e-13, abs=1e-12)
        value = float(model.loss({"x": x0, "y": y0}, 0.0, 0.0))
        assert value == pytest.approx(textbook(kind, x, y).item(), rel=1e-13, abs=1e-12)


@pytest.mark.skipif(not compiled.available(), reason="numba is not installed")
@pytest.mark.parametrize("kind", sorted(SURFACES))
def test_compiled_equals_numpy_bit_for_bit(kind):
    # each surface's formula in both kernels (recorded and sweep) under one rule, the rules
    # taking turns over the surfaces: a kernel's first compile costs about a second of CPU, and
    # every rule is held to numpy on the line in test_compiled
    rules = [{"name": "adam", "optimizer": "adam", "lr": 0.01},
             {"name": "nag", "optimizer": "sgd", "lr": 1e-3, "momentum": 0.9, "nesterov": True}]
    spec = surface_spec(kind, [rules[sorted(SURFACES).index(kind) % 2]])
    for sheet in spec.sheets:
        hp = engine.hyper_arrays(sheet, 70, {"lr": np.geomspace(1e-4, 0.05, 70)})
        state = engine.start_state(spec, sheet, hp)
        params = np.tile([[sheet.init["x"], sheet.init["y"]]], (70, 1))
        plan = engine.batches(1, 1, sheet.epochs, False, 0)
        assert_executors_agree(spec, sheet, hp, params, state, plan)


def test_model_keys_change_the_function_and_its_minima():
    spec = surface_spec("rosenbrock", [{"name": "s", "optimizer": "adam", "lr": 0.05}],
                        a=2, b=10)
    assert spec.model.keys == {"a": 2.0, "b": 10.0}
    assert spec.model.minima == ({"x": 2.0, "y": 4.0},)
    assert float(spec.model.loss({"x": 2.0, "y": 4.0}, 0, 0)) == 0.0
    assert float(spec.model.loss({"x": 0.0, "y": 0.0}, 0, 0)) == 4.0
    assert model_for("rastrigin", {"A": 5}).loss({"x": 0.5, "y": 0.0}, 0, 0) == 10.25  # 10 + 0.25 + 5 + 0 - 5


def test_the_trace_names_the_parameters_x_and_y_and_has_no_data_columns():
    spec = surface_spec("booth", [{"name": "s", "optimizer": "sgd", "lr": 0.01}])
    trace = engine.run(spec, "s")
    assert list(trace.steps)[:8] == ["epoch", "step", "row", "size", "x", "grad_x", "new_x", "y"]
    assert len(trace) == STEPS and trace.steps["epoch"][-1] == STEPS
    # the loss column is f at the parameters before each step
    assert trace.steps["loss"][0] == (-3 + 8 - 7) ** 2 + (-6 + 4 - 5) ** 2
    assert np.array_equal(trace.epochs["loss"], trace.steps["loss"])
    frame = trace.frame() if hasattr(trace, "frame") else None
    if frame is not None:
        assert {"x", "y", "new_x", "new_y"} <= set(frame.columns)


def test_the_distance_is_to_the_nearest_of_himmelblaus_four_minima():
    spec = Spec.from_toml("""
[model]
kind = "himmelblau"
[[sheet]]
name = "adam"
optimizer = "adam"
flavor = "torch"
lr = 0.1
steps = 300
init = { x = -1.0, y = -1.0 }
""")
    summary, = report.summarize(spec, engine.run_all(spec))
    minimum, distance = nearest_minimum(spec.model, summary.final)
    assert minimum == {"x": -3.779310253377747, "y": -3.28318599128617}
    assert summary.distance == distance < 1e-3
    assert summary.distance == math.dist((summary.final["x"], summary.final["y"]),
                                         (-3.779310253377747, -3.28318599128617))


def test_compare_reports_the_loss_and_the_distance_to_the_nearest_minimum(capsys):
    assert cli.main(["compare", "rosenbrock"]) == 0
    out = capsys.readouterr().out
    assert "no data; minima: x = 1, y = 1" in out
    assert "distance to nearest minimum" in out and "RMSE" not in out


@pytest.mark.parametrize("toml, message", [
    ('[model]\nkind = "rosenbrock"\n[data]\npreset = "lecture"\n',
     "the rosenbrock surface has no data; remove the [data] table"),
    ('[model]\nkind = "beale"\nsize = 3\n', "unknown key model.size (the beale model takes no "
                                            "keys but kind)"),
    ('[model]\nkind = "rosenbrock"\nbb = 3\n', "unknown key model.bb (did you mean 'b'?)"),
    ('[model]\nkind = "bowl"\ncondition = -4\n', "model.condition must be > 0 for the bowl "
                                                "surface's known minimum (got -4)"),
    # keys for which the known minimum is no longer the function's: refused, not mislabelled
    ('[model]\nkind = "rastrigin"\nA = -3\n', "model.A must be >= 0 for the rastrigin"),
    ('[model]\nkind = "rosenbrock"\nb = 0\n', "model.b must be > 0 for the rosenbrock"),
    ('[model]\nkind = "rastrigin"\nA = "ten"\n', "model.A"),
    ('[model]\nkind = "booth"\n[defaults]\nsteps = 0\n', "steps must be at least 1 (got 0)"),
    ('[model]\nkind = "booth"\n[defaults]\nsteps = 5\nepochs = 6\n',
     "steps (5) and epochs (6) differ"),
    ('[data]\npreset = "lecture"\n[defaults]\nsteps = 5\n',
     "steps is for models without data (test surfaces); the linear model counts epochs"),
    ('[model]\nkind = "rosenbrok"\n', "is not one of"),
])
def test_bad_surface_specs_are_one_line(tmp_path, capsys, toml, message):
    path = tmp_path / "bad.toml"
    path.write_text(toml + '[[sheet]]\noptimizer = "sgd"\nlr = 0.1\n')
    with pytest.raises(SheetoptError, match=None) as caught:
        Spec.load(path)
    assert message in str(caught.value)
    assert cli.main(["compare", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


@pytest.mark.parametrize("name", ["rosenbrock", "rastrigin"])
def test_the_readme_gallery_pictures_are_up_to_date(tmp_path, name):
    from pathlib import Path

    from sheetopt import plots

    root = Path(__file__).resolve().parents[1]
    picture = root / "workbooks" / f"{name}-path.png"
    command = f"sheetopt plot {name} --kind path -o workbooks/{name}-path.png --force"
    assert f"](workbooks/{name}-path.png)" in (root / "README.md").read_text()
    assert command in (root / "README.md").read_text()
    fresh = tmp_path / "fresh.png"
    assert cli.main(["plot", name, "--kind", "path", "-o", str(fresh)]) == 0
    stored = plots.stored_fingerprint(picture)
    assert stored and plots.stored_fingerprint(fresh) == stored, f"stale; run: {command}"


def test_the_path_picture_stars_every_minimum_and_animates_by_default(tmp_path):
    spec = Spec.from_toml("""
[model]
kind = "himmelblau"
[[sheet]]
optimizer = "sgd"
flavor = "torch"
lr = 0.01
steps = 40
init = { x = 0.0, y = 0.0 }
""")
    result = __import__("sheetopt").run(spec)
    fig = result.plot("path")
    star = [line for ax in fig.axes for line in ax.lines if line.get_gid() == "minimum"][0]
    assert sorted(np.round(star.get_xdata(), 6)) == [-3.77931, -2.805118, 3.0, 3.584428]
    assert "the 4 minima" == star.get_label()
    assert cli.main(["animate", "rosenbrock", "--sheet", "Adam", "--frames", "3", "-o",
                     str(tmp_path / "a.gif")]) == 0
