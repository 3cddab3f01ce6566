"""Figures without pyplot: each one has its own Agg canvas, so the library never touches the
global backend (``plt.show()`` in a notebook keeps working) and never leaks figures."""
from __future__ import annotations

import contextlib
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np

from ..errors import SheetoptError
from ..files import atomic_output

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
DPI = 110
FINGERPRINT_KEY = "sheetopt-data"  # PNG text chunk: a hash of what the figure plots
DIGITS = 9  # significant digits kept in the fingerprint: robust to last-bit differences


def require():
    """The matplotlib module, or one clear line saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise SheetoptError("plotting needs matplotlib: pip install 'sheetopt[plot]'") from None
    return matplotlib


def new_figure(width: float, height: float, dpi: float | None = None):
    """A matplotlib Figure with its own Agg canvas (not registered with pyplot).

    >>> new_figure(6, 4).add_subplot().plot([1, 2])  # doctest: +SKIP
    """
    require()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def figure_format(path: str | Path, formats=FORMATS) -> str:
    """The writer for a file name's extension, or one line naming the ones it can produce."""
    suffix = Path(path).suffix.lower()
    if suffix not in formats:
        names = ", ".join(f"*{s}" for s in formats)
        raise SheetoptError(f"{path}: cannot write {suffix or 'a file without an extension'}; "
                            f"name it {names}")
    return formats[suffix]


def fingerprint(fig) -> str:
    """A hash of the data a figure draws (lines, markers, contour levels, limits, titles),
    rounded to DIGITS significant digits: equal for the same picture on any machine and any
    matplotlib version, unlike the pixels.

    >>> fingerprint(figure(spec, traces, "path")) == stored_fingerprint("path.png")  # doctest: +SKIP
    True
    """
    return hashlib.sha256(json.dumps(figure_data(fig)).encode()).hexdigest()


def figure_data(fig) -> list:
    """What the figure plots, as plain lists: per Axes (colour bars left out) its texts and
    limits, the data of every line and collection sheetopt named (``gid``), and the contour
    levels of the surface. Unnamed artists (grid lines, colour-bar internals) differ between
    matplotlib versions and are left out."""
    out = []
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        named = [c for c in ax.collections if c.get_gid()]
        out.append({
            "title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
            "limits": _rounded([*ax.get_xlim(), *ax.get_ylim()]),
            "lines": [[line.get_gid(), _rounded(np.asarray(line.get_xdata(), float)),
                       _rounded(np.asarray(line.get_ydata(), float))]
                      for line in ax.lines if line.get_gid()],
            "collections": [[c.get_gid(), _rounded(c.levels) if hasattr(c, "levels")
                             else _rounded(np.asarray(c.get_offsets(), float))]
                            for c in named],
        })
    return out


def _rounded(values) -> list:
    values = np.asarray(values, dtype=float).ravel()
    return [None if not np.isfinite(v) else float(f"{v:.{DIGITS}g}") for v in values.tolist()]


@contextlib.contextmanager
def quiet():
    """Drawing without the warnings a run that succeeds must not print: numpy's overflow in a
    picture of values near float64's limits, a glyph the font lacks (a tab, CJK or emoji in a
    sheet's name: drawn as a box), a layout matplotlib cannot tighten."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from")
        warnings.filterwarnings("ignore", message=r".*[Tt]ight.?layout")
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        yield


def save(fig, path: str | Path, force: bool = False) -> Path:
    """Writes a Figure as PNG, SVG or PDF (by the extension), atomically; a PNG carries the
    figure's fingerprint in its metadata. Refuses an existing file unless ``force``.

    >>> save(figure(spec, traces, "path"), "path.png")  # doctest: +SKIP
    """
    fmt = figure_format(path)
    with quiet():
        metadata = ({FINGERPRINT_KEY: fingerprint(fig), "Software": "sheetopt"} if fmt == "png"
                    else None)
        with atomic_output(path, force) as temp:
            fig.savefig(temp, format=fmt, dpi=DPI, metadata=metadata)
    return Path(path)


def stored_fingerprint(path: str | Path) -> str | None:
    """The fingerprint a PNG written by :func:`save` carries (None without one).

    >>> stored_fingerprint("workbooks/lesson5-path.png")  # doctest: +SKIP
    '3f1c...'
    """
    from PIL import Image

    with Image.open(path) as image:
        return image.info.get(FINGERPRINT_KEY)
