"""Every rule of the keras, optax and fastai flavours, each option set of its registry grid in
mini-batches of 5 for one epoch, and each Keras and optax schedule of its grid driving an
optimizer of its library online for one epoch (29 steps: the lr formula of each row a closed
form of its step), written to one workbook whose cached values are then blanked
(gnumeric.blank_caches), recalculated by LibreOffice and by Gnumeric (spreadsheet programs we did
not write): every formula cell agrees with the engine's value, within 1e-12 of the magnitude of
the formula's operands (gnumeric.compare's rule), and ``sheetopt check`` accepts the result.
"""
from __future__ import annotations

import pytest

import gnumeric
import libreoffice
import sheetopt
from sheetopt.cli import main
from sheetopt.rules.registry import FRAMEWORK_RULES
from sheetopt.schedules import LIBRARY_SCHEDULES

SCHEDULED = {"keras": {"optimizer": "sgd", "learning_rate": 1e-4, "momentum": 0.9},
             "optax": {"optimizer": "adam", "learning_rate": 1e-4}}


def every_framework_rule():
    tables = [{"name": f"{r.flavor} {r.optimizer} {i}", "optimizer": r.optimizer,
               "flavor": r.flavor, "epochs": 1, "batch": 5, **options}
              for r in FRAMEWORK_RULES for i, options in enumerate(r.grid)]
    tables += [{"name": f"{s.name[:26]} {i}", "flavor": s.library, "epochs": 1,
                **SCHEDULED[s.library],
                "schedule": {s.library: s.name, **{k: {str(b): v for b, v in v.items()}
                                                   if isinstance(v, dict) else v
                                                   for k, v in args.items()}}}
               for s in LIBRARY_SCHEDULES.values() for i, args in enumerate(s.grid)]
    return sheetopt.spec.parse({"data": {"preset": "lecture"}, "sheet": tables})


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory):
    """(the workbook sheetopt wrote, its formula cell count, program -> its recalculation)."""
    libreoffice.require_soffice()
    gnumeric.require_ssconvert()
    work = tmp_path_factory.mktemp("frameworks")
    written, blank = work / "frameworks.xlsx", work / "blank" / "frameworks.xlsx"
    blank.parent.mkdir()
    sheetopt.write_workbook(every_framework_rule(), written)
    count = gnumeric.blank_caches(written, blank)
    return written, count, {
        "libreoffice": libreoffice.recalculate([blank], work / "lo")[0],
        "gnumeric": gnumeric.recalculate([blank], work / "gn")[0]}


@pytest.mark.filterwarnings("ignore:Workbook contains no default style")  # openpyxl, in check
@pytest.mark.parametrize("program", ["libreoffice", "gnumeric"])
def test_every_framework_rule_recomputes_in_a_spreadsheet(recalculated, program):
    written, blanked, out = recalculated
    compared, _, failures = gnumeric.compare(written, out[program])
    assert not failures, (f"{program}: {len(failures)} of {compared} formula cells differ:\n"
                          + "\n".join(failures[:20]))
    assert compared == blanked > 500  # every formula cell, each with a wrong cached value
    assert main(["check", str(out[program])]) == 0
