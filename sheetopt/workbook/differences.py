"""The translate workbook: the source optimizer's sheet and each framework's namesake side by
side, then a sheet of live differences: per step, each framework's parameters minus the
source's, as formulas reading the optimizer sheets (edit an lr there and the differences
follow)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from .layout import Cell, SheetPlan
from .names import quoted
from .templates import ref

SHEET = "differences"
HEADER_ROW, FIRST_ROW = 3, 4


def write_translation(translation, path: str | Path, force: bool = False):
    """Writes ``translation`` (a ``sheetopt.translate`` answer) as a workbook."""
    from . import write_workbook
    src = translation.source
    names = {src.name: f"{src.flavor} {src.optimizer}"}
    names.update({m.sheet.name: f"{m.flavor} {m.optimizer}" for m in translation.matches})
    sheets = tuple(replace(translation.spec.sheet(old), name=new) for old, new in names.items())
    traces = {new: replace(translation.traces[old], sheet=new) for old, new in names.items()}
    spec = replace(translation.spec, sheets=sheets, title=f"translate {src.optimizer} from "
                   f"{src.flavor}", description="")
    return write_workbook(spec, path, force, traces, extra=difference_sheet)


def difference_sheet(workbook, formats, plans: Sequence[SheetPlan]) -> int:
    """The differences sheet (the first plan is the source); returns its formula count."""
    from .writer import add_sheet, write_cells
    sheet = add_sheet(workbook, SHEET)
    source, others = plans[0], plans[1:]
    params = source.trace.params
    sheet.set_column(0, 1, 7)
    sheet.set_column(2, 2 + len(params) * (1 + 2 * len(others)), 14)
    sheet.freeze_panes(FIRST_ROW, 2)
    return write_cells(sheet, list(_cells(source, others, params)), formats)


def _cells(source: SheetPlan, others: Sequence[SheetPlan], params):
    yield Cell(0, 0, "text", f"Each framework's parameters minus {source.title}'s after every "
               f"step: live formulas reading the optimizer sheets.", style="title")
    yield Cell(1, 0, "text", "Edit an input on any optimizer sheet and these columns follow; a "
               "difference that stays 0 (or at rounding size, 1e-15 of the value) means the two "
               "updates agree.", style="subtitle")
    heads = ["epoch", "step"]
    for p in params:
        heads.append(f"{source.title}: {p}")
        for plan in others:
            heads += [f"{plan.title}: {p}", f"{plan.title} - {source.title}: {p}"]
    for col, head in enumerate(heads):
        yield Cell(HEADER_ROW, col, "text", head, style="header")
    steps = source.trace.steps
    n = min(len(plan.trace) for plan in (source, *others))
    for k in range(n):
        row = FIRST_ROW + k
        yield Cell(row, 0, "number", int(steps["epoch"][k]), style="int")
        yield Cell(row, 1, "number", int(steps["step"][k]), style="int")
        col = 2
        for p in params:
            mine = float(steps[f"new_{p}"][k])
            here = ref(row, col)
            yield Cell(row, col, "formula", _new_param(source, k, p), value=mine)
            col += 1
            for plan in others:
                theirs = float(plan.trace.steps[f"new_{p}"][k])
                yield Cell(row, col, "formula", _new_param(plan, k, p), value=theirs)
                yield Cell(row, col + 1, "formula", f"{ref(row, col)}-{here}",
                           value=float(np.float64(theirs) - np.float64(mine)))
                col += 2


def _new_param(plan: SheetPlan, k: int, p: str) -> str:
    return f"{quoted(plan.title)}!{ref(plan.last_step_row(k), plan.col_of[f'new:{p}'])}"
