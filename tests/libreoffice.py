"""LibreOffice headless, for tests: recalculate workbooks with recalculation forced.

A fresh LibreOffice profile is made whose settings say "always recalculate on load" for xlsx
and ods files (OOXMLRecalcMode / ODFRecalcMode = 0); without it LibreOffice would show the
cached values that sheetopt wrote and prove nothing. Several files go through one soffice call
(starting LibreOffice is the slow part).
"""
from __future__ import annotations

import os
import shutil
import subprocess
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


def recalculate(paths: list[Path], out_dir: Path, timeout: int = 600) -> list[Path]:
    """Opens each workbook in LibreOffice with forced recalculation and saves it as xlsx into
    ``out_dir`` (same file names); returns the new paths."""
    binary = require_soffice()
    out_dir.mkdir(parents=True, exist_ok=True)
    profile = out_dir / "lo-profile"
    (profile / "user").mkdir(parents=True, exist_ok=True)
    (profile / "user" / "registrymodifications.xcu").write_text(PROFILE_SETTINGS)
    for path in paths:
        if Path(path).resolve().parent == out_dir.resolve():
            raise ValueError(f"{path}: the input must not be in the output folder")
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
