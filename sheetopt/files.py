"""Writing output files safely: into a temporary file beside the target, then renamed."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import SheetoptError, option


def check_target(path: str | Path, force: bool = False) -> Path:
    """Refuses, in one line, an output path that cannot be written: a name too long, a missing
    folder or one that is not a folder, a folder where the file should be, something that is
    not a plain file, a folder that is not writable, or an existing file (a symbolic link,
    even a dangling one, counts) without ``force``."""
    if str(path) == "":
        raise SheetoptError("the output path is empty")
    target = Path(path)
    parent = target.parent
    name_max = _name_max(parent)
    if len(os.fsencode(target.name)) > name_max:
        raise SheetoptError(f"{_short(target)}: the file name is too long "
                            f"({len(os.fsencode(target.name))} bytes; at most {name_max})")
    try:
        if not parent.is_dir():
            if os.path.lexists(parent):
                raise SheetoptError(f"{target}: {parent} is not a folder")
            raise SheetoptError(f"{target}: the folder {parent} does not exist")
        if target.is_dir():
            raise SheetoptError(f"{target}: is a folder, not a file")
        if os.path.lexists(target):
            if target.is_symlink() and not target.exists():
                if not force:
                    raise SheetoptError(f"{target}: already exists (a symbolic link to a missing "
                                        f"file); use {option('force', 'True')} to replace it")
            elif not target.is_file():
                raise SheetoptError(f"{target}: is not a plain file (a device, pipe or socket); "
                                    f"write to a file")
            elif not force:
                raise SheetoptError(f"{target}: already exists; use {option('force', 'True')} "
                                    f"to overwrite it")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise SheetoptError(f"{target}: the folder {parent} is not writable")
        _probe(parent)  # /proc, a read-only mount: found now, before any work is done
    except OSError as exc:  # e.g. a path component that is too long, or a loop of links
        raise SheetoptError(f"{_short(target)}: cannot create a file in {_short(parent)} "
                            f"({_why(exc)})") from None
    return target


@contextlib.contextmanager
def atomic_output(path: str | Path, force: bool = False) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renames it onto ``path`` only if the block
    finishes, so an error or an interrupt never leaves a partial or clobbered file. A
    failure of the file system (a read-only folder, a full disk) is one SheetoptError line."""
    target = check_target(path, force)
    temp = None
    try:  # the temporary file is made inside the try, so a signal landing right after is cleaned up
        try:
            handle, temp = tempfile.mkstemp(prefix=f".{target.name[:60]}.", suffix=".part",
                                            dir=target.parent)
        except OSError as exc:
            raise SheetoptError(f"{target}: cannot write in {target.parent} ({_why(exc)})") from None
        os.close(handle)
        try:
            yield Path(temp)
            os.chmod(temp, _file_mode())  # mkstemp makes the file private (0600); output is not
            os.replace(temp, target)
        except OSError as exc:
            raise SheetoptError(f"{target}: cannot write ({_why(exc)})") from None
    finally:
        if temp is not None and os.path.exists(temp):
            os.unlink(temp)


def _probe(folder: Path) -> None:
    """Creates and removes a file in ``folder``; raises OSError where none can be created."""
    handle, temp = tempfile.mkstemp(prefix=".sheetopt-probe.", dir=folder)
    os.close(handle)
    os.unlink(temp)


def _name_max(folder: Path) -> int:
    """The longest file name (in bytes) the folder's file system takes."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _why(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


def _short(path: Path, limit: int = 80) -> str:
    text = str(path)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _file_mode() -> int:
    """The mode a plain new file gets here: 0666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text(path: str | Path, text: str, force: bool = False) -> None:
    """Writes ``text`` to ``path`` atomically (see ``atomic_output``)."""
    with atomic_output(path, force) as temp:
        temp.write_text(text, encoding="utf-8")
