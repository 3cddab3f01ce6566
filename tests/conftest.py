"""Helpers the tests share (importable as ``from conftest import ...``: tests/ is on the path)."""
from __future__ import annotations

from sheetopt import spec as spec_mod

# the lecture's 29 rows, with the truth the lecture's data was made from
LECTURE_DATA = {"preset": "lecture", "true": {"a": 2.0, "b": 30.0}}


def spec_with(sheets: list[dict], data: dict | None = None, model: str = "linear"):
    """A parsed spec of ``sheets`` (dicts as a ``[[sheet]]`` table) on ``data`` (default the
    lecture's rows) with the ``model`` kind."""
    return spec_mod.parse({"data": data or LECTURE_DATA, "model": {"kind": model},
                           "sheet": sheets})


def options_id(optimizer: str, options: dict) -> str:
    """A test id that reads as a description: "adam amsgrad weight_decay=0.1", not "adam-1".

    >>> options_id("adam", {"lr": 0.1, "amsgrad": True, "betas": [0.9, 0.99], "maximize": False})
    'adam lr=0.1 amsgrad betas=0.9,0.99'
    """
    def text(value) -> str:
        return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)

    words = [key if value is True else f"{key}={text(value)}"
             for key, value in options.items() if value is not False]
    return " ".join([optimizer, *words]) if words else f"{optimizer} defaults"
