"""The lecture's stored files, in ../shared/lecture beside the repository (as in CI)."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

LECTURE_DIR = Path(__file__).resolve().parents[2] / "shared" / "lecture"
BASIC_EPOCH = LECTURE_DIR / "basic-epoch.csv"
LECTURE_CSV = LECTURE_DIR / "graddesc-data.csv"


def require_lecture_files() -> None:
    """Skips loudly without the lecture files, but fails in CI (CI=true), where they are given."""
    missing = [p for p in (BASIC_EPOCH, LECTURE_CSV) if not p.exists()]
    if missing:
        message = f"the lecture files are missing: {', '.join(map(str, missing))}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def needs_lecture_files(test):
    """Marks a test that reads the lecture files: it skips (fails in CI) without them."""
    @functools.wraps(test)
    def checked(*args, **kwargs):
        require_lecture_files()
        return test(*args, **kwargs)
    return checked
