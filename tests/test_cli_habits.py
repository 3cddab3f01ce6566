"""The command line keeps the habits of the ecosystem: `-o -` is standard output, `-` reads the
spec from standard input, help fits a screen and wraps to the terminal, a subcommand's error
shows that subcommand's usage, a workbook given as a spec points to `check`, and `check` says
what was edited and what it changed. Also: every per-epoch figure is that epoch's own, and
the one table formatter wraps to the terminal."""
from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import openpyxl
import pytest

import sheetopt
from libreoffice import rewrite_cell
from sheetopt import cli
from sheetopt.protocol import engine
from sheetopt.spec import load
from sheetopt.tables import Columns, fit, table

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["compare", "trace", "workbook", "check", "verify", "sweep", "plot", "animate",
            "translate",
            "torch-suite"]


def run_cli(capsys, argv):
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse: --help, usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


# --- help ------------------------------------------------------------------------------------
def test_top_level_help_fits_a_screen_with_one_line_per_command(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _ = run_cli(capsys, ["--help"])
    lines = out.splitlines()
    assert code == 0 and len(lines) <= 24, len(lines)
    for name in COMMANDS:
        mentions = [line for line in lines if line.strip().startswith(name + " ")]
        assert len(mentions) == 1, (name, mentions)
        assert len(mentions[0].split()) > 3  # the command's one-line summary, on its line
    assert max(map(len, lines)) <= 100


@pytest.mark.parametrize("command", COMMANDS)
def test_each_commands_help_wraps_at_the_terminal_width(capsys, monkeypatch, command):
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _ = run_cli(capsys, [command, "--help"])
    widths = [len(line) for line in out.splitlines()]
    assert code == 0 and max(widths) <= 100, (command, max(widths))
    assert f"docs/cli.md#{command}" in out  # the detail is in the docs
    monkeypatch.setenv("COLUMNS", "60")
    _, narrow, _ = run_cli(capsys, [command, "--help"])
    # only the example command line (kept whole, to be copied) and argparse's usage block
    # (an argument it will not break) may pass 60
    body = narrow.split("\n\n", 1)[1]
    assert all(len(line) <= 60 or line.startswith("  sheetopt ") for line in body.splitlines())


def test_docs_page_covers_every_command():
    text = (ROOT / "docs" / "cli.md").read_text()
    for name in COMMANDS:
        assert f"\n## {name}\n" in text


def test_a_bare_sheetopt_prints_short_usage_on_stderr_and_exits_2():
    result = subprocess.run([sys.executable, "-m", "sheetopt"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("usage: sheetopt") and len(lines) == 2
    assert lines[1].startswith("sheetopt: error: give a COMMAND")


def test_a_subcommands_option_error_shows_that_subcommands_usage(capsys):
    code, out, err = run_cli(capsys, ["trace", "lesson5", "--bogus"])
    lines = err.splitlines()
    assert code == 2 and out == ""
    assert lines[0].startswith("usage: sheetopt trace ")
    assert lines[-1] == "sheetopt trace: error: unrecognized arguments: --bogus"


# --- -o - and - as the spec --------------------------------------------------------------------
def test_trace_dash_o_dash_is_standard_output(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, ["trace", "lesson5", "--sheet", "adam", "-o", "-"])
    assert code == 0 and not (tmp_path / "-").exists()
    rows = list(csv.DictReader(io.StringIO(out)))
    steps = sheetopt.run("lesson5")["adam"].steps
    assert len(rows) == 145
    assert float(rows[-1]["new_b"]) == float(steps["new_b"][-1])  # exact: read back as written
    assert "sheet 'adam': adam, lecture flavour" in err  # which flavour ran, said on stderr


def test_compare_writes_to_a_file_or_to_dash(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, ["compare", "lesson5", "--format", "json", "-o", "-"])
    document = json.loads(out)
    assert code == 0 and not (tmp_path / "-").exists()
    code, out, _ = run_cli(capsys, ["compare", "lesson5", "--format", "json", "-o", "c.json"])
    assert code == 0 and out == ""
    assert json.loads((tmp_path / "c.json").read_text()) == document
    code, _, err = run_cli(capsys, ["compare", "lesson5", "-o", "c.json"])
    assert code == 2 and "already exists" in err and "--force" in err


@pytest.mark.parametrize("command", [["plot", "lesson5"], ["workbook", "lesson5"],
                                     ["animate", "lesson2", "--sheet", "sgd"]])
def test_binary_outputs_refuse_dash_in_one_line(capsys, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, [*command, "-o", "-"])
    assert code == 2 and len(err.splitlines()) == 1 and "binary file" in err
    assert list(tmp_path.iterdir()) == []


def test_dash_reads_the_spec_from_standard_input(tmp_path):
    text = (ROOT / "workbooks" / "lesson2.toml").read_text()
    piped = subprocess.run([sys.executable, "-m", "sheetopt", "compare", "-", "--format",
                            "csv"], input=text, capture_output=True, text=True, cwd=tmp_path)
    from_file = subprocess.run([sys.executable, "-m", "sheetopt", "compare", "lesson2",
                                "--format", "csv"], capture_output=True, text=True)
    assert piped.returncode == 0 and piped.stdout == from_file.stdout
    bad = subprocess.run([sys.executable, "-m", "sheetopt", "compare", "-"], input="x = [",
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith(
        "sheetopt compare: error: standard input: TOML syntax error")
    unnamed = subprocess.run([sys.executable, "-m", "sheetopt", "workbook", "-"], input=text,
                             capture_output=True, text=True, cwd=tmp_path)
    assert unnamed.returncode == 2 and "-o FILE.xlsx" in unnamed.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_workbook_given_as_the_spec_points_to_check(capsys, tmp_path):
    book = ROOT / "workbooks" / "lesson5.xlsx"
    for command in (["compare"], ["trace"], ["plot", "--kind", "loss", "-o",
                                                str(tmp_path / "p.png")]):
        code, _, err = run_cli(capsys, [command[0], str(book), *command[1:]])
        assert code == 2 and len(err.splitlines()) == 1
        assert f"sheetopt check {book}" in err
    with pytest.raises(sheetopt.SheetoptError, match="sheetopt check"):
        sheetopt.run(book)


# --- check says what was edited and what it changed ------------------------------------------
@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("book") / "lesson5.xlsx"
    return sheetopt.write_workbook("lesson5", path)


def test_check_of_an_unedited_workbook_says_so(written, capsys):
    code, out, _ = run_cli(capsys, ["check", str(written)])
    assert code == 0 and "inputs: as sheetopt wrote them (no cell edited)" in out
    assert sheetopt.workbook_edits(written)["inputs"].empty


def test_check_lists_an_edited_input_and_the_results_before_and_after(written, tmp_path,
                                                                       capsys):
    edited = tmp_path / "edited.xlsx"
    rewrite_cell(written, edited, "adam", "C5", "0.5")  # adam's lr: 1 -> 0.5, not recalculated
    spec = load("lesson5")
    original = engine.run(spec, "adam")
    start = {s: {p: original.start[f"{s}_{p}"] for p in spec.model.params}
             for s in ("grad_avg", "sqr_avg")}
    sheet = replace(spec.sheet("adam"), state=start).with_hypers(lr=0.5)
    rerun = engine.run(replace(spec, sheets=(sheet,)), sheet)
    code, out, _ = run_cli(capsys, ["check", str(edited)])
    assert code == 1  # the stored values are the old run's: they differ from the rerun
    assert "  adam!C5 (lr): 1 -> 0.5" in out
    line = [line for line in out.splitlines() if line.startswith("adam ")][-1]  # the rerun's
    for p in ("a", "b"):  # as written, then now
        assert f"{original.final()[p]:.6g}  {rerun.final()[p]:.6g}" in line
    basic = [line for line in out.splitlines() if line.startswith("basic ")][-1]
    cells = basic.split()
    assert cells[1] == cells[2] and cells[3] == cells[4]  # a sheet not edited: unchanged
    frame = sheetopt.workbook_edits(edited)
    assert frame["inputs"].to_dict("records") == [{"where": "adam!C5 (lr)", "written": 1.0,
                                                   "now": 0.5}]
    results = frame["results"].set_index(["sheet", "figure"])
    assert results.loc[("adam", "a"), "now"] == rerun.final()["a"]
    assert results.loc[("adam", "b"), "written"] == original.final()["b"]
    assert results.loc[("basic", "a"), "now"] == results.loc[("basic", "a"), "written"]


# --- per-epoch figures -------------------------------------------------------------------------
def test_every_epochs_distance_is_that_epochs_own():
    result = sheetopt.run("lesson5")
    table_ = result.summary()
    adam = table_[table_.sheet == "adam"].set_index("epoch")
    steps = result["adam"].steps
    for epoch in range(1, 6):
        last = np.flatnonzero(steps["epoch"] == epoch)[-1]
        expected = math.hypot(steps["new_a"][last] - 2.0, steps["new_b"][last] - 30.0)
        assert adam.loc[epoch, "distance"] == pytest.approx(expected, rel=1e-14)
    # epoch 1 ends at a = 2.3409, b = 7.7247: 22.28 from the truth; the last epoch, 2.2355
    assert round(adam.loc[1, "distance"], 4) == 22.2779
    assert round(adam.loc[5, "distance"], 4) == 2.2355
    assert len(set(adam["distance"])) == 5


def test_the_workbook_shows_each_epochs_distance(written):
    book = openpyxl.load_workbook(written, data_only=True)
    sheet = book["adam"]
    header = next((cell for row in sheet.iter_rows(max_row=20) for cell in row
                   if cell.value == "distance to truth"), None)
    assert header is not None
    values = [sheet.cell(header.row + 1 + i, header.column).value for i in range(5)]
    summary = sheetopt.run("lesson5").summary()
    assert values == pytest.approx(summary[summary.sheet == "adam"]["distance"].tolist(),
                                   rel=1e-15)
    assert round(values[0], 4) == 22.2779


def test_the_per_epoch_lr_says_which_steps_it_is(capsys):
    code, out, _ = run_cli(capsys, ["compare", "lesson5", "--format", "json"])
    assert json.loads(out)["epoch_figures"]["lr"] == "the lr of the epoch's first step"
    assert "the lr of the epoch's first step" in sheetopt.RunResult.summary.__doc__


# --- one table formatter -----------------------------------------------------------------------
def test_the_table_wraps_text_columns_to_the_width():
    rows = [["adam", "lr=0.1, amsgrad=True, weight_decay=0.05, betas=[0.3, 0.999]", "1.5e-16"],
            ["sgd", "lr=0.01", "2.25e-15"]]
    text = table(["optimizer", "options", "max rel"], rows, width=40)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 40
    assert lines[2].startswith("adam ") and lines[2].endswith("1.5e-16")  # numbers right
    assert "amsgrad=True" in text.replace("\n", " ")
    assert fit(["a", "b"], [["x" * 30, "1"]], width=20).widths == [17, 1]
    assert table(["a", "b"], [["1", "x|y"]], markdown=True).splitlines()[2] == "| 1 | x\\|y |"
    assert Columns(["n"], [3], [True]).line(["7"]) == "  7"


def test_compare_fits_the_terminal(capsys, monkeypatch):
    for columns in ("100", "70"):
        monkeypatch.setenv("COLUMNS", columns)
        code, out, _ = run_cli(capsys, ["compare", "lecture-vs-torch"])
        assert code == 0 and max(map(len, out.splitlines())) <= int(columns)
    monkeypatch.delenv("COLUMNS")
    # to a pipe or file (not a terminal) nothing is wrapped: lines stay whole for grep
    code, out, _ = run_cli(capsys, ["compare", "lesson5"])
    assert "-- the lecture's \"rmse\" cell, a root of the sum" in out


def test_torch_suite_table_fits_100_columns(monkeypatch):
    from sheetopt.commands import torch_suite

    monkeypatch.setenv("COLUMNS", "100")
    columns = torch_suite.columns(("loop", "foreach", "fused"))
    line = columns.line(["adafactor", "lr=0.5, beta2_decay=-0.5, eps=[1e-20, 0.1], d=2.0",
                         "foreach", "87", "7.9e-12", "123456", "e3 s87", "6.2e-16", "1e-10 s",
                         "FAIL at e3 s87"])
    assert max(len(x) for x in [*line.splitlines(), *columns.head().splitlines()]) <= 100
