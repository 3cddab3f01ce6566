"""Headless Chromium, for tests: a screenshot of a local HTML page.

Skips loudly without a browser; under CI (CI=true) fails instead, as tests/libreoffice.py does.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def require_chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = ("Chromium is not installed: the HTML animation test CANNOT RUN here "
                   "(apt-get install chromium)")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def screenshot(page: Path, out: Path, size=(800, 700), timeout: int = 120) -> Path:
    """Opens ``page`` in headless Chromium (JavaScript on) and saves what it shows as PNG."""
    binary = require_chromium()
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={out.parent / 'chromium-profile'}",
               f"--window-size={size[0]},{size[1]}", f"--screenshot={out}",
               page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if not out.exists():
        raise RuntimeError(f"chromium wrote no screenshot (exit {done.returncode}): "
                           f"{done.stderr[-2000:]}")
    return out
