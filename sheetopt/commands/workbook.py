"""sheetopt workbook: the lecture's spreadsheet, every epoch laid out as live formulas."""
from __future__ import annotations

from pathlib import Path

from .. import api
from ..errors import SheetoptError
from ..files import check_target
from ..spec import resolve
from ..workbook import check_size
from . import add_command, binary_output


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "workbook",
        "Write an .xlsx workbook: an intro, the data, one sheet per spec sheet with every step "
        "as live formulas (derived from the same rules the engine runs) holding the engine's "
        "values, epoch summaries, a comparison and charts. Works in Excel, LibreOffice and "
        "Google Sheets without macros: edit a yellow input cell and the whole run recomputes.",
        "sheetopt workbook lesson5 -o lesson5.xlsx",
        line='write the lecture-style .xlsx workbook: live formulas, charts')
    parser.add_argument("spec", nargs="?", help="a run spec (.toml) or a preset name")
    parser.add_argument("-o", "--output", metavar="FILE.xlsx",
                        help="where to write (default: the spec's name with .xlsx, here)")
    parser.add_argument("--all", metavar="FOLDER",
                        help="write FOLDER/NAME.xlsx for every FOLDER/NAME.toml (regenerates the "
                             "shipped workbooks: sheetopt workbook --all workbooks --force)")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.set_defaults(run=run)


def run(args) -> int:
    if args.output is not None:
        binary_output(args.output, 'the workbook (.xlsx)')
    if args.all:
        if args.spec or args.output:
            raise SheetoptError("--all takes a folder and no SPEC or --output")
        return _run_all(Path(args.all), args.force)
    if not args.spec:
        raise SheetoptError("give a SPEC (a .toml file or a preset name), or --all FOLDER")
    if not args.output and not isinstance(args.spec, (str, Path)):
        raise SheetoptError("the spec comes from standard input: name the workbook with "
                            "-o FILE.xlsx")
    output = Path(args.output) if args.output else Path(resolve(args.spec).stem + ".xlsx")
    _write(args.spec, output, args.force)
    return 0


def _run_all(folder: Path, force: bool) -> int:
    specs = sorted(folder.glob("*.toml"))
    if not specs:
        raise SheetoptError(f"{folder}: no .toml specs found")
    loaded = [(path, api.spec_of(path)) for path in specs]
    for path, spec in loaded:  # every target and size is checked before anything is written
        check_target(path.with_suffix(".xlsx"), force)
        check_size(spec)
    for path, spec in loaded:
        _write(path, path.with_suffix(".xlsx"), force, spec)
    return 0


def _write(spec_ref, output: Path, force: bool, spec=None) -> None:
    written = api.write_workbook_counted(spec or spec_ref, output, force)
    print(f"wrote {written.path}: {written.sheets} optimizer sheet"
          f"{'s' if written.sheets != 1 else ''}, {written.formulas:,} formula cells")
