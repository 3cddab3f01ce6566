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
compared), ``verify`` (every step re-checked with torch).
Bad input raises ``SheetoptError`` with one line naming the key, array index, file or sheet.
The ``sheetopt`` command line (``sheetopt --help``) is a thin layer over these functions.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sheetopt")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

from .errors import SheetoptError  # noqa: E402
from .spec import Sheet, Spec, preset_names  # noqa: E402
from .protocol.trace import Trace  # noqa: E402
from .protocol.results import RunResult  # noqa: E402
from .api import check_workbook, read_workbook, run, sweep, verify, write_workbook  # noqa: E402

__all__ = ["run", "Spec", "RunResult", "Trace", "Sheet", "sweep", "write_workbook",
           "read_workbook", "check_workbook", "verify", "preset_names", "SheetoptError",
           "__version__"]
