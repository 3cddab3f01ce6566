"""The scripts in benchmarks/ as modules, so that a test checks the very case a benchmark times
(its spec defined once, in the script)."""
from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@functools.cache
def benchmark(name: str):
    """The module of benchmarks/NAME.py (loaded once, without touching sys.path)."""
    found = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(found)
    sys.modules[found.name] = module  # dataclasses look their module up there
    found.loader.exec_module(module)
    return module
