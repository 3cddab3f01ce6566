"""What ``sheetopt.run`` returns: every sheet's trace, as DataFrames and figures."""
from __future__ import annotations

import html
import math
from typing import Iterator, Mapping

from . import report
from ..errors import plain_interrupt
from ..spec import Spec
from .trace import Trace


class RunResult:
    """The runs of a spec's sheets: ``result["adam"]`` is a sheet's Trace,
    ``result.summary()`` the loss per epoch of every sheet, ``result.trace("adam")`` every
    step of one, ``result.plot()`` a figure.

    Example:
        >>> import sheetopt
        >>> result = sheetopt.run("lesson5")
        >>> result.sheets
        ['basic', 'momentum', 'rmsprop', 'adam', 'adam_ann']
        >>> len(result["adam"])  # steps: 5 epochs of 29 rows, online
        145
    """

    def __init__(self, spec: Spec, traces: Mapping[str, Trace]):
        self.spec = spec
        self.traces = dict(traces)
        self._summaries: list[report.Summary] | None = None

    @property
    def sheets(self) -> list[str]:
        """The sheets' names, in the spec's order."""
        return [sheet.name for sheet in self.spec.sheets]

    @property
    def summaries(self) -> list[report.Summary]:
        """Each sheet's outcome (per-epoch figures, final parameters, distance to the true
        ones, divergence), as ``sheetopt compare`` reports it."""
        if self._summaries is None:
            self._summaries = report.summarize(self.spec, self.traces)
        return self._summaries

    def __getitem__(self, sheet: str) -> Trace:
        if sheet not in self.traces:
            self.spec.sheet(sheet)  # raises the one-line error naming the sheets there are
        return self.traces[sheet]

    def __iter__(self) -> Iterator[str]:
        return iter(self.sheets)

    def __len__(self) -> int:
        return len(self.traces)

    def __contains__(self, sheet: object) -> bool:
        return sheet in self.traces

    def summary(self):
        """A DataFrame, one row per sheet and epoch, every figure that epoch's own: sheet,
        optimizer, flavor, epoch, lecture_rmse (the lecture's sqrt of the epoch's sum of
        err^2), rmse (the true RMSE), lr (the lr of the epoch's first step; a per-step
        schedule's every lr is in ``trace()``), each parameter at the end of the epoch,
        distance (of those parameters to the true ones; NaN when they are not known),
        diverged (the sheet diverged), partial (the row is the epoch a divergence cut short,
        over its steps before it).

        Example:
            >>> import sheetopt
            >>> table = sheetopt.run("lesson5").summary()
            >>> last = table[table.epoch == 5].set_index("sheet")
            >>> round(float(last.loc["adam_ann", "rmse"]), 3)
            27.035
        """
        import pandas as pd

        params = list(self.spec.model.params)
        # a model whose row loss is not err^2 adds its mean loss; a classifier its accuracy
        extra = [k for k in ("loss", "accuracy") if self.summaries
                 and k in self.summaries[0].epochs]
        rows = []
        for s in self.summaries:
            common = {"sheet": s.name, "optimizer": s.optimizer, "flavor": s.flavor}
            figures = ("lecture_rmse", "rmse", "lr", *params, *extra)
            diverged = bool(s.diverged_at)
            for i, epoch in enumerate(s.epochs["epoch"]):
                rows.append({**common, "epoch": epoch, **{k: s.epochs[k][i] for k in figures},
                             "distance": s.epochs["distance"][i], "diverged": diverged,
                             "partial": False})
            if s.partial:
                distance = s.partial["distance"]
                rows.append({**common, "epoch": s.partial["epoch"],
                             **{k: s.partial.get(k, math.nan) for k in figures},
                             "distance": math.nan if distance is None else distance,
                             "diverged": diverged, "partial": True})
        columns = ["sheet", "optimizer", "flavor", "epoch", "lecture_rmse", "rmse", "lr",
                   *params, *extra, "distance", "diverged", "partial"]
        frame = pd.DataFrame(rows, columns=columns)
        return frame.astype({"epoch": "int64", "diverged": bool, "partial": bool})

    def trace(self, sheet: str | None = None):
        """Every step of one sheet (default: the first) as a DataFrame with the columns of
        ``sheetopt trace``'s CSV: epoch, step, row, size (whole numbers), x, y, each
        parameter before the step, its gradient and after, pred, loss, lr, finite
        differences the spec shows, and the optimizer state after the step.

        Example:
            >>> import sheetopt
            >>> steps = sheetopt.run("lesson5").trace("adam")
            >>> list(steps.columns[:6]), len(steps)
            (['epoch', 'step', 'row', 'size', 'x', 'y'], 145)
        """
        name = self.sheets[0] if sheet is None else sheet
        return self[name].to_dataframe()

    @plain_interrupt
    def plot(self, kind: str = "all", sheets=None, ax=None, **options):
        """A matplotlib Figure of the runs (``sheets``: some of them, by name): ``kind``
        "loss" (per epoch), "step_loss" (every step), "lr" (per step), "fits" (fitted lines
        over the data), "path" (over the loss surface) or "all"; with ``ax``, one kind drawn
        on your axes. Leaves matplotlib's backend alone (``sheetopt.plots.figure`` draws it).

        Example:
            >>> import sheetopt
            >>> figure = sheetopt.run("lesson5").plot("loss")
            >>> type(figure).__name__
            'Figure'
        """
        from .. import plots

        return plots.figure(self.spec, self.traces, kind, sheets=sheets, ax=ax, **options)

    def _figure(self) -> tuple[str, str]:
        """The per-epoch figure the summaries lead with: (epochs key, words)."""
        return ("rmse", "RMSE") if self.spec.model.reports_rmse else ("loss", "mean loss")

    def __repr__(self) -> str:
        parts = []
        key, words = self._figure()
        for s in self.summaries:
            if s.diverged_at:
                parts.append(f"{s.name} diverged at epoch {s.diverged_at[0]}")
            elif s.epochs[key]:
                parts.append(f"{s.name} {s.epochs[key][-1]:.4g}")
            else:
                parts.append(s.name)
        return (f"<RunResult {self.spec.title!r}: {len(self)} sheet"
                f"{'s' if len(self) != 1 else ''}; last epoch's {words}: {', '.join(parts)}>")

    def _repr_html_(self) -> str:
        params = list(self.spec.model.params)
        key, words = self._figure()
        headers = ["sheet", "optimizer", "flavor", "epochs", f"last epoch's {words}", *params,
                   "distance to truth", "status"]
        body = []
        for s in self.summaries:
            rmse = s.epochs[key]
            status = ("DIVERGED at epoch %d, step %d" % s.diverged_at) if s.diverged_at else "ok"
            cells = [s.name, s.optimizer, s.flavor, str(len(rmse)),
                     f"{rmse[-1]:.6g}" if rmse else "-", *(f"{s.final[p]:.6g}" for p in params),
                     "-" if s.distance is None else f"{s.distance:.6g}", status]
            body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        return (f"<p><b>{html.escape(self.spec.title)}</b>: "
                f"{html.escape(report.describe_data(self.spec))}</p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
