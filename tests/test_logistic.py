"""Logistic regression (``kind = "logistic"``): against torch itself, numpy == compiled bit for
bit, no overflow for large logits, accuracy per epoch, the workbook's columns, the refusals.

torch computes the cross-entropy its own way (``binary_cross_entropy_with_logits``: log-sigmoid
with log1p; ``torch.sigmoid`` as 1 / (1 + exp(-z)) for every z), sheetopt as max(z, 0) - z*y +
log(1 + exp(-|z|)) and a sigmoid that never overflows, the form a spreadsheet can compute. The
two differ in the last bits: measured over 200 online steps of SGD, momentum and Adam on the
blobs, the parameters differ by at most 4e-16 relative (bce and mnist_loss alike). The tests
hold them to 1e-14 relative (to the larger of the value and 1): a bound with room, and far
below a real difference. A row's gradient in z is p - y: torch computes sigmoid(z) - y, which
cancels where p is within 2^-53 of y (a well classified row: at z = 37, y = 1 torch has 0, the
true value is -8.5e-17); sheetopt computes -(1 - p) for y = 1 with 1 - p = sigmoid(-z), which
keeps those digits (and is what autograd of its own loss gives, so ``verify`` agrees to 1e-12).
The gradients then differ by up to 1.1e-16 absolute; Adam divides small gradients by their
own scale, so over the 362 steps of the 64-pixel digits the parameters drift apart by up to
5.6e-13 relative (measured): that test is held to 1e-11. A row's
loss itself differs by up to 1.1e-16 absolute where |z| is large: a spreadsheet has no LOG1P,
so log(1 + e) stands for torch's log1p(e), and e = exp(-|z|) below 2^-53 is lost in 1 + e
(at z = 37 the loss is 8.5e-17 in torch, 0 here); the gradient p - y does not go through it.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from sheetopt import Spec, cli
from sheetopt.errors import SheetoptError
from sheetopt.executors import compiled
from sheetopt.models import model_for
from sheetopt.models.logistic import bce, sigmoid
from sheetopt.protocol import engine
from sheetopt.spec.data import PRESET_DIR
from conftest import assert_executors_agree  # noqa: E402

torch = pytest.importorskip("torch")
F = torch.nn.functional

BOUND = 1e-14
MANY_BOUND = 1e-11  # 64 features, Adam, 362 steps: measured 5.6e-13 (see above)
LOG1P_ABS = 1.2e-16  # a row's loss: log(1 + exp(-|z|)) where torch has log1p (see above)
BLOBS = PRESET_DIR / "blobs.csv"


def blob_spec(sheets: str, loss: str = "bce", epochs: int = 5) -> Spec:
    return Spec.from_toml(f"""
[model]
kind = "logistic"
loss = "{loss}"
[data]
csv = "{BLOBS}"
[defaults]
flavor = "torch"
epochs = {epochs}
{sheets}""")


def torch_loss(z, y, loss: str):
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(z, y)
    p = torch.sigmoid(z)  # fastbook's mnist_loss
    return torch.where(y == 1, 1 - p, p).mean()


def torch_run(spec: Spec, optimizer: str, options: dict, loss: str) -> np.ndarray:
    a = torch.zeros((), dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, optimizer)([a, b], foreach=False, **options)
    x, y = torch.tensor(spec.data.x), torch.tensor(spec.data.y)
    out = []
    for _ in range(spec.sheets[0].epochs):
        for i in range(len(y)):
            opt.zero_grad()
            torch_loss(b + a * x[i], y[i], loss).backward()
            opt.step()
            out.append((a.item(), b.item()))
    return np.array(out)


CASES = [
    ('optimizer = "sgd"\nlr = 0.1', "SGD", {"lr": 0.1}),
    ('optimizer = "sgd"\nlr = 0.1\nmomentum = 0.9', "SGD", {"lr": 0.1, "momentum": 0.9}),
    ('optimizer = "adam"\nlr = 0.05', "Adam", {"lr": 0.05}),
]


@pytest.mark.parametrize("loss", ["bce", "mnist"])
@pytest.mark.parametrize("sheet, optimizer, options", CASES, ids=["sgd", "momentum", "adam"])
def test_the_engine_follows_a_torch_optim_loop(loss, sheet, optimizer, options):
    spec = blob_spec(f'[[sheet]]\nname = "s"\n{sheet}', loss)
    trace = engine.run(spec, "s")
    ours = np.column_stack([trace.steps["new_a"], trace.steps["new_b"]])
    theirs = torch_run(spec, optimizer, options, loss)
    assert ours.shape == theirs.shape == (200, 2)
    worst = np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1.0))
    assert worst <= BOUND, f"{loss} {optimizer}: {worst:.3g}"
    assert abs(ours[-1, 0]) > 0.5  # it learned a slope


@pytest.mark.parametrize("loss", ["bce", "mnist"])
def test_the_gradient_is_autograds_for_small_and_huge_logits(loss):
    model = model_for("logistic", {"loss": loss})
    for z0 in [-800.0, -40.0, -3.0, -1e-3, 0.0, 1e-3, 2.5, 37.0, 750.0]:
        for y0 in (0.0, 1.0):
            a = torch.tensor(z0, dtype=torch.float64, requires_grad=True)
            b = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
            value = torch_loss(b + a * 1.0, torch.tensor(y0, dtype=torch.float64), loss)
            grads = torch.autograd.grad(value, [a, b])
            ours = model.gradient({"a": z0, "b": 0.0}, 1.0, y0)
            row = float(model.loss({"a": z0, "b": 0.0}, 1.0, y0))
            # log(1 + e) in place of torch's log1p(e): e below 2^-53 is lost, 1.1e-16 at most
            assert math.isfinite(row) and row == pytest.approx(value.item(), rel=BOUND,
                                                               abs=LOG1P_ABS)
            for mine, theirs in zip((ours["a"], ours["b"]), grads):
                # torch's backward is sigmoid(z) - y, which cancels where p is within 2^-53
                # of y (0 at z = 37, y = 1); sheetopt's -(1 - p) = -sigmoid(-z) keeps it
                assert float(mine) == pytest.approx(theirs.item(), rel=BOUND, abs=LOG1P_ABS)


@pytest.mark.parametrize("loss", ["bce", "mnist"])
def test_autograd_of_the_models_own_loss_is_its_analytic_gradient(loss):
    """What verify re-derives: torch autograd through the model's own formula (rendered with
    torch ops), z = 0 included, where every logistic run starts (a slope of 0 for torch's
    |z| there once made sigmoid's slope 0 instead of 1/4, and verify failed every mnist_loss
    run at its first step)."""
    model = model_for("logistic", {"loss": loss})
    for z0 in [-40.0, -1e-3, -0.0, 0.0, 1e-3, 2.5, 37.0]:
        for y0 in (0.0, 1.0):
            a, b = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (z0, 0.0))
            value = model.loss({"a": a, "b": b}, torch.tensor(1.0, dtype=torch.float64),
                               torch.tensor(y0, dtype=torch.float64))
            grads = torch.autograd.grad(value, [a, b])
            ours = model.gradient({"a": z0, "b": 0.0}, 1.0, y0)
            for name, theirs in zip("ab", grads):
                # the same function, differentiated in another order: last bits apart
                assert float(ours[name]) == pytest.approx(theirs.item(), rel=1e-15), \
                    (loss, z0, y0, name)
    if loss == "mnist":  # the slope at z = 0 is p * (1 - p) = 1/4, not 0
        assert float(model.gradient({"a": 0.0, "b": 0.0}, 1.0, 0.0)["b"]) == 0.25


def test_verify_passes_an_mnist_loss_run_from_the_default_start():
    import sheetopt

    spec = blob_spec('[[sheet]]\nname = "s"\noptimizer = "sgd"\nlr = 0.5', "mnist", epochs=1)
    assert all(value == 0.0 for value in spec.sheets[0].init.values())  # z = 0 at step 1
    assert bool(sheetopt.verify(spec, device="cpu")["ok"].all())


def test_the_cross_entropy_does_not_overflow():
    z = np.array([-1e308, -1000.0, 0.0, 1000.0, 1e308])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert bce(z, np.ones(5)).tolist() == [1e308, 1000.0, math.log(2), 0.0, 0.0]
        assert bce(z, np.zeros(5)).tolist() == [0.0, 0.0, math.log(2), 1000.0, 1e308]
    assert sigmoid(np.array([-1000.0, 0.0, 1000.0])).tolist() == [0.0, 0.5, 1.0]


@pytest.mark.skipif(not compiled.available(), reason="numba is not installed")
@pytest.mark.parametrize("loss", ["bce", "mnist"])
def test_compiled_equals_numpy_bit_for_bit(loss):
    spec = blob_spec('[[sheet]]\nname = "adam"\noptimizer = "adam"\nlr = 0.05\n'
                     '[[sheet]]\nname = "batch"\noptimizer = "sgd"\nlr = 0.5\nbatch = 8\n'
                     'show = ["forward", "central"]', loss)
    for sheet in spec.sheets:
        hp = engine.hyper_arrays(sheet, 30, {"lr": np.geomspace(1e-3, 3.0, 30)})
        state = engine.start_state(spec, sheet, hp)
        params = np.zeros((30, 2))
        plan = engine.plan_for(spec, sheet)
        assert_executors_agree(spec, sheet, hp, params, state, plan)


@pytest.mark.skipif(not compiled.available(), reason="numba is not installed")
def test_compiled_equals_numpy_on_sixteen_features():
    spec = Spec.load("digits")
    sheet = spec.sheet("Adam")
    hp = engine.hyper_arrays(sheet, 8, {"lr": np.geomspace(1e-3, 0.1, 8)})
    state = engine.start_state(spec, sheet, hp)
    params = np.zeros((8, len(spec.model.params)))
    plan = engine.plan_for(spec, sheet)
    assert_executors_agree(spec, sheet, hp, params, state, plan)


def test_accuracy_per_epoch_is_the_share_of_rows_torch_classifies_right():
    spec = blob_spec('[[sheet]]\nname = "s"\noptimizer = "sgd"\nlr = 0.02', epochs=4)
    trace = engine.run(spec, "s")
    x, y = torch.tensor(spec.data.x), torch.tensor(spec.data.y)
    for e in range(4):
        a, b = trace.epochs["a"][e], trace.epochs["b"][e]
        preds = torch.sigmoid(b + a * x)  # fastbook's batch_accuracy
        right = ((preds > 0.5) == (y == 1)).double().mean().item()
        assert trace.epochs["accuracy"][e] == right
    assert 0.5 < trace.epochs["accuracy"][-1] <= 1.0


def test_compare_and_summary_report_the_loss_and_the_accuracy(capsys):
    assert cli.main(["compare", "blobs"]) == 0
    out = capsys.readouterr().out
    assert "Loss per epoch: the mean per-step binary cross-entropy" in out
    assert "Accuracy per epoch" in out and "RMSE" not in out
    import sheetopt

    table = sheetopt.run("blobs").summary()
    assert {"loss", "accuracy"} <= set(table.columns)
    assert table["accuracy"].between(0, 1).all() and (table["loss"] > 0).all()


def test_the_workbook_shows_the_logit_p_and_the_loss_and_checks(tmp_path, capsys):
    path = tmp_path / "blobs.xlsx"
    assert cli.main(["workbook", "blobs", "-o", str(path)]) == 0
    import openpyxl

    sheet = openpyxl.load_workbook(path)["SGD"]
    header = [c.value for c in sheet[9]]
    first = {h: c.value for h, c in zip(header, sheet[10])}
    at = header.index("pred")
    assert header[at:at + 4] == ["pred", "p", "1-p", "loss"]
    assert "EXP" in first["p"] and "LN(1+EXP(" in first["loss"]
    assert first["de/db"].count("EXP") == 0  # it reads the p and 1-p cells: p - y
    assert cli.main(["check", str(path)]) == 0
    assert "every stored value agrees" in capsys.readouterr().out


@pytest.mark.parametrize("rows, message", [
    ("x,y\n1,0\n2,1\n3,2\n", "data row 3: y = 2 is not a label 0 or 1"),
    ("x,y\n1,0.5\n2,1\n", "data row 1: y = 0.5 is not a label 0 or 1"),
    ("x,y\n1,-1\n2,1\n3,-1\n", "(the logistic model classifies; 2 rows like it)"),
])
def test_a_label_not_0_or_1_is_one_line(tmp_path, capsys, rows, message):
    (tmp_path / "rows.csv").write_text(rows)
    path = tmp_path / "spec.toml"
    path.write_text('[model]\nkind = "logistic"\n[data]\ncsv = "rows.csv"\n'
                    '[[sheet]]\noptimizer = "sgd"\n')
    with pytest.raises(SheetoptError) as caught:
        Spec.load(path)
    assert message in str(caught.value)
    assert cli.main(["compare", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_labels_from_python_arrays_are_checked_too():
    import sheetopt

    with pytest.raises(SheetoptError, match="data row 2: y = 3 is not a label 0 or 1"):
        sheetopt.Spec.from_arrays([1.0, 2.0], [1.0, 3.0], model="logistic",
                                  sheets=[{"optimizer": "sgd"}])


def test_an_unknown_loss_is_one_line(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(f'[model]\nkind = "logistic"\nloss = "mse"\n[data]\ncsv = "{BLOBS}"\n'
                    '[[sheet]]\noptimizer = "sgd"\n')
    with pytest.raises(SheetoptError, match="model.loss must be one of 'bce', 'mnist' "
                                            r"\(got 'mse'\)"):
        Spec.load(path)


def test_the_digits_preset_reads_the_shipped_data_and_its_picture_is_up_to_date(tmp_path):
    from pathlib import Path

    from sheetopt import plots

    spec = Spec.load("digits")
    assert len(spec.data) == 362 and int(spec.data.y.sum()) == 183  # 3s are 1, 7s are 0
    assert spec.model.params[:2] == ("w_r0c0", "w_r0c1") and len(spec.model.params) == 17
    root = Path(__file__).resolve().parents[1]
    full = Spec.from_toml(f'[model]\nkind = "logistic"\n[data]\ncsv = '
                          f'"{root / "workbooks" / "digits-3-7.csv"}"\n'
                          '[[sheet]]\noptimizer = "sgd"\nlr = 0.01\n')
    assert full.data.x.shape == (362, 64) and full.data.x.max() == 16.0
    pooled = full.data.x.reshape(-1, 4, 2, 4, 2).sum(axis=(2, 4)).reshape(-1, 16)
    assert np.array_equal(pooled, spec.data.x) and np.array_equal(full.data.y, spec.data.y)
    assert "CC BY 4.0" in (root / "workbooks" / "DIGITS-LICENSE.txt").read_text()
    command = "sheetopt plot digits --kind fits -o workbooks/digits-fits.png --force"
    readme = (root / "README.md").read_text()
    assert "](workbooks/digits-fits.png)" in readme and command in readme
    fresh = tmp_path / "fresh.png"
    assert cli.main(["plot", "digits", "--kind", "fits", "-o", str(fresh)]) == 0
    stored = plots.stored_fingerprint(root / "workbooks" / "digits-fits.png")
    assert stored and plots.stored_fingerprint(fresh) == stored, f"stale; run: {command}"


def test_many_features_follow_torch_too():
    """All 64 pixels (the numpy executor: the compiled kernel reads one column), Adam, one
    epoch, against torch's loop on the same rows."""
    from pathlib import Path

    csv = Path(__file__).resolve().parents[1] / "workbooks" / "digits-3-7.csv"
    spec = Spec.from_toml(f'[model]\nkind = "logistic"\n[data]\ncsv = "{csv}"\n'
                          '[[sheet]]\nname = "s"\noptimizer = "adam"\nflavor = "torch"\n'
                          'lr = 0.01\n')
    trace = engine.run(spec, "s")
    w = torch.zeros(64, dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.01, foreach=False)
    x, y = torch.tensor(spec.data.x), torch.tensor(spec.data.y)
    worst = 0.0
    for i in range(len(y)):
        opt.zero_grad()
        F.binary_cross_entropy_with_logits((w * x[i]).sum() + b, y[i]).backward()
        opt.step()
        ours = np.array([trace.steps[f"new_{p}"][i] for p in spec.model.params])
        theirs = np.append(w.detach().numpy(), b.item())
        worst = max(worst, np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1.0)))
    assert worst <= MANY_BOUND, worst
    right = (((x @ w.detach()) + b.item() > 0) == (y == 1)).double().mean().item()
    assert trace.epochs["accuracy"][-1] == pytest.approx(right, abs=1e-12) and right > 0.75
