"""sheetopt check on damaged, edited and hostile workbooks, and writing that a spreadsheet
never rejects: each problem one line naming the part, sheet and cell, exit 2."""
from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import pytest

from benchmark_cases import benchmark
from libreoffice import sheet_part
from sheetopt.cli import main
from sheetopt.errors import SheetoptError
from sheetopt.spec import parse
from sheetopt.reader import check as check_module, xlsx
from sheetopt.workbook import write_workbook

fuzz = benchmark("fuzz")

SPEC = {"title": "small", "data": {"preset": "lecture", "true": {"a": 2.0, "b": 30.0}},
        "sheet": [{"name": "basic", "optimizer": "sgd", "lr": 0.0001, "epochs": 1},
                  {"name": "adam", "optimizer": "adam", "lr": 0.1, "epochs": 1}]}


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("damage") / "book.xlsx"
    write_workbook(parse(SPEC), path)
    return path


def rezip(source: Path, target: Path, part: str, edit) -> Path:
    """``source`` with one part's bytes replaced by ``edit(bytes)``."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for item in zin.infolist():
            data = zin.read(item.filename)
            z.writestr(item.filename, edit(data) if item.filename == part else data)
    return target


def set_cell(data: bytes, ref: str, xml: str) -> bytes:
    """The sheet XML with cell ``ref`` replaced by ``xml`` (a whole <c> element)."""
    pattern = re.compile(rf'<c r="{ref}"[^>]*?(/>|>.*?</c>)'.encode())
    new, count = pattern.subn(xml.encode(), data, 1)
    assert count == 1, ref
    return new


def one_line(capsys, argv) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


def lr_cell(path: Path) -> str:
    with xlsx.open_xlsx(path) as opened:
        _, raw = check_module.read_spec(opened, str(path))
    row, col = raw[0]["inputs"]["lr"]
    return f"{xlsx.column_letters(col)}{row + 1}"


@pytest.mark.parametrize("typed", ["abc", "1,5", "NaN"])
def test_a_word_typed_into_an_input_cell_is_named(book, tmp_path, capsys, typed):
    ref = lr_cell(book)
    edited = rezip(book, tmp_path / "typed.xlsx", sheet_part(book, "basic"),
                   lambda d: set_cell(d, ref, f'<c r="{ref}" t="inlineStr"><is><t>{typed}</t>'
                                           f'</is></c>'))
    err = one_line(capsys, ["check", str(edited)])
    assert err.endswith(f"basic!{ref} (lr): '{typed}' is not a number"), err


def test_an_input_edited_past_float64s_range_is_reported_without_warnings(tmp_path, capsys,
                                                                         recwarn):
    """h typed as 1.5e248 beside a shown forward difference: its shifted loss overflows to
    inf. check says which cell differs (the engine's value is #NUM!), exit 1, and numpy says
    nothing (benchmarks/fuzz.py found it: --family workbook --seed 12)."""
    shown = tmp_path / "shown.xlsx"
    write_workbook(parse({**SPEC, "sheet": [{**SPEC["sheet"][1], "show": ["forward"]}]}), shown)
    with xlsx.open_xlsx(shown) as opened:
        _, raw = check_module.read_spec(opened, str(shown))
    row, col = raw[0]["inputs"]["h"]
    ref = f"{xlsx.column_letters(col)}{row + 1}"
    edited = rezip(shown, tmp_path / "huge-h.xlsx", sheet_part(shown, "adam"),
                   lambda d: set_cell(d, ref, f'<c r="{ref}"><v>1.481720706e+248</v></c>'))
    assert main(["check", str(edited)]) == 1
    captured = capsys.readouterr()
    assert "adam!" in captured.out and "engine '#NUM!'" in captured.out, captured.out
    assert captured.err == "" and not [w for w in recwarn if w.category is RuntimeWarning]


@pytest.mark.parametrize("cell, expected", [
    ('<c r="REF"><v>abc</v></c>', "a number cell holds 'abc', not a number"),
    ('<c r="REF" t="s"><v>99999</v></c>', "shared string '99999' does not exist"),
    ('<c r="REF"><v>' + "9" * 400 + "</v></c>", "is too large (400 characters"),
    ('<c r="REF" t="d"><v>2026-01-01</v></c>', "holds a date (2026-01-01), not a number"),
    ('<c r="REF" t="e"><v>#DIV/0!</v></c>', "holds the error '#DIV/0!', not a number"),
    ('<c r="REF"/>', "is empty; it needs a number"),
])
def test_cells_the_reader_cannot_convert_name_part_sheet_and_cell(book, tmp_path, capsys, cell,
                                                                   expected):
    ref = lr_cell(book)
    part = sheet_part(book, "basic")
    edited = rezip(book, tmp_path / "cell.xlsx", part,
                   lambda d: set_cell(d, ref, cell.replace("REF", ref)))
    err = one_line(capsys, ["check", str(edited)])
    assert expected in err and ref in err, err
    if "number cell" in expected or "shared string" in expected or "too large" in expected:
        assert f"{part} (sheet 'basic') cell {ref}" in err  # found by the reader itself


def test_damaged_zips_and_bombs_are_refused_before_inflating(book, tmp_path, capsys):
    data = book.read_bytes()
    part = sheet_part(book, "basic")
    parts = fuzz._parts(data)
    head = parts[part][:parts[part].index(b"<sheetData>") + 11]
    bomb = fuzz._zip({**parts, part: head + b" " * (16 * 1024 ** 2) + b"</sheetData>"
                                                                      b"</worksheet>"}, level=9)
    huge = fuzz._patch_directory(data, part, file_size=3 * 1024 ** 3)
    cases = {
        "zip bomb": (bomb, [part, "refused: inflates", "limit is 100 times"]),
        "declared size": (huge, [part, "refused: inflates", "to 3.0 GiB"]),
        "method": (fuzz._patch_directory(data, part, method=14),
                   [part, "unsupported compression method 14"]),
        "crc": (fuzz._patch_directory(data, part, crc=1), [part, "bad CRC-32"]),
        "truncated": (data[:5000], ["not a zip file, or a damaged or truncated one"]),
        "empty part": (fuzz._zip({**parts, part: b""}), [part, "(sheet 'basic')", "empty XML"]),
        "damaged XML": (fuzz._zip({**parts, "xl/workbook.xml": parts["xl/workbook.xml"][:-9]}),
                        ["xl/workbook.xml", "damaged XML"]),
    }
    for name, (content, expected) in cases.items():
        path = tmp_path / f"{name}.xlsx"
        path.write_bytes(content)
        err = one_line(capsys, ["check", str(path)])
        for text in expected:
            assert text in err, (name, err)


def _metadata_edit(book: Path, target: Path, edit) -> Path:
    parts = fuzz._parts(book.read_bytes())
    part, document = fuzz._metadata(parts)
    text = edit(document)
    target.write_bytes(fuzz._zip({**parts, part: fuzz._with_metadata(parts, part, text)}))
    return target


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d["sheets"][0].update(epochs=0) or json.dumps(d),
     "sheet 'basic': epochs must be at least 1 (got 0)"),
    (lambda d: d["sheets"][1].update(hypers={}) or json.dumps(d),
     "sheet 'adam': lr is required"),
    (lambda d: d["sheets"][0].pop("inputs") and json.dumps(d), "'inputs' is not a table"),
    (lambda d: d["data"].update(x="many") or json.dumps(d), "data.x is not a list"),
    (lambda d: d["sheets"][0]["inputs"].update(lr=[10 ** 9, 0]) or json.dumps(d),
     "inputs.lr is not a cell position"),
    (lambda d: json.dumps(d)[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
     "metadata is damaged"),
    (lambda d: d.update(format="2") or json.dumps(d), "another sheetopt format ('2')"),
])
def test_an_edited_metadata_sheet_is_one_line(book, tmp_path, capsys, edit, expected):
    edited = _metadata_edit(book, tmp_path / "meta.xlsx", edit)
    err = one_line(capsys, ["check", str(edited)])
    assert expected in err, err


def test_formulas_saved_as_values_are_no_longer_live(book, tmp_path, capsys):
    part = sheet_part(book, "adam")
    plain = rezip(book, tmp_path / "values.xlsx", part, lambda d: re.sub(rb"<f>[^<]*</f>", b"", d))
    formulas = len(re.findall(rb"<f>", fuzz._parts(book.read_bytes())[part]))
    capsys.readouterr()
    assert main(["check", str(plain)]) == 1
    out = capsys.readouterr().out
    assert f"NOT LIVE: {formulas:,} formula cells hold plain values" in out
    assert "no longer live" in out and "agrees" not in out


def test_the_reader_reads_what_libreoffice_would_and_the_api_can_use_it(book):
    spec = check_module.load_spec(book)
    assert [s.name for s in spec.sheets] == ["basic", "adam"]
    assert spec.sheets[1].hypers["lr"] == 0.1 and len(spec.data) == 29
    with xlsx.open_xlsx(book) as opened:
        rows = list(opened["basic"].iter_rows(max_row=1))
    assert rows[0][0] == "basic: sgd, lecture flavour"


# --- writing ------------------------------------------------------------------------------------
def test_control_characters_never_reach_the_file(tmp_path):
    spec = parse({"title": "ti\x01tle", "description": "line\x0bbreak\x00",
                  "data": {"preset": "lecture"},
                  "sheet": [{"name": "a\x01b\x07", "optimizer": "sgd", "lr": 0.0001},
                            {"name": "\x02", "optimizer": "adam", "lr": 0.1}]})
    path = tmp_path / "controls.xlsx"
    write_workbook(spec, path)
    assert fuzz.spreadsheet_problem(path.read_bytes()) is None  # well-formed, no controls
    with xlsx.open_xlsx(path) as opened:
        assert opened.sheetnames[2:4] == ["ab", "sheet"]
        assert next(opened["intro"].iter_rows())[0] == "title"
    assert main(["check", str(path)]) == 0


@pytest.mark.parametrize("table, column", [("rows", "pred"), ("steps", "grad_b"),
                                           ("steps", "sqr_avg_a")])
def test_non_finite_values_are_error_cells_never_nan(tmp_path, table, column):
    """A non-finite value in a recorded step (here put there by hand: the engine stops before
    one) is stored as the error cell #NUM!, with the error type, never as <v>nan</v>."""
    from sheetopt.protocol import engine
    from sheetopt.spec import load
    from sheetopt.workbook import write_trace

    spec = load("lesson5")
    trace = engine.run(spec, "adam")
    getattr(trace, table)[column][3] = float("nan")
    getattr(trace, table)[column][4] = float("inf")
    path = tmp_path / "nan.xlsx"
    write_trace(spec, trace, path)
    assert fuzz.spreadsheet_problem(path.read_bytes()) is None
    sheet = fuzz._parts(path.read_bytes())[sheet_part(path, "adam")]
    assert len(re.findall(rb'<c r="[A-Z]+1[34]"[^>]* t="e"><f>[^<]+</f><v>#NUM!</v>', sheet)) >= 2


WRITERS = [["workbook", "spec.toml", "-o"], ["trace", "spec.toml", "-o"],
           ["compare", "spec.toml", "--plot"],
           ["sweep", "spec.toml", "--sheet", "sgd", "--lr", "0.001:0.01:2", "--plot"],
           ["plot", "spec.toml", "--kind", "loss", "-o"],
           ["animate", "spec.toml", "--sheet", "sgd", "--frames", "3", "-o"]]
EXT = {"workbook": ".xlsx", "trace": ".csv", "compare": ".png", "sweep": ".png",
       "plot": ".png", "animate": ".gif"}


@pytest.mark.parametrize("argv", WRITERS, ids=[w[0] for w in WRITERS])
@pytest.mark.parametrize("problem", ["too long", "proc", "dangling symlink", "folder",
                                     "missing folder", "file as folder", "device"])
def test_every_output_path_problem_is_one_line(tmp_path, monkeypatch, capsys, argv, problem):
    monkeypatch.chdir(tmp_path)
    ext = EXT[argv[0]]
    Path("spec.toml").write_text('[data]\npreset = "lecture"\n[[sheet]]\noptimizer = "sgd"\n'
                                 'lr = 0.0001\n')
    Path("precious.txt").write_bytes(b"keep")
    os.mkdir(f"dir{ext}")
    os.symlink("missing-target", f"link{ext}")
    os.mkfifo(f"pipe{ext}")
    target = {"too long": "n" * 300 + ext, "proc": f"/proc/out{ext}",
              "dangling symlink": f"link{ext}", "folder": f"dir{ext}",
              "missing folder": f"nowhere/out{ext}", "file as folder": f"precious.txt/o{ext}",
              "device": f"pipe{ext}"}[problem]
    expected = {"too long": "too long", "proc": "cannot create a file in /proc",
                "dangling symlink": "already exists (a symbolic link to a missing file)",
                "folder": "is a folder", "missing folder": "does not exist",
                "file as folder": "is not a folder", "device": "not a plain file"}[problem]
    before = sorted(os.listdir("."))
    err = one_line(capsys, [*argv, target])
    assert expected in err, err
    assert sorted(os.listdir(".")) == before and Path("precious.txt").read_bytes() == b"keep"


def test_a_dangling_symlink_is_replaced_with_force(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    os.symlink("missing-target", "out.csv")
    assert main(["trace", "lesson5", "-o", "out.csv", "--force"]) == 0
    assert not Path("out.csv").is_symlink() and Path("out.csv").read_text().startswith("epoch")


def test_the_temporary_file_of_a_long_name_fits_the_file_system(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "n" * 250 + ".csv"  # legal; its temporary name beside it must be too
    assert main(["trace", "lesson5", "-o", name]) == 0
    assert sorted(os.listdir(".")) == [name]


def test_reader_errors_are_sheetopt_errors_in_python(tmp_path):
    path = tmp_path / "junk.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(SheetoptError, match="not an .xlsx workbook"):
        check_module.check_workbook(path)
    with pytest.raises(SheetoptError, match="no such file"):
        check_module.check_workbook(tmp_path / "missing.xlsx")


def test_a_workbook_whose_annealing_would_divide_by_zero_is_refused(tmp_path, capsys):
    """torch-flavour adam_ann starts from zero averages: the sheet's scale/best is #DIV/0! in
    a spreadsheet (LibreOffice recalculates every later cell to it) while the engine anneals."""
    spec = tmp_path / "ann.toml"
    spec.write_text('[data]\npreset = "lecture"\n[[sheet]]\nname = "ann"\noptimizer = "adam_ann"'
                    '\nflavor = "torch"\nlr = 0.5\nepochs = 2\n')
    err = one_line(capsys, ["workbook", str(spec), "-o", str(tmp_path / "ann.xlsx")])
    assert "sheet 'ann'" in err and "#DIV/0!" in err and "sqr_avg" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ann.toml"]


SHIPPED = sorted((Path(__file__).resolve().parents[1] / "workbooks").glob("*.xlsx"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_workbook_reads_back_through_the_spec_parser(path):
    """Its metadata goes through the spec parser (every optimizer the registry has): a key
    the writer stores that the parser does not take would make check refuse the file."""
    results = check_module.check_workbook(path)
    assert results and all(r.ok for r in results)
    spec = check_module.load_spec(path)
    assert [s.name for s in spec.sheets] == [s.name for s in parse_toml(path.with_suffix(".toml")).sheets]


def parse_toml(path: Path):
    from sheetopt.spec import load

    return load(path)


def test_a_schedule_of_the_wrong_type_is_one_line(tmp_path, capsys):
    """Found by the fuzz run after the schedules package landed (a list was looked up in a
    dict of aliases: TypeError)."""
    spec = tmp_path / "s.toml"
    spec.write_text('[data]\npreset = "lecture"\n[[sheet]]\nname = "ann"\noptimizer = "adam_ann"'
                    '\nlr = 0.5\nschedule = [{ c = 2 }]\n')
    err = one_line(capsys, ["compare", str(spec)])
    assert "sheet 'ann'" in err and "schedule [{'c': 2}] is not one of" in err
