"""Memory a run would take, checked before it starts, so a run too big fails with one line.

What a new allocation can take is the least of three figures: the machine's available memory
(MemAvailable), the room left under this process's address-space limit (RLIMIT_AS, `ulimit
-v`), and the room left under its cgroup's memory limit (v2 memory.max, v1
memory.limit_in_bytes; a container's or a systemd unit's limit).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import SheetoptError

SHARE = 0.8  # refuse what would take more than this share of the memory available now
CGROUP_ROOT = Path("/sys/fs/cgroup")
_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a number near 2**63


def machine_bytes() -> int:
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


def address_space_room() -> int | None:
    """Bytes this process may still map under its RLIMIT_AS soft limit (None: no limit)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not Unix
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(0, soft - _status_kib("VmSize") * 1024)


def _status_kib(key: str) -> int:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def cgroup_room(root: Path = CGROUP_ROOT, membership: str | None = None) -> int | None:
    """Bytes this process's cgroup (and every cgroup above it) can still charge before its
    memory limit: limit less usage, plus the page cache it could reclaim (None: no limit).
    ``membership`` stands for /proc/self/cgroup's text (tests)."""
    if membership is None:
        try:
            membership = Path("/proc/self/cgroup").read_text()
        except OSError:
            return None
    rooms = []
    for line in membership.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2: one unified hierarchy
            files, base = ("memory.max", "memory.current", "inactive_file"), root
        elif "memory" in controllers.split(","):  # v1: the memory controller's own tree
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
            base = root / "memory"
        else:
            continue
        rooms += _rooms_up(base, path, *files)
    return min(rooms) if rooms else None


def _rooms_up(base: Path, path: str, limit_file: str, usage_file: str, cache_key: str):
    """limit - usage + reclaimable cache at each level from the cgroup up to the root that is
    mounted here (a container sees its own cgroup as the root)."""
    parts = [p for p in path.strip("/").split("/") if p]
    for depth in range(len(parts), -1, -1):
        folder = base.joinpath(*parts[:depth])
        limit = _read_int(folder / limit_file)
        usage = _read_int(folder / usage_file)
        if limit is None or usage is None or limit >= _UNLIMITED:
            continue
        yield max(0, limit - usage + _stat(folder / "memory.stat", cache_key))


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return _UNLIMITED
    try:
        return int(text)
    except ValueError:
        return None


def _stat(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def limit() -> tuple[int, str]:
    """What a new allocation can take now, and the words that say what sets that figure.

    >>> size, why = limit()
    >>> size > 0 and why.startswith("this")
    True
    """
    options = [(machine_bytes(), "this machine has {} available")]
    room = address_space_room()
    if room is not None:
        options.append((room, "this process's address-space limit (RLIMIT_AS, ulimit -v) "
                              "leaves {}"))
    room = cgroup_room()
    if room is not None:
        options.append((room, "this process's cgroup memory limit leaves {}"))
    return min(options, key=lambda option: option[0])


def available_bytes() -> int:
    """Memory a new allocation can take now: the least of the machine's, the address-space
    limit's and the cgroup's figures (see :func:`limit`)."""
    return limit()[0]


def size_text(size: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if size >= scale / 8:
            return f"{size / scale:.2f} {unit}" if unit != "MiB" else f"{size / scale:.1f} MiB"
    return f"{size / 2**20:.1f} MiB"


def require(need: float, what: str, advice: str, free: float | None = None) -> None:
    """Raises a one-line error when ``need`` bytes exceed the share of ``free`` (default: what
    a new allocation can take now, see :func:`limit`).

    >>> require(1 << 20, "a small run", "use fewer epochs")
    """
    if free is None:
        free, why = limit()
    else:
        why = "this machine has {} available"
    if need > SHARE * free:
        raise SheetoptError(f"{what} would need about {size_text(need)} of memory; "
                            f"{why.format(size_text(free))}; {advice}")


def fewer(**counts: int) -> str:
    """Advice naming the largest of the factors a size grows with.

    >>> fewer(epochs=36_000, rows=29)
    'use fewer epochs (now 36,000)'
    """
    name, value = max(counts.items(), key=lambda item: item[1])
    return f"use fewer {name} (now {value:,})"
