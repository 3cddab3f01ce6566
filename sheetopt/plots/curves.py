"""Pictures over time and over the data: loss per epoch, loss and lr per step, fitted lines.

Each function draws on ``ax`` when given (and returns its figure), else on a new Figure.
"""
from __future__ import annotations

import re

from dataclasses import replace
from typing import Iterable

import numpy as np

from ..protocol import report, smoothing
from ..spec import Spec
from .canvas import new_figure
from .runs import Traces, color, selected, title_of


def _target(ax, width: float = 7.0, height: float = 4.6):
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(width, height)
    return fig, fig.add_subplot()


def loss(spec: Spec, traces: Traces, sheets: Iterable[str] | None = None, ax=None):
    """The true RMSE of each epoch (log scale), one line per sheet; the epoch a divergence cut
    short is drawn over its steps before it, with a cross.

    >>> loss(load("lesson5"), engine.run_all(load("lesson5")))  # doctest: +SKIP
    <Figure ...>
    """
    runs = selected(spec, traces, sheets)
    fig, ax = _target(ax)
    draw_epoch_losses(ax, spec, summaries(spec, runs))
    return fig


def summaries(spec: Spec, runs) -> list[report.Summary]:
    """report.summarize over the given runs only."""
    by_name = {t.sheet: t for t in runs}
    subset = replace(spec, sheets=tuple(s for s in spec.sheets if s.name in by_name))
    return report.summarize(subset, by_name)


def draw_epoch_losses(ax, spec: Spec, summaries: list[report.Summary]) -> None:
    key = "rmse" if spec.model.reports_rmse else "loss"
    for summary in summaries:
        epochs, rmse = list(summary.epochs["epoch"]), list(summary.epochs[key])
        if summary.partial and key in summary.partial:  # the epoch a divergence cut short
            epochs.append(summary.partial["epoch"])
            rmse.append(summary.partial[key])
        label = summary.name + (" (diverged)" if summary.diverged_at else "")
        line, = ax.plot(epochs, rmse, marker="o", markersize=3, label=label,
                        color=color(spec, summary.name), gid=f"loss:{summary.name}")
        if summary.diverged_at and epochs:
            ax.plot(epochs[-1:], rmse[-1:], "x", color=line.get_color(), markersize=10)
    what = ("RMSE over the epoch's rows" if spec.model.reports_rmse else
            "f(x, y) before the step" if not spec.model.has_data else "mean loss of the steps")
    ax.set(yscale="log", xlabel="epoch" if spec.model.has_data else "step",
           ylabel=f"{what} (log scale)", title="loss per epoch" if spec.model.has_data
           else "loss per step")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=8)


def step_loss(spec: Spec, traces: Traces, sheets: Iterable[str] | None = None, ax=None,
              smooth: bool | float | None = None):
    """Every step's loss (its rows' mean squared error, at the parameters before the step) on a
    log scale, one line per sheet; dotted lines where each epoch starts.

    ``smooth``: None (the default) smooths the sheets whose steps see part of the data (online
    and mini-batch runs) as fastai's recorder does (beta 0.98; see
    ``sheetopt.protocol.smoothing``), with the raw losses drawn faint behind; True smooths
    every sheet, False none; a number in [0, 1) smooths every sheet with that beta.

    >>> step_loss(spec, engine.run_all(spec), smooth=False)  # doctest: +SKIP
    """
    runs = selected(spec, traces, sheets)
    fig, ax = _target(ax)
    betas = {trace.sheet: smoothing_beta(spec, trace.sheet, smooth) for trace in runs}
    for trace in runs:
        steps = np.arange(1, len(trace) + 1)
        losses, beta = trace.steps["loss"], betas[trace.sheet]
        style = dict(color=color(spec, trace.sheet))
        if beta is None:
            ax.plot(steps, losses, lw=1, label=title_of(trace), gid=f"step_loss:{trace.sheet}",
                    **style)
            continue
        ax.plot(steps, losses, lw=0.6, alpha=0.25, gid=f"step_loss_raw:{trace.sheet}", **style)
        ax.plot(steps, smoothing.smoothed(losses, beta), lw=1.5,
                label=f"{title_of(trace)} (smoothed)",
                gid=f"step_loss:{trace.sheet}", **style)
    _mark_epochs(ax, runs)
    used = sorted({b for b in betas.values() if b is not None})
    ax.set(yscale="log", xlabel="step (dotted: an epoch starts)",
           ylabel="loss of the step's rows (log scale)", title="loss per step")
    note = (f"smoothed as fastai's recorder (beta {', '.join(f'{b:g}' for b in used)}),\n"
            "raw losses faint") if used else None
    ax.legend(fontsize=8, title=note, title_fontsize=8)
    return fig


def smoothing_beta(spec: Spec, sheet: str, smooth: bool | float | None) -> float | None:
    """The beta a sheet's step losses are smoothed with (None: drawn raw); see step_loss.

    >>> smoothing_beta(load("lesson2"), "sgd", None) is None  # doctest: +SKIP
    True
    """
    if smooth is None:
        partial = spec.sheet(sheet).batch_size < len(spec.data)
        return smoothing.BETA if partial else None
    if smooth is False:
        return None
    if smooth is True:
        return smoothing.BETA
    return smoothing.check_beta(smooth)


def lr(spec: Spec, traces: Traces, sheets: Iterable[str] | None = None, ax=None):
    """The learning rate each step used, one line per sheet (schedules and annealing show).

    >>> lr(spec, engine.run_all(spec))  # doctest: +SKIP
    """
    runs = selected(spec, traces, sheets)
    fig, ax = _target(ax)
    for trace in runs:
        steps = np.arange(1, len(trace) + 1)
        ax.plot(steps, trace.steps["lr"], lw=1.5, label=title_of(trace), drawstyle="steps-post",
                color=color(spec, trace.sheet), gid=f"lr:{trace.sheet}")
    _mark_epochs(ax, runs)
    values = np.concatenate([t.steps["lr"] for t in runs]) if runs else np.zeros(0)
    positive = values[np.isfinite(values) & (values > 0)]
    if len(positive) and positive.max() / positive.min() > 20:
        ax.set_yscale("log")
    ax.set(xlabel="step (dotted: an epoch starts)", ylabel="lr", title="learning rate per step")
    ax.legend(fontsize=8)
    return fig


def _mark_epochs(ax, runs) -> None:
    """Dotted vertical lines where epochs start (of the longest run; epochs line up)."""
    longest = max(runs, key=len)
    if not len(longest):
        return
    epochs = np.asarray(longest.steps["epoch"])
    starts = np.flatnonzero(np.diff(epochs)) + 1.5  # between the last step and the first
    if len(starts) <= 60:
        for x in starts:
            ax.axvline(x, color="0.6", lw=0.6, ls=":", zorder=0)


def fits(spec: Spec, traces: Traces, sheets: Iterable[str] | None = None, ax=None):
    """The data with each sheet's fitted curve at its final parameters (diverged sheets left
    out, they would flatten the data) and the true curve when known.

    >>> fits(spec, engine.run_all(spec))  # doctest: +SKIP
    """
    runs = selected(spec, traces, sheets)
    fig, ax = _target(ax)
    draw_fits(ax, spec, [(t.sheet, t.final(), t.diverged) for t in runs])
    return fig


def draw_fits(ax, spec: Spec, finals) -> None:
    """``finals``: (sheet name, final parameters, diverged) for each sheet. A test surface
    has no data to fit: each sheet's distance to the nearest minimum is drawn instead."""
    if not spec.model.has_data:
        return _draw_distances(ax, spec, finals)
    if not spec.model.fits_a_curve and _pixel_grid(spec.model.inputs) is not None:
        return _draw_weight_images(ax, spec, finals)
    if not spec.model.fits_a_curve:
        return _draw_predictions(ax, spec, finals) if spec.model.target else _draw_finals(
            ax, spec, finals)
    x, y = spec.data.x, spec.data.y
    ax.scatter(x, y, s=12, color="black", label="data", zorder=3, gid="data")
    grid = np.linspace(x.min(), x.max(), 200)
    curve = fitted_curve(spec.model)
    for name, final, diverged in finals:
        if not diverged:
            ax.plot(grid, curve(final, grid), label=name, color=color(spec, name),
                    gid=f"fit:{name}")
    if all(p in spec.data.true for p in spec.model.params):
        ax.plot(grid, curve(spec.data.true, grid), "k--", label="true", gid="true")
    ax.set(xlabel=spec.data.headers[0], ylabel=spec.data.headers[1],
           title=f"fitted {spec.model.formula} (final parameters)"
                 + ("\ndiverged sheets left out" if any(d for *_, d in finals) else ""))
    ax.legend(fontsize=8)


_PIXEL = re.compile(r"r(\d+)c(\d+)\Z")


def _pixel_grid(names) -> tuple[int, int] | None:
    """(rows, columns) when the feature columns are an image's pixels named r<row>c<column>
    in reading order (r0c0, r0c1, ...), else None."""
    found = [_PIXEL.match(name) for name in names]
    if len(found) < 4 or not all(found):
        return None
    rows = 1 + max(int(m[1]) for m in found)
    cols = 1 + max(int(m[2]) for m in found)
    wanted = [f"r{i}c{j}" for i in range(rows) for j in range(cols)]
    return (rows, cols) if list(names) == wanted else None


def _draw_weight_images(ax, spec: Spec, finals) -> None:
    """Each sheet's final weights laid out as the image they weigh, side by side (red: a
    pixel that counts for a 1, blue: for a 0), with its accuracy over the data."""
    rows, cols = _pixel_grid(spec.model.inputs)
    shown = [(name, final) for name, final, diverged in finals if not diverged]
    gap = np.full((rows, 1), np.nan)
    images, labels = [], []
    for name, final in shown:
        weights = np.array([final[f"w_{n}"] for n in spec.model.inputs]).reshape(rows, cols)
        images += [weights, gap]
        labels.append(name)
        if spec.model.accuracy is not None:
            from ..models.logistic import share_right

            right = share_right(spec.model, {p: np.array([final[p]]) for p in final
                                             if p in spec.model.params}, spec.data)[0]
            labels[-1] += f"\naccuracy {right:.3f}"
    if not images:
        return None
    picture = np.hstack(images[:-1])
    limit = np.nanmax(np.abs(picture)) or 1.0
    ax.imshow(picture, cmap="RdBu_r", vmin=-limit, vmax=limit, gid="weights")
    for k, label in enumerate(labels):
        ax.text(k * (cols + 1) + (cols - 1) / 2, rows - 0.2, label, ha="center", va="top",
                fontsize=8)
    ax.set(xticks=[], yticks=[], title=f"final weights of each pixel (red: for y = 1, blue: "
                                       f"for y = 0)" + ("\ndiverged sheets left out" if len(
                                           shown) < len(finals) else ""))


def fitted_curve(model):
    """What a fit draws over x: the prediction, or a classifier's probability p of a 1 (the
    fits picture and the fit animation).

    >>> from sheetopt.models import model_for
    >>> float(fitted_curve(model_for("logistic"))({"a": 1.0, "b": 0.0}, 0.0))
    0.5
    """
    if model.classes is None or model.derived is None:
        return model.predict
    return lambda params, x: model.derived(model.predict(params, x))["p"]


def _draw_distances(ax, spec: Spec, finals) -> None:
    """Each sheet's final distance to the nearest known minimum of a surface (log scale)."""
    from ..models.surfaces import nearest_minimum

    names, distances, colors = [], [], []
    for name, final, diverged in finals:
        names.append(name + (" (diverged)" if diverged else ""))
        distances.append(max(nearest_minimum(spec.model, final)[1], 1e-17))
        colors.append(color(spec, name))
    ax.barh(names, distances, color=colors, gid="distances")
    ax.invert_yaxis()
    ax.set(xscale="log", xlabel="distance of the final (x, y) to the nearest minimum (log scale)",
           title=f"{spec.model.kind}: how close each sheet ended")


def _draw_predictions(ax, spec: Spec, finals) -> None:
    """A model of several inputs: each sheet's prediction of every row against its y."""
    x, y = spec.model.row(spec.data.inputs()), spec.data.y
    for name, final, diverged in finals:
        if not diverged:
            ax.scatter(y, np.broadcast_to(spec.model.predict(final, x), y.shape), s=12,
                       label=name, color=color(spec, name), gid=f"fit:{name}")
    ax.plot([y.min(), y.max()], [y.min(), y.max()], "k--", lw=1, label="prediction = y")
    ax.set(xlabel="y (the data)", ylabel="prediction at the final parameters",
           title=f"{spec.model.formula}: predictions against the data"
                 + ("\ndiverged sheets left out" if any(d for *_, d in finals) else ""))
    ax.legend(fontsize=8)


def _draw_finals(ax, spec: Spec, finals) -> None:
    """A model without a target (given gradients): each sheet's final parameters as bars."""
    names = spec.model.params
    width = 0.8 / max(1, len(finals))
    for k, (name, final, diverged) in enumerate(finals):
        ax.bar(np.arange(len(names)) + k * width, [final[p] for p in names], width,
               label=name + (" (diverged)" if diverged else ""), color=color(spec, name),
               gid=f"fit:{name}")
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names)
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set(ylabel="final value", title=f"{spec.model.kind}: each sheet's final parameters")
    ax.legend(fontsize=8)
