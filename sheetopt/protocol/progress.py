"""Progress of long runs through tqdm (``tqdm.auto``): a bar on stderr in a terminal, a widget
in a notebook (text there when ipywidgets is missing). Shown once a run has taken a second, and
wiped when it ends. By default it is shown by the command line when stderr is a terminal and by
the Python API in a notebook, never in a plain script or a log (``progress=True``/``False``
decides instead). tqdm is imported only when a bar is shown.
"""
from __future__ import annotations

import sys
import warnings

from ..errors import on_command_line

DELAY = 1.0  # seconds a run takes before its bar appears: short runs draw nothing
REDRAW = 0.1  # seconds between redraws at most


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (as ``tqdm.auto`` decides it).

    >>> in_notebook()
    False
    """
    ipython = sys.modules.get("IPython")  # a kernel has imported it; nothing is imported here
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def wanted(show: bool | None, stream=None) -> bool:
    """Whether to draw a bar: ``show`` when given, else on the command line when its stream
    (stderr) is a terminal, and from Python in a notebook.

    >>> wanted(None), wanted(True)
    (False, True)
    """
    if show is not None:
        return bool(show)
    if on_command_line():
        return (stream or sys.stderr).isatty()
    return in_notebook()


class Progress:
    """Counts work units (steps) towards ``total``; a tqdm bar shows them when :func:`wanted`.

    >>> bar = Progress(1000, "adam", show=False)
    >>> bar.advance(250); bar.done
    250
    >>> bar.close()
    """

    def __init__(self, total: int, label: str = "", show: bool | None = None, stream=None):
        self.total, self.label, self.done = max(int(total), 1), label, 0
        self.stream = stream
        self.enabled = wanted(show, stream)
        self._bar = None

    def advance(self, units: int = 1, label: str | None = None) -> None:
        """Counts ``units`` more done (and relabels the bar)."""
        self.done += units
        if label is not None:
            self.label = label
        if not self.enabled:
            return
        bar = self._open() if self._bar is None else self._bar
        if label is not None:
            bar.set_description_str(label[:24], refresh=False)
        bar.update(units)

    def _open(self):
        with warnings.catch_warnings():  # tqdm.auto warns when a notebook lacks ipywidgets
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm
        self._bar = tqdm(total=self.total, desc=self.label[:24], unit="step", unit_scale=True,
                         delay=DELAY, mininterval=REDRAW, leave=False, file=self.stream or sys.stderr,
                         dynamic_ncols=True)
        return self._bar

    def close(self) -> None:
        """Wipes the bar, if one was drawn, so that what follows starts a clean line."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
