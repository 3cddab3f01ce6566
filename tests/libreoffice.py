"""LibreOffice headless, for tests: recalculate workbooks with recalculation forced.

A fresh LibreOffice profile is made whose settings say "always recalculate on load" for xlsx
and ods files (OOXMLRecalcMode / ODFRecalcMode = 0); without it LibreOffice would show the
cached values that sheetopt wrote and prove nothing. Several files go through one soffice call
(starting LibreOffice is the slow part).

Also here: :func:`rewrite_cell`, the other way tests change a written file (inside its XML,
keeping every other stored value, which an openpyxl save would drop).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

PROFILE_SETTINGS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def require_soffice() -> str:
    """The soffice path; skips loudly without it, but fails in CI (CI=true), where it must run."""
    path = soffice()
    if path is None:
        message = ("LibreOffice (soffice) is not installed: the workbook recalculation tests "
                   "CANNOT RUN here (apt-get install libreoffice-calc)")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def without_charts(source: Path, target: Path) -> None:
    """Copies a workbook without its charts (each sheet's reference to its drawing dropped),
    every cell byte for byte. LibreOffice spends half its time on a sheetopt workbook laying
    out and saving the charts, which no recalculation needs (test_workbook_path_charts.py has
    LibreOffice draw them)."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = re.sub(rb'<drawing r:id="[^"]+"/>', b"", data)
            zout.writestr(item, data)


def recalculate(paths: list[Path], out_dir: Path, timeout: int = 600,
                charts: bool = False) -> list[Path]:
    """Opens each workbook in LibreOffice with forced recalculation and saves it as xlsx into
    ``out_dir`` (same file names); returns the new paths. The charts are left out unless
    ``charts`` (see :func:`without_charts`): the cells are all there, recalculated."""
    binary = require_soffice()
    out_dir.mkdir(parents=True, exist_ok=True)
    profile = out_dir / "lo-profile"
    (profile / "user").mkdir(parents=True, exist_ok=True)
    (profile / "user" / "registrymodifications.xcu").write_text(PROFILE_SETTINGS)
    for path in paths:
        if Path(path).resolve().parent == out_dir.resolve():
            raise ValueError(f"{path}: the input must not be in the output folder")
    if not charts:
        inputs = out_dir / "without-charts"
        inputs.mkdir(exist_ok=True)
        for path in paths:
            without_charts(Path(path), inputs / Path(path).name)
        paths = [inputs / Path(path).name for path in paths]
    command = [binary, f"-env:UserInstallation={profile.resolve().as_uri()}", "--headless",
               "--norestore", "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir",
               str(out_dir), *[str(p) for p in paths]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    outputs = [out_dir / Path(p).name for p in paths]
    missing = [p for p in outputs if not p.exists()]
    if done.returncode != 0 or missing:
        raise RuntimeError(f"soffice failed (exit {done.returncode}); missing {missing}; "
                           f"stderr: {done.stderr[-2000:]}")
    return outputs


def sheet_part(path: Path, title: str) -> str:
    """The zip member holding a worksheet, e.g. xl/worksheets/sheet6.xml."""
    with zipfile.ZipFile(path) as archive:
        workbook = archive.read("xl/workbook.xml").decode()
        rels = archive.read("xl/_rels/workbook.xml.rels").decode()
    escaped = title.replace("&", "&amp;").replace("'", "&apos;").replace('"', "&quot;")
    element = re.search(rf'<sheet [^>]*name="{re.escape(escaped)}"[^>]*>', workbook)
    found = element and re.search(r'r:id="(rId\d+)"', element.group(0))
    if not found:
        raise KeyError(title)
    target = re.search(rf'Id="{found.group(1)}"[^>]*Target="([^"]+)"', rels) or re.search(
        rf'Target="([^"]+)"[^>]*Id="{found.group(1)}"', rels)
    name = target.group(1).lstrip("/")
    return name if name.startswith("xl/") else f"xl/{name}"


def rewrite_cell(source: Path, target: Path, sheet: str, cell: str, value: str) -> None:
    """Copies ``source`` to ``target`` with one stored number replaced (a formula cell's
    cached value, or an input cell's value), everything else byte for byte."""
    rewrite_cells(source, target, [(sheet, cell, value)])


def rewrite_cells(source: Path, target: Path, edits) -> None:
    """:func:`rewrite_cell` for several cells ``(sheet, cell, value)`` at once, in one copy
    (a user's edits of input cells, without an openpyxl load and save of a big workbook)."""
    parts: dict[str, list[tuple[str, str]]] = {}
    for sheet, cell, value in edits:
        parts.setdefault(sheet_part(source, sheet), []).append((cell, value))
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename in parts:
                text = data.decode()
                for cell, value in parts[item.filename]:
                    pattern = re.compile(rf'(<c r="{cell}"[^>]*>(?:<f[^>]*>[^<]*</f>|<f[^>]*/>)?<v>)([^<]*)(</v>)')
                    text, count = pattern.subn(lambda m: m.group(1) + value + m.group(3), text, 1)
                    if count != 1:
                        raise KeyError(f"{cell} (with a stored value) not found in {item.filename}")
                data = text.encode()
            zout.writestr(item, data)
