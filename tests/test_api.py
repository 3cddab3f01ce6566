"""The public Python API: sheetopt.run, Spec.from_arrays, sweep, write/read_workbook, verify.

Each result is held against an independent route to the same numbers: the command line's own
output (JSON and CSV, parsed here), the lecture data read from its CSV with the csv module,
the workbook's stored cells, torch.optim.
"""
from __future__ import annotations

import csv
import doctest
import importlib
import inspect
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import sheetopt
from sheetopt import SheetoptError, cli

ROOT = Path(__file__).resolve().parent.parent
LECTURE_CSV = ROOT / "workbooks" / "lecture-data.csv"
ADAM = {"name": "adam", "optimizer": "adam", "lr": 1.0, "mom": 0.9, "sqr_mom": 0.9,
        "epochs": 5}


@pytest.fixture(scope="module")
def lesson5():
    return sheetopt.run("lesson5")


def lecture_rows() -> tuple[list[float], list[float]]:
    with open(LECTURE_CSV, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [float(r["x"]) for r in rows], [float(r["y"]) for r in rows]


def cli_output(capsys, args: list[str]) -> str:
    assert cli.main(args) == 0
    return capsys.readouterr().out


# --- run ------------------------------------------------------------------------------------
def test_summary_equals_compare_json_to_the_last_bit(lesson5, capsys):
    document = json.loads(cli_output(capsys, ["compare", "lesson5", "--format", "json"]))
    summary = lesson5.summary()
    assert list(summary.columns) == ["sheet", "optimizer", "flavor", "epoch", "lecture_rmse",
                                     "rmse", "lr", "a", "b", "distance", "diverged", "partial"]
    assert len(summary) == 5 * 5
    for sheet in document["sheets"]:
        rows = summary[summary.sheet == sheet["name"]]
        assert rows.optimizer.unique().tolist() == [sheet["optimizer"]]
        assert rows.flavor.unique().tolist() == [sheet["flavor"]]
        for epoch, row in zip(sheet["epochs"], rows.itertuples()):
            assert row.epoch == epoch["epoch"]
            for key in ("lecture_rmse", "rmse", "lr", "a", "b", "distance"):
                assert getattr(row, key) == epoch[key]  # exact, not approximate
        assert rows.distance.iloc[-1] == sheet["distance"]  # the last epoch's is the final
        assert not rows.diverged.any() and sheet["diverged_at"] is None
    assert summary.epoch.dtype == np.int64


def test_summary_matches_the_lecture_figures(lesson5):
    """The lesson-5 workbook's own loss after 5 epochs from reset (tests/test_lecture.py holds
    the full table): Adam with lr 1 ends near 25.7, annealed Adam near 27."""
    last = lesson5.summary().query("epoch == 5").set_index("sheet")
    assert last.loc["adam", "rmse"] == pytest.approx(25.6977, abs=1e-4)
    assert last.loc["adam_ann", "rmse"] == pytest.approx(27.035, abs=1e-3)


def read_trace_csv(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text))


def test_trace_equals_the_trace_commands_csv(lesson5, capsys):
    for sheet in lesson5.sheets:
        expected = read_trace_csv(cli_output(capsys, ["trace", "lesson5", "--sheet", sheet]))
        frame = lesson5.trace(sheet)
        pd.testing.assert_frame_equal(frame, expected, check_exact=True)
        assert all(frame[c].dtype == np.int64 for c in ("epoch", "step", "row", "size"))


BATCHED = """
title = "batches"
[data]
preset = "lecture"
true = { a = 2.0, b = 30.0 }
[[sheet]]
name = "torch adam"
optimizer = "adam"
flavor = "torch"
lr = 0.5
batch = 5
shuffle = true
seed = 3
epochs = 3
"""


def test_a_batched_trace_equals_the_csv_and_its_empty_cells_are_nan(tmp_path, capsys):
    path = tmp_path / "batches.toml"
    path.write_text(BATCHED)
    frame = sheetopt.run(path).trace()
    expected = read_trace_csv(cli_output(capsys, ["trace", str(path)]))
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert frame["size"].tolist()[:6] == [5, 5, 5, 5, 5, 4] and frame["x"].isna().all()


def test_result_is_indexed_by_sheet_name_and_says_which_exist(lesson5):
    assert lesson5["adam"].sheet == "adam" and len(lesson5["adam"]) == 145
    assert list(lesson5) == ["basic", "momentum", "rmsprop", "adam", "adam_ann"]
    with pytest.raises(SheetoptError, match=r"no sheet named 'adamm' \(did you mean 'adam'\?\)"):
        lesson5["adamm"]
    with pytest.raises(SheetoptError, match="no sheet named 'nope'"):
        lesson5.trace("nope")


def test_reprs_are_short_and_html_is_a_table(lesson5):
    for text in (repr(lesson5), repr(lesson5["adam"]), repr(lesson5.spec),
                 repr(lesson5.spec.sheets[0])):
        assert len(text) < 300 and "\n" not in text
    assert "adam 25.7" in repr(lesson5)
    assert "final a=3.00966, b=28.0055" in repr(lesson5["adam"])
    html = lesson5._repr_html_()
    assert html.count("<tr>") == 1 + 5 and "<td>adam_ann</td>" in html


def test_run_picks_sheets(lesson5):
    picked = sheetopt.run("lesson5", sheets=["adam", "basic"])
    assert picked.sheets == ["adam", "basic"]
    pd.testing.assert_frame_equal(picked.trace("adam"), lesson5.trace("adam"))


# --- Spec.from_arrays -------------------------------------------------------------------------
def arrays_spec(x, y=None, **options):
    return sheetopt.Spec.from_arrays(x, y, sheets=[ADAM], true={"a": 2.0, "b": 30.0}, **options)


def lecture_adam():
    return sheetopt.run("lesson5", "adam").trace("adam")


@pytest.mark.parametrize("kind", ["numpy", "list", "series", "dataframe", "int", "strided"])
def test_from_arrays_runs_exactly_like_the_csv(kind):
    xs, ys = lecture_rows()
    if kind == "numpy":
        spec = arrays_spec(np.array(xs), np.array(ys))
    elif kind == "list":
        spec = arrays_spec(xs, ys)
    elif kind == "series":  # an index in another order: the values count, in their order
        index = list(reversed(range(len(xs))))
        spec = arrays_spec(pd.Series(xs, index=index), pd.Series(ys, index=index))
    elif kind == "dataframe":
        spec = arrays_spec(pd.DataFrame({"y": ys, "x": xs, "other": 0}))
    elif kind == "int":
        spec = arrays_spec(np.array(xs, dtype=np.int32), np.array(ys, dtype=np.int64))
    else:
        spec = arrays_spec(np.repeat(xs, 2)[::2], np.repeat(ys, 2)[::2])
    for column in (spec.data.x, spec.data.y):
        assert column.dtype == np.float64 and column.flags.c_contiguous
    pd.testing.assert_frame_equal(sheetopt.run(spec).trace("adam"), lecture_adam(),
                                  check_exact=True)


def test_from_toml_and_load_are_the_same_spec():
    text = (ROOT / "workbooks" / "lesson5.toml").read_text()
    first = sheetopt.run(sheetopt.Spec.from_toml(text))
    second = sheetopt.run(sheetopt.Spec.load(ROOT / "workbooks" / "lesson5.toml"))
    for sheet in first.sheets:
        pd.testing.assert_frame_equal(first.trace(sheet), second.trace(sheet), check_exact=True)


BAD_ARRAYS = [
    (([1.0, 2.0, 3.0], [1.0, 2.0]), "x and y have different lengths (3 and 2)"),
    (([1.0, float("nan"), 3.0], [1.0, 2.0, 3.0]), "x[1] is NaN; values must be finite"),
    (([1.0, 2.0], [1.0, float("inf")]), "y[1] is inf; values must be finite"),
    ((np.array([1.0, -np.inf]), [1.0, 2.0]), "x[1] is -inf; values must be finite"),
    (([], []), "x and y are empty; give at least one row"),
    (([1.0, "abc"], [1.0, 2.0]), "x[1] is not a number: 'abc'"),
    (([1.0, None], [1.0, 2.0]), "x[1] is not a number: None"),
    (([1.0, 2.0], [True, 2.0]), "y[0] is not a number: True"),
    ((pd.Series([1.0, None]), [1.0, 2.0]), "x[1] is NaN; values must be finite"),
    ((np.ones((2, 2, 2)), [1.0, 2.0]), "x must be one-dimensional (got shape (2, 2, 2))"),
    # several features: a 2-D x or a DataFrame without x is read, its weights named by column
    ((np.ones((2, 2)), [1.0, 2.0]), "true.a: the linear model has no parameter 'a' "
                                    "(it has w_x1, w_x2, b)"),
    (("1,2,3", [1.0]), "x must be a sequence of numbers (got the text '1,2,3')"),
    ((5.0, [1.0]), "x must be a sequence of numbers (got 5.0)"),
    ((pd.DataFrame({"t": [1.0], "y": [2.0]}), None),
     "true.a: the linear model has no parameter 'a' (it has w_t, b)"),
    ((pd.DataFrame({"t": [1.0], "u": [2.0]}), None),
     "the columns t, u: the linear model needs a target column y"),
    (([1.0, 2.0], None), "give x and y (arrays, lists or Series), or one DataFrame"),
]


@pytest.mark.parametrize("args, message", BAD_ARRAYS)
def test_from_arrays_refuses_bad_rows_in_one_line(args, message):
    with pytest.raises(SheetoptError) as error:
        arrays_spec(*args)
    text = str(error.value)
    assert message in text and "\n" not in text


@pytest.mark.parametrize("options, message", [
    ({"model": "cubic"}, "Spec.from_arrays: model 'cubic' is not one of linear, quadratic"),
    ({"true": {"c": 1.0}}, "true.c: the linear model has no parameter 'c'"),
    ({"true": 5}, "true must be a dict"),
])
def test_from_arrays_refuses_bad_options(options, message):
    with pytest.raises(SheetoptError) as error:
        sheetopt.Spec.from_arrays([1.0, 2.0], [3.0, 4.0], sheets=[ADAM], **options)
    assert message in str(error.value)


@pytest.mark.parametrize("sheets, message", [
    ([{"optimizer": "adamm"}], "optimizer 'adamm' is not one of"),
    ([{"optimizer": "adam", "lr": -1}], "lr must be > 0 (got -1)"),
    ([{"optimizer": "adam", "learning_rate": 0.1}], "(did you mean 'lr'?)"),
    ("adam", "sheets must be a list of dicts"),
])
def test_from_arrays_sheets_are_checked_like_a_specs(sheets, message):
    with pytest.raises(SheetoptError) as error:
        sheetopt.Spec.from_arrays([1.0, 2.0], [3.0, 4.0], sheets=sheets)
    assert message in str(error.value)


def test_a_nan_in_x_is_bad_input_not_a_divergence():
    xs, ys = lecture_rows()
    xs[7] = float("nan")
    with pytest.raises(SheetoptError, match=r"^x\[7\] is NaN; values must be finite$"):
        sheetopt.run(arrays_spec(xs, ys))


# --- sweep ------------------------------------------------------------------------------------
def test_sweep_rows_equal_single_runs_and_the_commands_csv(capsys):
    table = sheetopt.sweep("lesson5", "momentum", lr=[1e-4, 1e-2], mom=[0.8, 0.9],
                           backend="numpy")
    assert list(table.columns) == ["config", "lr", "mom", "final_rmse", "a", "b",
                                   "diverged_epoch", "diverged_step"]
    assert table.attrs["backend"] == "numpy" and table.attrs["sheet"] == "momentum"
    assert table.attrs["best"] in table.config.tolist()
    spec = sheetopt.Spec.load("lesson5")
    for row in table.itertuples():
        sheet = spec.sheet("momentum").with_hypers(lr=row.lr, mom=row.mom)
        one = sheetopt.run(spec.__class__(spec.title, spec.model, spec.data, (sheet,)))
        trace = one["momentum"]
        if trace.diverged_at:
            assert (row.diverged_epoch, row.diverged_step) == trace.diverged_at
            assert math.isnan(row.final_rmse)
        else:
            assert math.isnan(row.diverged_epoch) and math.isnan(row.diverged_step)
            assert row.final_rmse == one.summary().rmse.iloc[-1]
    assert table.diverged_epoch.notna().sum() == 2  # lr 1e-2 diverges with either mom
    text = cli_output(capsys, ["sweep", "lesson5", "--sheet", "momentum", "--lr", "1e-4,1e-2",
                               "--mom", "0.8,0.9", "--backend", "numpy", "--format", "csv"])
    expected = pd.read_csv(io.StringIO(text))
    for column in ("lr", "mom", "final_rmse", "a", "b", "diverged_epoch", "diverged_step"):
        np.testing.assert_array_equal(table[column].to_numpy(float),
                                      expected[column].to_numpy(float))


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": [-1.0]}, "lr: every learning rate must be > 0"),
    ({"lr": [0.1], "mom": [1.5]}, "mom: values must be in [0, 1)"),
    ({"lr": [float("nan")]}, "lr: values must be finite"),
    ({"lr": "1e-3:1:10"}, "lr: give numbers"),
    ({}, "nothing to sweep: give lr values"),
    ({"lr": [0.1], "backend": "numpy", "dtype": "float32"},
     "dtype float32 is for backend torch"),
])
def test_sweep_errors_speak_python(kwargs, message):
    with pytest.raises(SheetoptError) as error:
        sheetopt.sweep("lesson5", "adam", **kwargs)
    assert message in str(error.value) and "--" not in str(error.value)


# --- workbooks --------------------------------------------------------------------------------
def test_read_workbook_equals_the_run(lesson5, tmp_path):
    path = sheetopt.write_workbook(lesson5, tmp_path / "lesson5.xlsx")
    tables = sheetopt.read_workbook(path)
    assert list(tables) == lesson5.sheets
    for sheet in lesson5.sheets:
        pd.testing.assert_frame_equal(tables[sheet], lesson5.trace(sheet), check_exact=True)


def test_read_workbook_of_batches_equals_the_run(tmp_path):
    result = sheetopt.run(sheetopt.Spec.from_toml(BATCHED))
    tables = sheetopt.read_workbook(sheetopt.write_workbook(result, tmp_path / "b.xlsx"))
    pd.testing.assert_frame_equal(tables["torch adam"], result.trace(), check_exact=True)


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "workbooks").glob("*.xlsx")))
def test_read_workbook_reads_the_shipped_workbooks_as_stored(name):
    """The committed workbooks (every preset's), not ones written in this test."""
    tables = sheetopt.read_workbook(ROOT / "workbooks" / f"{name}.xlsx")
    result = sheetopt.run(name)
    assert list(tables) == result.sheets
    for sheet in result.sheets:
        pd.testing.assert_frame_equal(tables[sheet], result.trace(sheet), check_exact=True)


def test_write_workbook_errors_speak_python(lesson5, tmp_path):
    path = tmp_path / "lesson5.xlsx"
    path.write_bytes(b"keep me")
    with pytest.raises(SheetoptError, match="already exists; use force=True to overwrite it"):
        sheetopt.write_workbook(lesson5, path)
    assert path.read_bytes() == b"keep me"
    with pytest.raises(SheetoptError, match="must end in .xlsx"):
        sheetopt.write_workbook("lesson5", tmp_path / "lesson5.csv")
    with pytest.raises(SheetoptError, match="no such file"):
        sheetopt.read_workbook(tmp_path / "missing.xlsx")
    assert sheetopt.write_workbook(lesson5, path, force=True) == path
    assert path.read_bytes()[:2] == b"PK"


# --- plots ------------------------------------------------------------------------------------
def test_plots_return_figures_and_leave_the_backend_alone(lesson5):
    import matplotlib
    from matplotlib.figure import Figure

    from sheetopt import plots

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        for kind in [*plots.KINDS, plots.ALL]:
            figure = lesson5.plot(kind)
            assert isinstance(figure, Figure) and figure.axes
            assert matplotlib.get_backend() == "svg", kind
        axes = Figure().add_subplot()
        assert lesson5.plot("loss", ax=axes) is axes.figure
        assert matplotlib.get_backend() == "svg"
        # the loss panel draws each sheet's true RMSE per epoch
        lines = {line.get_label(): line for line in axes.get_lines()}
        summary = lesson5.summary()
        for sheet in lesson5.sheets:
            np.testing.assert_array_equal(lines[sheet].get_ydata(),
                                          summary[summary.sheet == sheet].rmse.to_numpy())
    finally:
        matplotlib.use(before)
    with pytest.raises(SheetoptError, match="unknown kind 'nope'"):
        lesson5.plot("nope")


# --- verify -----------------------------------------------------------------------------------
def test_verify_passes_and_says_what_it_compared(lesson5):
    pytest.importorskip("torch")
    checks = sheetopt.verify(lesson5, device="cpu")
    assert list(checks.columns[:7]) == ["sheet", "check", "quantity", "against", "count",
                                        "max_abs", "max_rel"]
    assert checks.ok.all()
    assert (checks[checks.check != "drift"].max_rel <= 1e-12).all()
    assert set(checks.sheet) == set(lesson5.sheets)
    # lecture sheets: the re-check's per-step verdict, and the drift (information)
    assert set(checks.check) == {"re-check", "drift"}
    assert checks.attrs["device"] == "cpu"
    with pytest.raises(SheetoptError, match="^tol must be a number >= 0"):
        sheetopt.verify(lesson5, device="cpu", tol=-1.0)


def test_verify_replays_torch_flavour_with_torch_optim():
    pytest.importorskip("torch")
    checks = sheetopt.verify(sheetopt.Spec.from_toml(BATCHED), device="cpu")
    replay = checks[checks.check == "replay"]
    assert set(replay[replay.quantity != "lr"].against) == {
        "torch.optim.Adam, each step from the trace's state and gradient"} and checks.ok.all()


# --- the package's face -----------------------------------------------------------------------
PUBLIC_MODULES = ["sheetopt", "sheetopt.api", "sheetopt.protocol.results", "sheetopt.spec",
                  "sheetopt.spec.arrays", "sheetopt.protocol.trace", "sheetopt.errors",
                  "sheetopt.cli", "sheetopt.protocol.smoothing", "sheetopt.protocol.progress"]


def test_every_exported_name_has_a_docstring_with_an_example():
    for name in sheetopt.__all__:
        if name == "__version__":
            continue
        value = getattr(sheetopt, name)
        assert inspect.getdoc(value) and "Example" in inspect.getdoc(value), name
    for method in ("run", "load", "from_toml", "from_arrays"):
        if hasattr(sheetopt.Spec, method):
            assert "Example" in inspect.getdoc(getattr(sheetopt.Spec, method)), method
    for method in ("summary", "trace", "plot"):
        assert "Example" in inspect.getdoc(getattr(sheetopt.RunResult, method)), method
    text = pydoc_text()
    for name in ("run(", "from_arrays", "sweep(", "read_workbook(", "verify("):
        assert name in text


def pydoc_text() -> str:
    import pydoc

    return pydoc.render_doc(sheetopt, renderer=pydoc.plaintext)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_docstring_examples_run(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert found.failed == 0 and (found.attempted > 0 or module == "sheetopt.errors")


def test_with_sheet_equals_the_edited_toml():
    text = (ROOT / "workbooks" / "lesson5.toml").read_text()
    assert text.count("lr = 1.0 ") == 1  # the adam sheet's line
    by_hand = sheetopt.Spec.from_toml(text.replace("lr = 1.0 ", "lr = 0.1 "))
    edited = sheetopt.Spec.load("lesson5").with_sheet("adam", lr=0.1)
    pd.testing.assert_frame_equal(sheetopt.run(edited, "adam").trace(),
                                  sheetopt.run(by_hand, "adam").trace(), check_exact=True)
    assert sheetopt.run(edited).sheets == sheetopt.run("lesson5").sheets
    with pytest.raises(SheetoptError, match="sheet 'adam': lr must be > 0"):
        sheetopt.Spec.load("lesson5").with_sheet("adam", lr=-1)
    with pytest.raises(SheetoptError, match=r"learning_rate is keras's, optax's name for 'lr', "
                                            r"for sheets with flavor = \"keras\""):
        sheetopt.Spec.load("lesson5").with_sheet("adam", learning_rate=0.1)
    with pytest.raises(SheetoptError, match="no sheet named 'adamw'"):
        sheetopt.Spec.load("lesson5").with_sheet("adamw", lr=0.1)


def test_a_diverged_sheets_summary_equals_compare_json(tmp_path, capsys):
    text = (ROOT / "workbooks" / "lesson5.toml").read_text().replace(
        "lr = 0.0001\nshow", "lr = 0.003\nshow")  # the basic sheet, which then blows up
    path = tmp_path / "diverges.toml"
    path.write_text(text.replace('preset = "lecture"', 'csv = "data.csv"'))
    (tmp_path / "data.csv").write_text(LECTURE_CSV.read_text())
    summary = sheetopt.run(path).summary()
    document = json.loads(cli_output(capsys, ["compare", str(path), "--format", "json"]))
    basic = document["sheets"][0]
    assert basic["diverged_at"] == [1, 17] and basic["epochs"] == []
    row = summary[summary.sheet == "basic"].iloc[0]
    assert bool(row.partial) and bool(row.diverged) and row.epoch == 1
    for key in ("lecture_rmse", "rmse", "lr", "a", "b"):
        assert row[key] == basic["partial_epoch"][key]
    assert row.distance == basic["distance"]
    others = summary[summary.sheet != "basic"]
    assert not others.diverged.any() and len(others) == 4 * 5


ENTRIES = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                    st.integers(-10**6, 10**6), st.booleans(), st.none(),
                    st.text(max_size=3), st.floats(min_value=-1e3, max_value=1e3))


@settings(max_examples=60, deadline=None)
@given(x=st.lists(ENTRIES, max_size=6), y=st.lists(ENTRIES, max_size=6),
       kind=st.sampled_from(["list", "numpy", "series"]))
def test_any_rows_run_or_raise_one_line(x, y, kind):
    """Whatever the rows, from_arrays and run either work or raise one SheetoptError line."""
    wrap = {"list": list, "numpy": lambda v: np.array(v, dtype=object),
            "series": lambda v: pd.Series(v, dtype=object)}[kind]
    try:
        spec = sheetopt.Spec.from_arrays(wrap(x), wrap(y), sheets=[
            {"optimizer": "adam", "lr": 0.1, "epochs": 2}, {"optimizer": "sgd", "lr": 1e-4}])
    except SheetoptError as error:
        assert "\n" not in str(error)
        return
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for v in [*x, *y])
    result = sheetopt.run(spec)
    assert len(result.summary()) <= 3 and result.trace("adam")["epoch"].dtype == np.int64


def test_check_workbook_finds_an_edited_cached_value(lesson5, tmp_path):
    """A stored value changed behind the formulas' back (the XML edited directly) is found;
    the untouched workbook agrees everywhere."""
    import zipfile

    path = sheetopt.write_workbook(lesson5, tmp_path / "lesson5.xlsx")
    checks = sheetopt.check_workbook(path)
    assert checks.ok.all() and set(lesson5.sheets) <= set(checks.sheet)
    assert (checks.cells > 0).all() and (checks.max_rel <= 1e-10).all()
    adam = sheetopt.read_workbook(path)["adam"]
    value = repr(float(adam["new_a"].iloc[-1]))
    edited = tmp_path / "edited.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(edited, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if f"<v>{value}</v>".encode() in data and item.filename.startswith("xl/worksheets"):
                data = data.replace(f"<v>{value}</v>".encode(), b"<v>1234.5</v>", 1)
            target.writestr(item, data)
    found = sheetopt.check_workbook(edited)
    assert not found.ok.all() and found.bad.sum() >= 1
    assert "1234.5" in " ".join(found.first_bad.dropna())
    with pytest.raises(SheetoptError, match="no such file"):
        sheetopt.check_workbook(tmp_path / "missing" / "x.xlsx")
