"""What a workbook stores about itself (in a very hidden sheet) so that it can be checked:
the run spec as JSON, where each sheet's input cells are, and the full-precision value of
every input (a spreadsheet program may save numbers with only 15 significant digits).

The sheet holds the marker in A1 and the JSON text from A2 down, cut into pieces that fit
a cell (32,767 characters at most).
"""
from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from ..spec.data import DataSet
from ..errors import SheetoptError
from ..models import Model, model_for
from ..schedules import Schedule
from ..spec import Sheet, Spec
from .layout import SheetPlan

META_SHEET = "sheetopt"
MARKER = "sheetopt workbook"
FORMAT = 2
PIECE = 30_000  # characters of the JSON text per cell


def sheet_to_json(sheet: Sheet) -> dict:
    return {
        "name": sheet.name, "optimizer": sheet.optimizer, "flavor": sheet.flavor,
        "hypers": dict(sheet.hypers), "flags": dict(sheet.flags), "epochs": sheet.epochs,
        "init": dict(sheet.init), "state": sheet.state if isinstance(sheet.state, str)
        else {k: dict(v) for k, v in sheet.state.items()},
        "batch_size": sheet.batch_size, "shuffle": sheet.shuffle, "seed": sheet.seed,
        "gradient": sheet.gradient, "h": sheet.h, "show": list(sheet.show),
        "schedule": {"kind": sheet.schedule.kind, "options": dict(sheet.schedule.options)},
        "diverge_above": sheet.diverge_above,
    }


def spec_to_json(spec: Spec, plans: Sequence[SheetPlan]) -> str:
    document = {
        "format": FORMAT, "title": spec.title, "description": spec.description,
        "model": spec.model.kind,
        **({"model_keys": dict(spec.model.keys)} if spec.model.keys else {}),
        "data": {"source": spec.data.source, "true": dict(spec.data.true),
                 "headers": list(spec.data.headers), "rows": len(spec.data),
                 "x": np.asarray(spec.data.x, dtype=float).tolist(),
                 "y": np.asarray(spec.data.y, dtype=float).tolist()},
        "sheets": [dict(sheet_to_json(p.sheet), worksheet=p.title,
                        inputs={k: list(v) for k, v in p.inputs.items()},
                        originals={k: p.start_value(k) for k in p.inputs},
                        fixed=list(p.fixed)) for p in plans],
    }
    return json.dumps(document)


def pieces(text: str) -> list[str]:
    """The JSON text cut into cell-sized pieces (A2, A3, ...)."""
    return [text[i:i + PIECE] for i in range(0, len(text), PIECE)] or [""]


def read_document(text: str, label: str) -> dict:
    """The metadata document, checked for its format."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        raise SheetoptError(f"{label}: the workbook's sheetopt metadata is damaged") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else None
        raise SheetoptError(f"{label}: written by another sheetopt format ({found!r}); "
                            f"regenerate it")
    return document


def sheet_table(raw: dict) -> dict:
    """A metadata sheet entry as the spec's sheet table (the keys a [[sheet]] takes), so that
    the spec parser checks an edited entry exactly as it checks a spec."""
    table = {key: raw[key] for key in ("name", "optimizer", "flavor", "epochs", "init", "state",
                                       "shuffle", "seed", "gradient", "h", "show",
                                       "diverge_above")}
    from ..rules import rule_for

    try:  # a rule's inner flags (adamw's decoupled) are not options of its sheet
        settable = set(rule_for(raw["optimizer"], raw["flavor"]).settable_flags)
    except (KeyError, TypeError, ValueError, SheetoptError):
        settable = set()  # an edited optimizer: the spec parser names it
    table.update(raw["hypers"])
    table.update({k: v for k, v in raw["flags"].items() if k in settable})
    table["batch"] = raw["batch_size"]
    table["schedule"] = Schedule(raw["schedule"]["kind"], raw["schedule"]["options"]).spec_table()
    return table


def model_of(document: dict) -> Model:
    """The model a metadata document names, bound to its data's columns (ValueError when
    the columns do not fit it)."""
    model = model_for(document["model"], document.get("model_keys", {}))
    if model.has_data:
        model = model.for_header(tuple(document["data"]["headers"]))
    return model


def spec_from_json(document: dict, x: np.ndarray, y: np.ndarray, true: dict,
                   label: str) -> tuple[Spec, list[dict]]:
    """The spec a workbook was written from, with the given data rows and true values; also
    the raw sheet entries (worksheet name, input cell positions, original input values).
    Each sheet entry goes through the spec parser: an edited one is refused in one line."""
    from ..spec import _parse_sheet  # the spec's own checks of a sheet table

    try:
        data = document["data"]
        model = model_of(document)
        dataset = DataSet(np.asarray(x, dtype=float), np.asarray(y, dtype=float), data["source"],
                          dict(true), tuple(str(h) for h in data["headers"]))
        tables = [sheet_table(raw) for raw in document["sheets"]]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        detail = f"no key {exc}" if isinstance(exc, KeyError) else f"{exc.__class__.__name__}"
        raise SheetoptError(f"{label}: the workbook's sheetopt metadata is damaged "
                            f"({detail})") from None
    sheets = []
    for number, table in enumerate(tables, start=1):
        sheet = _parse_sheet(table, number, model, dataset, label)
        if any(s.name == sheet.name for s in sheets):
            raise SheetoptError(f"{label}: sheet {number}: the name {sheet.name!r} is used twice")
        sheets.append(sheet)
    spec = Spec(document["title"], model, dataset, tuple(sheets), None, document["description"])
    return spec, document["sheets"]
