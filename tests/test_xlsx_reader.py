"""The .xlsx reader's XML: sheets read by expat handlers (sheetrows.py) with the guards of
safexml.py. The expected values and messages below are what the reader read before, through
defusedxml's ElementTree (recorded on main before the change), for XML that no writer makes:
nested rows, a <sheetData> inside an inline string, comments inside a <v>, entities and
DOCTYPEs; then random damage, which always gives rows or one SheetoptError line."""
from __future__ import annotations

import doctest
import io
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from benchmark_cases import benchmark
from sheetopt.errors import SheetoptError
from sheetopt.reader import safexml, sheetrows, xlsx

fuzz = benchmark("fuzz")
NS = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def body(rows: bytes, decl: bytes = b'<?xml version="1.0" encoding="UTF-8"?>', pre: bytes = b""):
    return decl + pre + b"<worksheet " + NS + b"><sheetData>" + rows + b"</sheetData></worksheet>"


@pytest.fixture(scope="module")
def parts() -> dict[str, bytes]:
    return fuzz._parts(fuzz.small_workbook())


def book_with(folder: Path, parts: dict[str, bytes], xml: bytes, stored: bool = False) -> Path:
    """The small workbook with its 'basic' sheet's XML replaced by ``xml``."""
    path, part = folder / "book.xlsx", fuzz._sheet_parts(parts)[2]
    path.write_bytes(fuzz._zip({**parts, part: xml}, stored=(part,) if stored else ()))
    return path


def read(path: Path, max_row: int | None = None) -> list:
    """rows() of the 'basic' sheet as (row, values) pairs, with the error as its last item."""
    out = []
    with xlsx.open_xlsx(path) as book:
        try:
            for row, values, _ in book["basic"].rows(max_row):
                out.append((row, [(type(v).__name__, v) for v in values]))
        except SheetoptError as exc:
            text = str(exc)
            assert "\n" not in text and text.startswith(f"{path}: ")
            out.append(text.split("(sheet 'basic')", 1)[1])
    return out


def f(value):
    return ("float", value)


def s(text):
    return ("str", text)


NONE = ("NoneType", None)
CASES = {
    "comment in v": (b'<row r="1"><c r="A1"><v>1<!--x-->2</v></c></row>', [(0, [f(12.0)])]),
    "pi and cdata in v": (b'<row r="1"><c r="A1"><v>1<?p q?><![CDATA[2]]></v></c></row>',
                          [(0, [f(12.0)])]),
    "child in v": (b'<row r="1"><c r="A1"><v>12<x/>34</v></c><c r="B1"><v><x/>5</v></c></row>',
                   [(0, [f(12.0), NONE])]),
    "two v": (b'<row r="1"><c r="A1"><v></v><v>5</v></c><c r="B1"><v>6</v><v>7</v></c></row>',
              [(0, [NONE, f(6.0)])]),
    "entities": (b'<row r="1"><c r="A1" t="str"><v>a&amp;b&#65;&lt;&#x42;</v></c></row>',
                 [(0, [s("a&bA<B")])]),
    "nested rows": (b'<row r="2"><c r="A2"><v>1</v></c><row r="1"><c r="A1"><v>2</v></c>'
                    b'</row></row>', [(0, [f(2.0)]), (1, [f(1.0)])]),
    "row in a cell": (b'<row r="3"><c r="A3"><row r="1"><c r="A1"><v>2</v></c></row><v>4</v>'
                      b'</c></row>', [(0, [f(2.0)]), (2, [f(4.0)])]),
    "row in an inline string": (b'<row r="3"><c r="A3" t="inlineStr"><is><r><t>a</t><row r="1">'
                                b'<c r="B1"><v>1</v></c></row><t>b</t></r></is></c></row>',
                                [(0, [NONE, f(1.0)]), (2, [s("ab")])]),
    "its text cleared with it": (b'<row r="3"><c r="A3" t="inlineStr"><is><r><row r="1"><t>x'
                                 b'</t></row><t>b</t></r></is></c></row>',
                                 [(0, []), (2, [s("b")])]),
    "sheetData in a string": (b'<row r="3"><c r="A3" t="inlineStr"><is><r><sheetData><t>x</t>'
                              b'</sheetData></r></is></c></row><row r="4"/>',
                              [(2, [s("x")]), (3, [])]),
    "cleared by an inner row": (b'<row r="3"><c r="A3" t="inlineStr"><is><r><sheetData><t>x</t>'
                                b'<row r="1"/></sheetData></r></is></c></row>',
                                [(0, []), (2, [s("")])]),
    "runs": (b'<row r="1"><c r="A1" t="inlineStr"><is><r><t>a</t></r><r><rPr/><t>b</t></r>'
             b'<rPh><t>p</t></rPh></is></c><c r="B1" t="inlineStr"><is><r><t>a</t><r><t>b</t>'
             b'</r></r></is></c><c r="C1" t="inlineStr"><is><r><t>a</t></r><t>own</t></is></c>'
             b'</row>', [(0, [s("ab"), s("abb"), s("own")])]),
    "cell in a cell": (b'<row r="1"><c r="A1"><c r="B1"><v>1</v></c><v>2</v></c></row>',
                       [(0, [f(2.0)])]),
    "formula only": (b'<row r="1"><c r="A1"><f>1+1</f></c><c r="B1"><x><f/></x><v>2</v></c>'
                     b'</row>', [(0, [NONE, f(2.0)])]),
    "prefixed": (b'<row r="1"><x:c xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/'
                 b'main" r="A1" x:t="s"><x:v>1</x:v></x:c></row>', [(0, [f(1.0)])]),
    "default attribute": (b'<row r="1"><c r="A1"><v>7</v></c></row>', [(0, [("CellError", "7")])]),
    "latin-1": (b'<row r="1"><c r="A1" t="str"><v>caf\xe9</v></c></row>', [(0, [s("café")])]),
    "line ends": (b'<row r="1"><c r="A1" t="str"><v>a\r\nb\rc</v></c></row>',
                  [(0, [s("a\nb\nc")])]),
}
PROLOG = {"default attribute": (b"", b'<!DOCTYPE worksheet [<!ATTLIST c t CDATA "e">]>'),
          "latin-1": (b'<?xml version="1.0" encoding="ISO-8859-1"?>', b"")}


@pytest.mark.parametrize("name", CASES)
def test_xml_no_writer_makes_reads_as_elementtree_read_it(tmp_path, parts, name):
    rows, expected = CASES[name]
    decl, pre = PROLOG.get(name, (b'<?xml version="1.0"?>', b""))
    assert read(book_with(tmp_path, parts, body(rows, decl or b"", pre))) == expected


FLAT = b"".join(b'<row r="%d"><c r="A%d"><v>%d</v></c></row>' % (i, i, i) for i in range(1, 3000))
MESSAGES = {
    "entity declared": (body(b'<row r="1"/>', pre=b'<!DOCTYPE w [<!ENTITY e "5">]>'),
                        ": refused: the XML declares entities (possible XML bomb)"),
    "external entity": (body(b'<row r="1"/>', pre=b'<!DOCTYPE w [<!ENTITY e SYSTEM "/etc/x">]>'),
                        ": refused: the XML declares entities (possible XML bomb)"),
    "undefined entity": (body(b'<row r="1"><c r="A1"><v>&e;</v></c></row>',
                              pre=b'<!DOCTYPE worksheet SYSTEM "x.dtd">'),
                         ": damaged XML (undefined entity &e;: line 1, column 185)"),
    "standalone": (body(b'<row r="1"><c r="A1"><v>&e;</v></c></row>',
                        decl=b'<?xml version="1.0" standalone="yes"?>',
                        pre=b'<!DOCTYPE worksheet SYSTEM "x.dtd">'),
                   ": damaged XML (undefined entity: line 1, column 185)"),
    "empty": (b"", ": damaged: empty XML"),
    "unknown encoding": (body(b"", decl=b'<?xml version="1.0" encoding="x-none"?>'),
                         ": damaged XML (unknown encoding: x-none)"),
    "truncated": (body(b'<row r="1"/>')[:-20], ": damaged XML (unclosed token: line 1, "
                                               "column 138)"),
}


@pytest.mark.parametrize("name", MESSAGES)
def test_refused_and_damaged_xml_are_one_line(tmp_path, parts, name):
    xml, expected = MESSAGES[name]
    assert read(book_with(tmp_path, parts, xml))[-1] == expected


def test_rows_before_an_xml_error_come_first_and_a_bad_cell_before_it_wins(tmp_path, parts):
    rows = read(book_with(tmp_path, parts, body(FLAT + b"<bad")))
    assert len(rows) == 3000 and rows[2998] == (2998, [f(2999.0)])
    assert rows[-1] == ": damaged XML (not well-formed (invalid token): line 1, column 140761)"
    assert read(book_with(tmp_path, parts, body(FLAT)[:-50] + b"</x>"), max_row=2997)[-1] == (
        2996, [f(2997.0)])  # stops before reaching the damage
    bad = read(book_with(tmp_path, parts, body(b'<row r="1"><c r="A1"><v>x</v></c></row><x></y>')))
    assert bad == [" cell A1: a number cell holds 'x', not a number"]
    inside = read(book_with(tmp_path, parts, body(b'<row r="1"><c r="A1"><v>x</v></c></y></row>')))
    assert inside == [": damaged XML (mismatched tag: line 1, column 161)"]


def test_deep_nesting_reads_and_a_huge_text_is_one_value(tmp_path, parts):
    deep = body(b'<row r="1"><c r="A1"><v>1</v></c></row>' + b"<q>" * 120_000 + b"</q>" * 120_000)
    assert read(book_with(tmp_path, parts, deep)) == [(0, [f(1.0)])]
    unclosed = read(book_with(tmp_path, parts, body(b"<q>" * 120_000)))
    assert unclosed == [": damaged XML (mismatched tag: line 1, column 360128)"]
    text = b"ab" * 3_000_000  # comes in many pieces
    rows = read(book_with(tmp_path, parts, body(b'<row r="1"><c r="A1" t="str"><v>' + text +
                                                b"</v></c></row>"), stored=True))
    assert rows == [(0, [s(text.decode())])]


def test_memory_stays_flat_on_a_big_sheet(tmp_path, parts):
    rows = b"".join(b'<row r="%d"><c r="A%d"><f>B%d</f><v>%d.5</v></c><c r="B%d" t="str"><v>t'
                    b'</v></c></row>' % (i, i, i, i, i) for i in range(1, 60_001))
    path = book_with(tmp_path, parts, body(rows))
    tracemalloc.start()
    try:
        with xlsx.open_xlsx(path) as book:
            count = sum(1 for _ in book["basic"].rows())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 60_000 and len(rows) > 5_000_000
    assert peak < 3_000_000, peak  # a few chunks' rows, not the 5 MB sheet


def test_shared_strings_read_as_before(tmp_path, parts):
    rels = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", b'<Relationship Id="rId99" Type="http://schemas.openxmlformats.org/'
        b'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
        b"</Relationships>")
    table = (b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>a'
             b'</t><si><t>b</t></si></si><si><r><si><t>q</t></si><t>z</t></r></si><si><t>&amp;'
             b'&#65;</t></si></sst>')
    cells = body(b'<row r="1">' + b"".join(b'<c r="%s1" t="s"><v>%d</v></c>' % (c, i)
                                             for i, c in enumerate([b"A", b"B", b"C", b"D"]))
                 + b"</row>")
    path = tmp_path / "strings.xlsx"
    path.write_bytes(fuzz._zip({**parts, "xl/_rels/workbook.xml.rels": rels,
                                fuzz._sheet_parts(parts)[2]: cells, "xl/sharedStrings.xml": table}))
    assert read(path) == [(0, [s("b"), s("a"), s("q"), s("z")])]  # inner <si>s counted first
    path.write_bytes(fuzz._zip({**parts, "xl/_rels/workbook.xml.rels": rels,
                                fuzz._sheet_parts(parts)[2]: cells,
                                "xl/sharedStrings.xml": b'<!DOCTYPE s [<!ENTITY a "x">]>' + table}))
    with xlsx.open_xlsx(path) as book, pytest.raises(SheetoptError) as caught:
        book.strings()
    assert str(caught.value) == (f"{path}: xl/sharedStrings.xml: refused: the XML declares "
                                 f"entities (possible XML bomb)")


TOKENS = [b"<", b"&", b">", b"\x00", b"</c>", b"<x>", b"\xff", b"</row>", b"<row>", b"<v>",
          b"</v>", b"&foo;", b"<!--c-->", b"<![CDATA[1]]>", b'<row r="3"/>', b"</sheetData>",
          b'"', b"=", b"<is><t>z</t></is>", b"<!DOCTYPE x>", b'<!ENTITY e "x">', b"\xc3"]


@settings(max_examples=300, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(st.data())
def test_random_damage_gives_rows_or_one_line(tmp_path_factory, parts, data):
    """Tokens inserted, spans deleted or doubled, cuts, in a sheet, the shared strings or the
    workbook part: every sheet reads or fails with one SheetoptError line."""
    part = data.draw(st.sampled_from(fuzz._sheet_parts(parts) + ["xl/workbook.xml"]))
    text = parts[part]
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(at, min(len(text), at + 60)))
        edit = data.draw(st.sampled_from(["insert", "delete", "double", "cut"]))
        text = {"insert": lambda: text[:at] + data.draw(st.sampled_from(TOKENS)) + text[at:],
                "delete": lambda: text[:at] + text[end:],
                "double": lambda: text[:end] + text[at:],
                "cut": lambda: text[:at]}[edit]()
    path = tmp_path_factory.mktemp("damage") / "book.xlsx"
    path.write_bytes(fuzz._zip({**parts, part: text}))
    try:
        with xlsx.open_xlsx(path) as book:
            for name in book.sheetnames:
                for _ in book[name].rows():
                    pass
    except SheetoptError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{path}: ")


@pytest.mark.parametrize("module", [safexml, sheetrows])
def test_docstring_examples_run(module):
    found = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert found.failed == 0 and found.attempted > 0


def test_a_chunk_boundary_inside_a_value_changes_nothing(parts, tmp_path):
    pad = b" " * (safexml.CHUNK - 200)
    rows = [(0, [f(1234.5)])]
    for shift in range(0, 400, 7):
        xml = body(b"<!--" + pad[:safexml.CHUNK - 200 + shift] + b'--><row r="1"><c r="A1">'
                   b"<v>1234.5</v></c></row>")
        assert read(book_with(tmp_path, parts, xml)) == rows


def test_the_zip_stream_is_read_a_chunk_at_a_time():
    stream = io.BytesIO(body(FLAT))
    parser = safexml.guarded_parser(sheetrows.NAMES)
    collector = sheetrows.RowCollector(parser)
    sizes = [len(collector.take()) for _ in safexml.parse_chunks(parser, stream)]
    assert sum(sizes) == 2999 and len(sizes) > 5 and max(sizes) < 1000
    assert zipfile.is_zipfile(io.BytesIO(fuzz.small_workbook()))
