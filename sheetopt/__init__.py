"""sheetopt: gradient descent made visible row by row, as in the fast.ai lecture's spreadsheet.

A run spec says which data rows, which model (y = a*x + b, or a quadratic) and which optimizer
sheets (SGD, momentum, RMSprop, Adam... in the lecture's flavour or torch.optim's) to run;
every step of every sheet is recorded. From Python:

    >>> import sheetopt
    >>> result = sheetopt.run("lesson5")             # a preset, a .toml path or a Spec
    >>> table = result.summary()                     # loss per sheet and epoch (DataFrame)
    >>> steps = result.trace("adam")                 # every step of one sheet (DataFrame)
    >>> figure = result.plot("loss")                 # a matplotlib Figure

Your own rows: ``sheetopt.Spec.from_arrays(x, y, sheets=[{"optimizer": "adam", "lr": 0.1}])``.
Also ``sheetopt.sweep`` (many configurations at once: the LR finder), ``write_workbook`` and
``read_workbook`` (the live-formula .xlsx), ``check_workbook`` (an edited workbook rerun and
compared), ``workbook_edits`` (its edited inputs and the results before and after),
``verify`` (every step re-checked with torch), ``translate`` (an optimizer's namesakes in
Keras, optax, fastai and torch, run side by side).
Bad input raises ``SheetoptError`` with one line naming the key, array index, file or sheet.
The ``sheetopt`` command line (``sheetopt --help``) is a thin layer over these functions.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each public name and the module that holds it, imported on first use: ``sheetopt --version``
# and the errors module do not wait for numpy, and ``import sheetopt`` stays quick.
_HOMES = {"SheetoptError": "errors", "Sheet": "spec", "Spec": "spec", "preset_names": "spec",
          "Trace": "protocol.trace", "RunResult": "protocol.results", "check_workbook": "api",
          "read_workbook": "api", "run": "api", "sweep": "api", "verify": "api",
          "write_workbook": "api", "workbook_edits": "api", "translate": "translation"}

__all__ = ["run", "Spec", "RunResult", "Trace", "Sheet", "sweep", "write_workbook",
           "read_workbook", "check_workbook", "workbook_edits", "verify", "translate",
           "preset_names",
           "SheetoptError",
           "__version__"]

if TYPE_CHECKING:  # what type checkers and editors see
    from .api import (check_workbook, read_workbook, run, sweep, verify, workbook_edits,
                      write_workbook)
    from .errors import SheetoptError
    from .protocol.results import RunResult
    from .protocol.trace import Trace
    from .spec import Sheet, Spec, preset_names
    from .translation import translate


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("sheetopt")
        except PackageNotFoundError:  # running from a source tree that is not installed
            value = "0.0.0+source"
    elif name in _HOMES:
        value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    else:
        raise AttributeError(f"module 'sheetopt' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
