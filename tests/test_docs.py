"""Every example in the README and in docs/*.md runs as written, and the README is the way in.

Each page's ``bash`` and ``python`` blocks run in order in a fresh folder holding a copy of
``workbooks/``, then the ``sheetopt ...`` examples in its tables. A bash block's ``sheetopt
ARGS`` lines (plain words, or ending ``|| test $? -eq N``) run in-process through the command's
entry point, ``sheetopt.cli.main``, with the same argv, and must exit 0 (or N); its other lines
(heredocs, printf, a pipe) run in bash with ``set -euo pipefail``, in order. Each python block
runs in-process in a fresh namespace. The README's first command runs as a real ``sheetopt``
process: the installed command works as the README says. A block that is not meant to run has
``<!-- not run: why -->`` on the line above it. ``toml`` blocks that hold a whole spec are parsed
as specs. A new page in docs/ is picked up by itself; the README must link to it.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

from sheetopt import Spec, cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
RUNS = {"bash": "bash", "sh": "bash", "shell": "bash", "python": "python"}
NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<why>.*?)\s*-->")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<language>[\w+-]*)")


@dataclass(frozen=True, kw_only=True)
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # of the opening fence, counted from 1
    language: str
    code: str
    not_run: str | None  # why it does not run, when the line above says so

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a markdown page, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        assert end is not None, f"{page.relative_to(ROOT)}:{i + 1}: a code block never closes"
        above = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = NOT_RUN.search(above)
        indent = len(opening["indent"])
        code = "\n".join(line[indent:] for line in lines[i + 1:end]) + "\n"
        found.append(Block(page=page, line=i + 1, language=opening["language"].lower(),
                           code=code, not_run=marker["why"] if marker else None))
        i = end + 1
    return found


def table_commands(page: Path) -> list[tuple[int, str]]:
    """The ``sheetopt ...`` examples in a page's tables (a cell that is one code span):
    (line, command)."""
    commands = []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            commands += [(number, cell[1:-1]) for cell in cells  # "..." marks a pattern
                         if re.fullmatch(r"`sheetopt [^`]+`", cell) and "..." not in cell]
    return commands


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def work_folder(folder: Path) -> Path:
    """A fresh folder with a copy of the shipped workbooks, where a page's examples run."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "workbooks", folder / "workbooks")
    return folder


def run_process(block: Block, folder: Path) -> None:
    """A block in its own process, as a reader runs it: bash (``set -euo pipefail``) or python,
    the ``sheetopt`` script found beside this interpreter."""
    env = dict(os.environ)
    # the sheetopt script sits beside this interpreter, whether or not the venv is activated
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if RUNS[block.language] == "python":
        argv = [sys.executable, "-c", block.code]
    else:
        argv = ["bash", "-euo", "pipefail", "-c", block.code]
    done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"{block.where}: exit {done.returncode}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, f"{block.where}:\n{done.stderr[-3000:]}"


# a bash line ``sheetopt WORDS [|| test $? -eq N]`` runs in-process; a line with any other shell
# syntax, and every other line, runs in bash
ACCEPTS = re.compile(r"\s*\|\|\s*test \$\? -eq (?P<code>\d+)\s*$")
SHELL_SYNTAX = re.compile(r"[|&;<>()$`\\*?~{}\[\]]")
HEREDOC = re.compile(r"<<-?\s*(?P<quote>['\"]?)(?P<tag>\w+)(?P=quote)")


@dataclass(frozen=True, kw_only=True)
class Command:
    """A ``sheetopt`` line of a bash block, run in-process."""

    line: str
    argv: list[str]  # the words after "sheetopt"
    accepted: frozenset[int]  # the exit statuses the line lets pass


def sheetopt_command(line: str) -> Command | None:
    """The line as an in-process command, or None when it is anything else."""
    accepts = ACCEPTS.search(line)
    words = line[:accepts.start()] if accepts else line
    if not words.startswith("sheetopt ") or SHELL_SYNTAX.search(words):
        return None
    return Command(line=line, argv=shlex.split(words, comments=True)[1:],
                   accepted=frozenset({0, int(accepts["code"])} if accepts else {0}))


def bash_pieces(code: str) -> list[str | Command]:
    """A bash block in order: its sheetopt commands and the shell text between them (a heredoc,
    or a line continued with a backslash, kept whole with the line that opens it)."""
    lines, pieces, shell, i = code.splitlines(), [], [], 0
    while i < len(lines):
        end = i
        heredoc = HEREDOC.search(lines[i])
        if heredoc:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == heredoc["tag"])
        while lines[end].endswith("\\") and end + 1 < len(lines):
            end += 1
        command = sheetopt_command(lines[i]) if end == i else None
        if command is None:
            shell += lines[i:end + 1]
        else:
            pieces += ["\n".join(shell)] if shell else []
            pieces.append(command)
            shell = []
        i = end + 1
    return pieces + (["\n".join(shell)] if shell else [])


def run_command(command: Command, where: str) -> None:
    """``sheetopt WORDS`` through the command's entry point, in the current folder."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(command.argv)
        except SystemExit as done:  # --help, --version, a usage error: argparse exits itself
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    assert code in command.accepted, \
        f"{where}: {command.line} -> exit {code}\n{err.getvalue()[-3000:]}"
    assert "Traceback" not in err.getvalue(), f"{where}: {command.line}\n{err.getvalue()[-3000:]}"


def run_python(block: Block) -> None:
    """A python block in a fresh namespace, in the current folder; its figures closed after."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exec(compile(block.code, block.where, "exec"), {"__name__": "__main__"})  # noqa: S102
    except SystemExit as done:
        assert done.code in (0, None), f"{block.where}: exit {done.code}"
    except Exception:  # noqa: BLE001 - the block's traceback names its line
        pytest.fail(f"{block.where}: raised\n{traceback.format_exc()[-3000:]}")
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


def run_block(block: Block, folder: Path) -> None:
    """A block, in ``folder`` (the current folder): see the module's docstring."""
    if RUNS[block.language] == "python":
        run_python(block)
        return
    for piece in bash_pieces(block.code):
        if isinstance(piece, Command):
            run_command(piece, block.where)
        elif piece.strip():
            run_process(Block(page=block.page, line=block.line, language="bash", code=piece,
                              not_run=None), folder)


def test_a_bash_block_is_split_into_commands_and_shell_text():
    code = ("cat > a.toml <<'SPEC'\nsheetopt compare x\nSPEC\n"
            "sheetopt compare a.toml --format csv  # a comment\n"
            "sheetopt compare a.toml | head -3\nsheetopt trace typo.toml || test $? -eq 2\n"
            "sheetopt compare \\\n  lesson5\n")
    first, compare, piped, typo, continued = bash_pieces(code)
    assert first == "cat > a.toml <<'SPEC'\nsheetopt compare x\nSPEC"
    assert compare.argv == ["compare", "a.toml", "--format", "csv"] and compare.accepted == {0}
    assert piped == "sheetopt compare a.toml | head -3"
    assert typo.argv == ["trace", "typo.toml"] and typo.accepted == {0, 2}
    assert continued == "sheetopt compare \\\n  lesson5"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_example_of_the_page_runs(page, tmp_path, monkeypatch, capsys):
    folder = work_folder(tmp_path / "blocks")
    monkeypatch.chdir(folder)
    runnable = [b for b in blocks(page) if b.not_run is None and b.language in RUNS]
    for n, block in enumerate(runnable):
        if page == README and n == 0:  # the installed command itself, in its own process
            run_process(block, folder)
        else:
            run_block(block, folder)
    table = tmp_path / "table"
    table.mkdir()
    monkeypatch.chdir(table)
    for line, command in table_commands(page):
        try:
            code = cli.main(shlex.split(command)[1:])
        except SystemExit as done:  # --help, --version: argparse exits itself
            code = done.code or 0
        err = capsys.readouterr().err
        assert code == 0, f"{page_id(page)}:{line}: {command} -> exit {code}\n{err}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_whole_spec_in_the_page_parses(page):
    for block in blocks(page):
        if block.language == "toml" and "[[sheet]]" in block.code:
            assert Spec.from_toml(block.code).sheets, block.where


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_block_says_its_language_and_why_it_does_not_run(page):
    for block in blocks(page):
        assert block.language, f"{block.where}: name the block's language (```bash, ```text...)"
        if block.not_run is not None:
            assert block.not_run, f"{block.where}: say why the block does not run"


def test_the_readme_links_every_docs_page():
    readme = README.read_text(encoding="utf-8")
    for page in PAGES[1:]:
        assert f"](docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_and_picture_is_there(page):
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page_id(page)} links {target}, which is not there"


def test_the_readme_setup_commands_are_what_ci_runs():
    """The test command is .ci/run's, verbatim; the run command is the same set-up followed by
    the lesson-5 comparison (which the tour runs)."""
    setup = [b.code.strip() for b in blocks(README) if b.not_run is not None]
    assert len(setup) == 2, setup
    run_command, test_command = setup
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
    prefix, _, tested = test_command.rpartition(" && ")
    assert tested == "python -m pytest"
    assert run_command == f"{prefix} && sheetopt compare lesson5"
    tour = [b.code.strip() for b in blocks(README) if b.not_run is None]
    assert "sheetopt compare lesson5" in tour
