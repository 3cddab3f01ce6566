"""Memory of finished runs' kernel arrays, kept for the next runs.

Memory fresh from the system costs a page fault per 4 KiB page when it is first touched, and
the C allocator hands a sweep's megabytes back to the system once they are freed: a
100,000-configuration sweep of the lecture's Adam took 3,000 to 9,000 faults a call, a fifth of
its time on a virtual machine (``python benchmarks/sweep.py --api`` counts them). Its arrays
are the same sizes call after call, so the blocks under them are kept when the last array using
one is gone, and handed out again.

A block is a numpy byte array; what a run gets is a view of it made through a ``memoryview``,
so that every numpy view of that array keeps it (numpy gives a view the first array up its
chain that owns its memory or whose base is no array) and a finalizer on it sees the last one
go.

>>> spares = Spares(limit=1 << 20)
>>> first = spares.take(4096, zeroed=True)
>>> view = first[64:128].view(np.float64)
>>> del first
>>> len(spares.idle())  # the view keeps the block in use
0
>>> del view
>>> len(spares.idle())
1
"""
from __future__ import annotations

import collections
import threading
import weakref

import numpy as np

LIMIT = 1 << 26  # idle blocks kept at most, in bytes (64 MiB); the oldest go first
WASTE = 2  # a block serves a request of at least 1 / WASTE of its size


class Spares:
    """Idle blocks, and the blocks given back by finalizers (from any thread) since."""

    def __init__(self, limit: int = LIMIT):
        self.limit = limit
        self.given_back: collections.deque = collections.deque()  # appended by finalizers
        self.kept: list[np.ndarray] = []  # idle blocks, oldest first
        self.lock = threading.Lock()

    def idle(self) -> list[np.ndarray]:
        """The blocks no array uses, oldest first (those given back included)."""
        with self.lock:
            self._collect()
            return list(self.kept)

    def take(self, nbytes: int, zeroed: bool) -> np.ndarray:
        """A writable byte array of ``nbytes``: an idle block's (the smallest that fits, filled
        with zeros when ``zeroed``) or a new one (zeroed by the allocator, calloc: its pages
        untouched until written)."""
        with self.lock:
            self._collect()
            fits = [i for i, block in enumerate(self.kept)
                    if nbytes <= block.nbytes <= WASTE * nbytes]
            block = self.kept.pop(min(fits, key=lambda i: self.kept[i].nbytes)) if fits else None
        if block is None:
            block = (np.zeros if zeroed else np.empty)(nbytes, dtype=np.uint8)
        elif zeroed:
            block[:nbytes] = 0
        out = np.frombuffer(memoryview(block), dtype=np.uint8, count=nbytes)
        done = weakref.finalize(out, self.given_back.append, block)
        done.atexit = False
        return out

    def _collect(self) -> None:
        """Moves the blocks given back to the idle ones; drops the oldest beyond the limit."""
        while self.given_back:
            self.kept.append(self.given_back.popleft())
        total = sum(block.nbytes for block in self.kept)
        while total > self.limit:
            total -= self.kept.pop(0).nbytes


SPARES = Spares()
