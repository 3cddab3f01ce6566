"""One module per command: each has ``register(subparsers)`` that sets ``run`` as its handler."""
from __future__ import annotations

import argparse
import sys
import textwrap

from ..errors import SheetoptError

DOCS = "docs/cli.md"


class Formatter(argparse.HelpFormatter):
    """argparse's help, wrapped at the terminal's width ($COLUMNS): each paragraph of a
    description is filled to the width; lines indented by two spaces (examples) stay as they
    are; option help wraps as argparse wraps it."""

    def __init__(self, prog: str, names_up_to: int = 0, **kwargs):
        import shutil

        kwargs.setdefault("width", max(shutil.get_terminal_size().columns - 2, 40))
        kwargs.setdefault("max_help_position", 26)
        super().__init__(prog, **kwargs)
        # argparse measures options, not subcommand names: room for the longest name
        self._action_max_length = max(self._action_max_length, names_up_to)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for paragraph in text.split("\n\n"):
            lines, words = [], []
            for line in paragraph.splitlines() + [None]:
                if line is None or line.startswith("  "):
                    if words:
                        lines.append(textwrap.fill(" ".join(words), width,
                                                   initial_indent=indent,
                                                   subsequent_indent=indent,
                                                   break_on_hyphens=False))
                        words = []
                    if line is not None:
                        lines.append(indent + line)
                else:
                    words += line.split()
            out.append("\n".join(lines))
        return "\n\n".join(out)


def add_command(subparsers, name: str, summary: str, example: str,
                line: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose --help shows its summary (wrapped to the terminal), an example and
    where the docs say more; ``line`` is its one line in ``sheetopt --help``."""
    anchor = name.replace("_", "-")
    return subparsers.add_parser(
        name, help=line or summary.split(". ")[0],
        description=f"{summary}\n\nexample:\n  {example}\n\nMore: {DOCS}#{anchor}",
        formatter_class=Formatter)


def output_or_stdout(path: str | None):
    """Whether an ``-o`` value means standard output: none given, or ``-``."""
    return path is None or path == "-"


def write_output(text, path: str | None, force: bool) -> None:
    """``text`` (a string, or pieces of one) to the file ``path`` (atomically), or to standard
    output for None or ``-``."""
    from ..files import atomic_output

    pieces = [text] if isinstance(text, str) else text
    if output_or_stdout(path):
        for piece in pieces:
            sys.stdout.write(piece)
        sys.stdout.flush()
        return
    with atomic_output(path, force) as temp, open(temp, "w", encoding="utf-8") as handle:
        for piece in pieces:
            handle.write(piece)


def binary_output(path: str, what: str) -> None:
    """Refuses ``-o -`` for a command whose output is a binary file."""
    if path == "-":
        raise SheetoptError(f"-o -: {what} is a binary file, not text for standard output; "
                            f"name a file")
