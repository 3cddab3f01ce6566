"""Pictures: loss per epoch for every sheet, and the fitted curves over the data."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import SheetoptError
from .files import atomic_output
from .report import Summary
from .spec import Spec


def pyplot():
    """matplotlib's pyplot on a file-only backend, or a clear error saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise SheetoptError("plotting needs matplotlib: pip install 'sheetopt[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


KINDS = ("loss", "fits", "all")


def figure(spec: Spec, traces, kind: str = "all", ax=None, summaries=None):
    """A matplotlib Figure of a spec's runs (``traces``: sheet name -> Trace): ``kind``
    "loss" (true RMSE per epoch, log scale), "fits" (the fitted curves over the data) or
    "all" (both, side by side); with ``ax``, "loss" and "fits" draw into those axes and the
    axes' figure is returned. Never touches matplotlib's backend (no pyplot).

    Example:
        >>> import sheetopt
        >>> result = sheetopt.run("lesson5")
        >>> figure(result.spec, result.traces, "loss").axes[0].get_title()
        'loss per epoch'
    """
    if kind not in KINDS:
        raise SheetoptError(f"plot kind {kind!r} is not one of {', '.join(KINDS)}")
    if summaries is None:
        from .report import summarize

        summaries = summarize(spec, traces)
    if ax is not None:
        if kind == "all":
            raise SheetoptError("kind 'all' draws two panels of its own; give ax= with "
                                "kind 'loss' or 'fits'")
        (_loss_panel if kind == "loss" else _fits_panel)(ax, spec, summaries)
        return ax.figure
    fig = _new_figure((12, 4.8) if kind == "all" else (6.4, 4.8))
    panels = {"loss": [_loss_panel], "fits": [_fits_panel], "all": [_loss_panel, _fits_panel]}
    for i, draw in enumerate(panels[kind]):
        draw(fig.add_subplot(1, len(panels[kind]), i + 1), spec, summaries)
    fig.suptitle(spec.title)
    fig.tight_layout()
    return fig


def _new_figure(size):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise SheetoptError("plotting needs matplotlib: pip install 'sheetopt[plot]'") from None
    return Figure(figsize=size)


def _loss_panel(losses, spec: Spec, summaries: list[Summary]) -> None:
    for summary in summaries:
        epochs, rmse = list(summary.epochs["epoch"]), list(summary.epochs["rmse"])
        if summary.partial:  # the epoch a divergence cut short, over its steps before it
            epochs.append(summary.partial["epoch"])
            rmse.append(summary.partial["rmse"])
        label = summary.name + (" (diverged)" if summary.diverged_at else "")
        line, = losses.plot(epochs, rmse, marker="o", markersize=3, label=label)
        if summary.diverged_at and epochs:
            losses.plot(epochs[-1:], rmse[-1:], "x", color=line.get_color(), markersize=10)
    losses.set(yscale="log", xlabel="epoch", ylabel="RMSE over the epoch's rows (log scale)",
               title="loss per epoch")
    losses.xaxis.get_major_locator().set_params(integer=True)
    losses.legend(fontsize=8)


def _fits_panel(fits, spec: Spec, summaries: list[Summary]) -> None:
    x, y = spec.data.x, spec.data.y
    fits.scatter(x, y, s=12, color="black", label="data", zorder=3)
    grid = np.linspace(x.min(), x.max(), 200)
    for summary in summaries:
        if not summary.diverged_at:
            fits.plot(grid, spec.model.predict(summary.final, grid), label=summary.name)
    if all(p in spec.data.true for p in spec.model.params):
        fits.plot(grid, spec.model.predict(spec.data.true, grid), "k--", label="true")
    fits.set(xlabel=spec.data.headers[0], ylabel=spec.data.headers[1],
             title=f"fitted {spec.model.formula} (final parameters)"
                   + ("\ndiverged sheets left out" if any(s.diverged_at for s in summaries) else ""))
    fits.legend(fontsize=8)


def compare_plot(spec: Spec, summaries: list[Summary], path: str | Path, force: bool) -> None:
    """Two panels: loss (true RMSE) per epoch on a log scale, and the fitted curves over the
    data, written to ``path`` as PNG (atomically; refused if it exists, unless ``force``)."""
    fig = figure(spec, {}, "all", summaries=summaries)
    with atomic_output(path, force) as temp:
        fig.savefig(temp, format="png", dpi=110)
