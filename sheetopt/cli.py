"""The ``sheetopt`` command line: one module per command under sheetopt/commands/."""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from . import __version__
from .errors import SheetoptError

COMMANDS = ("compare", "trace", "workbook", "check", "verify", "sweep", "plot", "animate")

DESCRIPTION = """\
Gradient descent made visible row by row, as in the fast.ai lecture's spreadsheet.

A run spec (TOML) or a preset name (lesson5, lesson2, quadratic, ...) says which data, model and
optimizer sheets to run. Try:
  sheetopt compare lesson5
  sheetopt trace lesson5 --sheet adam -o adam.csv
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sheetopt", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"sheetopt {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"sheetopt.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"sheetopt.commands.{name}":
                raise
            continue  # a command not built yet
        module.register(commands)
    return parser


class Terminated(BaseException):
    """SIGTERM, raised where the program is so that output files are cleaned up on the way.
    A BaseException like KeyboardInterrupt, so that no ``except Exception`` on the way (an
    optional import, a library's fallback) can swallow it and let the run finish."""


def _raise_terminated(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    if "matplotlib" not in sys.modules:  # the command line draws to files: no GUI backend
        os.environ.setdefault("MPLBACKEND", "Agg")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    previous = _on_sigterm(_raise_terminated)
    try:
        return int(args.run(args) or 0)
    except SheetoptError as exc:
        print(f"sheetopt {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sheetopt: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("sheetopt: terminated", file=sys.stderr)
        return 143
    except BrokenPipeError:
        return 0
    finally:
        _on_sigterm(previous)


def _on_sigterm(handler):
    """Installs a SIGTERM handler (main thread only); returns the one it replaced."""
    if threading.current_thread() is not threading.main_thread() or handler is None:
        return None
    return signal.signal(signal.SIGTERM, handler)
