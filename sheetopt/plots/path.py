"""The path picture: every sheet's parameters, step by step, over the loss surface.

The surface is the mean squared error over the whole data set (see surface.py), drawn as
filled contours with log-spaced levels; the minimum is a star; each sheet's path starts at an
open circle and ends at a filled one; a diverged path is cut where it leaves the picture (or
at its last recorded step) with a cross. A model of three parameters is drawn as the slice
through the third one's final value. When the paths live in a small part of the view, a
second panel (an inset when drawing on a given ``ax``) zooms in on them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from ..errors import SheetoptError
from ..spec import Spec
from ..protocol.trace import Trace
from ..workbook.layout import model_order
from . import surface
from .canvas import new_figure
from .runs import Traces, color, points, selected, title_of
from .surface import Box

ZOOM_AREA = 0.06  # zoom when the late parts of paths cover less of the view than this
MARKED_STEPS = 2000  # longer paths are drawn as lines without a dot per step
LATE = 0.1  # a path's first tenth (its approach) is left out of what the zoom must show


def path_axes(spec: Spec) -> tuple[str, str]:
    """The two parameters drawn (x, then y): the workbook's order, so the intercept runs along
    the lecture's valley horizontally. Refuses models of other than 2 or 3 parameters."""
    count = len(spec.model.params)
    if not spec.model.has_surface:
        raise SheetoptError(f"{spec.label}: the path picture draws the loss surface, and the "
                            f"{spec.model.kind} model has none; draw loss, step_loss, lr or fits")
    if count not in (2, 3):
        raise SheetoptError(f"{spec.label}: the path picture needs a model of 2 or 3 "
                            f"parameters; {spec.model.kind} has {count}")
    order = model_order(spec.model)
    return order[0], order[1]


@dataclass
class DrawnPath:
    """One sheet's drawn path: its points, where it was cut, and how it ended."""

    trace: Trace
    xs: np.ndarray
    ys: np.ndarray
    cut: bool = False  # a diverged path ended at the edge of the view


@dataclass
class View:
    spec: Spec
    axes: tuple[str, str]
    fixed: dict[str, float]  # the parameters held fixed (a three-parameter model's slice)
    fixed_from: str | None  # the sheet whose final value fixes them
    best: dict[str, float]  # the surface's minimum in the slice
    runs: list[Trace]
    box: Box
    zoom: Box | None
    zoomed: list[str] = field(default_factory=list)  # the sheets the zoom is for
    minima: list[dict[str, float]] = field(default_factory=list)  # every minimum marked


def plan(spec: Spec, runs: list[Trace]) -> View:
    """What the picture shows: the axes, the slice, the minimum, the view and any zoom."""
    ax_x, ax_y = path_axes(spec)
    others = [p for p in spec.model.params if p not in (ax_x, ax_y)]
    source = next((t for t in runs if not t.diverged), runs[0])
    fixed = {p: source.final()[p] for p in others}
    minima = list(spec.model.minima) or [surface.minimum(spec, (ax_x, ax_y), fixed)]
    best = minima[0]
    xs, ys = [m[ax_x] for m in minima], [m[ax_y] for m in minima]
    for trace in runs:
        px, py = points(trace, ax_x), points(trace, ax_y)
        if trace.diverged:  # its start only: a blown-up path would stretch the view
            px, py = px[:1], py[:1]
        xs += px.tolist()
        ys += py.tolist()
    box = Box.around(xs, ys)
    if spec.model.view:  # a surface's usual picture, grown to hold the starts and minima;
        # a path that wanders further leaves the picture at its edge
        starts = Box.around([points(t, ax_x)[0] for t in runs] + [m[ax_x] for m in minima],
                            [points(t, ax_y)[0] for t in runs] + [m[ax_y] for m in minima])
        x0, x1, y0, y1 = spec.model.view
        box = Box(min(x0, starts.x0), max(x1, starts.x1), min(y0, starts.y0),
                  max(y1, starts.y1))
    view = View(spec=spec, axes=(ax_x, ax_y), fixed=fixed,
                fixed_from=source.sheet if others else None, best=best, runs=runs, box=box,
                zoom=None, minima=minima)
    view.zoom, view.zoomed = zoom_on(view)
    return view


def late_points(trace: Trace, axes: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """A path without its first tenth (the approach), which a zoom need not show."""
    px, py = points(trace, axes[0]), points(trace, axes[1])
    skip = int(len(px) * LATE) if len(px) > 10 else 0
    return px[skip:], py[skip:]


def zoom_on(view: View, force: bool = False) -> tuple[Box | None, list[str]]:
    """The zoom box and the sheets it is for: the paths (not diverged) whose later steps keep
    to a small part of the view, when together they do too (``force``: all of them)."""
    area = view.box.width * view.box.height
    chosen, xs, ys = [], [], []
    for trace in view.runs:
        if trace.diverged:
            continue
        px, py = late_points(trace, view.axes)
        own = Box.around(px, py, margin=0.0)
        if force or own.width * own.height < ZOOM_AREA * area:
            chosen.append(trace.sheet)
            xs += px.tolist()
            ys += py.tolist()
    if not chosen:
        return None, []
    box = Box.around(xs, ys)
    if not force and box.width * box.height > ZOOM_AREA * area:
        return None, []
    return box, chosen


def drawn_path(trace: Trace, axes: tuple[str, str], box: Box) -> DrawnPath:
    """A diverged path stops where it first leaves ``box`` (at the crossing point): its later
    steps only run away. Other paths are drawn whole."""
    xs, ys = points(trace, axes[0]), points(trace, axes[1])
    if not trace.diverged:
        return DrawnPath(trace, xs, ys)
    outside = np.flatnonzero([not box.contains(x, y) for x, y in zip(xs, ys)])
    if not len(outside) or outside[0] == 0:
        return DrawnPath(trace, xs, ys)
    i = int(outside[0])
    ex, ey = _crossing((xs[i - 1], ys[i - 1]), (xs[i], ys[i]), box)
    return DrawnPath(trace, np.append(xs[:i], ex), np.append(ys[:i], ey), cut=True)


def _crossing(inside, outside, box: Box) -> tuple[float, float]:
    """Where the segment from a point in the box to one outside it crosses the box's edge."""
    (x0, y0), (x1, y1) = inside, outside
    t = 1.0
    for start, end, lo, hi in ((x0, x1, box.x0, box.x1), (y0, y1, box.y0, box.y1)):
        if end > hi:
            t = min(t, (hi - start) / (end - start))
        elif end < lo:
            t = min(t, (lo - start) / (end - start))
    return x0 + t * (x1 - x0), y0 + t * (y1 - y0)


def path(spec: Spec, traces: Traces, sheets: Iterable[str] | None = None, ax=None,
         zoom: bool | None = None, resolution: int | None = None):
    """Each sheet's path over the loss surface (see the module's description). ``zoom``:
    None decides by how much of the view the paths use, True/False force it; ``resolution``:
    grid points per side (default: surface.grid_points). Returns the
    Figure (the one ``ax`` belongs to, when given).

    >>> fig = path(load("lesson5"), engine.run_all(load("lesson5")))  # doctest: +SKIP
    >>> fig.savefig("path.png")  # doctest: +SKIP
    """
    view = plan(spec, selected(spec, traces, sheets))
    if zoom is not None:
        view.zoom, view.zoomed = zoom_on(view, force=True) if zoom else (None, [])
    if ax is None:
        fig = new_figure(10, 11 if view.zoom else 6)
        panels = fig.subplots(2 if view.zoom else 1, 1, squeeze=False)[:, 0]
        draw(panels[0], view, view.box, resolution, legend=True)
        if view.zoom:
            draw(panels[1], view, view.zoom, resolution, legend=False, title=_zoom_title(view))
            _outline(panels[0], view.zoom)
        fig.tight_layout()
        return fig
    draw(ax, view, view.box, resolution, legend=True)
    if view.zoom:
        inset = ax.inset_axes([0.58, 0.56, 0.4, 0.4])
        # above the panel's own markers: a minimum under the inset (Himmelblau's (3, 2) in
        # the 'all' picture) would otherwise show through it, at a place it is not
        inset.set_zorder(max(a.get_zorder() for a in ax.get_children()) + 1)
        draw(inset, view, view.zoom, resolution, legend=False, colorbar=False,
             title="zoom: " + ", ".join(view.zoomed))
        _outline(ax, view.zoom)
    return ax.figure


def _outline(ax, box: Box) -> None:
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((box.x0, box.y0), box.width, box.height, fill=False, ec="white",
                           lw=1.2, ls="--", zorder=4, gid="zoom-outline"))


def draw(ax, view: View, box: Box, resolution: int | None = None, legend: bool = True,
         colorbar: bool = True, title: str | None = None) -> None:
    """The surface over ``box`` and every path, on one Axes."""
    from matplotlib.colors import LogNorm

    spec, (ax_x, ax_y) = view.spec, view.axes
    X, Y, Z = surface.grid(spec, view.axes, box, view.fixed, resolution)
    levels = surface.log_levels(Z)
    try:
        filled = ax.contourf(X, Y, Z, levels=levels, norm=LogNorm(levels[0], levels[-1]),
                             cmap="viridis", extend="both", alpha=0.9)
    except ValueError:  # matplotlib's contouring of values near float64's limits
        raise SheetoptError(surface.NOT_DRAWN) from None
    filled.set_gid("surface")
    ax.contour(X, Y, Z, levels=levels[::2], colors="white", linewidths=0.3, alpha=0.5)
    if colorbar:
        what = "MSE over the data" if spec.model.has_data else f"f({ax_x}, {ax_y})"
        bar = ax.figure.colorbar(filled, ax=ax, label=f"{what} (log scale)", shrink=0.9)
        _log_ticks(bar, levels)
    for trace in view.runs:
        drawn = drawn_path(trace, view.axes, view.box)
        c = color(spec, trace.sheet)
        ax.plot(drawn.xs, drawn.ys, "-", color=c, lw=1.3, zorder=5,
                marker="." if len(drawn.xs) <= MARKED_STEPS else None, markersize=3,
                label=title_of(trace), gid=f"path:{trace.sheet}")
        ax.plot(drawn.xs[:1], drawn.ys[:1], "o", mfc="white", mec=c, markersize=7, zorder=6,
                label="_start", gid=f"start:{trace.sheet}")
        ax.plot(drawn.xs[-1:], drawn.ys[-1:], "x" if trace.diverged else "o", color=c,
                mec="black" if not trace.diverged else c, markersize=8 if trace.diverged else 7,
                mew=2 if trace.diverged else 0.8, zorder=6, label="_end",
                gid=f"end:{trace.sheet}")
    minima = view.minima or [view.best]
    ax.plot([m[ax_x] for m in minima], [m[ax_y] for m in minima], "*", color="white",
            mec="black", markersize=16, zorder=7, label=_minimum_label(view), gid="minimum")
    ax.set_xlim(box.x0, box.x1)
    ax.set_ylim(box.y0, box.y1)
    ax.set_xlabel(_axis_label(spec, ax_x))
    ax.set_ylabel(_axis_label(spec, ax_y))
    ax.set_title(title or _title(view), fontsize=10)
    if legend:
        from matplotlib.lines import Line2D

        handles, _ = ax.get_legend_handles_labels()
        handles += [Line2D([], [], ls="", marker="o", mfc="white", mec="black", label="start"),
                    Line2D([], [], ls="", marker="o", color="0.4", mec="black", label="end"),
                    Line2D([], [], ls="", marker="x", color="0.4", mew=2,
                           label="diverged: cut here")]
        ax.legend(handles=handles, fontsize=8, loc="upper center", ncol=3,
                  bbox_to_anchor=(0.5, -0.12), framealpha=0.9)


def _log_ticks(bar, levels: np.ndarray) -> None:
    """Colour-bar ticks at the powers of ten in range (or a few levels when fewer)."""
    lo, hi = np.log10(levels[0]), np.log10(levels[-1])
    decades = 10.0 ** np.arange(np.ceil(lo), np.floor(hi) + 1)
    ticks = decades if len(decades) >= 2 else levels[::max(1, len(levels) // 5)]
    bar.set_ticks(ticks)
    bar.set_ticklabels([f"{t:.3g}" for t in ticks])
    bar.minorticks_off()


def _zoom_title(view: View) -> str:
    import textwrap

    ax_x = view.axes[0]
    moves = "; ".join(f"{t.sheet}: {ax_x} {points(t, ax_x)[0]:.4g} -> {points(t, ax_x)[-1]:.4g}"
                      for t in view.runs if t.sheet in view.zoomed)
    text = (f"zoom (the dashed box above) on {', '.join(view.zoomed)}, after their first "
            f"tenth of steps. {moves}")
    return "\n".join(textwrap.wrap(text, 110))


def _axis_label(spec: Spec, p: str) -> str:
    word = spec.model.label(p)
    return p if word == p else f"{p} ({word})"


def _minimum_label(view: View) -> str:
    ax_x, ax_y = view.axes
    if len(view.minima) > 1:
        return f"the {len(view.minima)} minima"
    if not view.spec.model.has_data:
        return f"minimum: {ax_x} = {view.best[ax_x]:.4g}, {ax_y} = {view.best[ax_y]:.4g}"
    return (f"minimum of the MSE: {ax_x} = {view.best[ax_x]:.4g}, "
            f"{ax_y} = {view.best[ax_y]:.4g}")


def _title(view: View) -> str:
    spec = view.spec
    head = (f"{spec.title}\neach sheet's path over the loss surface (MSE over the "
            f"{len(spec.data)} rows; log-spaced contours)")
    if not spec.model.has_data:
        head = f"{spec.title}\neach sheet's path over {spec.model.formula} (log-spaced contours)"
    if view.fixed:
        held = ", ".join(f"{p} = {v:.4g}" for p, v in view.fixed.items())
        head += (f"\nslice through {held} (the final value of sheet {view.fixed_from!r}); "
                 f"paths projected onto ({view.axes[0]}, {view.axes[1]})")
    return head
