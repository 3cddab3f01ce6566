"""Option values on every command: a value may start with '-' (a sheet named "-2+3"), and an
empty value (-o '', --plot '', --sheet '') is refused in one line with exit status 2."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sheetopt import cli

SPEC = """
title = "dashes"
[data]
preset = "lecture"
true = { a = 2.0, b = 30.0 }
[[sheet]]
name = "-2+3"
optimizer = "sgd"
lr = 0.0001
[[sheet]]
name = "--format"
optimizer = "adam"
lr = 0.1
"""


@pytest.fixture
def spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "dashes.toml"
    path.write_text(SPEC)
    return str(path)


@pytest.mark.parametrize("args", [
    ["trace", "{spec}", "--sheet", "-2+3"],
    ["trace", "{spec}", "--format", "json", "--sheet", "-2+3"],
    ["sweep", "{spec}", "--sheet", "-2+3", "--lr", "1e-4,1e-3", "--backend", "numpy"],
    ["verify", "{spec}", "--sheet", "-2+3", "--device", "cpu"],
    ["plot", "{spec}", "--kind", "loss", "--sheet", "-2+3", "-o", "-2+3.png"],
    ["animate", "{spec}", "--sheet", "-2+3", "--frames", "3", "-o", "-2+3.gif"],
])
def test_a_sheet_name_starting_with_a_dash_works_on_every_command(spec, args, capsys):
    if args[0] == "verify":
        pytest.importorskip("torch")
    assert cli.main([a.format(spec=spec) for a in args]) == 0
    out = capsys.readouterr().out
    if args[0] == "trace" and "json" in args:
        assert '"sheet": "-2+3"' in out
    elif args[0] == "trace":
        assert out.startswith("epoch,step,row,size,x,y,a,grad_a,new_a,b")
        assert len(out.splitlines()) == 1 + 29
    elif args[0] in ("plot", "animate"):
        assert Path(args[-1]).is_file()  # in the spec's folder, the current one
    else:
        assert "-2+3" in out


def test_an_option_spelled_like_a_value_still_names_its_sheet(spec, capsys):
    """--sheet=--format: the '=' form reaches a sheet literally named "--format"."""
    assert cli.main(["trace", spec, "--sheet=--format"]) == 0
    assert "grad_avg_a" in capsys.readouterr().out


def test_a_missing_value_is_still_reported(spec, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["trace", spec, "--sheet", "--format", "json"])
    assert exit_.value.code == 2
    assert "--sheet: expected one argument" in capsys.readouterr().err


def test_an_output_starting_with_a_dash_is_a_file_name(spec, tmp_path, capsys):
    assert cli.main(["trace", spec, "-o", "-trace.csv"]) == 0
    assert (tmp_path / "-trace.csv").read_text().startswith("epoch,step")


def value_options() -> list[tuple[str, str]]:
    """(command, option) for every option of every command that takes one value."""
    found = []
    for name, command in cli._subcommands(cli.build_parser()).items():
        for action in command._actions:
            if cli._takes_one_value(action):
                found.append((name, cli._long_name(action)))
    return found


def test_every_command_is_covered():
    commands = {command for command, _ in value_options()}
    assert {"compare", "trace", "workbook", "verify", "sweep"} <= commands
    assert ("trace", "--output") in value_options() and ("compare", "--plot") in value_options()


@pytest.mark.parametrize("command, option", value_options())
def test_an_empty_option_value_is_one_line_and_exit_2(spec, tmp_path, command, option, capsys):
    positional = {"check": ["missing.xlsx"]}.get(command, [spec])
    needed = {"sweep": ["--sheet", "-2+3", "--lr", "0.1"]}.get(command, [])
    given = [a for a in needed if a != option]
    if option in needed:  # drop the value that went with it
        index = needed.index(option)
        given = needed[:index] + needed[index + 2:]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert cli.main([command, *positional, *given, option, ""]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{option} is empty" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("args, message", [
    (["trace", "{spec}", "-o", ""], "sheetopt trace: error: --output is empty; give a file name"),
    (["trace", "{spec}", "--sheet", ""], "sheetopt trace: error: --sheet is empty; give a sheet name"),
    (["compare", "{spec}", "--plot", ""], "sheetopt compare: error: --plot is empty; give a file name"),
    (["workbook", "{spec}", "-o", ""], "sheetopt workbook: error: --output is empty; give a file name"),
    (["trace", "{spec}", "--sheet="], "sheetopt trace: error: --sheet is empty; give a sheet name"),
    (["trace", "{spec}", "--format", ""], "sheetopt trace: error: --format is empty; give a format name"),
    (["trace", ""], "sheetopt trace: error: the spec is empty: give a preset name or a path"),
])
def test_the_empty_value_messages(spec, args, message, capsys):
    assert cli.main([a.format(spec=spec) for a in args]) == 2
    assert capsys.readouterr().err == message + "\n"


def test_join_option_values_leaves_other_tokens_alone():
    parser = cli.build_parser()
    assert cli.join_option_values(parser, ["trace", "s.toml", "--sheet", "-x", "-o", "-y"]) == [
        "trace", "s.toml", "--sheet=-x", "--output=-y"]
    assert cli.join_option_values(parser, ["trace", "s.toml", "--", "--sheet", "-x"]) == [
        "trace", "s.toml", "--", "--sheet", "-x"]
    assert cli.join_option_values(parser, ["--version"]) == ["--version"]
    assert isinstance(parser, argparse.ArgumentParser)


def test_the_progress_bar_is_the_command_lines_not_the_librarys(monkeypatch):
    """The same long run draws a bar for `sheetopt compare` on a terminal and nothing when
    called from Python."""
    import io
    import itertools

    import sheetopt
    from sheetopt.protocol import progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    ticks = itertools.count()
    monkeypatch.setattr(progress.time, "monotonic", lambda: 0.5 * next(ticks))
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    sheetopt.run("lesson5")
    assert terminal.getvalue() == ""
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert cli.main(["compare", "lesson5"]) == 0
    assert "100.0%" in terminal.getvalue()
