"""Animations of one sheet's run: the fitted curve over the data, or the path over the loss
surface, one frame per step (or per k steps), the current loss in the title; written as a GIF
(Pillow, no ffmpeg) or as an HTML page with the frames embedded (``to_jshtml``).

Bounded: at most MAX_FRAMES frames, and a file over MAX_BYTES is refused (estimated from the
first frame before the others are drawn, and checked again before the file is put in place).
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..errors import SheetoptError
from ..files import atomic_output, check_target
from ..spec import Spec
from ..protocol.trace import Trace
from . import surface
from .canvas import figure_format, new_figure, quiet
from .curves import fitted_curve
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


def frame_count(text: str | int | None) -> int | None:
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
    """A run as frames: ``figure`` shows frame i after ``show(i)``; ``steps[i]`` is the point
    of the path frame i shows (0: the start, k: after step k); ``moving`` are the artists that
    change from frame to frame. ``save(path)`` writes GIF or HTML; in a notebook it displays
    itself as matplotlib's HTML player (the one ``to_jshtml`` makes).

    >>> movie = animate(spec, traces, "sgd", frames=10)  # doctest: +SKIP
    >>> movie.steps[-1] == len(traces["sgd"]), len(list(movie.frames()))  # doctest: +SKIP
    (True, 10)
    """

    figure: object
    steps: np.ndarray
    show: Callable[[int], None]
    moving: list
    title: str

    def __len__(self) -> int:
        return len(self.steps)

    def frames(self) -> Iterator[np.ndarray]:
        """Each frame's pixels (rows x columns x RGB). The still part is drawn once and the
        moving artists over it (blitting): a full redraw per frame would cost ten times more."""
        canvas = self.figure.canvas
        for artist in self.moving:
            artist.set_animated(True)
        try:
            canvas.draw()
            still = canvas.copy_from_bbox(self.figure.bbox)
            for i in range(len(self.steps)):
                canvas.restore_region(still)
                self.show(i)
                for artist in self.moving:
                    self.figure.draw_artist(artist)
                yield np.asarray(canvas.buffer_rgba())[..., :3].copy()
        finally:
            for artist in self.moving:
                artist.set_animated(False)
            self.show(len(self.steps) - 1)

    def to_jshtml(self, frames: Iterable[np.ndarray] | None = None) -> str:
        """The frames as PNGs embedded in matplotlib's JavaScript player (an HTML fragment:
        what ``FuncAnimation.to_jshtml`` writes, from the frames drawn here)."""
        import tempfile

        from matplotlib.animation import HTMLWriter

        class Embedded(HTMLWriter):
            def add(self, png: bytes) -> None:
                self._saved_frames.append(base64.encodebytes(png).decode("ascii"))

        writer = Embedded(fps=FPS, embed_frames=True, default_mode="loop",
                          embed_limit=MAX_BYTES / 2**20 * 2)
        with tempfile.TemporaryDirectory() as folder:
            page = Path(folder) / "player.html"
            writer.setup(self.figure, page, dpi=DPI)
            for pixels in frames if frames is not None else self.frames():
                writer.add(_encoded(pixels, "png"))
            writer.finish()
            return page.read_text(encoding="utf-8")

    def _repr_html_(self) -> str:
        return self.to_jshtml()

    def estimate_bytes(self, fmt: str) -> int:
        """About how large the file will be: the first frame encoded, times the frame count."""
        first = next(iter(self.frames()))
        per_frame = len(_encoded(first, "png" if fmt == "html" else "gif"))
        return int(per_frame * (1.37 if fmt == "html" else 1.0) * len(self.steps))

    def save(self, path: str | Path, force: bool = False) -> Path:
        """Writes the animation as ``*.gif`` (Pillow, looping) or ``*.html`` (a page around
        the player), by the extension, atomically; refuses (one line, nothing written) a file
        that would exceed MAX_BYTES.

        >>> animate(spec, traces, "sgd").save("fit.gif")  # doctest: +SKIP
        """
        fmt = figure_format(path, FORMATS)
        check_target(path, force)
        _refuse_large(self.estimate_bytes(fmt), path, len(self.steps), "would be about")
        with atomic_output(path, force) as temp:
            if fmt == "gif":
                from PIL import Image

                images = [Image.fromarray(pixels) for pixels in self.frames()]
                images[0].save(temp, format="GIF", save_all=True, append_images=images[1:],
                               duration=int(1000 / FPS), loop=0)
            else:
                temp.write_text(_page(self.title, self.to_jshtml()), encoding="utf-8")
            _refuse_large(temp.stat().st_size, path, len(self.steps), "is")
        return Path(path)


def _encoded(pixels: np.ndarray, fmt: str) -> bytes:
    """One frame as PNG or GIF bytes, in 256 colours (a PNG of them is half the size)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).quantize(256).save(buffer, format=fmt.upper())
    return buffer.getvalue()


def _refuse_large(size: int, path, frames: int, verb: str) -> None:
    if size > MAX_BYTES:
        fit = max(1, int(frames * MAX_BYTES / size))
        raise SheetoptError(f"{path}: the animation {verb} {size / 2**20:.1f} MB, more than "
                            f"the {MAX_BYTES / 2**20:.3g} MB bound; use --frames {fit} or fewer")


# The player's buttons take their icons from a web font on a CDN; offline they would be blank
# boxes, so the page draws them as characters (the same glyph online and offline).
BUTTON_GLYPHS = {"minus": "\u2212", "fast-backward": "|\u25c0", "step-backward": "\u25c0|",
                 "play": "\u25b6", "pause": "\u275a\u275a", "step-forward": "|\u25b6",
                 "fast-forward": "\u25b6|", "plus": "+"}
BUTTON_STYLE = "".join(
    f'.anim-buttons i.fa-{name}::before{{content:"{glyph}";font-family:sans-serif;'
    f'font-style:normal}}' for name, glyph in BUTTON_GLYPHS.items()) + (
    ".anim-buttons i.fa-flip-horizontal{display:inline-block;transform:scaleX(-1)}")


def _page(title: str, player: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{BUTTON_STYLE}</style>\n"
            f"</head>\n<body>\n"
            f"<h3>{html.escape(title)}</h3>\n{player}\n</body>\n</html>\n")


def animate(spec: Spec, traces: Traces, sheet: str | None = None, kind: str | None = None,
            frames: int | None = None) -> Animation:
    """One sheet's run as an animation: ``kind`` "fit" (the fitted curve over the data; the
    default) or "path" (the path over the loss surface; a test surface's default); ``frames`` evenly spaced points of the run
    (default: every step, up to DEFAULT_FRAMES; at most MAX_FRAMES).

    >>> spec = load("lesson2")
    >>> movie = animate(spec, engine.run_all(spec), "sgd")
    >>> len(movie)  # the start and each of the 100 steps
    101
    >>> movie.save("fit.gif")  # doctest: +SKIP
    """
    kind = kind or default_kind(spec.model)
    if kind not in ANIMATIONS:
        raise SheetoptError(f"unknown animation kind {kind!r}: choose fit or path")
    if kind == "fit" and not spec.model.has_data:
        raise SheetoptError(f"{spec.label}: the {spec.model.kind} surface has no data to fit; "
                            f"animate its path (kind \"path\")")
    if kind == "fit" and not spec.model.target:
        raise SheetoptError(f"{spec.label}: the {spec.model.kind} model has no y to fit and no "
                            f"loss surface to draw a path on; plot its runs instead (sheetopt "
                            f"plot --kind loss, step_loss, lr or fits)")
    frames = frame_count(frames)
    runs = selected(spec, traces, [sheet] if sheet is not None else None)
    if len(runs) != 1:
        raise SheetoptError(f"{spec.label}: an animation shows one sheet; choose one of "
                            f"{', '.join(t.sheet for t in runs)}")
    trace = runs[0]
    steps = frame_steps(len(trace) + 1, frames)
    builder = _fit_frames if kind == "fit" else _path_frames
    with quiet():  # no numpy overflow warnings from a picture near float64's limits
        fig, show, moving = builder(spec, trace, steps)
    what = "fitted line" if kind == "fit" else "path over the loss surface"
    return Animation(fig, steps, _quietly(show), moving,
                     f"{spec.title}: sheet {trace.sheet}, {what}")


def _quietly(show: Callable[[int], None]) -> Callable[[int], None]:
    def quiet_show(i: int) -> None:
        with quiet():
            show(i)
    return quiet_show


def default_kind(model) -> str:
    """The animation a model gets when none is asked for: the fitted curve over its one input,
    else the path when its loss surface can be drawn (2 or 3 parameters), else the fit as
    each row's prediction against its y.

    >>> from sheetopt.models import model_for
    >>> default_kind(model_for("linear")), default_kind(model_for("rastrigin"))
    ('fit', 'path')
    """
    if model.fits_a_curve:
        return "fit"
    return "path" if model.has_surface and len(model.params) in (2, 3) else "fit"


def frame_title(spec: Spec, trace: Trace, k: int, params: dict) -> str:
    """A frame's title: which step, and the mean row loss over the whole data at its
    parameters (the MSE of a squared-error model, f(x, y) on a surface)."""
    loss = float(surface.mse(spec, {p: np.array(v) for p, v in params.items()}))
    where = "start" if k == 0 else f"after step {k} of {len(trace)}"
    what = ("f(x, y)" if not spec.model.has_data else
            "MSE over the data" if spec.model.reports_rmse else "mean loss over the data")
    return f"{title_of(trace)}: {where}\n{what} = {loss:.6g}"


def _params_at(spec: Spec, trace: Trace, k: int) -> dict[str, float]:
    return {p: float(points(trace, p)[k]) for p in spec.model.params}


def _fit_frames(spec: Spec, trace: Trace, steps: np.ndarray):
    if not spec.model.fits_a_curve:
        return _prediction_frames(spec, trace, steps)
    fig = new_figure(*SIZE, dpi=DPI)
    ax = fig.add_subplot()
    x, y = spec.data.x, spec.data.y
    ax.scatter(x, y, s=10, color="black", label="data", zorder=3)
    grid = np.linspace(x.min(), x.max(), 100)
    curve = fitted_curve(spec.model)  # a classifier's p, not its logit
    if all(p in spec.data.true for p in spec.model.params):
        ax.plot(grid, curve(spec.data.true, grid), "k--", lw=1, label="true")
    line, = ax.plot(grid, grid * np.nan, color=color(spec, trace.sheet), lw=2,
                    label=f"fit: {trace.sheet}", gid="fit")
    span = float(y.max() - y.min()) or 1.0
    ax.set_ylim(float(y.min()) - 0.25 * span, float(y.max()) + 0.25 * span)  # fixed: no jumps
    ax.set(xlabel=spec.data.headers[0], ylabel=spec.data.headers[1])
    ax.legend(fontsize=8, loc="upper left")

    def show(i: int) -> None:
        k = int(steps[i])
        params = _params_at(spec, trace, k)
        line.set_ydata(curve(params, grid))
        ax.set_title(frame_title(spec, trace, k, params), fontsize=9)
    show(len(steps) - 1)
    fig.tight_layout()
    return fig, show, [line, ax.title]


def _path_frames(spec: Spec, trace: Trace, steps: np.ndarray):
    view = plan(spec, [trace])
    fig = new_figure(*SIZE, dpi=DPI)
    ax = fig.add_subplot()
    draw(ax, view, view.box, resolution=120, legend=False, colorbar=False)
    whole = drawn_path(trace, view.axes, view.box)
    for line in list(ax.lines):  # keep the surface and the minimum; the path grows per frame
        if str(line.get_gid()).startswith(("path:", "start:", "end:")):
            line.remove()
    c = color(spec, trace.sheet)
    ax.plot(whole.xs[:1], whole.ys[:1], "o", mfc="white", mec=c, markersize=7, zorder=6)
    grown, = ax.plot([], [], "-", color=c, lw=1.3, marker=".", markersize=3, zorder=5,
                     gid=f"path:{trace.sheet}")
    head, = ax.plot([], [], "o", color=c, mec="black", markersize=7, zorder=6, gid="head")

    def show(i: int) -> None:
        k = int(steps[i])
        shown = min(k + 1, len(whole.xs))
        grown.set_data(whole.xs[:shown], whole.ys[:shown])
        head.set_data(whole.xs[shown - 1:shown], whole.ys[shown - 1:shown])
        ax.set_title(frame_title(spec, trace, k, _params_at(spec, trace, k)), fontsize=9)
    show(len(steps) - 1)
    fig.tight_layout()
    return fig, show, [grown, head, ax.title]


def _prediction_frames(spec: Spec, trace: Trace, steps: np.ndarray):
    """The fit of a model of several inputs: each row's prediction (a classifier's p) against
    its y, the points moving step by step toward the line prediction = y."""
    fig = new_figure(*SIZE, dpi=DPI)
    ax = fig.add_subplot()
    x, y = spec.model.row(spec.data.inputs()), spec.data.y
    curve = fitted_curve(spec.model)

    def predicted(k: int) -> np.ndarray:
        return np.broadcast_to(curve(_params_at(spec, trace, k), x), y.shape)

    every = np.concatenate([predicted(int(k)) for k in (steps[0], steps[-1])])
    shown = every[np.isfinite(every)]
    low = min(float(y.min()), float(shown.min()) if shown.size else float(y.min()))
    high = max(float(y.max()), float(shown.max()) if shown.size else float(y.max()))
    span = (high - low) or 1.0
    ax.plot([y.min(), y.max()], [y.min(), y.max()], "k--", lw=1, label="prediction = y")
    dots = ax.scatter(y, predicted(int(steps[-1])), s=14, color=color(spec, trace.sheet),
                      label=f"rows: {trace.sheet}", gid="fit", zorder=3)
    ax.set_ylim(low - 0.1 * span, high + 0.1 * span)  # fixed: no jumps
    what = "p" if spec.model.classes is not None else "prediction"
    ax.set(xlabel="y (the data)", ylabel=what)
    ax.legend(fontsize=8, loc="upper left")

    def show(i: int) -> None:
        k = int(steps[i])
        dots.set_offsets(np.column_stack([y, predicted(k)]))
        ax.set_title(frame_title(spec, trace, k, _params_at(spec, trace, k)), fontsize=9)
    show(len(steps) - 1)
    fig.tight_layout()
    return fig, show, [dots, ax.title]
