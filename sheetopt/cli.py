"""The ``sheetopt`` command line: one module per command under sheetopt/commands/."""
from __future__ import annotations

import argparse
import gc
import importlib
import os
import signal
import sys
import threading

from .errors import SheetoptError, Terminated, command_line, raise_terminated

COMMANDS = ("compare", "trace", "workbook", "check", "verify", "sweep", "plot", "animate",
            "torch_suite", "translate")

DESCRIPTION = """\
Gradient descent made visible, as in the fast.ai lecture's spreadsheet.
  SPEC: a run spec (TOML), a preset (lesson5, lesson2, ...), or - (standard input)

Try `sheetopt compare lesson5`; `sheetopt COMMAND --help` says more; docs/cli.md is the reference."""


def build_parser(only: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``sheetopt`` parser with a subcommand per module of sheetopt/commands/ (or only
    those of the modules ``only``: each imports what its command needs, and one command need
    not wait for the imports of the others)."""
    from .commands import Formatter

    parser = argparse.ArgumentParser(
        prog="sheetopt", description=DESCRIPTION,
        formatter_class=lambda prog: Formatter(prog, names_up_to=15))
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in COMMANDS if only is None else only:
        try:
            module = importlib.import_module(f"sheetopt.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"sheetopt.commands.{name}":
                raise
            continue  # a command not built yet
        module.register(commands)
    return parser


class _Version(argparse.Action):
    """--version: the installed version, looked up only when asked for (importlib.metadata
    takes a while to import)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show the version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        from . import __version__

        print(f"sheetopt {__version__}")
        parser.exit()


def _needed(argv: list[str]) -> list[str] | None:
    """The command modules ``argv`` needs: the one it starts with, none for ``--version``, all
    (None) otherwise: ``--help`` and a mistyped command list them."""
    modules = {name.replace("_", "-"): name for name in COMMANDS}
    if argv and argv[0] in modules:
        return [modules[argv[0]]]
    return [] if argv[:1] == ["--version"] else None


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _takes_one_value(action: argparse.Action) -> bool:
    return bool(action.option_strings) and action.nargs is None and isinstance(
        action, (argparse._StoreAction, argparse._AppendAction))


def _long_name(action: argparse.Action) -> str:
    return max(action.option_strings, key=len)


def join_option_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``--sheet -2+3`` as ``--sheet=-2+3``: an option's value may start with '-' (a sheet
    named "-2+3", ``--lr -1:1:5``), which argparse would otherwise read as an unknown option
    ("expected one argument"). A value that is itself one of the command's options is left
    alone, so ``--sheet --format json`` still says the sheet is missing."""
    argv = list(argv)
    commands = _subcommands(parser)
    start = next((i for i, token in enumerate(argv) if token in commands), None)
    if start is None:
        return argv
    actions = commands[argv[start]]._actions
    options = {s for a in actions for s in a.option_strings}
    valued = {s: a for a in actions if _takes_one_value(a) for s in a.option_strings}
    out, i = argv[:start + 1], start + 1
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out += argv[i:]
            break
        following = argv[i + 1] if i + 1 < len(argv) else None
        if (token in valued and following is not None and following.startswith("-")
                and following not in options):
            name = _long_name(valued[token])
            out.append(f"{name}={following}" if name.startswith("--") else name + following)
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def empty_value(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """The one-line complaint about an option given an empty value (``-o ''``, ``--sheet=``,
    ``--lr --``), a mistake rather than a default; checked before argparse converts values (``--tol ''``
    would otherwise be its multi-line usage message)."""
    commands = _subcommands(parser)
    start = next((i for i, token in enumerate(argv) if token in commands), None)
    if start is None:
        return None
    valued = {s: a for a in commands[argv[start]]._actions if _takes_one_value(a)
              for s in a.option_strings}
    for i, token in enumerate(argv[start + 1:], start + 1):
        if token == "--":
            break
        name, equals, value = token.partition("=")
        action = valued.get(token) if not equals else valued.get(name)
        if action is None or (not equals and (i + 1 >= len(argv)
                                              or argv[i + 1] not in ("", "--"))):
            continue
        if equals and value and value != "--":
            continue
        metavar = action.metavar or ""
        what = ("a file name" if "FILE" in metavar else metavar if metavar not in ("", "NAME")
                else "a " + action.dest.replace("_", " ") + " name")
        return f"sheetopt {argv[start]}: error: {_long_name(action)} is empty; give {what}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Runs ``sheetopt ARGS`` (``argv``, default the process's) and returns the exit status:
    0 done, 1 a check found differences, 2 bad input (one line on stderr), 130/143 stopped.

    Example:
        >>> main(["trace", "lesson5", "--sheet", ""])
        2
    """
    if "matplotlib" not in sys.modules:  # the command line draws to files: no GUI backend
        os.environ.setdefault("MPLBACKEND", "Agg")
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_needed(argv))
    argv = join_option_values(parser, argv)
    complaint = empty_value(parser, argv)
    if complaint:
        print(complaint, file=sys.stderr)
        return 2
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.error("give a COMMAND; `sheetopt --help` lists them")
    if extra:  # the subcommand's own usage, not the top level's
        _subcommands(parser)[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    previous = _on_sigterm(raise_terminated)
    try:
        with command_line():
            if getattr(args, "spec", None) == "-":
                args.spec = _spec_from_stdin()
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


# The program's collector: a young generation of this many objects (Python's is 700). numba's
# compiler makes hundreds of thousands of objects that live as long as the process, which
# each older collection walks again; a command runs for seconds, not days.
COLLECT_AFTER = (20_000, 20, 20)


def program() -> int:
    """The ``sheetopt`` program (its console script and ``python -m sheetopt``): :func:`main` on
    the process's arguments, with the garbage collector set for a process that ends with the
    command. At the end, what is left is collected once and frozen: the interpreter's exit
    then leaves those objects to the operating system instead of walking and freeing each
    (numba's alone cost 0.3 s of a 1,000,000-row ``compare``'s 1.5 s). From Python, call
    :func:`main`: the process is the caller's, and its collector is left alone.

    Example (what the ``sheetopt`` console script runs; the process exits after it)::

        raise SystemExit(program())
    """
    gc.set_threshold(*COLLECT_AFTER)
    try:
        return main()
    finally:
        gc.collect()  # garbage with finalizers (a file to flush) is finalized, as at exit
        gc.freeze()


def _spec_from_stdin():
    """The spec ``-`` names: TOML read from standard input."""
    from .spec import from_text

    if sys.stdin is None or sys.stdin.isatty():
        raise SheetoptError("-: the spec comes from standard input; pipe a TOML spec in "
                            "(sheetopt compare - < mine.toml)")
    try:
        text = sys.stdin.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SheetoptError(f"standard input: cannot read the spec ({exc})") from None
    return from_text(text.removeprefix("\ufeff"), "standard input")


def _on_sigterm(handler):
    """Installs a SIGTERM handler (main thread only); returns the one it replaced."""
    if threading.current_thread() is not threading.main_thread() or handler is None:
        return None
    return signal.signal(signal.SIGTERM, handler)
