"""Progress of long runs through tqdm: a bar on stderr when the command line runs on a terminal,
in a notebook from Python, and nowhere else unless asked (``progress=True``)."""
from __future__ import annotations

import io
import sys

import pytest

import sheetopt
from sheetopt import cli
from sheetopt.protocol import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def no_delay(monkeypatch):
    """Every run counts as long: the bar appears at once, and every advance redraws it."""
    monkeypatch.setattr(progress, "DELAY", 0.0)
    monkeypatch.setattr(progress, "REDRAW", 0.0)


@pytest.mark.parametrize("command", [["compare", "lesson5"], ["trace", "lesson5", "--sheet", "adam"]])
def test_long_runs_draw_a_bar_on_a_terminal(command, no_delay, monkeypatch, capsys):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert cli.main(command) == 0
    drawn = terminal.getvalue()
    steps = 5 * 145 if command[0] == "compare" else 145
    assert f"{steps}/{steps}" in drawn and "100%" in drawn and "step" in drawn, drawn
    assert "adam" in drawn
    # the bar is wiped before the results are read (trace then says which flavour ran)
    assert drawn.endswith("\r") or drawn.rsplit("\r", 1)[-1].startswith("sheetopt trace: sheet")
    assert "%" not in capsys.readouterr().out.splitlines()[0]


def test_no_bar_when_stderr_is_not_a_terminal(no_delay, capsys):
    assert cli.main(["compare", "lesson5"]) == 0
    assert capsys.readouterr().err == ""


def test_python_draws_a_bar_only_when_asked_outside_a_notebook(no_delay, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    sheetopt.run("lesson5")
    assert terminal.getvalue() == ""
    sheetopt.run("lesson5", progress=True)
    assert "725/725" in terminal.getvalue()
    terminal.truncate(0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(progress, "in_notebook", lambda: True)
        sheetopt.run("lesson5", "adam")
        assert "145/145" in terminal.getvalue()
        terminal.truncate(0)
        terminal.seek(0)
        sheetopt.run("lesson5", "adam", progress=False)
        assert terminal.getvalue() == ""


def test_short_runs_draw_nothing(monkeypatch):
    terminal = Terminal()
    bar = progress.Progress(200, "adam", show=True, stream=terminal)
    bar.advance(50)
    bar.close()
    assert terminal.getvalue() == ""  # under a second: tqdm's delay keeps it quiet


def test_the_bar_counts_steps(no_delay):
    terminal = Terminal()
    bar = progress.Progress(200, "adam", show=True, stream=terminal)
    bar.advance(50)
    assert "adam" in terminal.getvalue() and " 25%" in terminal.getvalue()
    assert "50.0/200" in terminal.getvalue()
    bar.close()


def test_tqdm_is_imported_only_when_a_bar_is_drawn():
    import subprocess

    code = ("import sys, sheetopt; sheetopt.run('lesson5', progress=False); "
            "print('tqdm' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.stdout.strip() == "False", done.stderr
