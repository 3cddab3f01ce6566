"""The README's path picture (workbooks/lesson5-path.png) is what the command the README
states draws today. Compared by the fingerprint of the plotted data stored in the PNG's
metadata (not by pixels, which differ between machines and matplotlib versions).

Regenerate it with the README's command:
  sheetopt plot lesson5 --kind path -o workbooks/lesson5-path.png --force
"""
from __future__ import annotations

import re
import shlex
from dataclasses import replace
from pathlib import Path

from sheetopt.protocol import engine
from sheetopt import plots
from sheetopt.cli import main
from sheetopt.spec import load

ROOT = Path(__file__).resolve().parents[1]
PICTURE = ROOT / "workbooks" / "lesson5-path.png"
COMMAND = "sheetopt plot lesson5 --kind path -o workbooks/lesson5-path.png --force"


def test_readme_shows_the_picture_and_states_its_command():
    readme = (ROOT / "README.md").read_text()
    assert "](workbooks/lesson5-path.png)" in readme
    assert COMMAND in readme


def test_committed_picture_is_up_to_date(tmp_path):
    stored = plots.stored_fingerprint(PICTURE)
    assert stored, f"{PICTURE.name} has no sheetopt fingerprint; regenerate: {COMMAND}"
    fresh = tmp_path / "fresh.png"
    argv = shlex.split(COMMAND)[1:]
    argv[argv.index("workbooks/lesson5-path.png")] = str(fresh)
    assert main(argv) == 0
    assert plots.stored_fingerprint(fresh) == stored, f"{PICTURE.name} is stale; run: {COMMAND}"


def test_the_fingerprint_sees_a_changed_run():
    spec = load("lesson5")
    traces = engine.run_all(spec)
    slower = replace(spec, sheets=tuple(  # basic's lr halved: its path changes
        replace(s, hypers={**s.hypers, "lr": s.hypers["lr"] / 2}) if s.name == "basic" else s
        for s in spec.sheets))
    assert plots.stored_fingerprint(PICTURE) == plots.fingerprint(
        plots.figure(spec, traces, "path"))
    changed = plots.figure(slower, engine.run_all(slower), "path")
    assert plots.fingerprint(changed) != plots.stored_fingerprint(PICTURE)
    assert re.fullmatch(r"[0-9a-f]{64}", plots.stored_fingerprint(PICTURE))
