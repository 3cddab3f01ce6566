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

from ..data import DataSet
from ..errors import SheetoptError
from ..models import MODELS
from ..rules import rule_for
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


def sheet_from_json(raw: dict) -> Sheet:
    options = dict(raw["schedule"]["options"])
    if "moms" in options:
        options["moms"] = tuple(options["moms"])
    return Sheet(raw["name"], raw["optimizer"], raw["flavor"],
                 rule_for(raw["optimizer"], raw["flavor"]), dict(raw["hypers"]),
                 dict(raw["flags"]), int(raw["epochs"]), dict(raw["init"]),
                 raw["state"], int(raw["batch_size"]), bool(raw["shuffle"]), int(raw["seed"]),
                 raw["gradient"], float(raw["h"]), tuple(raw["show"]),
                 Schedule(raw["schedule"]["kind"], options), float(raw["diverge_above"]))


def read_document(text: str, label: str) -> dict:
    """The metadata document, checked for its format."""
    try:
        document = json.loads(text)
    except ValueError:
        raise SheetoptError(f"{label}: the workbook's sheetopt metadata is damaged") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else None
        raise SheetoptError(f"{label}: written by another sheetopt format ({found!r}); "
                            f"regenerate it")
    return document


def spec_from_json(document: dict, x: np.ndarray, y: np.ndarray, true: dict,
                   label: str) -> tuple[Spec, list[dict]]:
    """The spec a workbook was written from, with the given data rows and true values; also
    the raw sheet entries (worksheet name, input cell positions, original input values)."""
    try:
        data = document["data"]
        dataset = DataSet(np.asarray(x, dtype=float), np.asarray(y, dtype=float), data["source"],
                          dict(true), tuple(data["headers"]))
        sheets = tuple(sheet_from_json(raw) for raw in document["sheets"])
        spec = Spec(document["title"], MODELS[document["model"]], dataset, sheets, None,
                    document["description"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SheetoptError(f"{label}: the workbook's sheetopt metadata is damaged "
                            f"({exc.__class__.__name__}: {exc})") from None
    return spec, document["sheets"]
