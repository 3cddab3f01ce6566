"""sheetopt trace: every step of one sheet, as CSV or JSON at full precision."""
from __future__ import annotations

import sys

from .. import api
from ..protocol import report
from ..files import check_target
from . import add_command, output_or_stdout, write_output


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "trace",
        "Write every step of one sheet: x, y, each parameter before, its gradient and after, "
        "prediction, loss, lr, finite differences when the spec shows them, and the optimizer "
        "state after the step. Floats are written so that they read back exactly.",
        "sheetopt trace lesson5 --sheet adam --format csv -o adam.csv",
        line='every step of one sheet, as CSV or JSON at full precision')
    parser.add_argument("spec", help="a run spec (.toml) or a preset name")
    parser.add_argument("--sheet", help="the sheet to trace (default: the first)")
    parser.add_argument("--format", choices=("csv", "json"), default="csv")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here (- or none: standard output)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    parser.set_defaults(run=run)


def run(args) -> int:
    spec = api.spec_of(args.spec)
    if not output_or_stdout(args.output):
        check_target(args.output, args.force)
    name = args.sheet if args.sheet is not None else spec.sheets[0].name
    trace = api.run(spec, name)[name]
    text = trace.csv_chunks() if args.format == "csv" else trace.to_json() + "\n"
    write_output(text, args.output, args.force)
    print(f"sheetopt trace: sheet {name!r}: {report.flavor_words(spec.sheet(name))}, "
          f"{len(trace):,} steps", file=sys.stderr)
    if trace.diverged_at:
        epoch, step = trace.diverged_at
        print(f"sheetopt trace: sheet {name!r} diverged at epoch {epoch}, step {step}; "
              f"the trace stops before that step", file=sys.stderr)
    return 0
