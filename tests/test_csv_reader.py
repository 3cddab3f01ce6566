"""The CSV reader: pandas' C parser for the numbers, today's one-line messages for every bad
cell (the first fault in the file wins), and a TOML spec with a byte order mark."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from sheetopt import cli
from sheetopt.spec import data
from sheetopt.errors import SheetoptError
from sheetopt.models import LINEAR, QUADRATIC
from sheetopt.spec import load


def read(tmp_path: Path, body: str | bytes, model=LINEAR):
    path = tmp_path / "rows.csv"
    path.write_bytes(body.encode() if isinstance(body, str) else body)
    return data.read_csv(path, model)


def message(tmp_path: Path, body: str | bytes, model=LINEAR) -> str:
    with pytest.raises(SheetoptError) as caught:
        read(tmp_path, body, model)
    text = str(caught.value)
    assert "\n" not in text
    return text.replace(str(tmp_path / "rows.csv"), "rows.csv")


@pytest.mark.parametrize("body, expected", [
    ("x,y\n1,2\n3,\n", "rows.csv, line 3: column y is empty"),
    ("x,y\n1,2\n \t,5\n", "rows.csv, line 3: column x is empty"),
    ("x,y\n\n1,2\nthree,4\n", "rows.csv, line 4: column x is not a number: 'three'"),
    ("x,y\n1,True\n", "rows.csv, line 2: column y is not a number: 'True'"),  # pandas: 1.0
    ("x,y\n1_000,2\n", "rows.csv, line 2: column x is not a number: '1_000'"),
    ("x,y\n1,2\n1;5,3\n", "rows.csv, line 3: column x is not a number: '1;5'"),
    ("x,y\n1,2\nnan,4\n", "rows.csv, line 3: column x is 'nan'; values must be finite"),
    ("x,y\n1,NaN\n", "rows.csv, line 2: column y is 'NaN'; values must be finite"),
    ("x,y\n-inf,2\n", "rows.csv, line 2: column x is '-inf'; values must be finite"),
    ("x,y\n1,Infinity\n", "rows.csv, line 2: column y is 'Infinity'; values must be finite"),
    ("x,y\n1,1e400\n", "rows.csv, line 2: column y is '1e400'; values must be finite"),
    ("x,y\n1,2\n3,4,5\n", "rows.csv, line 3: expected 2 cells, found 3"),
    ("x,y\n1,2\n3\n", "rows.csv, line 3: expected 2 cells, found 1"),
    ("x,y\n1,2\n3,4,\n", "rows.csv, line 3: expected 2 cells, found 3"),
    ("u,v\n1,2\n", "rows.csv, line 1: header 'u,v': the linear model needs feature columns "
                    "and a target column y (like x1,x2,y)"),
    ("x,Y,z\n1,2,3\n", "rows.csv, line 1: header 'x,Y,z': the linear model needs feature "
                        "columns and a target column y (like x1,x2,y)"),
    ("y,x,y\n1,2,3\n", "rows.csv, line 1: the column 'y' appears twice"),
    # y anywhere: the cell at fault is named by the file's own column
    ("y,x\n1,2\n3,oops\n", "rows.csv, line 3: column x is not a number: 'oops'"),
    ("x,y\n, \n\n", "rows.csv: the CSV has a header but no rows"),
    ("x,y\n", "rows.csv: the CSV has a header but no rows"),
    ("", "rows.csv: the CSV is empty; expected a header x,y"),
    # the first fault in the file wins, x before y, blank lines counted in the numbering
    ("x,y\n1,2\n\n,oops\nbad,4\n", "rows.csv, line 4: column x is empty"),
    ("x,y\n1,2\n5,nan\n1,2,3\n", "rows.csv, line 3: column y is 'nan'; values must be finite"),
    ("x,y\n" + "1.5,2.5\n" * 50_000 + "7,x7\n",
     "rows.csv, line 50002: column y is not a number: 'x7'"),
])
def test_every_bad_cell_gets_todays_one_line_message(tmp_path, body, expected):
    assert message(tmp_path, body) == expected


def test_a_huge_cell_is_a_bad_cell_not_a_field_size_error(tmp_path):
    text = message(tmp_path, "x,y\n1," + "9" * 200_000 + "z\n")  # the csv module's limit: 131,072
    assert text == ("rows.csv, line 2: column y is not a number: '" + "9" * 100
                    + "'... (200,001 characters)")
    assert read(tmp_path, "x,y\n1," + "0" * 200_000 + "5\n").y.tolist() == [5.0]


def test_values_are_pythons_float_of_each_cell(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(20_000) * 10.0 ** rng.integers(-300, 300, 20_000)
    texts = [repr(v) for v in x.tolist()]
    texts += ["1e5", "-.5", "+3.", "  7 ",
              "0.1000000000000000055511151231257827021181583404541015625"]
    y = rng.uniform(-1, 1, len(texts))
    body = "x,y\r\n" + "".join(f"{a},{b!r}\r\n" for a, b in zip(texts, y.tolist()))
    got = read(tmp_path, body)
    assert got.x.tolist() == [float(t) for t in texts] and got.y.tolist() == y.tolist()
    assert got.x.dtype == np.float64 and got.x.flags.writeable
    # the same rows quoted, with a BOM, blank lines and cells other scripts' digits: the
    # checked path reads what float() reads
    quoted = ("\ufeffx,y\n" + "".join(f'"{a}","{b!r}"\n\n' for a, b in zip(texts, y.tolist()))
              + "\u0661\u0662,\u2009 3\n, \n")
    again = read(tmp_path, quoted)
    assert again.x.tolist() == [float(t) for t in texts] + [12.0]
    assert again.y.tolist() == y.tolist() + [3.0]


def test_the_quadratic_models_header_and_a_quoted_header(tmp_path):
    got = read(tmp_path, '"t","speed"\n0,72.5\n1,55.25\n', QUADRATIC)
    assert got.headers == ("t", "speed") and got.y.tolist() == [72.5, 55.25]
    assert read(tmp_path, "x,y\n1,2\n", QUADRATIC).headers == ("x", "y")


def test_a_spec_with_a_byte_order_mark_loads(tmp_path, capsys):
    path = tmp_path / "spec.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'title = "BOM"\n[data]\npreset = "lecture"\n'
                     b'[[sheet]]\noptimizer = "sgd"\nlr = 0.0001\n')
    assert load(path).title == "BOM"
    assert cli.main(["compare", str(path)]) == 0
    assert "sgd" in capsys.readouterr().out


# --- the two readers: the csv module (small files) and pandas' C parser (large plain files) ---
def _both(tmp_path: Path, body: str, monkeypatch):
    """What read_csv gives (values or the error line) with every file taken as small, then with
    every file taken as large (pandas tried first)."""
    outcomes = []
    for threshold in (float("inf"), 0):
        monkeypatch.setattr(data, "PANDAS_FROM_BYTES", threshold)
        try:
            got = read(tmp_path, body)
            outcomes.append((got.x.tobytes(), got.y.tobytes(), got.headers))
        except SheetoptError as exc:
            outcomes.append(str(exc))
    return outcomes


_digits = st.text("0123456789", min_size=1, max_size=22)
_number_cell = st.builds(  # numbers as people and programs write them, signs and spaces around
    lambda lead, whole, frac, exp, tail: lead + whole + frac + exp + tail,
    st.sampled_from(["", "-", "+", " "]), _digits,
    st.one_of(st.just(""), st.builds(lambda d: "." + d, _digits)),
    st.one_of(st.just(""), st.builds(lambda e, sign, d: e + sign + d, st.sampled_from("eE"),
                                     st.sampled_from(["", "+", "-"]),
                                     st.text("0123456789", min_size=1, max_size=3))),
    st.sampled_from(["", " "]))
# and the plain bytes in shapes that are not numbers, or that only pandas would read as one
_odd_cell = st.one_of(
    st.text("0123456789.+-eE \t", max_size=6),
    st.builds(lambda d, sign, e: "+" + d + "E" + sign + e, _digits,
              st.sampled_from([" ", "\t", " +", "+-"]), st.text("0123456789", max_size=3)))
_plain_cell = st.one_of(_number_cell, _number_cell, _number_cell, _odd_cell)


@settings(max_examples=300, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(_plain_cell, _plain_cell), min_size=1, max_size=6))
def test_small_and_large_files_read_the_same_values_and_faults(tmp_path_factory, rows):
    tmp_path = tmp_path_factory.mktemp("csv")
    body = "x,y\n" + "".join(f"{a},{b}\n" for a, b in rows)
    with pytest.MonkeyPatch.context() as monkeypatch:
        small, large = _both(tmp_path, body, monkeypatch)
    assert small == large


def test_a_plus_sign_is_read_as_float_reads_it(tmp_path, monkeypatch):
    # pandas' C parser rounds these differently from float() and reads "+1E 5" as 1e5
    cells = ["+7.890742593099632928", "+73695.92439648714562", "+0488057568.19236776574417646084",
             "+.14375302499057489e7", "+17897567423.22076560182391E-160", "1e+22", "-1E+5"]
    for threshold in (float("inf"), 0):
        monkeypatch.setattr(data, "PANDAS_FROM_BYTES", threshold)
        got = read(tmp_path, "x,y\n" + "".join(f"{c},1\n" for c in cells))
        assert got.x.tolist() == [float(c) for c in cells]
        assert message(tmp_path, "x,y\n1,2\n+1E 5,3\n") == (
            "rows.csv, line 3: column x is not a number: '+1E 5'")


def test_a_large_file_of_plain_numbers_goes_through_pandas_with_the_same_values(tmp_path):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(250_000) * 10.0 ** rng.integers(-20, 20, 250_000)
    body = "x,y\n" + "".join(f"{a!r},{-a!r}\n" for a in x.tolist())
    assert len(body) >= data.PANDAS_FROM_BYTES
    got = read(tmp_path, body)
    assert got.x.tolist() == x.tolist() and got.y.tolist() == (-x).tolist()
    path = tmp_path / "rows.csv"
    assert data._fast_rows(path, path.read_bytes(), LINEAR) is not None  # pandas read it
