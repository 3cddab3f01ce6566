"""The progress bar: drawn on stderr for long runs when stderr is a terminal, never otherwise."""
from __future__ import annotations

import io
import itertools

import pytest

from sheetopt import cli
from sheetopt.protocol import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def slow_clock(monkeypatch):
    """Every reading of the clock is half a second after the last: every run looks long."""
    ticks = itertools.count()
    monkeypatch.setattr(progress.time, "monotonic", lambda: 0.5 * next(ticks))


@pytest.mark.parametrize("command", [["compare", "lesson5"], ["trace", "lesson5", "--sheet", "adam"]])
def test_long_runs_draw_a_bar_on_a_terminal(command, slow_clock, monkeypatch, capsys):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert cli.main(command) == 0
    drawn = terminal.getvalue()
    assert "100.0%" in drawn and "[" + "#" * 30 + "]" in drawn
    assert drawn.endswith("\r")  # the bar is wiped before the results are read
    assert "%" not in capsys.readouterr().out.splitlines()[0]


def test_no_bar_when_stderr_is_not_a_terminal(slow_clock, capsys):
    assert cli.main(["compare", "lesson5"]) == 0
    assert capsys.readouterr().err == ""


def test_the_bar_counts_steps():
    terminal = Terminal()
    bar = progress.Progress(200, "adam", stream=terminal)
    bar.started -= 5  # a run already five seconds long
    bar.advance(50)
    assert "adam" in terminal.getvalue() and " 25.0%" in terminal.getvalue()
    assert "#" * 7 + "." * 23 in terminal.getvalue()
