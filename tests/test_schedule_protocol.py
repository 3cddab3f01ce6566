"""A new schedule kind is one class in sheetopt/schedules/: the run, the workbook's cells and the
compiled executor's choice come from the schedule protocol (``per_step``, ``sets``, ``hypers``),
with no branch on its kind anywhere else.

The kind here is an inverse-time decay, lr / (1 + 3 * done / total), a closed form of the step as
Keras's and optax's schedules are. Its workbook is recalculated by Gnumeric (a program we did not
write) and must agree with the engine cell for cell."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gnumeric import blank_caches, compare, recalculate, require_ssconvert
from sheetopt.executors import compiled
from sheetopt.protocol import engine
from sheetopt.schedules import Schedule
from sheetopt.spec import load
from sheetopt.workbook import write_workbook

DECAY = 3.0


class InverseTime(Schedule):
    """lr / (1 + DECAY * done / total), written once over ``ops``."""

    per_step = True

    def sets(self, hypers):
        return ("lr",)

    def hypers(self, hp, lr, done, total, ops, clock=None):
        return dict(hp, lr=hp["lr"] / (1 + DECAY * done / total))


def spec_with_the_new_kind():
    spec = load("lesson5")
    sheets = tuple(replace(s, schedule=InverseTime("inverse_time"))
                   for s in spec.sheets if s.name in ("momentum", "adam"))
    return replace(spec, sheets=sheets)


def test_the_engine_steps_with_the_kinds_lr():
    spec = spec_with_the_new_kind()
    sheet = spec.sheet("momentum")
    trace = engine.run(spec, "momentum")
    total = spec.steps(sheet)
    t = np.arange(1, len(trace) + 1, dtype=float)
    expected = sheet.hypers["lr"] / (1 + DECAY * (t - 1) / total)
    np.testing.assert_array_equal(trace.steps["lr"], expected)
    assert trace.steps["lr"][0] == sheet.hypers["lr"] and trace.steps["lr"][-1] < sheet.hypers["lr"]


@pytest.mark.skipif(not compiled.available(), reason="numba is not installed")
def test_the_compiled_executor_leaves_a_kind_it_cannot_render_to_numpy():
    """The kind says nothing of the kernel (no kernel_hypers): the compiled executor declines
    it rather than run it at the epoch's lr, and auto picks numpy."""
    spec = spec_with_the_new_kind()
    sheet = spec.sheet("adam")
    assert not compiled.supports(spec, sheet)
    assert engine.executor_for(spec, sheet, engine.work(10**9)) == "numpy"


def test_the_workbook_writes_the_kinds_lr_as_step_formulas_gnumeric_recomputes(tmp_path):
    require_ssconvert()
    spec = spec_with_the_new_kind()
    written = tmp_path / "inverse-time.xlsx"
    write_workbook(spec, written)
    blanked = tmp_path / "blanked.xlsx"
    count = blank_caches(written, blanked)
    (gnumeric,) = recalculate([blanked], tmp_path / "out")
    compared, _, failures = compare(written, gnumeric)
    assert not failures, f"{len(failures)} of {compared} cells differ:\n" + "\n".join(failures[:20])
    assert compared == count > 0
