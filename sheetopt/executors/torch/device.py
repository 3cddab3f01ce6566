"""Importing torch on demand, and choosing the device and dtype the backend computes on."""
from __future__ import annotations

import importlib
import os
import sys

from ...errors import SheetoptError, option

MIN_TORCH = (2, 1)  # as pyproject.toml's torch>=2.1
INSTALL = "pip install torch==2.13.0 (the CPU build), then pip install 'sheetopt[torch]'"
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float64", "float32")


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("+")[0].split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def require_torch():
    """The torch module, or a one-line SheetoptError saying how to install a recent one."""
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        raise SheetoptError(f"this command needs torch, which is not installed: {INSTALL}") from None
    except (OSError, RuntimeError) as exc:  # a broken install: a missing library, a bad build
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise SheetoptError(f"this command needs torch, which is installed but fails to import "
                            f"({type(exc).__name__}: {reason}); reinstall it: {INSTALL}") from None
    version = getattr(torch, "__version__", "0")
    if _version_tuple(version) < MIN_TORCH:
        wanted = ".".join(map(str, MIN_TORCH))
        raise SheetoptError(f"torch {version} is too old (sheetopt needs {wanted} or later): "
                            f"{INSTALL}")
    return torch


# Linux has one of these when an NVIDIA driver is loaded (/dev/dxg: WSL 2's GPU); without any,
# torch cannot see a CUDA device, and is not imported (seconds) to be asked.
DRIVER_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia", "/dev/dxg")


def cuda_available() -> bool:
    """True when torch is installed and sees a CUDA device (False without torch)."""
    if sys.platform.startswith("linux") and not any(map(os.path.exists, DRIVER_FILES)):
        return False
    try:
        torch = require_torch()
    except SheetoptError:
        return False
    return bool(torch.cuda.is_available())


def pick_device(name: str = "auto"):
    """``auto`` (CUDA when available, else the CPU), ``cpu`` or ``cuda`` as a torch.device."""
    torch = require_torch()
    if name not in DEVICES:
        raise SheetoptError(f"device {name!r} is not one of {', '.join(DEVICES)}")
    if name == "cuda" and not cuda_available():
        raise SheetoptError(f"{option('device')} cuda: no CUDA GPU is available to torch here "
                            f"(torch {torch.__version__}); use {option('device')} cpu or auto")
    if name == "auto":
        name = "cuda" if cuda_available() else "cpu"
    return torch.device(name)


def pick_dtype(name: str = "float64"):
    torch = require_torch()
    if name not in DTYPES:
        raise SheetoptError(f"dtype {name!r} is not one of {', '.join(DTYPES)}")
    return getattr(torch, name)
