"""sheetopt workbook and sheetopt check without LibreOffice: layout, safety, what is cached."""
from __future__ import annotations

import re
import tempfile
import tracemalloc
import zipfile
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest

from benchmark_cases import benchmark
from libreoffice import rewrite_cell, sheet_part
from sheetopt.protocol import engine
from sheetopt.cli import main
from sheetopt.errors import SheetoptError
from sheetopt.spec import load, parse
from sheetopt.workbook import plan_sheets, write_plans, write_trace, write_workbook
from sheetopt.workbook import layout
from sheetopt.workbook import writer as writer_module
from sheetopt.workbook.layout import FIRST_ROW, HEADER_ROW, STATUS_ROW
from sheetopt.workbook.names import safe_text, sheet_names

ALLOWED_FUNCTIONS = {"SQRT", "IF", "MIN", "MAX", "ABS", "COS", "PI", "ISERROR", "OR"}


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


def column(rows, header, header_row=HEADER_ROW):
    j = list(rows[header_row]).index(header)
    return [r[j] for r in rows[header_row + 1:] if j < len(r) and r[j] is not None
            and not isinstance(r[j], str)]


@pytest.fixture(scope="module")
def lesson5(preset_workbook):
    return preset_workbook("lesson5")


def test_sheets_are_intro_data_one_per_spec_sheet_and_compare(lesson5):
    book = openpyxl.load_workbook(lesson5, read_only=True)
    assert book.sheetnames == ["intro", "data", "basic", "momentum", "rmsprop", "adam",
                               "adam_ann", "compare", "sheetopt"]
    assert book["sheetopt"].sheet_state == "veryHidden"


def test_lecture_column_names(lesson5):
    rows = values_of(lesson5)
    basic = [h for h in rows["basic"][HEADER_ROW] if h][:17]
    assert basic == ["epoch", "step", "x", "y", "intercept", "slope", "y_pred", "err^2",
                     "errb1", "est de/db", "erra1", "est de/da", "de/db", "de/da", "new a",
                     "new b", "Σ err^2 (epoch)"]
    adam = list(rows["adam"][HEADER_ROW])
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
    headers = list(rows["momentum"][HEADER_ROW])
    b, new_b, avg = headers.index("b"), headers.index("new b"), headers.index("avg de/db")
    from xlsxwriter.utility import xl_col_to_name as letter
    for r in range(FIRST_ROW + 1, FIRST_ROW + 145):  # 0-based rows of steps 2..145
        assert formulas[("momentum", r, b)] == f"={letter(new_b)}{r}"
        assert f"{letter(avg)}{r}" in formulas[("momentum", r, avg)]
    # the first step reads the highlighted start cells
    assert "$" in formulas[("momentum", FIRST_ROW, b)]


def test_only_portable_functions_and_no_array_formulas(lesson5, preset_workbook):
    path = preset_workbook("lecture-vs-torch")
    for file in (lesson5, path):
        for where, text in formulas_of(file).items():
            assert not text.startswith("{"), where
            used = set(re.findall(r"([A-Z][A-Z0-9.]*)\(", text))
            assert used <= ALLOWED_FUNCTIONS, (where, text)


def test_adam_ann_lr_per_epoch_is_a_formula_of_the_annealing_rule(lesson5):
    formulas = formulas_of(lesson5)
    rows = values_of(lesson5)
    headers = list(rows["adam_ann"][HEADER_ROW])
    lr_col = len(headers) - 1 - headers[::-1].index("lr")
    text = formulas[("adam_ann", FIRST_ROW + 1, lr_col)]  # epoch 2
    assert text.startswith("=IF(") and "/4" in text and ">2" in text


def test_diverged_sheet_stops_with_a_visible_note(preset_workbook):
    path = preset_workbook("quadratic")
    trace = engine.run(load("quadratic"), "aloud")
    assert trace.diverged
    rows = values_of(path)["aloud"]
    assert "DIVERGED" in rows[STATUS_ROW][0]
    last = FIRST_ROW + int(trace.steps["size"].sum())
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


def input_cell(path: Path, name: str) -> tuple[str, str]:
    """(sheet, A1 cell) of a defined name such as adam_lr."""
    book = openpyxl.load_workbook(path, read_only=True)
    sheet, cell = book.defined_names[name].attr_text.split("!")
    return sheet.strip("'"), cell.replace("$", "")


def test_check_agrees_with_a_fresh_workbook_and_flags_edits(lesson5, tmp_path, capsys):
    assert main(["check", str(lesson5)]) == 0
    edited = tmp_path / "edited.xlsx"
    sheet, cell = input_cell(lesson5, "adam_lr")
    rewrite_cell(lesson5, edited, sheet, cell, "0.5")  # no recalculation: values now stale
    capsys.readouterr()
    assert main(["check", str(edited)]) == 1
    assert "adam!" in capsys.readouterr().out


def test_check_says_when_a_file_holds_no_computed_values(lesson5, tmp_path, capsys):
    saved = tmp_path / "saved-by-openpyxl.xlsx"
    openpyxl.load_workbook(lesson5).save(saved)  # keeps formulas, drops every cached value
    capsys.readouterr()
    assert main(["check", str(saved)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert "\n" not in err and "no computed values" in err and "save it" in err


@pytest.mark.parametrize("part", ["workbook", "data sheet"])
def test_check_refuses_an_xml_bomb_by_name(lesson5, tmp_path, capsys, part):
    bomb = tmp_path / "bomb.xlsx"
    entities = ('<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>')
    target = "xl/workbook.xml" if part == "workbook" else sheet_part(lesson5, "data")
    with zipfile.ZipFile(lesson5) as zin, zipfile.ZipFile(bomb, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == target:
                text = data.decode()
                head, _, rest = text.partition("?>")
                data = (head + "?>" + entities + rest).encode()
            zout.writestr(item, data)
    assert main(["check", str(bomb)]) == 2
    err = capsys.readouterr().err
    assert f"{target}" in err and "refused: the XML declares entities (possible XML bomb)" in err
    assert "ValueError" not in err and len(err.splitlines()) == 1


def test_check_rejects_a_workbook_sheetopt_did_not_write(tmp_path, capsys):
    other = tmp_path / "other.xlsx"
    openpyxl.Workbook().save(other)
    assert main(["check", str(other)]) == 2
    assert "not a workbook written by sheetopt" in capsys.readouterr().err
    text = tmp_path / "notes.xlsx"
    text.write_text("hello")
    assert main(["check", str(text)]) == 2


TORCH_NO_MOMENTUM = {
    "title": "torch without momentum", "data": {"preset": "lecture", "true": {"a": 2.0, "b": 30.0}},
    "sheet": [{"name": "sgd", "optimizer": "sgd", "flavor": "torch", "lr": 0.0001, "mom": 0.0,
               "dampening": 0.5, "epochs": 1},
              {"name": "rms", "optimizer": "rmsprop", "flavor": "torch", "lr": 0.01,
               "sqr_mom": 0.9, "epochs": 1}]}


def styled(path: Path):
    return openpyxl.load_workbook(path)


def test_hyperparameters_no_formula_reads_are_fixed_cells_not_inputs(tmp_path, capsys):
    path = tmp_path / "torch.xlsx"
    write_workbook(parse(TORCH_NO_MOMENTUM), path)
    book = styled(path)
    names = set(book.defined_names.keys())
    assert {"sgd_lr", "sgd_wd", "rms_lr", "rms_sqr_mom", "rms_eps", "rms_wd"} <= names
    assert not names & {"sgd_mom", "sgd_dampening", "rms_mom"}
    formulas = "".join(formulas_of(path).values())
    for sheet, fixed in (("sgd", ("mom", "dampening")), ("rms", ("mom",))):
        ws = book[sheet]
        labels = {ws.cell(4, c).value: c for c in range(1, 12)}
        for name in fixed:
            col = labels[f"{name} (fixed)"]
            value = ws.cell(5, col)
            assert value.fill.fgColor.rgb != book["sgd"]["C5"].fill.fgColor.rgb  # not yellow
            assert "set it in the spec" in value.comment.text
        assert f"{sheet}_mom" not in formulas
    # check takes a fixed value from the metadata, not from the cell
    col = {styled(path)["sgd"].cell(4, c).value: c for c in range(1, 12)}["mom (fixed)"]
    edited = tmp_path / "edited.xlsx"
    rewrite_cell(path, edited, "sgd", f"{openpyxl.utils.get_column_letter(col)}5", "0.9")
    capsys.readouterr()
    assert main(["check", str(edited)]) == 0


def test_the_finite_difference_step_is_an_input_the_formulas_read(lesson5):
    formulas = formulas_of(lesson5)
    rows = values_of(lesson5)
    headers = list(rows["basic"][HEADER_ROW])
    for header in ("errb1", "est de/db", "erra1", "est de/da"):
        text = formulas[("basic", FIRST_ROW, headers.index(header))]
        assert "basic_h" in text and "0.01" not in text
    sheet, cell = input_cell(lesson5, "basic_h")
    assert sheet == "basic" and openpyxl.load_workbook(lesson5)["basic"][cell].value == 0.01


def test_chart_text_from_users_is_literal(tmp_path):
    evil = "=cmd|' /C calc'!A0"
    raw = {"title": "t", "data": {"preset": "lecture", "true": {"a": 2.0, "b": 30.0}},
           "sheet": [{"name": evil, "optimizer": "sgd", "lr": 0.0001, "epochs": 2}]}
    path = tmp_path / "evil.xlsx"
    write_workbook(parse(raw), path)
    with zipfile.ZipFile(path) as archive:
        charts = [archive.read(n).decode() for n in archive.namelist()
                  if n.startswith("xl/charts/chart")]
    assert len(charts) == 5  # data, the sheet's loss and path, compare's losses and paths
    for xml in charts:
        assert not re.search(r"<c:tx>\s*<c:strRef>", xml)  # no series name read from a cell
        for title in re.findall(r"<c:title>.*?</c:title>", xml, re.S):
            assert "<c:f>" not in title
    joined = "".join(charts)
    assert "=cmd|' _C calc'!\u200bA0: loss per epoch" in joined  # literal, shown as it is
    assert "fit: =cmd|' _C calc'!\u200bA0" in joined
    assert "=cmd|' _C calc'!\u200bA0: path" in joined


def number_formats(ws, row: int) -> list[str]:
    return [c.number_format for c in ws[row + 1] if isinstance(c.value, (int, float))
            or (isinstance(c.value, str) and c.value.startswith("="))]


def test_numbers_are_shown_at_any_magnitude(lesson5):
    """Inputs and derived cells use General: an edited lr of 0.25 (or 1e-7) shows as typed."""
    book = styled(lesson5)
    adam = book["adam"]
    headers = [c.value for c in adam[HEADER_ROW + 1]]
    lr_col = len(headers) - headers[::-1].index("lr")  # 1-based, the summary's lr
    assert adam.cell(FIRST_ROW + 1, lr_col).number_format == "General"
    for row in (FIRST_ROW, FIRST_ROW + 40):
        assert set(number_formats(adam, row)) <= {"General", "0"}
    sheet, cell = input_cell(lesson5, "adam_lr")
    assert adam[cell].number_format == "General"
    data = book["data"]
    assert {data.cell(8, c).number_format for c in (1, 2)} == {"General"}


def test_lines_and_flags_are_formulas_and_diverged_fits_are_left_out(preset_workbook):
    path = preset_workbook("quadratic")
    rows = values_of(path)
    formulas = formulas_of(path)
    header = list(rows["data"][5])
    assert "fit: book" in header and "fit: true" in header and "fit: aloud" not in header
    grid = header.index("x (for the lines)")
    first, last = formulas[("data", 6, grid)], formulas[("data", 30, grid)]
    assert first == "=MIN('data'!$A$7:$A$26)" and last == "=MAX('data'!$A$7:$A$26)"
    assert [rows["data"][6 + i][grid] for i in (0, 12, 24)] == [0, 9.5, 19]
    compare = rows["compare"]
    flags = {r[0]: r[list(compare[3]).index("diverged")] for r in compare[4:6]}
    assert flags["book"] == "no" and flags["aloud"].startswith("yes: epoch")
    flag_formulas = [t for (s, _, _), t in formulas.items() if s == "compare" and "ISERROR" in t]
    assert len(flag_formulas) == 1 and "'book'!" in flag_formulas[0]
    with zipfile.ZipFile(path) as archive:
        assert "left out, diverged: aloud" in archive.read("xl/charts/chart1.xml").decode()


def comment(ws, text: str):
    for cell in ws[HEADER_ROW + 1]:
        if cell.value == text:
            return cell.comment.text if cell.comment else None
    raise KeyError(text)


def test_quirks_carry_notes(lesson5):
    book = styled(lesson5)
    assert "(1 - mom)" in comment(book["momentum"], "avg de/db")
    assert "PREVIOUS" in comment(book["rmsprop"], "new b")
    ann = book["adam_ann"]
    assert "divided by 4" in comment(ann, "lr")
    assert "sqrt(avg (de/db)^2)" in comment(ann, "gradient scale")
    assert "smallest" in comment(ann, "best scale")


def test_write_trace_writes_one_recorded_run(tmp_path):
    spec = load("lesson5")
    trace = engine.run(spec, "adam")
    path = tmp_path / "adam.xlsx"
    written = write_trace(spec, trace, path)
    assert written.sheets == 1
    book = openpyxl.load_workbook(path, read_only=True)
    assert book.sheetnames == ["intro", "data", "adam", "compare", "sheetopt"]
    rows = values_of(path)
    assert column(rows["adam"], "new b") == trace.steps["new_b"].tolist()
    assert main(["check", str(path)]) == 0


def writer_peak(rows: int, epochs: int) -> float:
    """Peak Python memory (bytes) of writing a one-sheet online run, beyond its trace."""
    spec = benchmark("workbook").make_spec(rows, epochs)
    traces = engine.run_all(spec)
    with tempfile.TemporaryDirectory() as folder:
        plans = plan_sheets(spec, traces)
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        write_plans(spec, plans, Path(folder) / "w.xlsx")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak - base


def test_writer_memory_does_not_grow_with_the_run(monkeypatch):
    """Ten times the rows, the same peak: values are made a chunk of steps at a time (a small
    chunk here, so that a quick run spans many; tracemalloc makes writing slow)."""
    monkeypatch.setattr(layout, "CHUNK", 128)
    small, large = writer_peak(100, 8), writer_peak(100, 80)  # 800 and 8,000 rows
    assert large < 1.15 * small, (small, large)


def test_metadata_longer_than_a_cell_is_split_and_read_back(tmp_path, capsys):
    raw = {"title": "many rows", "data": {"rows": 3000, "x": "uniform", "x_min": -1.0,
                                          "x_max": 1.0, "true": {"a": 3.0, "b": 2.0},
                                          "noise": "normal", "noise_scale": 0.1, "seed": 3},
           "sheet": [{"name": "sgd", "optimizer": "sgd", "lr": 0.01, "epochs": 1}]}
    path = tmp_path / "many.xlsx"
    write_workbook(parse(raw), path)
    meta = [r[0] for r in openpyxl.load_workbook(path, read_only=True)["sheetopt"]
            .iter_rows(values_only=True)]
    assert len(meta) > 3 and all(len(text) <= 32_767 for text in meta)
    capsys.readouterr()
    assert main(["check", str(path)]) == 0
