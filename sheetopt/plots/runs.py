"""Which recorded runs a picture draws, in the spec's order, each with its own colour."""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from ..errors import SheetoptError
from ..spec import Spec
from ..protocol.trace import Trace

Traces = Mapping[str, Trace] | Trace


def selected(spec: Spec, traces: Traces, sheets: Iterable[str] | None = None) -> list[Trace]:
    """The traces of ``sheets`` (all given traces when None), in the spec's sheet order."""
    if isinstance(traces, Trace):
        traces = {traces.sheet: traces}
    if sheets is None:
        wanted = [s.name for s in spec.sheets if s.name in traces]
    else:
        wanted = []
        for name in sheets:
            spec.sheet(name)  # one line naming the spec and its sheets when unknown
            if name not in traces:
                raise SheetoptError(f"{spec.label}: sheet {name!r} was not run; run it first")
            if name not in wanted:
                wanted.append(name)
        order = [s.name for s in spec.sheets]
        wanted.sort(key=order.index)
    if not wanted:
        raise SheetoptError(f"{spec.label}: nothing to draw (no sheet's run was given)")
    return [traces[name] for name in wanted]


def color(spec: Spec, name: str) -> str:
    """A sheet's colour, the same in every picture: matplotlib's cycle by the sheet's place."""
    names = [s.name for s in spec.sheets]
    return f"C{names.index(name) % 10}" if name in names else "C9"


def points(trace: Trace, p: str) -> np.ndarray:
    """Parameter ``p`` at the start and after every recorded step (len(trace) + 1 values)."""
    return np.concatenate([[float(trace.start[p])], np.asarray(trace.steps[f"new_{p}"], float)])


def title_of(trace: Trace) -> str:
    if trace.diverged_at:
        epoch, step = trace.diverged_at
        return f"{trace.sheet} (diverged at epoch {epoch}, step {step})"
    return trace.sheet
