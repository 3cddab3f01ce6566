"""A small progress bar on stderr, shown by the command line when stderr is a terminal (a
library call from Python draws nothing)."""
from __future__ import annotations

import sys
import time

from ..errors import on_command_line


class Progress:
    """Counts work units; draws a bar at most ten times a second once a run takes over a second."""

    def __init__(self, total: int, label: str = "", stream=None):
        self.total, self.label = max(total, 1), label
        self.stream = stream or sys.stderr
        # on stderr only for the command line; a caller who hands over a stream wants it there
        self.enabled = (stream is not None or on_command_line()) and self.stream.isatty()
        self.done = 0
        self.started = time.monotonic()
        self.drawn = 0.0

    def advance(self, units: int = 1, label: str | None = None) -> None:
        """Counts ``units`` more done (and relabels the bar); redraws when it is time."""
        self.done += units
        if label is not None:
            self.label = label
        now = time.monotonic()
        if self.enabled and now - self.started > 1.0 and now - self.drawn > 0.1:
            self.drawn = now
            filled = int(30 * self.done / self.total)
            self.stream.write(f"\r{self.label[:24]:<24} [{'#' * filled}{'.' * (30 - filled)}] "
                              f"{100 * self.done / self.total:5.1f}%")
            self.stream.flush()

    def close(self) -> None:
        """Wipes the bar, if one was drawn, so that what follows starts a clean line."""
        if self.enabled and self.drawn:
            self.stream.write("\r" + " " * 70 + "\r")
            self.stream.flush()
