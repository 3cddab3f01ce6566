"""Writing output files safely: into a temporary file beside the target, then renamed."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import SheetoptError, option


def check_target(path: str | Path, force: bool = False) -> Path:
    """Refuses a target in a missing folder, a folder, or an existing file without ``force``."""
    target = Path(path)
    if not target.parent.is_dir():
        raise SheetoptError(f"{target}: the folder {target.parent} does not exist")
    if target.is_dir():
        raise SheetoptError(f"{target}: is a folder, not a file")
    if target.exists() and not force:
        raise SheetoptError(f"{target}: already exists; use {option('force', 'True')} to "
                            f"overwrite it")
    return target


@contextlib.contextmanager
def atomic_output(path: str | Path, force: bool = False) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renames it onto ``path`` only if the block
    finishes, so an error or an interrupt never leaves a partial or clobbered file."""
    target = check_target(path, force)
    temp = None
    try:  # the temporary file is made inside the try, so a signal landing right after is cleaned up
        handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                        dir=target.parent)
        os.close(handle)
        yield Path(temp)
        os.chmod(temp, _file_mode())  # mkstemp makes the file private (0600); output is not
        os.replace(temp, target)
    finally:
        if temp is not None and os.path.exists(temp):
            os.unlink(temp)


def _file_mode() -> int:
    """The mode a plain new file gets here: 0666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text(path: str | Path, text: str, force: bool = False) -> None:
    """Writes ``text`` to ``path`` atomically (see ``atomic_output``)."""
    with atomic_output(path, force) as temp:
        temp.write_text(text, encoding="utf-8")
