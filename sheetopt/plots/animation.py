"""Animations of one sheet's run: the fitted curve over the data, or the path over the loss
surface, one frame per step (or per k steps), the current loss in the title; written as a GIF
(Pillow, no ffmpeg) or as an HTML page with the frames embedded (``to_jshtml``).

Bounded: at most MAX_FRAMES frames, and a file over MAX_BYTES is refused (estimated from the
first frame before any encoding, and checked again before the file is put in place).
"""
from __future__ import annotations

import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import SheetoptError
from ..files import atomic_output, check_target
from ..spec import Spec
from ..trace import Trace
from . import surface
from .canvas import figure_format, new_figure
from .path import draw, drawn_path, plan
from .runs import Traces, color, points, selected, title_of

ANIMATIONS = ("fit", "path")
FORMATS = {".gif": "gif", ".html": "html"}
DEFAULT_FRAMES = 120
MAX_FRAMES = 600
MAX_BYTES = 20 * 2**20
FPS = 10
DPI = 80
SIZE = (6.4, 4.2)  # inches: 512 x 336 pixels at DPI


def frame_count(text: str | int | None, points_: int | None = None) -> int | None:
    """A frame-count option: a positive whole number up to MAX_FRAMES (None: the default)."""
    if text is None:
        return None
    try:
        count = int(str(text).strip())
    except ValueError:
        count = 0
    if count < 1 or str(text).strip() not in (str(count), f"+{count}"):
        raise SheetoptError(f"--frames {text}: give a positive whole number of frames")
    if count > MAX_FRAMES:
        raise SheetoptError(f"--frames {count}: at most {MAX_FRAMES} frames")
    return count


def frame_steps(total: int, frames: int | None) -> np.ndarray:
    """Which points of a path (0: the start, k: after step k) get a frame: ``frames`` of them
    (default: all, up to DEFAULT_FRAMES) evenly spaced, the first and the last always in."""
    count = min(total, frames or DEFAULT_FRAMES)
    if count <= 1:
        return np.array([total - 1])
    return np.unique(np.round(np.linspace(0, total - 1, count)).astype(int))


@dataclass
class Animation:
    """A run as frames: ``figure`` shows frame ``show(i)``; ``steps[i]`` is the point of the
    path frame i shows (0: the start, k: after step k). ``save(path)`` writes GIF or HTML;
    in a notebook it displays itself as the HTML player."""

    figure: object
    steps: np.ndarray
    show: Callable[[int], None]
    title: str
    _animation: object = field(default=None, repr=False)

    @property
    def animation(self):
        """The matplotlib FuncAnimation."""
        if self._animation is None:
            from matplotlib.animation import FuncAnimation

            self._animation = FuncAnimation(self.figure, self.show, frames=len(self.steps),
                                            interval=1000 / FPS, blit=False, repeat=True)
        return self._animation

    def __len__(self) -> int:
        return len(self.steps)

    def to_jshtml(self) -> str:
        """The frames embedded in a self-contained player (an HTML fragment)."""
        import matplotlib

        with matplotlib.rc_context({"animation.embed_limit": MAX_BYTES / 2**20 * 1.5,
                                    "savefig.dpi": DPI}):
            return self.animation.to_jshtml(fps=FPS, embed_frames=True, default_mode="loop")

    def _repr_html_(self) -> str:
        return self.to_jshtml()

    def estimate_bytes(self, fmt: str) -> int:
        """About how large the file will be: the first frame's size times the frame count."""
        self.show(0)
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=DPI)
        per_frame = len(buffer.getvalue()) * (1.37 if fmt == "html" else 0.8)
        return int(per_frame * len(self.steps))

    def save(self, path: str | Path, force: bool = False) -> Path:
        """Writes the animation as ``*.gif`` or ``*.html`` (by the extension), atomically;
        refuses (one line, nothing written) a file that would exceed MAX_BYTES."""
        fmt = figure_format(path, FORMATS)
        check_target(path, force)
        _refuse_large(self.estimate_bytes(fmt), path, len(self.steps), "would be about")
        with atomic_output(path, force) as temp:
            if fmt == "gif":
                from matplotlib.animation import PillowWriter

                self.animation.save(temp, writer=PillowWriter(fps=FPS), dpi=DPI)
            else:
                temp.write_text(_page(self.title, self.to_jshtml()), encoding="utf-8")
            _refuse_large(temp.stat().st_size, path, len(self.steps), "is")
        return Path(path)


def _refuse_large(size: int, path, frames: int, verb: str) -> None:
    if size > MAX_BYTES:
        fit = max(1, int(frames * MAX_BYTES / size))
        raise SheetoptError(f"{path}: the animation {verb} {size / 2**20:.1f} MB, more than "
                            f"the {MAX_BYTES // 2**20} MB bound; use --frames {fit} or fewer")


def _page(title: str, player: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n</head>\n<body>\n"
            f"<h3>{html.escape(title)}</h3>\n{player}\n</body>\n</html>\n")


def animate(spec: Spec, traces: Traces, sheet: str | None = None, kind: str = "fit",
            frames: int | None = None) -> Animation:
    """One sheet's run as an animation: ``kind`` "fit" (the fitted curve over the data) or
    "path" (the path over the loss surface); ``frames`` evenly spaced points of the run
    (default: every step, up to DEFAULT_FRAMES; at most MAX_FRAMES).

    >>> spec = load("lesson2")
    >>> movie = animate(spec, engine.run_all(spec), "sgd")
    >>> len(movie)  # the start and each of the 100 steps
    101
    >>> movie.save("fit.gif")  # doctest: +SKIP
    """
    if kind not in ANIMATIONS:
        raise SheetoptError(f"unknown animation kind {kind!r}: choose fit or path")
    frames = frame_count(frames)
    runs = selected(spec, traces, [sheet] if sheet is not None else None)
    if len(runs) != 1:
        raise SheetoptError(f"{spec.label}: an animation shows one sheet; choose one of "
                            f"{', '.join(t.sheet for t in runs)}")
    trace = runs[0]
    steps = frame_steps(len(trace) + 1, frames)
    builder = _fit_frames if kind == "fit" else _path_frames
    fig, show = builder(spec, trace, steps)
    what = "fitted line" if kind == "fit" else "path over the loss surface"
    return Animation(fig, steps, show, f"{spec.title}: sheet {trace.sheet}, {what}")


def frame_title(spec: Spec, trace: Trace, k: int, params: dict) -> str:
    """A frame's title: which step, and the MSE over the whole data at its parameters."""
    loss = float(surface.mse(spec, {p: np.array(v) for p, v in params.items()}))
    where = "start" if k == 0 else f"after step {k} of {len(trace)}"
    return f"{title_of(trace)}: {where}\nMSE over the data = {loss:.6g}"


def _params_at(spec: Spec, trace: Trace, k: int) -> dict[str, float]:
    return {p: float(points(trace, p)[k]) for p in spec.model.params}


def _fit_frames(spec: Spec, trace: Trace, steps: np.ndarray):
    fig = new_figure(*SIZE)
    ax = fig.add_subplot()
    x, y = spec.data.x, spec.data.y
    ax.scatter(x, y, s=10, color="black", label="data", zorder=3)
    grid = np.linspace(x.min(), x.max(), 100)
    if all(p in spec.data.true for p in spec.model.params):
        ax.plot(grid, spec.model.predict(spec.data.true, grid), "k--", lw=1, label="true")
    line, = ax.plot(grid, grid * np.nan, color=color(spec, trace.sheet), lw=2,
                    label=f"fit: {trace.sheet}", gid="fit")
    span = float(y.max() - y.min()) or 1.0
    ax.set_ylim(float(y.min()) - 0.25 * span, float(y.max()) + 0.25 * span)  # fixed: no jumps
    ax.set(xlabel=spec.data.headers[0], ylabel=spec.data.headers[1])
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()

    def show(i: int) -> None:
        k = int(steps[i])
        params = _params_at(spec, trace, k)
        line.set_ydata(spec.model.predict(params, grid))
        ax.set_title(frame_title(spec, trace, k, params), fontsize=9)
    show(len(steps) - 1)
    return fig, show


def _path_frames(spec: Spec, trace: Trace, steps: np.ndarray):
    view = plan(spec, [trace])
    fig = new_figure(*SIZE)
    ax = fig.add_subplot()
    draw(ax, view, view.box, points=120, legend=False, colorbar=False)
    whole = drawn_path(trace, view.axes, view.box)
    for line in list(ax.lines):  # keep the surface and the minimum; the path grows per frame
        if str(line.get_gid()).startswith(("path:", "start:", "end:")):
            line.remove()
    c = color(spec, trace.sheet)
    ax.plot(whole.xs[:1], whole.ys[:1], "o", mfc="white", mec=c, markersize=7, zorder=6)
    grown, = ax.plot([], [], "-", color=c, lw=1.3, marker=".", markersize=3, zorder=5,
                     gid=f"path:{trace.sheet}")
    head, = ax.plot([], [], "o", color=c, mec="black", markersize=7, zorder=6, gid="head")
    fig.tight_layout()

    def show(i: int) -> None:
        k = int(steps[i])
        shown = min(k + 1, len(whole.xs))
        grown.set_data(whole.xs[:shown], whole.ys[:shown])
        head.set_data(whole.xs[shown - 1:shown], whole.ys[shown - 1:shown])
        ax.set_title(frame_title(spec, trace, k, _params_at(spec, trace, k)), fontsize=9)
    show(len(steps) - 1)
    return fig, show
