"""Where everything goes on an optimizer sheet, and the numbers each cell caches.

A sheet is: a title, the input cells (hyperparameters, start parameters and state), a header
row, then one row per data row visited, epochs stacked; a step's rows form a block (one row for
online steps, ``batch`` rows otherwise) whose last row holds the step's gradient, state and new
parameters. To the right sits the epoch summary. :class:`SheetPlan` yields every cell in row
order (XlsxWriter's constant-memory mode needs that), each formula with the engine's value.

Cached values are computed a chunk of steps at a time as the rows are written (running sums
carry over from one chunk to the next), so the writer's memory does not grow with the run.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
from xlsxwriter.utility import xl_col_to_name

from ..errors import SheetoptError
from ..ops import distance, numpy_ops
from ..rules import state_label
from ..schedules import anneal, gradient_scale
from ..spec import Sheet, Spec
from ..protocol.trace import Trace
from . import formulas, notes, schedule_cells
from .formulas import BlockShape
from .names import defined_name, quoted
from .templates import Template, compile_formula, ref

TITLE_ROW, RULE_ROW, NOTE_ROW, HYPER_ROW, START_ROW, STATUS_ROW, HEADER_ROW = 0, 1, 2, 3, 5, 7, 8
FIRST_ROW = HEADER_ROW + 1
MAX_ROWS = 1_048_576  # a worksheet's rows, columns and formula length in Excel (and the
MAX_COLS = 16_384  # .xlsx format); LibreOffice and Gnumeric take at least as many
MAX_FORMULA = 8_192
CHUNK = 2048  # steps whose cached values are held as Python floats at a time
INPUT_COL = 2
DATA_SHEET = "data"
DATA_FIRST_ROW = 6  # data sheet: header on row 6 (1-based), rows from row 7


@dataclass(slots=True)
class Cell:
    """One cell: ``kind`` is "formula" (text without ``=``), "number", "text", "blank" or
    "merged" (text across the columns up to ``span``)."""

    row: int
    col: int
    kind: str
    payload: object
    value: float | str | None = None
    style: str = "num"
    note: str | None = None
    span: int | None = None


class Chunk:
    """Steps ``k0 <= k < k1`` of a run and the data rows ``v0 <= v < v1`` they visit: the trace's
    columns sliced, and values derived from them (computed once per chunk)."""

    def __init__(self, trace: Trace, k0: int, k1: int, v0: int, v1: int,
                 carry: tuple[float, int], mean_loss: bool = False):
        self.k0, self.k1, self.v0, self.v1 = k0, k1, v0, v1
        self.mean_loss = mean_loss  # the epoch sums add step losses, not squared errors
        self.steps = {k: v[k0:k1] for k, v in trace.steps.items()}
        self.rows = {k: v[v0:v1] for k, v in trace.rows.items()}
        self.sizes = self.steps["size"].astype(int)
        self.carry = carry  # (the epoch's running sum before k0, that epoch)
        self._memo: dict = {}

    def memo(self, key: str, compute: Callable[[], object]):
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def row_params(self, names) -> dict[str, np.ndarray]:
        """Each parameter on every row of its step's block."""
        return self.memo("row_params", lambda: {p: np.repeat(self.steps[p], self.sizes)
                                                 for p in names})

    def epoch_sums(self) -> np.ndarray:
        """Per step: the epoch's running sum after it (what the Σ cells compute) of err^2 or,
        for a model whose loss is not the squared error, of the step losses."""
        return self.memo("epoch_sums", self._epoch_sums)

    def _epoch_sums(self) -> np.ndarray:
        batch = (self.steps["loss"] if self.mean_loss else
                 batch_running_sums(self.rows["err2"], self.sizes)[np.cumsum(self.sizes) - 1])
        epochs = self.steps["epoch"]
        out = np.empty(len(batch))
        cuts = [0, *(np.flatnonzero(np.diff(epochs)) + 1).tolist(), len(batch)]
        total, epoch = self.carry
        for a, b in zip(cuts, cuts[1:]):
            if a == 0 and len(batch) and int(epochs[0]) == epoch:
                out[a:b] = np.add.accumulate(np.concatenate([[total], batch[a:b]]))[1:]
            else:
                out[a:b] = np.add.accumulate(batch[a:b])
        return out


@dataclass
class Column:
    """A step-table column; ``values(chunk)`` gives its cached values for a chunk: one per data
    row visited (``level`` "row") or one per step ("first"/"last" row of the block)."""

    id: str
    header: str
    level: str
    values: Callable[[Chunk], np.ndarray]
    style: str = "num"
    note: str | None = None


@dataclass
class EpochColumn:
    """A column of the epoch summary, one value per epoch."""

    id: str
    header: str
    values: np.ndarray
    style: str = "num"
    note: str | None = None


def row_count(spec: Spec, sheet: Sheet) -> int:
    """Sheet rows an optimizer sheet needs (known before running)."""
    return FIRST_ROW + sheet.epochs * len(spec.data) + 2


def display_order(spec: Spec) -> tuple[str, ...]:
    """The lecture shows the intercept before the slope."""
    return model_order(spec.model)


def model_order(model) -> tuple[str, ...]:
    """A model's parameters in the order the workbook shows them (b before a)."""
    return ("b", "a") if model.params == ("a", "b") else model.params


def data_ref(column: int, data_row: int) -> str:
    """The data sheet's cell of a row's ``column`` (0: the first input; inputs, then y)."""
    letter = xl_col_to_name(column)
    return f"{quoted(DATA_SHEET)}!${letter}${DATA_FIRST_ROW + 1 + data_row}"


def hyper_inputs(sheet: Sheet) -> list[str]:
    """Names that may be input cells on the hyperparameter row: the hyperparameters, then the
    finite-difference step h when a finite difference is computed."""
    return [*sheet.hypers, *schedule_cells.inputs(sheet),
            *(["h"] if formulas.methods_needing_rows(sheet) else [])]


@dataclass
class SheetPlan:
    spec: Spec
    sheet: Sheet
    title: str  # the worksheet's name
    trace: Trace
    columns: list[Column] = field(default_factory=list)
    inputs: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (row, col)
    fixed: dict[str, tuple[int, int]] = field(default_factory=dict)  # unused hyperparameters
    names: dict[str, str] = field(default_factory=dict)  # input -> defined name

    def __post_init__(self):
        spec, sheet = self.spec, self.sheet
        self.columns = columns_for(spec, sheet)
        self.col_of = {c.id: i for i, c in enumerate(self.columns)}
        self.steps_per_epoch = spec.steps(sheet) // sheet.epochs
        self.total_steps = sheet.epochs * self.steps_per_epoch
        self.reads = formulas.inputs_read(spec, sheet, self.total_steps)
        self._place_inputs()
        self.summary_col = len(self.columns) + 1
        self.summary = summary_columns(self)
        self._templates: dict = {}
        self._xml_rows: dict = {}
        self.n_rows = int(self.trace.steps["size"].sum())

    @property
    def width(self) -> int:
        """The columns the sheet uses: the step table, a gap, the epoch summary."""
        return self.summary_col + len(self.summary)

    def longest_formula(self, columns: Callable[[str], bool] = lambda column: True) -> int:
        """The longest formula of the step table (of the ``columns`` chosen by id), counted with
        the longest references its slots can take (the last row, a data-sheet cell)."""
        size, n = self.sheet.batch_size, len(self.spec.data)
        sizes = {min(size, n), n % size or min(size, n)}
        shapes = [BlockShape(k, first, epoch) for k in sizes
                  for first, epoch in ((True, True), (False, True), (False, False))]
        row = len(str(row_count(self.spec, self.sheet)))
        arg = len(data_ref(len(self.spec.model.columns), len(self.spec.data)))
        return max((len(template.text) + sum(row if s.__class__ is int else arg
                                             for s in template.slots)
                    for shape in shapes for cells in self.templates(shape)
                    for _, template, column in cells if columns(column.id)), default=0)

    # --- inputs ---------------------------------------------------------------------------
    def _place_inputs(self) -> None:
        """Hyperparameters (read ones first, then the fixed ones) on one row, start values on
        another, from column C on (column B is the narrow step column)."""
        col = INPUT_COL
        candidates = hyper_inputs(self.sheet)
        for name in [n for n in candidates if n in self.reads]:
            self.inputs[name] = (HYPER_ROW + 1, col)
            col += 1
        for name in [n for n in candidates if n not in self.reads]:
            self.fixed[name] = (HYPER_ROW + 1, col)
            col += 1
        self.hyper_end = col
        col = INPUT_COL
        for p in display_order(self.spec):
            self.inputs[f"start:{p}"] = (START_ROW + 1, col)
            col += 1
        for s in self.sheet.rule.states(self.sheet.static):
            for p in display_order(self.spec):
                self.inputs[f"start:{s}:{p}"] = (START_ROW + 1, col)
                col += 1
        self.extra_col = col  # the schedule's start cells (adam_ann's start scale) go here
        self.start_end = col + len(self.sheet.schedule.start_labels)

    def input_ref(self, key: str) -> str:
        if key in self.names:
            return self.names[key]
        row, col = self.inputs[key]
        return ref(row, col, absolute=True)

    def start_scale_ref(self) -> str:
        """adam_ann's start gradient scale (a derived cell beside the start inputs)."""
        return ref(START_ROW + 1, self.extra_col, absolute=True)

    def define_names(self, taken: set[str]) -> None:
        """Workbook-level names (e.g. adam_lr) for the hyperparameter and h input cells."""
        for name in [n for n in hyper_inputs(self.sheet) if n in self.inputs]:
            candidate, number = defined_name(self.title, name), 2
            while candidate.lower() in taken:
                candidate = defined_name(f"{self.title}{number}", name)
                number += 1
            taken.add(candidate.lower())
            self.names[name] = candidate

    def start_value(self, key: str) -> float:
        """The value an input (or fixed) cell holds when written."""
        if key == "h":
            return float(self.sheet.h)
        if key in self.sheet.hypers:
            return float(self.sheet.hypers[key])
        if key.startswith(schedule_cells.PREFIX):
            return schedule_cells.inputs(self.sheet)[key]
        _, *rest = key.split(":")
        return float(self.trace.start[rest[0] if len(rest) == 1 else f"{rest[0]}_{rest[1]}"])

    # --- where steps are --------------------------------------------------------------------
    def block_start(self, k: int) -> int:
        """The sheet row (0-based) of the first row of step ``k`` (0-based) of the run."""
        epoch, j = divmod(k, self.steps_per_epoch)
        return FIRST_ROW + epoch * len(self.spec.data) + j * self.sheet.batch_size

    def last_step_row(self, k: int) -> int:
        j = k % self.steps_per_epoch
        size = min(self.sheet.batch_size, len(self.spec.data) - j * self.sheet.batch_size)
        return self.block_start(k) + size - 1

    def epoch_steps(self, epoch: int) -> tuple[int, int]:
        """The first and last step (0-based, recorded ones only) of an epoch counted from 1."""
        first = (epoch - 1) * self.steps_per_epoch
        return first, min(epoch * self.steps_per_epoch, len(self.trace)) - 1

    def epochs_started(self) -> int:
        return int(self.trace.steps["epoch"][-1]) if len(self.trace) else 0

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
                index = self.col_of[column]
                per_offset[offset].append(
                    (index, compile_formula(tree, offset, self._leaf), self.columns[index]))
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
            return ("arg", rest)  # a data row's column
        if kind == "epoch":
            return ("arg", rest)  # the epoch's lr (or momentum) cell of the summary
        raise KeyError(name)

    # --- rows -----------------------------------------------------------------------------
    def step_rows(self, xml_style=None, cell_rows=frozenset()
                  ) -> Iterator[tuple[int, list[Cell] | RawRow]]:
        """The step table's rows, in order, with their cells.

        With ``xml_style`` (style name -> ``' s="N"'``), rows not in ``cell_rows`` come as
        finished XML (:class:`RawRow`) from a per-pattern row template, which is several times
        faster than cell objects; the text is the same that the cells would be written as."""
        rows = range(len(self.spec.data))
        data = [[data_ref(j, d) for j in range(len(self.spec.model.columns))] for d in rows]
        refs = (data, self.epoch_lr_refs(), self.epoch_lr_refs("mom"))
        total, v0, carry = len(self.trace), 0, (0.0, 0)
        for k0 in range(0, total, CHUNK):
            k1 = min(k0 + CHUNK, total)
            v1 = v0 + int(self.trace.steps["size"][k0:k1].sum())
            chunk = Chunk(self.trace, k0, k1, v0, v1, carry,
                          mean_loss=not self.spec.model.reports_rmse)
            yield from self._chunk_rows(chunk, refs, xml_style, cell_rows)
            with np.errstate(all="ignore"):
                carry = (float(chunk.epoch_sums()[-1]), int(chunk.steps["epoch"][-1]))
            v0 = v1

    def _chunk_rows(self, chunk: Chunk, refs, xml_style, cell_rows):
        data_refs, lr_refs, mom_refs = refs
        columns = self.spec.model.columns
        k0 = chunk.k0
        epochs = chunk.steps["epoch"].astype(int).tolist()
        step_numbers = chunk.steps["step"].astype(int).tolist()
        sizes = chunk.sizes.tolist()
        data_rows = (chunk.rows["row"].astype(int) - 1).tolist()
        # the engine's arithmetic again (a shown finite difference, a running sum): where the
        # run overflowed, the cells show #NUM! as the engine's values are inf, without warnings
        with np.errstate(all="ignore"):
            values = [_cached(c.values(chunk)) for c in self.columns]
        if xml_style is not None and any("#NUM!" in v for v in values):
            xml_style = None  # error values need a cell type; rare, so the slow path
        row_col, t_col = self.col_of.get("row"), self.col_of.get("t")
        previous_epoch = int(self.trace.steps["epoch"][k0 - 1]) if k0 else None
        visited = 0
        for k, size in enumerate(sizes):
            first_epoch_row = epochs[k] != (epochs[k - 1] if k else previous_epoch)
            shape = BlockShape(size, k + k0 == 0, first_epoch_row)
            blocks = self.templates(shape)
            base = FIRST_ROW + chunk.v0 + visited
            lr_ref = lr_refs.get(epochs[k], "")
            mom_ref = mom_refs.get(epochs[k], "")
            for i, cells in enumerate(blocks):
                r = base + i
                d = data_rows[visited]
                top = "_top" if first_epoch_row and i == 0 else ""
                args = dict(zip(columns, data_refs[d]), lr=lr_ref, mom=mom_ref)
                if xml_style is not None and r not in cell_rows:
                    render, count = self._row_xml(shape, i, top, xml_style)
                    yield r, RawRow(r, render(r + 1, epochs[k], step_numbers[k], d + 1,
                                              k + k0 + 1, visited, k, args, values), count)
                    visited += 1
                    continue
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
        t, visited row index, step index, the named arguments (the data row's references by
        column, the epoch's lr and momentum cells), the columns' cached values."""
        key = (shape, offset, top)
        if key in self._xml_rows:
            return self._xml_rows[key]
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
        source = (f"lambda R, ep, st, d1, t, vis, k, A, V: "
                  f"FMT.format({', '.join(exprs)})")
        render = eval(source, {"FMT": "".join(pieces)})  # noqa: S307 - text we built above
        self._xml_rows[key] = (render, len(cells))
        return self._xml_rows[key]

    def epoch_lr_refs(self, column: str = "lr") -> dict[int, str]:
        """adam_ann and per-epoch torch schedules: the summary cell holding each epoch's lr
        (or momentum)."""
        if self.sheet.schedule.lr_cells != "epoch":
            return {}
        ids = [c.id for c in self.summary]
        if column not in ids:
            return {}
        col = self.summary_col + ids.index(column)
        return {e: ref(FIRST_ROW + e - 1, col, absolute=True)
                for e in range(1, self.epochs_started() + 1)}


@dataclass(slots=True)
class RawRow:
    """A whole step row as finished worksheet XML (see SheetPlan.step_rows)."""

    row: int
    xml: str
    formulas: int


def _slot_expr(slot) -> str:
    """Python text for a template slot: a row offset from R, or a named argument."""
    return f"R+{slot}" if isinstance(slot, int) else f"A[{slot!r}]"


def _escape_xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cached(values: np.ndarray) -> list:
    """A column's values as Python floats; a non-finite one as the error a spreadsheet shows."""
    values = np.asarray(values, dtype=float)
    out = values.tolist()
    if not np.isfinite(values).all():
        out = [v if np.isfinite(v) else "#NUM!" for v in out]
    return out


def batch_running_sums(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Left-to-right running sum inside each batch (what the Σ cells compute)."""
    if not len(sizes) or int(sizes.max()) == 1:
        return np.asarray(values, dtype=float)
    out = np.empty(len(values))
    start = 0
    for size in sizes.tolist():
        out[start:start + size] = np.add.accumulate(values[start:start + size])
        start += size
    return out


# --- the step table's columns ----------------------------------------------------------------
def _state_header(state: str, p: str) -> str:
    return state_label(state, p)


def _steps(key: str):
    return lambda chunk: chunk.steps[key]


def _rows(key: str):
    return lambda chunk: chunk.rows[key]


def columns_for(spec: Spec, sheet: Sheet) -> list[Column]:
    """The step table's columns in the lecture's order, each with how its values are found."""
    model, order = spec.model, display_order(spec)
    basic = sheet.optimizer == "sgd" and sheet.flavor == "lecture" and model.kind == "linear"
    label = (lambda p: model.label(p)) if basic else (lambda p: p)
    batched = sheet.batch_size > 1
    cols = [Column("epoch", "epoch", "first", _steps("epoch"), "int"),
            Column("step", "step", "first", _steps("step"), "int")]
    if batched:
        cols.append(Column("row", "data row", "row", _rows("row"), "int"))
    if sheet.flavor != "lecture" or sheet.schedule.lr_cells == "step":
        cols.append(Column("t", "t", "last", lambda c: np.arange(c.k0 + 1, c.k1 + 1), "int"))
    if schedule_cells.scheduled(sheet) and sheet.schedule.lr_cells == "step":
        cols += _schedule_columns(sheet, spec.steps(sheet))
    elif sheet.schedule.lr_cells == "step":
        cols += [Column(name, name, "last", _steps(name))
                 for name in sheet.schedule.sets(sheet.hypers)]
    cols += [Column(column, header, "row", _rows(column))
             for column, header in zip(model.columns, spec.data.headers)]
    cols += [Column(f"p:{p}", label(p), "first", _steps(p)) for p in order]

    def per_row(p: str):  # a parameter on every data row visited
        if batched:
            return lambda c: c.row_params(model.params)
        return lambda c: {q: c.steps[q] for q in model.params}

    cols += _prediction_columns(model, basic, per_row)

    row_cols = []
    if batched and sheet.gradient == "analytic":
        row_cols += [Column(f"rowgrad:{p}", f"de/d{p} (row)", "row",
                            _row_gradient(model, per_row(p), p)) for p in order]
    estimate_cols = []
    for method in formulas.methods_needing_rows(sheet):
        for p in order:
            signs = (("+", 1.0), ("-", -1.0)) if method == "central" else (("+", 1.0),)
            for sign, direction in signs:
                head = _shifted_header(model, method, p, sign)
                row_cols.append(Column(f"shift{sign}:{p}", head, "row",
                                       _shifted_loss(model, per_row(p), p, direction * sheet.h)))
            used = method == sheet.gradient
            est = Column("grad:" + p if used else f"{method}:{p}",
                         f"{'est' if method == 'forward' else 'central'} de/d{p}", "last",
                         _steps(f"grad_{p}" if used else f"{method}_{p}"),
                         note=notes.forward_difference(p) if method == "forward"
                         else notes.central_difference(p))
            (estimate_cols if batched else row_cols).append(est)
    cols += row_cols
    if batched:
        for column in [c for c in cols if c.id == "err2" or c.id.startswith(("rowgrad", "shift"))]:
            cols.append(Column(f"sum:{column.id}", f"Σ {column.header}", "row",
                               _running_sum(column.values)))
        cols.append(Column("loss", "mean err^2" if model.reports_rmse else "mean loss", "last",
                           _steps("loss"), note=None if model.reports_rmse
                           else notes.batch_loss(model)))
        cols += estimate_cols
    if sheet.gradient == "analytic":
        cols += [Column(f"grad:{p}", ("mean " if batched else "") + f"de/d{p}", "last",
                        _steps(f"grad_{p}")) for p in order]
    for method in formulas.shown_methods(sheet):
        if method == "analytic":
            cols += [Column(f"analytic:{p}", f"de/d{p}", "last", _steps(f"analytic_{p}"))
                     for p in order]
    rule_notes = sheet.rule.notes
    for s in sheet.rule.states(sheet.static):
        cols += [Column(f"state:{s}:{p}", _state_header(s, p), "last", _steps(f"{s}_{p}"),
                        note=rule_notes.get(s)) for p in order]
    # the lecture's basic sheet ends "new a, new b"; the other sheets keep b before a
    new_order = tuple(reversed(order)) if basic else order
    cols += [Column(f"new:{p}", f"new {p}", "last", _steps(f"new_{p}"),
                    note=rule_notes.get("new_p")) for p in new_order]
    cols.append(Column("epochsum", "Σ err^2 (epoch)" if model.reports_rmse else "Σ loss (epoch)",
                       "last", lambda c: c.epoch_sums(), note=notes.EPOCH_SUM
                       if model.reports_rmse else notes.epoch_loss_sum(model)))
    return cols


def _shifted_header(model, method: str, p: str, sign: str) -> str:
    """A row's loss at a shifted parameter: the lecture's err<p>1 (forward), err(p+h)."""
    if not model.reports_rmse:
        return f"loss({p}{sign}h)"
    return f"err{p}1" if method == "forward" else f"err({p}{sign}h)"


def _schedule_columns(sheet: Sheet, steps: int) -> list[Column]:
    """A per-step torch scheduler's columns: lr, momentum, counters (values stepped once)."""
    cache: dict = {}

    def values(column):
        def of(chunk):
            if column in ("lr", "mom"):
                return chunk.steps[column]
            if not cache:
                cache.update(schedule_cells.host_values(sheet, steps))
            return cache[column][chunk.k0:chunk.k1]
        return of
    return [Column(c, c[len(schedule_cells.PREFIX):].split(".", 1)[-1]
                   if c.startswith(schedule_cells.PREFIX) else c, "last", values(c),
                   note=notes.SCHEDULE if c == "lr" else None)
            for c in schedule_cells.state_columns(sheet)]


def _prediction_columns(model, basic: bool, params_of) -> list[Column]:
    """A row's prediction and loss columns, with the parts and derived values a model shows."""
    cols = _part_columns(model, params_of)
    if model.reports_rmse:
        return cols + [Column("pred", "y_pred" if basic else "pred", "row", _rows("pred")),
                       Column("err2", "err^2", "row", _rows("err2"), note=notes.ERR2)]
    if not model.pred_is_loss:  # a classifier's logit, its probability, its row loss
        return cols + [Column("pred", "pred", "row", _rows("pred"), note=model.pred_name),
                       *_derived_columns(model),
                       Column("err2", "loss", "row", _rows("err2"), note=model.loss_name)]
    # the prediction is the loss (a surface's value): one column
    return cols + [Column("err2", "f(x, y)" if not model.has_data else "loss", "row",
                          _rows("err2"), note=model.loss_name)]


def _part_columns(model, params_of) -> list[Column]:
    """The columns a model builds its prediction from (``Model.parts``), one per data row."""
    if model.parts is None:
        return []
    names = list(model.parts({p: 0.0 for p in model.params}, 0.0))

    def values(name: str):
        def of(chunk):
            return chunk.memo("model_parts", lambda: model.parts(
                params_of(name)(chunk), model.data_of(chunk.rows)[0]))[name]
        return of
    return [Column(f"model:{name}", name, "row", values(name)) for name in names]


def _derived_columns(model) -> list[Column]:
    """The columns a model derives from its prediction (``Model.derived``), one per data row."""
    if model.derived is None:
        return []

    def values(name: str):
        return lambda chunk: chunk.memo("model_derived", lambda: model.derived(
            chunk.rows["pred"]))[name]
    return [Column(f"model:{name}", name, "row", values(name)) for name in model.derived(0.0)]


def _row_gradient(model, params_of, p: str):
    def values(chunk):
        params = params_of(chunk)
        return chunk.memo("rowgrad", lambda: model.gradient(params, *model.data_of(chunk.rows)))[p]
    return values


def _shifted_loss(model, params_of, p: str, delta: float):
    def values(chunk):
        params = params_of(chunk)
        return model.loss(dict(params, **{p: params[p] + delta}), *model.data_of(chunk.rows))
    return values



def _running_sum(values_of):
    return lambda chunk: batch_running_sums(values_of(chunk), chunk.sizes)


# --- the epoch summary -----------------------------------------------------------------------
def fits_log_scale(*series) -> bool:
    """Whether losses can be drawn on a log scale: none of the finite ones is zero or negative
    (given gradients' g.p can be).

    >>> fits_log_scale([0.5, 2.0], [np.nan]), fits_log_scale([1.0, -3.0])
    (True, False)
    """
    values = np.concatenate([np.asarray(s, dtype=float) for s in series]) if series else []
    return not (np.asarray(values)[np.isfinite(values)] <= 0).any()


def loss_words(model) -> str:
    """The compare sheet's per-epoch figure in words: "RMSE" or "mean loss"."""
    return "RMSE" if model.reports_rmse else "mean loss"


def summary_columns(plan: SheetPlan) -> list[EpochColumn]:
    """Per epoch: the lecture's figure and the true RMSE (a model whose loss is not the squared
    error: its mean loss), the parameters, lr (and annealing)."""
    trace, spec, sheet = plan.trace, plan.spec, plan.sheet
    epochs, steps = trace.epochs, trace.steps
    started = plan.epochs_started()
    finished = len(epochs["epoch"])
    every = plan.steps_per_epoch
    cols = [EpochColumn("epoch", "epoch", np.arange(1, started + 1), "int")]
    if spec.model.reports_rmse:
        cols += [EpochColumn("lecture_rmse", "sqrt(Σ err^2)", epochs["lecture_rmse"],
                             note=notes.LECTURE_RMSE),
                 EpochColumn("rmse", "RMSE", epochs["rmse"], note=notes.RMSE)]
    else:
        cols.append(EpochColumn("loss", "mean loss", epochs["loss"],
                                note=notes.mean_loss(spec.model)))
    cols += [EpochColumn(p, p, epochs[p]) for p in display_order(spec)]
    if spec.model.accuracy is not None:
        cols.append(EpochColumn("accuracy", "accuracy", epochs["accuracy"],
                                note=notes.ACCURACY))
    if all(p in spec.data.true for p in spec.model.params):
        cols.append(EpochColumn("distance", "distance to truth",
                                distance({p: epochs[p] for p in spec.model.params},
                                         spec.data.true, spec.model.params),
                                note=notes.EPOCH_DISTANCE))
    if schedule_cells.scheduled(sheet) and sheet.schedule.lr_cells == "epoch":
        return cols + _epoch_schedule_columns(plan, started, finished)
    cols.append(EpochColumn("lr", "lr", steps["lr"][::every][:started],
                            note=notes.ANNEALED_LR if sheet.schedule.annealed
                            else notes.FIRST_STEP_LR if sheet.schedule.lr_cells == "step"
                            else notes.LR))
    if sheet.schedule.annealed:
        ends = slice(every - 1, finished * every, every)
        sqr = [steps[f"sqr_avg_{p}"][ends] for p in spec.model.params]
        scale = gradient_scale(sqr, numpy_ops) if finished else np.zeros(0)
        best = gradient_scale([trace.start[f"sqr_avg_{p}"] for p in spec.model.params], numpy_ops)
        bests = []
        for value in np.atleast_1d(scale):
            _, best = anneal(1.0, value, best, numpy_ops)
            bests.append(best)
        cols += [EpochColumn("scale", "gradient scale", np.asarray(scale),
                             note=notes.gradient_scale(display_order(spec))),
                 EpochColumn("best", "best scale", np.asarray(bests, dtype=float),
                             note=notes.BEST_SCALE)]
    return cols


def _epoch_schedule_columns(plan: SheetPlan, started: int, finished: int) -> list[EpochColumn]:
    """A per-epoch torch scheduler's summary columns: ReduceLROnPlateau's metric, then the lr,
    momentum and counters of each epoch (the values stepped as the engine steps them)."""
    sheet, trace = plan.sheet, plan.trace
    cols = []
    metrics = None
    if not sheet.schedule.node.cls.lr_scheduler:
        if sheet.batch_size > 1:
            raise SheetoptError(f"sheet {sheet.name!r}: a workbook of ReduceLROnPlateau on "
                                f"batches of rows is not written yet (online sheets are)")
        metrics = _epoch_metrics(trace, plan, finished)
        if plan.spec.model.reports_rmse:  # else the summary's mean loss is the metric
            cols.append(EpochColumn("metric", "mean loss", metrics, note=notes.PLATEAU_METRIC))
    values = schedule_cells.host_values(sheet, started, metrics)
    for column in schedule_cells.state_columns(sheet):
        header = column[len(schedule_cells.PREFIX):].split(".", 1)[-1] \
            if column.startswith(schedule_cells.PREFIX) else column
        cols.append(EpochColumn(column, header, values[column],
                                note=notes.SCHEDULE if column == "lr" else None))
    return cols


def _epoch_metrics(trace: Trace, plan: SheetPlan, finished: int) -> np.ndarray:
    """The epochs' mean losses as the engine computes them (``formulas.mean_loss``)."""
    out = []
    for e in range(finished):
        first, last = plan.epoch_steps(e + 1)
        total = 0.0
        for loss in trace.steps["loss"][first:last + 1].tolist():
            total = total + loss
        out.append(formulas.mean_loss(total, last - first + 1))
    return np.asarray(out, dtype=float)


def start_values(plan: SheetPlan) -> dict[str, float]:
    """The schedule's start cells' values (adam_ann's start scale) from the trace's start."""
    values = plan.sheet.schedule.start_cells(
        lambda s: [plan.trace.start[f"{s}_{p}"] for p in plan.spec.model.params], numpy_ops)
    return {label: float(value) for label, value in values.items()}
