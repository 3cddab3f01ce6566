"""sheetopt workbook and sheetopt check without LibreOffice: layout, safety, what is cached."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest

from sheetopt import engine
from sheetopt.cli import main
from sheetopt.errors import SheetoptError
from sheetopt.spec import load, parse
from sheetopt.workbook import write_workbook
from sheetopt.workbook import writer as writer_module
from sheetopt.workbook.names import safe_text, sheet_names

ALLOWED_FUNCTIONS = {"SQRT", "IF", "MIN", "MAX", "ABS", "COS", "PI"}


def formulas_of(path: Path) -> dict:
    book = openpyxl.load_workbook(path, read_only=True)
    out = {}
    for ws in book.worksheets:
        for i, row in enumerate(ws.iter_rows(values_only=True)):
            for j, value in enumerate(row):
                if isinstance(value, str) and value.startswith("="):
                    out[(ws.title, i, j)] = value
    return out


def values_of(path: Path) -> dict[str, list[tuple]]:
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in book.worksheets}


def column(rows, header, header_row=7):
    j = list(rows[header_row]).index(header)
    return [r[j] for r in rows[header_row + 1:] if j < len(r) and r[j] is not None
            and not isinstance(r[j], str)]


@pytest.fixture(scope="module")
def lesson5(tmp_path_factory):
    path = tmp_path_factory.mktemp("wb") / "lesson5.xlsx"
    write_workbook(load("lesson5"), path)
    return path


def test_sheets_are_intro_data_one_per_spec_sheet_and_compare(lesson5):
    book = openpyxl.load_workbook(lesson5, read_only=True)
    assert book.sheetnames == ["intro", "data", "basic", "momentum", "rmsprop", "adam",
                               "adam_ann", "compare", "sheetopt"]
    assert book["sheetopt"].sheet_state == "veryHidden"


def test_lecture_column_names(lesson5):
    rows = values_of(lesson5)
    basic = [h for h in rows["basic"][7] if h][:14]
    assert basic[:14] == ["epoch", "step", "x", "y", "intercept", "slope", "y_pred", "err^2",
                          "errb1", "est de/db", "erra1", "est de/da", "de/db", "de/da"]
    adam = list(rows["adam"][7])
    for header in ("x", "y", "b", "a", "pred", "de/db", "de/da", "avg de/db", "avg (de/db)^2",
                   "new b", "new a"):
        assert header in adam


def test_cached_values_are_the_engine_trace(lesson5):
    rows = values_of(lesson5)
    spec = load("lesson5")
    for name in ("basic", "rmsprop", "adam_ann"):
        trace = engine.run(spec, name)
        for p in ("a", "b"):
            assert column(rows[name], f"new {p}") == trace.steps[f"new_{p}"].tolist()
        assert len(column(rows[name], "new b")) == 5 * 29


def test_every_row_is_a_formula_reading_the_row_before(lesson5):
    formulas = formulas_of(lesson5)
    rows = values_of(lesson5)
    headers = list(rows["momentum"][7])
    b, new_b, avg = headers.index("b"), headers.index("new b"), headers.index("avg de/db")
    from xlsxwriter.utility import xl_col_to_name as letter
    for r in range(9, 8 + 145):  # 0-based rows of steps 2..145, epochs included
        assert formulas[("momentum", r, b)] == f"={letter(new_b)}{r}"
        assert f"{letter(avg)}{r}" in formulas[("momentum", r, avg)]
    # the first step reads the highlighted start cells
    assert "$" in formulas[("momentum", 8, b)]


def test_only_portable_functions_and_no_array_formulas(lesson5, tmp_path):
    path = tmp_path / "torch.xlsx"
    write_workbook(load("lecture-vs-torch"), path)
    for file in (lesson5, path):
        for where, text in formulas_of(file).items():
            assert not text.startswith("{"), where
            used = set(re.findall(r"([A-Z][A-Z0-9.]*)\(", text))
            assert used <= ALLOWED_FUNCTIONS, (where, text)


def test_adam_ann_lr_per_epoch_is_a_formula_of_the_annealing_rule(lesson5):
    formulas = formulas_of(lesson5)
    rows = values_of(lesson5)
    headers = list(rows["adam_ann"][7])
    lr_col = len(headers) - 1 - headers[::-1].index("lr")
    text = formulas[("adam_ann", 9, lr_col)]  # epoch 2
    assert text.startswith("=IF(") and "/4" in text and ">2" in text


def test_diverged_sheet_stops_with_a_visible_note(tmp_path):
    path = tmp_path / "quadratic.xlsx"
    write_workbook(load("quadratic"), path)
    trace = engine.run(load("quadratic"), "aloud")
    assert trace.diverged
    rows = values_of(path)["aloud"]
    assert "DIVERGED" in rows[6][0]
    last = 8 + int(trace.steps["size"].sum())
    assert rows[last][0].startswith("Diverged at epoch")
    formulas = formulas_of(path)
    assert not [k for k in formulas if k[0] == "aloud" and k[1] >= last and k[2] < 15]


def test_refuses_to_overwrite_without_force(lesson5, capsys):
    before = lesson5.stat().st_mtime_ns
    assert main(["workbook", "lesson5", "-o", str(lesson5)]) == 2
    assert "--force" in capsys.readouterr().err
    assert lesson5.stat().st_mtime_ns == before


def test_an_error_while_writing_leaves_no_file(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(writer_module, "put_formula", broken)
    target = tmp_path / "out.xlsx"
    with pytest.raises(RuntimeError):
        write_workbook(load("lesson5"), target)
    assert list(tmp_path.iterdir()) == []


def test_a_run_longer_than_a_sheet_is_refused_before_writing(tmp_path):
    spec = load("lesson5")
    long = replace(spec, sheets=(replace(spec.sheets[0], epochs=40_000),))
    target = tmp_path / "long.xlsx"
    with pytest.raises(SheetoptError, match="1,048,576"):
        write_workbook(long, target)
    assert not target.exists()


def test_user_text_is_never_a_formula(tmp_path):
    assert safe_text("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert safe_text("+1") == "'+1" and safe_text("-1") == "'-1" and safe_text("@a") == "'@a"
    raw = {"title": "=1+1", "data": {"preset": "lecture", "true": {"a": 2.0, "b": 30.0}},
           "sheet": [{"name": "=evil", "optimizer": "sgd", "lr": 0.0001, "epochs": 1}]}
    path = tmp_path / "t.xlsx"
    write_workbook(parse(raw), path)
    assert not any(text.startswith("=evil") for text in formulas_of(path).values())
    assert "=evil" in openpyxl.load_workbook(path, read_only=True).sheetnames
    intro = values_of(path)["intro"]
    assert intro[0][0] == "'=1+1"


def test_sheet_names_are_legal_and_unique():
    names = sheet_names(["a/b", "a:b", "x" * 40, "x" * 40, "Data", "ok"], {"data"})
    assert names[0] == "a_b" and names[1] == "a_b~2"
    assert all(len(n) <= 31 and not set(n) & set("[]:*?/\\") for n in names)
    assert len({n.lower() for n in names}) == len(names)
    assert names[4].lower() != "data"


def test_check_agrees_with_a_fresh_workbook_and_flags_edits(lesson5, tmp_path, capsys):
    assert main(["check", str(lesson5)]) == 0
    edited = tmp_path / "edited.xlsx"
    book = openpyxl.load_workbook(lesson5)
    book["adam"]["B4"] = 0.5  # lr, with no recalculation: stored values are now stale
    book.save(edited)
    capsys.readouterr()
    assert main(["check", str(edited)]) == 1
    assert "adam!" in capsys.readouterr().out


def test_check_rejects_a_workbook_sheetopt_did_not_write(tmp_path, capsys):
    other = tmp_path / "other.xlsx"
    openpyxl.Workbook().save(other)
    assert main(["check", str(other)]) == 2
    assert "not a workbook written by sheetopt" in capsys.readouterr().err
    text = tmp_path / "notes.xlsx"
    text.write_text("hello")
    assert main(["check", str(text)]) == 2
