"""Fixtures shared by the test files."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest


@pytest.fixture(scope="session")
def preset_workbook(tmp_path_factory) -> Callable[[str], Path]:
    """``preset_workbook(name)``: the workbook ``sheetopt workbook NAME`` writes for a shipped
    preset, written once per test run (per worker) and shared: read it, never change it (copy
    it first). Writing the big presets takes seconds each.

    Example: ``openpyxl.load_workbook(preset_workbook("lesson5"))``."""
    from sheetopt.cli import main

    folder = tmp_path_factory.mktemp("preset-workbooks")
    written: dict[str, Path] = {}

    def workbook(name: str) -> Path:
        if name not in written:
            path = folder / f"{name}.xlsx"
            assert main(["workbook", name, "-o", str(path)]) == 0
            path.chmod(0o444)  # shared: a test that writes to it fails instead of misleading others
            written[name] = path
        return written[name]

    return workbook
