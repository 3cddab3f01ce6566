"""Memory a run would take, checked before it starts, so a run too big fails with one line."""
from __future__ import annotations

import os

from .errors import SheetoptError

SHARE = 0.8  # refuse what would take more than this share of the memory available now


def available_bytes() -> int:
    """Memory this machine can give a new allocation now (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not Linux
        return 8 << 30


def size_text(size: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if size >= scale / 8:
            return f"{size / scale:.2f} {unit}" if unit != "MiB" else f"{size / scale:.1f} MiB"
    return f"{size / 2**20:.1f} MiB"


def require(need: float, what: str, advice: str, free: float | None = None) -> None:
    """Raises a one-line error when ``need`` bytes exceed the share of ``free`` (default: what
    the machine has available now)."""
    free = available_bytes() if free is None else free
    if need > SHARE * free:
        raise SheetoptError(f"{what} would need about {size_text(need)} of memory; this machine "
                            f"has {size_text(free)} available; {advice}")
