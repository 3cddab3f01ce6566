"""The shipped workbooks (workbooks/*.xlsx) are what the shipped specs generate today.

Regenerate them with:  sheetopt workbook --all workbooks --force
"""
from __future__ import annotations

import math
import zipfile
from pathlib import Path

import openpyxl
import pytest


FOLDER = Path(__file__).resolve().parents[1] / "workbooks"
SPECS = sorted(FOLDER.glob("*.toml"))


def cells(path: Path, data_only: bool) -> dict:
    book = openpyxl.load_workbook(path, read_only=True, data_only=data_only)
    try:
        return {ws.title: [tuple(row) for row in ws.iter_rows(values_only=True)]
                for ws in book.worksheets}
    finally:
        book.close()


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    return a == b


def byte_identical(committed: Path, fresh: Path) -> bool:
    """Every member of the two files is the same, byte for byte (then every cell is: the
    cell by cell comparison below is only needed where something differs)."""
    with zipfile.ZipFile(committed) as old, zipfile.ZipFile(fresh) as new:
        return old.namelist() == new.namelist() and all(
            old.read(name) == new.read(name) for name in old.namelist())


def first_difference(committed: dict, fresh: dict) -> str | None:
    if list(committed) != list(fresh):
        return f"sheets {list(committed)} != {list(fresh)}"
    for title in fresh:
        old, new = committed[title], fresh[title]
        if len(old) != len(new):
            return f"{title}: {len(old)} rows committed, {len(new)} generated"
        for i, (row_old, row_new) in enumerate(zip(old, new)):
            width = max(len(row_old), len(row_new))
            row_old = row_old + (None,) * (width - len(row_old))
            row_new = row_new + (None,) * (width - len(row_new))
            for j, (a, b) in enumerate(zip(row_old, row_new)):
                if not same(a, b):
                    return f"{title} row {i + 1} column {j + 1}: committed {a!r}, generated {b!r}"
    return None


def test_every_shipped_spec_has_its_workbook():
    assert SPECS, "no specs in workbooks/"
    missing = [p.name for p in SPECS if not p.with_suffix(".xlsx").exists()]
    assert not missing, f"run: sheetopt workbook --all workbooks --force (missing {missing})"


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_committed_workbook_is_up_to_date(spec, preset_workbook):
    committed = spec.with_suffix(".xlsx")
    if not committed.exists():
        pytest.fail(f"{committed.name} is missing: sheetopt workbook --all workbooks --force")
    fresh = preset_workbook(spec.stem)  # sheetopt workbook NAME: the shipped spec of that name
    if byte_identical(committed, fresh):
        return
    for data_only in (False, True):
        difference = first_difference(cells(committed, data_only), cells(fresh, data_only))
        what = "values" if data_only else "formulas"
        assert difference is None, (f"{committed.name} is stale ({what}): {difference}; "
                                    f"regenerate: sheetopt workbook --all workbooks --force")


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_committed_workbook_names_no_path_of_the_machine_it_was_written_on(spec):
    """A shipped workbook names its data by preset, never by an absolute path (which would be
    stale in every other checkout and tell readers about the author's machine)."""
    import re
    import zipfile

    with zipfile.ZipFile(spec.with_suffix(".xlsx")) as book:
        text = "".join(book.read(name).decode("utf-8", "replace") for name in book.namelist()
                       if name.endswith(".xml"))
    found = re.findall(r"(?<![\w.:/])/(?:[\w.-]+/)+[\w.-]+\.csv", text)
    assert not found, f"{spec.with_suffix('.xlsx').name} names {found[0]}: use [data] preset"
