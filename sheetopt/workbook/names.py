"""Names and text that are safe in a workbook: sheet names, defined names, user text."""
from __future__ import annotations

import re

MAX_SHEET_NAME = 31
_ILLEGAL_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_FORMULA_START = ("=", "+", "-", "@")


def safe_text(text: str) -> str:
    """User text that a spreadsheet will show as text, never run as a formula."""
    text = str(text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def sheet_names(wanted: list[str], taken: set[str] | None = None) -> list[str]:
    """Legal, unique worksheet names for ``wanted``, in order: illegal characters become ``_``,
    names are cut to 31 characters and numbered when two would collide (case-insensitively,
    as spreadsheet programs compare them), also against the names in ``taken``."""
    used = {name.lower() for name in (taken or set())}
    out = []
    for name in wanted:
        base = _ILLEGAL_SHEET_CHARS.sub("_", str(name)).strip("'").strip() or "sheet"
        base = base[:MAX_SHEET_NAME]
        candidate, number = base, 2
        while candidate.lower() in used or candidate.lower() == "history":
            suffix = f"~{number}"
            candidate = base[:MAX_SHEET_NAME - len(suffix)] + suffix
            number += 1
        used.add(candidate.lower())
        out.append(candidate)
    return out


def quoted(sheet: str) -> str:
    """A sheet name as it appears in a reference: 'my sheet'!A1."""
    return "'" + sheet.replace("'", "''") + "'"


def defined_name(sheet: str, item: str) -> str:
    """A workbook-level defined name for an input cell of a sheet, e.g. adam_lr.

    Letters, digits and ``_`` only, starting with a letter; the ``_`` before the item keeps it
    from ever reading as a cell reference such as AB12."""
    stem = re.sub(r"[^A-Za-z0-9_]", "_", sheet)
    if not stem or not stem[0].isalpha():
        stem = "s" + stem
    return f"{stem}_{re.sub(r'[^A-Za-z0-9_]', '_', item)}"
