"""The distance to the truth is one definition: compare (and the API) and the workbook's
compare sheet give the same number, bit for bit, on every shipped preset."""
from __future__ import annotations

import math
from pathlib import Path

import openpyxl
import pytest

import sheetopt
from sheetopt.ops import distance, numpy_ops
from sheetopt.protocol.report import knows_distance
from sheetopt.spec import load

SHIPPED = Path(__file__).resolve().parents[1] / "workbooks"


def workbook_distances(path: Path) -> dict[str, float]:
    """Sheet name -> the cached 'distance to truth' of the workbook's compare sheet."""
    book = openpyxl.load_workbook(path, data_only=True, read_only=True)
    out = {}
    for ws in [book["compare"]]:
        rows = list(ws.iter_rows(values_only=True))
        for i, row in enumerate(rows):
            if "distance to truth" in row:
                col = row.index("distance to truth")
                for below in rows[i + 1:]:
                    if not below or below[0] is None or below[col] is None:
                        break
                    out[str(below[0])] = below[col]
                return out
    return out


@pytest.mark.parametrize("preset", [p for p in sheetopt.preset_names()  # surfaces: no truth
                                    if (SHIPPED / f"{p}.xlsx").exists() and knows_distance(load(p))
                                        and not load(p).model.minima])
def test_compare_and_the_workbook_give_the_same_distance(preset):
    result = sheetopt.run(preset)
    stored = workbook_distances(SHIPPED / f"{preset}.xlsx")
    reported = {s.name: s.distance for s in result.summaries if s.distance is not None}
    assert reported and stored.keys() == reported.keys()
    for name, value in reported.items():
        assert value == stored[name], name  # bit for bit, not approximately


def test_the_distance_sums_left_to_right_as_a_spreadsheet_does():
    # 0.1^2 + 0.2^2 + 0.3^2 left to right, then its root: not math.hypot's correctly rounded
    # figure where the two differ
    final, true = {"a": 0.1, "b": 0.2, "c": 0.3}, {"a": 0.0, "b": 0.0, "c": 0.0}
    expected = math.sqrt((0.1 ** 2 + 0.2 ** 2) + 0.3 ** 2)
    assert float(distance(final, true, ["a", "b", "c"], numpy_ops)) == expected
