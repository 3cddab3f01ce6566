"""Several features: ``kind = "linear"`` on a CSV of feature columns and y fits a weight
``w_<column>`` per feature and the intercept ``b``; the lecture's one column x keeps a and b.

The reference is torch itself: the same prediction written in torch (w_1*x_1 + ... + b, left to
right, as a spreadsheet formula sums), the squared error, autograd and a plain torch.optim loop
(foreach=False, float64) stepping one row at a time or a mean over a batch. The engine must
follow it to 1e-12 relative (to the larger of the value and 1).
"""
from __future__ import annotations

import numpy as np
import pytest

import sheetopt
from sheetopt import Spec, cli
from sheetopt.errors import SheetoptError
from sheetopt.executors import compiled
from sheetopt.protocol import engine

torch = pytest.importorskip("torch")

FEATURES = ("area", "rooms", "age")
RNG = np.random.default_rng(7)
X = np.round(RNG.uniform(-2.0, 2.0, size=(12, 3)), 3)
Y = np.round(X @ [1.5, -2.0, 0.5] + 3.0 + RNG.normal(0.0, 0.1, 12), 3)
OPTIMIZERS = [  # (torch class, its keywords, sheet keys, lr)
    ("SGD", {"momentum": 0.9}, {"optimizer": "sgd", "momentum": 0.9}, 0.01),
    ("Adam", {}, {"optimizer": "adam"}, 0.05),
    ("RMSprop", {"alpha": 0.9}, {"optimizer": "rmsprop", "alpha": 0.9}, 0.01),
    ("Adagrad", {}, {"optimizer": "adagrad"}, 0.1),
]
EPOCHS = 3


def write_csv(path, header=(*FEATURES, "y"), x=X, y=Y):
    lines = [",".join(header)] + [",".join(repr(float(v)) for v in (*row, t))
                                  for row, t in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def features_spec(tmp_path, sheets, defaults=None) -> Spec:
    csv = write_csv(tmp_path / "houses.csv")
    raw = {"title": "houses", "data": {"csv": str(csv)}, "sheet": sheets,
           "defaults": {"flavor": "torch", "epochs": EPOCHS, **(defaults or {})}}
    from sheetopt.spec import parse

    return parse(raw)


def torch_path(name, options, lr, batch: int) -> np.ndarray:
    """Each step's parameters after it: (w_area, w_rooms, w_age, b)."""
    w = [torch.tensor(1.0, dtype=torch.float64, requires_grad=True) for _ in FEATURES]
    b = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    optimizer = getattr(torch.optim, name)([*w, b], lr=lr, foreach=False, **options)
    x, y = torch.tensor(X), torch.tensor(Y)
    out = []
    for _ in range(EPOCHS):
        for start in range(0, len(Y), batch):
            rows = slice(start, start + batch)
            pred = w[0] * x[rows, 0]
            for j in range(1, len(FEATURES)):
                pred = pred + w[j] * x[rows, j]
            pred = pred + b
            losses = (y[rows] - pred) ** 2
            loss = losses[0]  # the engine's mean: the sum left to right, then / rows
            for i in range(1, len(losses)):
                loss = loss + losses[i]
            loss = loss / len(losses) if len(losses) > 1 else loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            out.append([v.item() for v in (*w, b)])
    return np.array(out)


def test_the_header_names_the_weights_and_the_lecture_keeps_a_and_b(tmp_path):
    spec = features_spec(tmp_path, [{"optimizer": "sgd", "lr": 0.01}])
    assert spec.model.params == ("w_area", "w_rooms", "w_age", "b")
    assert spec.model.formula == "y = w_area*area + w_rooms*rooms + w_age*age + b"
    assert spec.data.headers == ("area", "rooms", "age", "y") and spec.data.x.shape == (12, 3)
    lesson = Spec.load("lesson5")
    assert lesson.model.params == ("a", "b") and lesson.data.x.ndim == 1


def test_the_prediction_sums_left_to_right_then_adds_b(tmp_path):
    model = features_spec(tmp_path, [{"optimizer": "sgd", "lr": 0.01}]).model
    p = {"w_area": 0.1, "w_rooms": 0.2, "w_age": 0.3, "b": 1e16}
    x = (1.0, 1.0, 1.0)
    assert model.predict(p, x) == ((0.1 * 1.0 + 0.2 * 1.0) + 0.3 * 1.0) + 1e16
    from sheetopt.ops.symbolic import to_excel, var

    tree = model.predict({k: var(k) for k in p}, tuple(var(f) for f in FEATURES))
    assert to_excel(tree, lambda n: n) == "=w_area*area+w_rooms*rooms+w_age*age+b"


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("name, options, keys, lr", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_the_engine_follows_a_torch_optim_loop_with_autograd(tmp_path, name, options, keys,
                                                             lr, batch):
    spec = features_spec(tmp_path, [{"name": "s", "lr": lr, "batch": batch, **keys}])
    trace = engine.run(spec, "s")
    ours = np.column_stack([trace.steps[f"new_{p}"] for p in spec.model.params])
    theirs = torch_path(name, options, lr, batch)
    assert not trace.diverged and ours.shape == theirs.shape
    worst = np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1.0))
    assert worst <= 1e-12, f"{name} batch {batch}: {worst:.3g}"
    assert np.abs(np.diff(ours, axis=0)).max() > 1e-3  # it really moved
    for j, f in enumerate(FEATURES):  # the trace's own row columns, by the header's names
        assert trace.rows[f].tolist() == np.tile(X[:, j], EPOCHS).tolist()


def test_the_analytic_gradient_is_autograds(tmp_path):
    model = features_spec(tmp_path, [{"optimizer": "sgd", "lr": 0.01}]).model
    for row, target in zip(X, Y):
        leaves = {p: torch.tensor(v, dtype=torch.float64, requires_grad=True)
                  for p, v in zip(model.params, RNG.uniform(-1, 1, 4))}
        loss = model.loss(leaves, tuple(torch.tensor(v) for v in row), torch.tensor(target))
        found = torch.autograd.grad(loss, list(leaves.values()))
        ours = model.gradient({p: v.item() for p, v in leaves.items()}, tuple(row), target)
        for p, g in zip(model.params, found):
            assert float(ours[p]) == pytest.approx(g.item(), rel=1e-14, abs=1e-14)


def test_python_and_the_command_line_agree(tmp_path, capsys):
    import pandas as pd

    frame = pd.DataFrame(X, columns=list(FEATURES)).assign(y=Y)
    from_frame = Spec.from_arrays(frame, sheets=[{"optimizer": "adam", "lr": 0.05,
                                                  "flavor": "torch", "epochs": EPOCHS}])
    ours = sheetopt.run(from_frame)["adam"].final()
    spec = features_spec(tmp_path, [{"optimizer": "adam", "lr": 0.05}])
    assert ours == sheetopt.run(spec)["adam"].final()
    toml = tmp_path / "houses.toml"
    toml.write_text(f'[data]\ncsv = "houses.csv"\n[[sheet]]\noptimizer = "adam"\nlr = 0.05\n'
                    f'flavor = "torch"\nepochs = {EPOCHS}\n')
    assert cli.main(["compare", str(toml), "--format", "json"]) == 0
    import json

    shown = json.loads(capsys.readouterr().out)
    assert shown["sheets"][0]["final"] == ours


@pytest.mark.parametrize("header, message", [
    (("area", "b", "y"), "the feature column 'b' is named like a parameter"),
    (("area", "w_area", "y"), "the feature column 'w_area' is named like a parameter"),
    (("area", "rooms", "target"), "needs feature columns and a target column y"),
    (("y", "area", "y"), "the column 'y' appears twice"),
    (("area", "area", "y"), "the column 'area' appears twice"),
    (("my area", "rooms", "y"), "the feature column 'my area' is not a name of letters"),
    (("lr", "rooms", "y"), "the feature column 'lr' is named like a parameter or a column"),
])
def test_a_bad_header_is_one_line_naming_the_file(tmp_path, capsys, header, message):
    csv = write_csv(tmp_path / "bad.csv", header=header)
    toml = tmp_path / "bad.toml"
    toml.write_text('[data]\ncsv = "bad.csv"\n[[sheet]]\noptimizer = "sgd"\nlr = 0.01\n')
    assert cli.main(["compare", str(toml)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{csv}, line 1: " in err and message in err and "\n" not in err


def test_a_row_of_the_wrong_width_is_named(tmp_path):
    csv = tmp_path / "short.csv"
    csv.write_text("area,rooms,y\n1,2,3\n4,5\n")
    with pytest.raises(SheetoptError, match=r"short.csv, line 3: expected 3 cells, found 2$"):
        Spec.from_toml(f'[data]\ncsv = "{csv}"\n[[sheet]]\noptimizer = "sgd"\nlr = 0.1\n')


def test_a_large_file_is_read_by_the_fast_path_with_the_same_values(tmp_path):
    from sheetopt.models import LINEAR
    from sheetopt.spec import data

    rows = 120_000  # past data.PANDAS_FROM_BYTES
    x = np.round(RNG.uniform(-100, 100, size=(rows, 3)), 6)
    y = np.round(RNG.uniform(-100, 100, size=rows), 6)
    csv = write_csv(tmp_path / "big.csv", x=x, y=y)
    assert csv.stat().st_size >= data.PANDAS_FROM_BYTES
    read = data.read_csv(csv, LINEAR)
    assert np.array_equal(read.x, x) and np.array_equal(read.y, y)
    assert read.x.flags.c_contiguous and read.headers == (*FEATURES, "y")


def test_workbook_check_and_verify(tmp_path):
    spec = features_spec(tmp_path, [{"name": "adam", "optimizer": "adam", "lr": 0.05},
                                    {"name": "fd", "optimizer": "sgd", "lr": 0.01, "batch": 4,
                                     "gradient": "central", "show": ["forward"]}])
    path = tmp_path / "houses.xlsx"
    sheetopt.write_workbook(spec, path)
    assert cli.main(["check", str(path)]) == 0
    assert bool(sheetopt.verify(spec, device="cpu")["ok"].all())
    stored = sheetopt.read_workbook(path)  # the stored values, read back by the trace's names
    ran = sheetopt.run(spec)
    assert stored["adam"]["rooms"].tolist() == ran["adam"].steps["rooms"].tolist()
    assert stored["fd"]["new_w_age"].tolist() == ran["fd"].steps["new_w_age"].tolist()


def assert_executors_agree(spec, configs: int = 40) -> None:
    """numpy and the compiled kernel, bit for bit: a recorded run and the sweep kernel, online
    and in batches, over a spread of lrs."""
    for sheet in spec.sheets:
        hp = engine.hyper_arrays(sheet, configs, {"lr": np.geomspace(1e-3, 0.1, configs)})
        state = engine.start_state(spec, sheet, hp)
        params = np.tile([[sheet.init[p] for p in spec.model.params]], (configs, 1))
        plan = engine.batches(len(spec.data), sheet.batch_size, sheet.epochs, False, 0)
        for record in (True, False):
            a = engine.simulate(spec, sheet, hp, params, state, plan, record=record,
                                executor="numpy")
            b = engine.simulate(spec, sheet, hp, params, state, plan, record=record,
                                executor="compiled")
            assert np.array_equal(a.params, b.params, equal_nan=True), sheet.name
            assert np.array_equal(a.epoch_sum_err2, b.epoch_sum_err2, equal_nan=True)
            if record:
                assert a.steps.keys() == b.steps.keys() and a.rows.keys() == b.rows.keys()
                for table_a, table_b in ((a.steps, b.steps), (a.rows, b.rows)):
                    for key in table_a:
                        assert np.array_equal(table_a[key], table_b[key], equal_nan=True), key


@pytest.mark.skipif(not compiled.available(), reason="numba is not installed")
def test_compiled_equals_numpy_bit_for_bit(tmp_path):
    assert_executors_agree(features_spec(tmp_path, [
        {"name": "adam", "optimizer": "adam", "lr": 0.05},
        {"name": "batched", "optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "batch": 5,
         "gradient": "central", "show": ["forward", "analytic"]}]))


@pytest.mark.parametrize("features, limit", [
    (600, "longer than a spreadsheet formula may be (8,192 characters)"),
    (4000, "more than a worksheet holds (16,384 columns)"),
])
def test_a_workbook_past_a_spreadsheets_limits_is_refused_up_front(tmp_path, capsys, features,
                                                                    limit):
    x = np.round(RNG.uniform(-1, 1, size=(3, features)), 3)
    write_csv(tmp_path / "wide.csv", header=(*(f"f{j}" for j in range(features)), "y"), x=x,
              y=np.ones(3))
    toml = tmp_path / "wide.toml"
    toml.write_text('[data]\ncsv = "wide.csv"\n[[sheet]]\noptimizer = "adam"\nlr = 0.01\n')
    assert cli.main(["compare", str(toml), "--format", "json"]) == 0  # the engine runs it
    capsys.readouterr()
    assert cli.main(["workbook", str(toml), "-o", str(tmp_path / "wide.xlsx")]) == 2
    err = capsys.readouterr().err.strip()
    assert limit in err and "sheet 'adam'" in err and "\n" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wide.csv", "wide.toml"]


def test_the_formula_estimate_bounds_the_written_formulas(tmp_path):
    """The up-front estimate of a row's loss formula is at least the longest prediction or
    loss formula the planned sheet holds (with its references as long as they can get)."""
    from sheetopt.workbook import _row_loss_length, plan_sheets
    from sheetopt.workbook.layout import columns_for, row_count

    spec = features_spec(tmp_path, [{"name": "adam", "optimizer": "adam", "lr": 0.05},
                                    {"name": "fd", "optimizer": "sgd", "lr": 0.01, "batch": 4,
                                     "gradient": "forward"}])
    for plan in plan_sheets(spec, engine.run_all(spec)):
        width = len(columns_for(spec, plan.sheet)) + 4 + len(spec.model.params)
        estimate = _row_loss_length(spec, width, row_count(spec, plan.sheet))
        loss = plan.longest_formula(lambda c: c in ("pred", "err2") or c.startswith("shift"))
        assert loss <= estimate < 3 * loss


def write_y_at(path, at: int):
    """The rows with the target y as column ``at`` (0: first), the features in their order."""
    header = [*FEATURES]
    header.insert(at, "y")
    lines = [",".join(header)]
    for row, t in zip(X, Y):
        cells = [repr(float(v)) for v in row]
        cells.insert(at, repr(float(t)))
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def spec_of(csv, sheets) -> Spec:
    from sheetopt.spec import parse

    return parse({"title": "houses", "data": {"csv": str(csv)}, "sheet": sheets,
                  "defaults": {"flavor": "torch", "epochs": EPOCHS}})


@pytest.mark.parametrize("at", [0, 1, 2])
def test_y_may_stand_in_any_column(tmp_path, at):
    """A file whose y is not last reads as the same rows: the features in the file's order,
    y the target; the run is the y-last file's bit for bit (every trace column)."""
    sheets = [{"name": "adam", "optimizer": "adam", "lr": 0.05},
              {"name": "fd", "optimizer": "sgd", "lr": 0.01, "batch": 4, "gradient": "central"}]
    moved = spec_of(write_y_at(tmp_path / "moved.csv", at), sheets)
    last = spec_of(write_csv(tmp_path / "last.csv"), sheets)
    assert moved.data.headers == (*FEATURES, "y")
    assert moved.model.params == ("w_area", "w_rooms", "w_age", "b")
    assert np.array_equal(moved.data.x, X) and np.array_equal(moved.data.y, Y)
    for sheet in ("adam", "fd"):
        a, b = engine.run(moved, sheet), engine.run(last, sheet)
        assert a.to_csv() == b.to_csv()


def test_y_first_end_to_end(tmp_path, capsys):
    """From the command line: trace and compare as for y last; the workbook's data sheet holds
    the features, then y, and check and verify (torch) accept it."""
    import openpyxl

    toml = tmp_path / "houses.toml"
    runs = {}
    for name, writer in (("first", lambda p: write_y_at(p, 0)), ("last", write_csv)):
        writer(tmp_path / f"{name}.csv")
        toml.write_text(f'[data]\ncsv = "{name}.csv"\n[[sheet]]\nname = "adam"\n'
                        f'optimizer = "adam"\nlr = 0.05\nflavor = "torch"\nepochs = {EPOCHS}\n')
        assert cli.main(["trace", str(toml), "--sheet", "adam"]) == 0
        runs[name] = capsys.readouterr().out
    assert runs["first"] == runs["last"] and runs["first"].startswith(
        "epoch,step,row,size,area,rooms,age,y,w_area,")
    book = tmp_path / "first.xlsx"  # the spec reads first.csv now... rewrite it
    toml.write_text(toml.read_text().replace('"last.csv"', '"first.csv"'))
    assert cli.main(["workbook", str(toml), "-o", str(book)]) == 0
    assert cli.main(["check", str(book)]) == 0
    capsys.readouterr()
    rows = list(openpyxl.load_workbook(book, read_only=True)["data"].iter_rows(
        min_row=6, max_row=7, values_only=True))
    assert rows[0][:4] == (*FEATURES, "y") and rows[1][:4] == (*X[0], Y[0])
    assert bool(sheetopt.verify(Spec.load(str(toml)), device="cpu")["ok"].all())


def test_y_first_in_a_large_file_takes_the_fast_path_with_the_same_values(tmp_path):
    from sheetopt.models import LINEAR
    from sheetopt.spec import data

    rows = 200_000  # past data.PANDAS_FROM_BYTES
    x = np.round(RNG.uniform(-100, 100, size=(rows, 2)), 6)
    y = np.round(RNG.uniform(-100, 100, size=rows), 6)
    csv = tmp_path / "big.csv"
    csv.write_text("y,u,v\n" + "".join(f"{t!r},{a!r},{b!r}\n" for (a, b), t in
                                        zip(x.tolist(), y.tolist())))
    assert csv.stat().st_size >= data.PANDAS_FROM_BYTES
    read = data.read_csv(csv, LINEAR)
    assert read.headers == ("u", "v", "y") and read.x.flags.c_contiguous
    assert np.array_equal(read.x, x) and np.array_equal(read.y, y)


def test_y_first_for_the_lecture_model_and_a_classifier_not_for_given_gradients(tmp_path):
    """One column and y: the lecture's a and b (linear, logistic) whichever comes first;
    given gradients have no target: y is not moved but refused as a parameter's name."""
    csv = tmp_path / "yx.csv"
    csv.write_text("y,x\n1,0.5\n0,-1.5\n1,2.0\n")
    for kind in ("linear", "logistic"):
        spec = Spec.from_toml(f'[model]\nkind = "{kind}"\n[data]\ncsv = "{csv}"\n[[sheet]]\n'
                              f'optimizer = "sgd"\nlr = 0.1\n')
        assert spec.model.params == ("a", "b") and spec.data.x.tolist() == [0.5, -1.5, 2.0]
        assert spec.data.y.tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(SheetoptError, match=r"yx.csv, line 1: the parameter 'y' is named like"):
        Spec.from_toml(f'[model]\nkind = "gradients"\n[data]\ncsv = "{csv}"\n[[sheet]]\n'
                       f'optimizer = "sgd"\nlr = 0.1\n')
