"""The one error type that user mistakes raise; the CLI prints it as one line and exits 2."""
from __future__ import annotations

import contextlib
import contextvars
import functools
import signal
import threading
from typing import Callable, Iterator, TypeVar

F = TypeVar("F", bound=Callable)


class SheetoptError(Exception):
    """A problem with the user's input: a spec, a CSV, an option or an output path.

    The message is one line that names the file, key, row or value at fault.

    Example:
        >>> import sheetopt
        >>> try:
        ...     sheetopt.run("no-such-spec")
        ... except sheetopt.SheetoptError as exc:
        ...     print(str(exc).split(":")[0])
        no-such-spec
    """


class Terminated(BaseException):
    """SIGTERM in the ``sheetopt`` program, raised where the program is so that output files
    are cleaned up on the way. A BaseException like KeyboardInterrupt, so that no ``except
    Exception`` on the way (an optional import, a library's fallback) can swallow it and let
    the run finish.

    Example:
        >>> issubclass(Terminated, Exception), issubclass(Terminated, BaseException)
        (False, True)
    """


def raise_terminated(signum, frame):
    """The program's SIGTERM handler (``cli.main`` installs it while a command runs).

    Example:
        >>> try:
        ...     raise_terminated(15, None)
        ... except Terminated:
        ...     print("terminated")
        terminated
    """
    raise Terminated()


_COMMAND_LINE = contextvars.ContextVar("sheetopt_command_line", default=False)


@contextlib.contextmanager
def command_line() -> Iterator[None]:
    """Within this block, messages name options as the command line spells them
    (``--force``, ``--lr``); outside it, as Python arguments (``force=True``, ``lr``)."""
    token = _COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _COMMAND_LINE.reset(token)


def on_command_line() -> bool:
    """Whether the ``sheetopt`` command is running (inside ``command_line()``)."""
    return _COMMAND_LINE.get()


def option(name: str, value: str | None = None) -> str:
    """How a message names the option ``name`` (a Python argument name such as ``sqr_mom``):
    ``--sqr-mom`` on the command line, ``sqr_mom`` in Python; with ``value`` (a flag's
    setting, "True"), ``--force`` against ``force=True``."""
    if _COMMAND_LINE.get():
        return "--" + name.replace("_", "-")
    return f"{name}={value}" if value is not None else name


def plain_interrupt(function: F) -> F:
    """Ctrl-C while ``function`` runs raises a plain KeyboardInterrupt from it: the traceback
    ends at the public function that was called, not deep in numba, numpy or pandas. Nothing
    is left half-written (outputs go through ``files.atomic_output``).

    Example:
        >>> @plain_interrupt
        ... def long_run():
        ...     raise KeyboardInterrupt  # as if Ctrl-C landed deep inside
        >>> try:
        ...     long_run()
        ... except KeyboardInterrupt as stop:
        ...     print(repr(stop), stop.__context__, stop.__suppress_context__)
        KeyboardInterrupt() None True
    """
    @functools.wraps(function)
    def interruptible(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except KeyboardInterrupt:
            pass
        raise KeyboardInterrupt from None  # raised here: the traceback stops at this frame

    return interruptible  # type: ignore[return-value]


@contextlib.contextmanager
def interrupt_kept() -> Iterator[None]:
    """Ctrl-C within this block is held and raised as KeyboardInterrupt when the block ends;
    so is SIGTERM in the ``sheetopt`` program (as :class:`Terminated`).

    For a kernel's first call, which compiles it: LLVM's code generation calls back into Python
    (llvmlite's object cache), the first Python code to run after the signal, and a
    KeyboardInterrupt raised in that callback is printed as "Exception ignored" and lost, so
    the run went on to the end (a SIGTERM too: the workbook of a killed run was written).
    Outside the main thread, or where the program has its own SIGINT or SIGTERM handler,
    nothing changes for that signal.

    Example:
        >>> import os, signal
        >>> before = signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own
        >>> try:
        ...     with interrupt_kept():
        ...         os.kill(os.getpid(), signal.SIGINT)  # as if Ctrl-C landed in a callback
        ...         print("the block ran to its end")
        ... except KeyboardInterrupt:
        ...     print("then Ctrl-C")
        the block ran to its end
        then Ctrl-C
        >>> _ = signal.signal(signal.SIGINT, before)  # (a shell's background job ignores it)
    """
    ours = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: raise_terminated}
    held = ([number for number, handler in ours.items() if signal.getsignal(number) is handler]
            if threading.current_thread() is threading.main_thread() else [])
    pressed: list[int] = []
    for number in held:
        signal.signal(number, lambda number, frame: pressed.append(number))
    try:
        yield
    finally:
        for number in held:
            signal.signal(number, ours[number])
    if pressed:
        ours[pressed[0]](pressed[0], None)  # raises the first signal's exception
