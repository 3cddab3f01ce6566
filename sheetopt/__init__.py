"""sheetopt: gradient descent made visible row by row."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sheetopt")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

from .errors import SheetoptError  # noqa: E402

__all__ = ["SheetoptError", "__version__"]
