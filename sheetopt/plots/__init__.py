"""Pictures of runs, as matplotlib Figures: the path over the loss surface, loss per epoch and
per step, lr per step, the fitted lines, and animations of the fit and the path.

Nothing here calls ``matplotlib.use`` or pyplot: every Figure has its own canvas, so a notebook's
backend is left alone. Draw on your own axes with ``ax=`` (``figure(..., ax=plt.gca())``).

>>> from sheetopt import engine, plots
>>> from sheetopt.spec import load
>>> spec = load("lesson5")
>>> fig = plots.figure(spec, engine.run_all(spec), "path")
>>> plots.save(fig, "path.png")  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Iterable

from ..errors import SheetoptError
from ..spec import Spec
from .animation import ANIMATIONS, Animation, animate
from .canvas import fingerprint, new_figure, quiet, save, stored_fingerprint
from .curves import draw_epoch_losses, draw_fits, fits, loss, lr, step_loss, summaries
from .path import path
from .runs import Traces, selected

KINDS = {"loss": loss, "step_loss": step_loss, "lr": lr, "fits": fits, "path": path}
ALL = "all"

__all__ = ["ALL", "ANIMATIONS", "Animation", "KINDS", "all_panels", "animate", "compare_figure", "figure",
           "fingerprint", "fits", "loss", "lr", "path", "save", "step_loss",
           "stored_fingerprint"]


def check_kind(kind: str) -> str:
    """``kind`` itself, or one line naming the kinds there are.

    >>> check_kind("path")
    'path'
    """
    if kind not in KINDS and kind != ALL:
        raise SheetoptError(f"unknown kind {kind!r}: choose one of "
                            f"{', '.join([*KINDS, ALL])}")
    return kind


def figure(spec: Spec, traces: Traces, kind: str, sheets: Iterable[str] | None = None,
           ax=None, **options):
    """A picture of the runs ``traces`` (sheet name -> Trace, as ``engine.run_all`` returns,
    or one Trace) of ``spec``: ``kind`` is "loss" (per epoch), "step_loss" (every step, log
    scale), "lr" (per step), "fits" (fitted lines over the data), "path" (over the loss
    surface) or "all" (every one of them that the model allows). ``sheets`` picks sheets by
    name; ``ax`` draws a single kind on your axes; ``options`` go to the kind's function
    (``smooth=False`` draws step_loss raw, ``smooth=0.9`` smooths it with that beta; by default
    online and mini-batch runs are smoothed as fastai's recorder does). Returns the Figure.

    >>> spec = load("lesson2")
    >>> figure(spec, engine.run_all(spec), "step_loss").axes[0].get_yscale()
    'log'
    """
    check_kind(kind)
    sheets = list(sheets) if sheets is not None else None
    if options.get("smooth") is not None and kind not in ("step_loss", ALL):
        raise SheetoptError(f"smooth: only the step_loss picture (also in 'all') is smoothed, "
                            f"not {kind!r}; leave smooth out")
    if kind == ALL and ax is not None:
        raise SheetoptError("kind 'all' draws several panels on a figure of its own; "
                            "leave ax out, or draw one kind on your ax")
    with quiet():
        if kind == ALL:
            return all_panels(spec, traces, sheets, **options)
        return KINDS[kind](spec, traces, sheets, ax=ax, **options)


def all_panels(spec: Spec, traces: Traces, sheets: Iterable[str] | None = None,
               smooth: bool | float | None = None, **options):
    """Every kind on one figure: the path (when the model has 2 or 3 parameters) on top,
    then loss per epoch, loss per step, lr per step and the fits.

    >>> len(all_panels(spec, engine.run_all(spec)).axes)  # doctest: +SKIP
    """
    selected(spec, traces, sheets)  # the sheets exist and were run
    with_path = len(spec.model.params) in (2, 3) and spec.model.has_surface
    fig = new_figure(13, 14 if with_path else 9)
    grid = fig.add_gridspec(3 if with_path else 2, 2, height_ratios=[1.5, 1, 1][:3 if with_path
                                                                              else 2])
    row = 0
    if with_path:
        path(spec, traces, sheets, ax=fig.add_subplot(grid[0, :]), **options)
        row = 1
    loss(spec, traces, sheets, ax=fig.add_subplot(grid[row, 0]))
    step_loss(spec, traces, sheets, ax=fig.add_subplot(grid[row, 1]), smooth=smooth)
    lr(spec, traces, sheets, ax=fig.add_subplot(grid[row + 1, 0]))
    fits(spec, traces, sheets, ax=fig.add_subplot(grid[row + 1, 1]))
    if not with_path:  # the path's title starts with the spec's
        fig.suptitle(spec.title)
    fig.tight_layout()
    return fig


def compare_figure(spec: Spec, summaries_: list, ax=None):
    """``sheetopt compare --plot``'s two panels from its summaries: loss per epoch and the
    fitted lines.

    >>> compare_figure(spec, report.summarize(spec, engine.run_all(spec)))  # doctest: +SKIP
    """
    with quiet():
        fig = new_figure(12, 4.8)
        left, right = fig.subplots(1, 2)
        draw_epoch_losses(left, spec, summaries_)
        draw_fits(right, spec, [(s.name, s.final, bool(s.diverged_at)) for s in summaries_])
        fig.suptitle(spec.title)
        fig.tight_layout()
    return fig


def compare_plot(spec: Spec, summaries_: list, path_: str, force: bool = False) -> None:
    """Writes :func:`compare_figure` as a PNG (``sheetopt compare --plot``).

    >>> compare_plot(spec, summaries, "compare.png")  # doctest: +SKIP
    """
    save(compare_figure(spec, summaries_), path_, force)
