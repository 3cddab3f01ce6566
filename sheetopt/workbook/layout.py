"""Where everything goes on an optimizer sheet, and the numbers each cell caches.

A sheet is: a title, the input cells (hyperparameters, start parameters and state), a header
row, then one row per data row visited, epochs stacked; a step's rows form a block (one row for
online steps, ``batch`` rows otherwise) whose last row holds the step's gradient, state and new
parameters. To the right sits the epoch summary. :class:`SheetPlan` yields every cell in row
order (XlsxWriter's constant-memory mode needs that), each formula with the engine's value.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
from xlsxwriter.utility import xl_col_to_name

from ..ops import numpy_ops
from ..schedules import anneal, gradient_scale
from ..spec import Sheet, Spec
from ..trace import Trace
from . import formulas
from .formulas import BlockShape
from .names import defined_name, quoted
from .styles import number_style
from .templates import Template, compile_formula, ref

TITLE_ROW, NOTE_ROW, HYPER_ROW, START_ROW, STATUS_ROW, HEADER_ROW = 0, 1, 2, 4, 6, 7
FIRST_ROW = HEADER_ROW + 1
MAX_ROWS = 1_048_576
CHUNK = 2048  # steps whose cached values are held as Python floats at a time
DATA_SHEET = "data"
DATA_FIRST_ROW = 6  # data sheet: header on row 6 (1-based), rows from row 7


@dataclass(slots=True)
class Cell:
    """One cell: ``kind`` is "formula" (text without ``=``), "number", "text" or "blank"."""

    row: int
    col: int
    kind: str
    payload: object
    value: float | str | None = None
    style: str = "num"
    note: str | None = None


@dataclass
class Column:
    id: str
    header: str
    level: str  # "row": one value per data row visited; "first"/"last": one per step
    values: np.ndarray
    style: str = "num"
    note: str | None = None


def row_count(spec: Spec, sheet: Sheet) -> int:
    """Sheet rows an optimizer sheet needs (known before running)."""
    return FIRST_ROW + sheet.epochs * len(spec.data) + 2


def display_order(spec: Spec) -> tuple[str, ...]:
    """The lecture shows the intercept before the slope."""
    return ("b", "a") if spec.model.kind == "linear" else spec.model.params


def data_ref(column: str, data_row: int) -> str:
    letter = "A" if column == "x" else "B"
    return f"{quoted(DATA_SHEET)}!${letter}${DATA_FIRST_ROW + 1 + data_row}"


@dataclass
class SheetPlan:
    spec: Spec
    sheet: Sheet
    title: str  # the worksheet's name
    trace: Trace
    columns: list[Column] = field(default_factory=list)
    inputs: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (row, col)
    names: dict[str, str] = field(default_factory=dict)  # hyperparameter -> defined name

    def __post_init__(self):
        self.columns = columns_for(self.spec, self.sheet, self.trace)
        self.col_of = {c.id: i for i, c in enumerate(self.columns)}
        self._place_inputs()
        self.summary_col = len(self.columns) + 1
        self.summary = summary_columns(self)
        self.total_steps = self.sheet.epochs * -(-len(self.spec.data) // self.sheet.batch_size)
        self._templates: dict = {}
        sizes = self.trace.steps["size"].astype(int)
        self.block_start = FIRST_ROW + np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int) \
            if len(sizes) else np.zeros(0, dtype=int)
        self.n_rows = int(sizes.sum())

    # --- inputs ---------------------------------------------------------------------------
    def _place_inputs(self) -> None:
        col = 1
        for name in self.sheet.hypers:
            self.inputs[name] = (HYPER_ROW + 1, col)
            col += 1
        col = 1
        for p in display_order(self.spec):
            self.inputs[f"start:{p}"] = (START_ROW + 1, col)
            col += 1
        for s in self.sheet.rule.states(self.sheet.static):
            for p in display_order(self.spec):
                self.inputs[f"start:{s}:{p}"] = (START_ROW + 1, col)
                col += 1
        self.extra_col = col  # adam_ann's start scale goes here

    def input_ref(self, key: str) -> str:
        if key in self.names:
            return self.names[key]
        row, col = self.inputs[key]
        return ref(row, col, absolute=True)

    def start_scale_ref(self) -> str:
        """adam_ann's start gradient scale (a derived cell beside the start inputs)."""
        return ref(START_ROW + 1, self.extra_col, absolute=True)

    def define_names(self, taken: set[str]) -> None:
        """Workbook-level names (e.g. adam_lr) for the hyperparameter cells."""
        for name in self.sheet.hypers:
            candidate, number = defined_name(self.title, name), 2
            while candidate.lower() in taken:
                candidate = defined_name(f"{self.title}{number}", name)
                number += 1
            taken.add(candidate.lower())
            self.names[name] = candidate

    def start_value(self, key: str) -> float:
        if key in self.sheet.hypers:
            return float(self.sheet.hypers[key])
        _, *rest = key.split(":")
        return float(self.trace.start[rest[0] if len(rest) == 1 else f"{rest[0]}_{rest[1]}"])

    # --- formulas -------------------------------------------------------------------------
    def templates(self, shape: BlockShape) -> list[list[tuple[int, Template, Column]]]:
        """Per offset of a block of this shape: (column index, compiled formula, column)."""
        if shape not in self._templates:
            trees = formulas.cut_into_cells(
                formulas.block_trees(self.spec, self.sheet, shape, self.total_steps))
            per_offset: list[list] = [[] for _ in range(shape.size)]
            for (column, offset), tree in trees.items():
                if column not in self.col_of:
                    continue
                per_offset[offset].append(
                    (self.col_of[column], compile_formula(tree, offset, self._leaf), self.columns[self.col_of[column]]))
            for cells in per_offset:
                cells.sort(key=lambda item: item[0])
            self._templates[shape] = per_offset
        return self._templates[shape]

    def _leaf(self, name: str):
        """How a leaf prints: ("cell", column index, offset), ("text", ...) or an argument."""
        kind, _, rest = name.partition(":")
        if kind == "cell":
            column, _, offset = rest.rpartition(":")
            return ("cell", self.col_of[column], int(offset))
        if kind == "in":
            return ("text", self.input_ref(rest))
        if kind == "data":
            return ("arg", "x" if rest == "x" else "y")
        if kind == "epoch":
            return ("arg", "lr")
        raise KeyError(name)

    # --- rows -----------------------------------------------------------------------------
    def step_rows(self, xml_style=None, cell_rows=frozenset()
                  ) -> Iterator[tuple[int, list[Cell] | RawRow]]:
        """The step table's rows, in order, with their cells.

        With ``xml_style`` (style name -> ``' s="N"'``), rows not in ``cell_rows`` come as
        finished XML (:class:`RawRow`) from a per-pattern row template, which is several times
        faster than cell objects; the text is the same that the cells would be written as."""
        steps = self.trace.steps
        x_refs = [data_ref("x", d) for d in range(len(self.spec.data))]
        y_refs = [data_ref("y", d) for d in range(len(self.spec.data))]
        lr_refs = self.epoch_lr_refs()
        sizes_all = steps["size"].astype(int)
        visited_at = np.concatenate([[0], np.cumsum(sizes_all)]).astype(int)
        # Python values for CHUNK steps at a time, so memory does not grow with the run
        for k0 in range(0, len(sizes_all), CHUNK):
            k1 = min(k0 + CHUNK, len(sizes_all))
            v0, v1 = int(visited_at[k0]), int(visited_at[k1])
            yield from self._chunk_rows(k0, k1, v0, v1, x_refs, y_refs, lr_refs, xml_style,
                                        cell_rows)

    def _chunk_rows(self, k0, k1, v0, v1, x_refs, y_refs, lr_refs, xml_style, cell_rows):
        steps = self.trace.steps
        epochs = steps["epoch"][k0:k1].astype(int).tolist()
        step_numbers = steps["step"][k0:k1].astype(int).tolist()
        sizes = steps["size"][k0:k1].astype(int).tolist()
        data_rows = (self.trace.rows["row"][v0:v1].astype(int) - 1).tolist()
        values = [_cached(c.values[v0:v1] if c.level == "row" else c.values[k0:k1])
                  for c in self.columns]
        if xml_style is not None and any("#NUM!" in v for v in values):
            xml_style = None  # error values need a cell type; rare, so the slow path
        row_col, t_col = self.col_of.get("row"), self.col_of.get("t")
        visited = 0
        for k, size in enumerate(sizes):
            first_epoch_row = k + k0 == 0 or epochs[k] != (
                epochs[k - 1] if k else int(steps["epoch"][k0 - 1]))
            shape = BlockShape(size, k + k0 == 0, first_epoch_row)
            blocks = self.templates(shape)
            base = int(self.block_start[k + k0])
            lr_ref = lr_refs.get(epochs[k], "")
            for i, cells in enumerate(blocks):
                r = base + i
                d = data_rows[visited]
                top = "_top" if first_epoch_row and i == 0 else ""
                if xml_style is not None and r not in cell_rows:
                    render, count = self._row_xml(shape, i, top, xml_style)
                    yield r, RawRow(r, render(r + 1, epochs[k], step_numbers[k], d + 1,
                                              k + k0 + 1, visited, k, x_refs[d], y_refs[d],
                                              lr_ref, values), count)
                    visited += 1
                    continue
                args = {"x": x_refs[d], "y": y_refs[d], "lr": lr_ref}
                labels = "int" + top
                out = [Cell(r, 0, "number", epochs[k], None, labels),
                       Cell(r, 1, "number", step_numbers[k], None, labels)]
                if row_col is not None:
                    out.append(Cell(r, row_col, "number", d + 1, None, labels))
                if t_col is not None and i == size - 1:
                    out.append(Cell(r, t_col, "number", k + k0 + 1, None, labels))
                for col, template, column in cells:
                    index = visited if column.level == "row" else k
                    out.append(Cell(r, col, "formula", template.render(r, args),
                                    values[col][index], column.style + top))
                visited += 1
                yield r, out

    def _row_xml(self, shape: BlockShape, offset: int, top: str, xml_style):
        """A function writing one step row's XML, compiled once per row pattern, and the number
        of formulas in the row. Arguments: R (1-based row), epoch, step, data row (1-based),
        t, visited row index, step index, the x and y references, the epoch's lr cell, the
        columns' cached values."""
        key = (shape, offset, top)
        cache = self.__dict__.setdefault("_xml_rows", {})
        if key in cache:
            return cache[key]
        cells = self.templates(shape)[offset]
        labels = xml_style("int" + top)
        pieces, exprs = ['<row r="{0}">'], ["R"]

        def slot(expr: str, conversion: str = "") -> str:
            exprs.append(expr)
            return "{" + str(len(exprs) - 1) + conversion + "}"

        entries = [(0, "ep"), (1, "st")]
        if "row" in self.col_of:
            entries.append((self.col_of["row"], "d1"))
        if "t" in self.col_of and offset == shape.size - 1:
            entries.append((self.col_of["t"], "t"))
        entries += [(col, (template, column)) for col, template, column in cells]
        for col, what in sorted(entries, key=lambda e: e[0]):
            letter = xl_col_to_name(col)
            if isinstance(what, str):
                pieces.append(f'<c r="{letter}{{0}}"{labels}><v>{slot(what)}</v></c>')
                continue
            template, column = what
            formula = _escape_xml(template.text)
            args = iter(template.slots)
            text = "".join(
                literal.replace("{", "{{").replace("}", "}}")
                + (slot(_slot_expr(next(args))) if field is not None else "")
                for literal, field, _, _ in string.Formatter().parse(formula))
            index = "vis" if column.level == "row" else "k"
            value = slot(f"V[{col}][{index}]", "!r")
            pieces.append(f'<c r="{letter}{{0}}"{xml_style(column.style + top)}>'
                          f"<f>{text}</f><v>{value}</v></c>")
        pieces.append("</row>")
        source = (f"lambda R, ep, st, d1, t, vis, k, x, y, lr, V: "
                  f"FMT.format({', '.join(exprs)})")
        render = eval(source, {"FMT": "".join(pieces)})  # noqa: S307 - text we built above
        cache[key] = (render, len(cells))
        return cache[key]

    def epoch_lr_refs(self) -> dict[int, str]:
        """adam_ann: the summary cell holding each epoch's lr."""
        if self.sheet.schedule.kind != "adam_ann":
            return {}
        col = self.summary_col + [c.id for c in self.summary].index("lr")
        started = sorted(set(self.trace.steps["epoch"].astype(int)))
        return {e: ref(FIRST_ROW + e - 1, col, absolute=True) for e in started}

    def last_step_row(self, k: int) -> int:
        return int(self.block_start[k]) + int(self.trace.steps["size"][k]) - 1


@dataclass(slots=True)
class RawRow:
    """A whole step row as finished worksheet XML (see SheetPlan.step_rows)."""

    row: int
    xml: str
    formulas: int


def _slot_expr(slot) -> str:
    """Python text for a template slot: a row offset from R, or a named argument."""
    return f"R+{slot}" if isinstance(slot, int) else slot


def _escape_xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cached(values: np.ndarray) -> list:
    """A column's values as Python floats; a non-finite one as the error a spreadsheet shows."""
    values = np.asarray(values, dtype=float)
    out = values.tolist()
    if not np.isfinite(values).all():
        out = [v if np.isfinite(v) else "#NUM!" for v in out]
    return out


# --- the step table's columns ----------------------------------------------------------------
def _state_header(state: str, p: str) -> str:
    return {"grad_avg": f"avg de/d{p}", "sqr_avg": f"avg (de/d{p})^2", "mom_buf": f"buf {p}",
            "max_sqr_avg": f"max avg (de/d{p})^2"}[state]


def columns_for(spec: Spec, sheet: Sheet, trace: Trace) -> list[Column]:
    """The step table's columns in the lecture's order, with the value of every cell."""
    model, order = spec.model, display_order(spec)
    steps, rows = trace.steps, trace.rows
    basic = sheet.optimizer == "sgd" and sheet.flavor == "lecture" and model.kind == "linear"
    label = (lambda p: model.label(p)) if basic else (lambda p: p)
    batched = sheet.batch_size > 1
    sizes = steps["size"].astype(int)
    row_params = ({p: np.repeat(steps[p], sizes) for p in model.params} if batched
                  else {p: steps[p] for p in model.params})  # online: a row is a step
    x, y = rows["x"], rows["y"]
    cols = [Column("epoch", "epoch", "first", steps["epoch"], "int"),
            Column("step", "step", "first", steps["step"], "int")]
    if batched:
        cols.append(Column("row", "data row", "row", rows["row"], "int"))
    if sheet.flavor == "torch" or sheet.schedule.per_step:
        cols.append(Column("t", "t", "last", np.arange(1, len(sizes) + 1), "int"))
    if sheet.schedule.per_step:
        cols.append(Column("lr", "lr", "last", steps["lr"]))
        if "mom" in steps:
            cols.append(Column("mom", "mom", "last", steps["mom"]))
    hx, hy = spec.data.headers
    cols += [Column("x", hx, "row", x), Column("y", hy, "row", y)]
    cols += [Column(f"p:{p}", label(p), "first", steps[p]) for p in order]
    cols += [Column("pred", "y_pred" if basic else "pred", "row", rows["pred"]),
             Column("err2", "err^2", "row", rows["err2"],
                    note="The row's squared error (y - pred)^2: no mean and no 1/2, as in the "
                         "lecture.")]
    row_cols = []
    if batched and sheet.gradient == "analytic":
        grads = model.gradient(row_params, x, y)
        row_cols += [Column(f"rowgrad:{p}", f"de/d{p} (row)", "row", grads[p]) for p in order]
    estimate_cols = []
    for method in formulas.methods_needing_rows(sheet):
        for p in order:
            signs = (("+", sheet.h), ("-", -sheet.h)) if method == "central" else (("+", sheet.h),)
            for sign, delta in signs:
                shifted = dict(row_params, **{p: row_params[p] + delta})
                head = f"err{p}1" if method == "forward" else f"err({p}{sign}h)"
                row_cols.append(Column(f"shift{sign}:{p}", head, "row", model.loss(shifted, x, y)))
            est_id = "grad:" + p if method == sheet.gradient else f"{method}:{p}"
            est_key = f"grad_{p}" if method == sheet.gradient else f"{method}_{p}"
            word = "est" if method == "forward" else "central"
            est = Column(est_id, f"{word} de/d{p}", "last", steps[est_key], note=(
                f"Forward difference (loss at {p} + h minus loss) / h, h = {sheet.h:g}: close "
                f"to the analytic de/d{p} but off by a term proportional to h (a central "
                f"difference would be exact for this loss)." if method == "forward" else
                f"Central difference (loss at {p} + h minus loss at {p} - h) / 2h, "
                f"h = {sheet.h:g}."))
            (estimate_cols if batched else row_cols).append(est)
    cols += row_cols
    if batched:
        for column in [c for c in cols if c.id == "err2" or c.id.startswith(("rowgrad", "shift"))]:
            cols.append(Column(f"sum:{column.id}", f"Σ {column.header}", "row",
                               _batch_running_sum(column.values, sizes)))
        cols.append(Column("loss", "mean err^2", "last", steps["loss"]))
        cols += estimate_cols
    if sheet.gradient == "analytic":
        cols += [Column(f"grad:{p}", ("mean " if batched else "") + f"de/d{p}", "last",
                        steps[f"grad_{p}"]) for p in order]
    for method in formulas.shown_methods(sheet):
        if method == "analytic":
            cols += [Column(f"analytic:{p}", f"de/d{p}", "last", steps[f"analytic_{p}"])
                     for p in order]
    notes = sheet.rule.notes
    for s in sheet.rule.states(sheet.static):
        cols += [Column(f"state:{s}:{p}", _state_header(s, p), "last", steps[f"{s}_{p}"],
                        note=notes.get(s)) for p in order]
    cols += [Column(f"new:{p}", f"new {p}", "last", steps[f"new_{p}"], note=notes.get("new_p"))
             for p in order]
    for column in cols:
        if column.style == "num":
            column.style = number_style(column.values)
    batch_sums = (cols[[c.id for c in cols].index("sum:err2")].values if batched
                  else rows["err2"])
    last_rows = np.cumsum(sizes) - 1
    epoch_sums = _epoch_running_sum(batch_sums[last_rows] if len(sizes) else batch_sums,
                                    steps["epoch"])
    cols.append(Column("epochsum", "Σ err^2 (epoch)", "last", epoch_sums,
                       number_style(epoch_sums),
                       note="Running sum of err^2 over the epoch; the lecture's 'rmse' is the "
                            "square root of this SUM (not of the mean): see the epoch summary."))
    return cols


def _batch_running_sum(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Left-to-right running sum inside each batch (what the sum cells compute)."""
    out = np.empty_like(values, dtype=float)
    start = 0
    for size in sizes:
        out[start:start + size] = np.add.accumulate(values[start:start + size])
        start += size
    return out


def _epoch_running_sum(batch_sums: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    out = np.empty(len(batch_sums))
    for e in np.unique(epochs):
        where = np.where(epochs == e)[0]
        out[where] = np.add.accumulate(batch_sums[where])
    return out


# --- the epoch summary -----------------------------------------------------------------------
def summary_columns(plan: SheetPlan) -> list[Column]:
    """Per epoch: the lecture's figure, the true RMSE, the parameters, lr (and annealing)."""
    trace, spec, sheet = plan.trace, plan.spec, plan.sheet
    epochs = trace.epochs
    steps = trace.steps
    started = np.unique(steps["epoch"].astype(int)) if len(steps["epoch"]) else np.zeros(0, int)
    first_of = {e: int(np.where(steps["epoch"] == e)[0][0]) for e in started}
    lr = np.array([steps["lr"][first_of[e]] for e in started])
    cols = [Column("epoch", "epoch", "epoch", started, "int"),
            Column("lecture_rmse", "sqrt(Σ err^2)", "epoch", epochs["lecture_rmse"]),
            Column("rmse", "RMSE", "epoch", epochs["rmse"])]
    cols += [Column(p, p, "epoch", epochs[p]) for p in display_order(spec)]
    cols.append(Column("lr", "lr", "epoch", lr))
    if sheet.schedule.kind == "adam_ann":
        ends = [int(np.where(steps["epoch"] == e)[0][-1]) for e in epochs["epoch"].astype(int)]
        sqr = [steps[f"sqr_avg_{p}"][ends] for p in spec.model.params]
        scale = gradient_scale(sqr, numpy_ops) if ends else np.zeros(0)
        best = gradient_scale([trace.start[f"sqr_avg_{p}"] for p in spec.model.params], numpy_ops)
        bests = []
        for value in scale:
            _, best = anneal(1.0, value, best, numpy_ops)
            bests.append(best)
        cols += [Column("scale", "gradient scale", "epoch", np.asarray(scale)),
                 Column("best", "best scale", "epoch", np.asarray(bests, dtype=float))]
    for column in cols:
        if column.style == "num":
            column.style = number_style(column.values)
    return cols


def start_scale_value(plan: SheetPlan) -> float:
    return float(gradient_scale([plan.trace.start[f"sqr_avg_{p}"]
                                 for p in plan.spec.model.params], numpy_ops))
