"""The workbook's path charts: on every optimizer sheet an XY scatter of the parameters after
each step, read from the sheet's own 'new a'/'new b' formula cells (so it moves when lr is
edited), with the start and the true point; all paths in one chart on the compare sheet; and
LibreOffice draws them (its PDF of the workbook shows each chart's title and the path's green)."""
from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from PIL import Image

from libreoffice import PROFILE_SETTINGS, require_soffice
from sheetopt.workbook.layout import FIRST_ROW, HEADER_ROW

PATH_GREEN = np.array([0x2C, 0xA0, 0x2C])


@pytest.fixture(scope="module")
def lesson5(preset_workbook) -> Path:
    return preset_workbook("lesson5")


def charts_by_sheet(path: Path) -> dict[str, list[str]]:
    """Each worksheet's charts (their XML), following the drawing relationships."""
    out: dict[str, list[str]] = {}
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        book = archive.read("xl/workbook.xml").decode()
        rels = archive.read("xl/_rels/workbook.xml.rels").decode()
        for title, rid in re.findall(r'<sheet name="([^"]+)" sheetId="\d+"[^>]*r:id="(rId\d+)"',
                                     book):
            target = re.search(rf'Id="{rid}"[^>]*Target="([^"]+)"', rels).group(1)
            sheet_rels = f"xl/worksheets/_rels/{Path(target).name}.rels"
            charts = []
            if sheet_rels in names:
                for drawing in re.findall(r'Target="\.\./drawings/(drawing[^"]+)"',
                                          archive.read(sheet_rels).decode()):
                    drawing_rels = archive.read(f"xl/drawings/_rels/{drawing}.rels").decode()
                    for chart in re.findall(r'Target="\.\./charts/([^"]+)"', drawing_rels):
                        charts.append(archive.read(f"xl/charts/{chart}").decode())
            out[title] = charts
    return out


def column_letter(ws, header: str) -> str:
    for cell in ws[HEADER_ROW + 1]:
        if cell.value == header:
            return cell.column_letter
    raise KeyError(header)


def test_every_optimizer_sheet_has_a_live_path_chart(lesson5):
    charts = charts_by_sheet(lesson5)
    book = openpyxl.load_workbook(lesson5)  # formulas, not values
    last = FIRST_ROW + 29 * 5  # 1-based: the last step row
    for title in ("basic", "momentum", "rmsprop", "adam", "adam_ann"):
        ws = book[title]
        b, a = column_letter(ws, "new b"), column_letter(ws, "new a")
        scatter = [xml for xml in charts[title] if "<c:scatterChart>" in xml]
        assert len(scatter) == 1, title
        refs = re.findall(r"<c:f>([^<]+)</c:f>", scatter[0])
        assert f"{title}!${b}${FIRST_ROW + 1}:${b}${last}" in refs  # x: b after each step
        assert f"{title}!${a}${FIRST_ROW + 1}:${a}${last}" in refs  # y: a after each step
        assert "data!$B$4" in refs and "data!$C$4" in refs  # the true (b, a)
        for row in (FIRST_ROW + 1, last):  # live: the cells are formulas
            assert str(ws[f"{a}{row}"].value).startswith("=")
            assert str(ws[f"{b}{row}"].value).startswith("=")
        assert "path of (b, a)" in scatter[0]
    compare = [xml for xml in charts["compare"] if "<c:scatterChart>" in xml]
    assert len(compare) == 1
    refs = re.findall(r"<c:f>([^<]+)</c:f>", compare[0])
    for title in ("basic", "momentum", "rmsprop", "adam", "adam_ann"):
        b = column_letter(book[title], "new b")
        assert f"{title}!${b}${FIRST_ROW + 1}:${b}${last}" in refs


def test_libreoffice_renders_the_path_charts(lesson5, tmp_path):
    binary = require_soffice()
    profile = tmp_path / "lo-profile"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(PROFILE_SETTINGS)
    one_page_per_sheet = 'pdf:calc_pdf_Export:{"SinglePageSheets":{"type":"boolean","value":"true"}}'
    subprocess.run([binary, f"-env:UserInstallation={profile.as_uri()}", "--headless",
                    "--norestore", "--convert-to", one_page_per_sheet, "--outdir", str(tmp_path),
                    str(lesson5)], capture_output=True, timeout=300, check=True)
    pdf = tmp_path / "lesson5.pdf"
    pages = {}  # page number -> its text
    for number in range(1, 9):
        pages[number] = subprocess.run(["pdftotext", "-f", str(number), "-l", str(number),
                                        str(pdf), "-"], capture_output=True, text=True,
                                       check=True).stdout
    sheets = ("basic", "momentum", "rmsprop", "adam", "adam_ann")
    for number, title in enumerate(sheets, start=3):  # intro, data, then the sheets
        assert f"{title}: path of (b, a) over the steps" in pages[number], title
        subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", str(number), "-l", str(number),
                        "-singlefile", str(pdf), str(tmp_path / title)], check=True, timeout=120)
        pixels = np.asarray(Image.open(tmp_path / f"{title}.png").convert("RGB")).astype(int)
        green = (np.abs(pixels - PATH_GREEN).max(axis=-1) < 40).sum()
        assert green > 30, f"{title}: no path drawn ({green} green pixels)"
        colours = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]  # one int each
        assert len(np.unique(colours)) > 20  # not a blank page (np.unique(axis=0): 1.7 s a page)
    assert "every sheet's path of (b, a)" in pages[8]
