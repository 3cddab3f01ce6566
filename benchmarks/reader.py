"""How fast sheetopt reads a workbook's cells back (what ``sheetopt check`` reads), and whether
the reader's memory grows with the sheet.

Prints, for each shipped workbook (or the ones named): the cells read per CPU-second through
``Worksheet.rows()`` over every sheet (the guarded expat parse, the zip stream inflated, each
cell converted), and the same sheets through ElementTree's C iterparse, unguarded, counting
the rows and clearing them without reading a cell: the baseline, in the same process. Its
ratio is what the guards and the conversion cost beyond a bare C parse. Then the reader's
peak Python memory (tracemalloc) for a synthetic sheet of 20,000 and 200,000 rows and their
ratio (about 1 when memory does not grow with the sheet).

    python benchmarks/reader.py [--repeat 3] [workbooks/digits.xlsx ...]
"""
from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path
from xml.etree.ElementTree import iterparse

from sheetopt.reader.xlsx import open_xlsx

ROOT = Path(__file__).resolve().parents[1]
ROW_TAG = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}row"


def read_cells(path: Path) -> int:
    """Every sheet's cells through the reader; the number of cells read."""
    with open_xlsx(path) as book:
        return sum(len(values) for name in book.sheetnames for _, values, _ in book[name].rows())


def bare_parse(path: Path) -> int:
    """The same sheet parts through ElementTree's C iterparse: rows counted and cleared."""
    rows = 0
    with open_xlsx(path) as book, zipfile.ZipFile(path) as archive:
        for name in book.sheetnames:
            with archive.open(book[name].part) as stream:
                for _, element in iterparse(stream, events=("end",)):
                    if element.tag == ROW_TAG:
                        rows += 1
                        element.clear()
    return rows


def cpu_seconds(function, path: Path, repeat: int) -> float:
    """The least CPU time of ``repeat`` calls (after one to warm up)."""
    function(path)
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        function(path)
        best = min(best, time.process_time() - started)
    return best


def synthetic(rows: int, folder: Path) -> Path:
    """A workbook of one sheet: ``rows`` rows of a formula cell and a text cell."""
    body = b"".join(b'<row r="%d"><c r="A%d"><f>B%d*2</f><v>%d.5</v></c><c r="B%d" t="str">'
                    b"<v>t</v></c></row>" % (i, i, i, i, i) for i in range(1, rows + 1))
    main = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    parts = {
        "xl/workbook.xml": b"<workbook " + main + b" " + rel + b'><sheets><sheet name="s" '
                           b'sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": b'<Relationships xmlns="http://schemas.openxmlformats.org/'
        b'package/2006/relationships"><Relationship Id="rId1" Type="worksheet" '
        b'Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": b"<worksheet " + main + b"><sheetData>" + body +
                                    b"</sheetData></worksheet>"}
    path = folder / f"rows{rows}.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def peak_memory(path: Path) -> float:
    """Peak Python allocation (MiB) while reading every row of the workbook."""
    tracemalloc.start()
    read_cells(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workbooks", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    paths = args.workbooks or sorted((ROOT / "workbooks").glob("*.xlsx"))
    print(f"{'workbook':24s} {'cells':>9s} {'reader':>9s} {'cells/s':>11s} {'bare C':>8s} ratio")
    for path in paths:
        cells = read_cells(path)
        seconds = cpu_seconds(read_cells, path, args.repeat)
        bare = cpu_seconds(bare_parse, path, args.repeat)
        print(f"{path.name:24s} {cells:9,d} {seconds:8.3f}s {cells / seconds:11,.0f} "
              f"{bare:7.3f}s {seconds / bare:5.2f}x", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        small, big = (peak_memory(synthetic(n, Path(folder))) for n in (20_000, 200_000))
    print(f"reader peak memory: 20,000 rows {small:.2f} MiB, 200,000 rows {big:.2f} MiB "
          f"(ratio {big / small:.2f})")


if __name__ == "__main__":
    main()
