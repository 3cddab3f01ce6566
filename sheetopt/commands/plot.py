"""sheetopt plot: a picture of the runs of a spec (path over the loss surface, losses, lr, fits)."""
from __future__ import annotations

from .. import api
from ..protocol import smoothing
from ..errors import SheetoptError
from ..files import check_target
from . import add_command, binary_output

KIND_HELP = ("path (each sheet's parameters over the loss surface), loss (per epoch), step_loss "
             "(every step, log scale), lr (per step), fits (fitted lines over the data), all")


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "plot",
        "Draw the runs of a spec: each sheet's path over the loss surface (MSE over the data, "
        "log-spaced contours, the minimum starred), loss per epoch or per step, lr per step, "
        "the fitted lines, or all of them. PNG, SVG or PDF by the output's extension.",
        "sheetopt plot lesson5 --kind path -o path.png",
        line='draw the runs: paths over the loss surface, losses, lr, fits')
    parser.add_argument("spec", help="a run spec (.toml) or a preset name: lesson5, lesson2, ...")
    parser.add_argument("--kind", default="path", metavar="KIND", help=KIND_HELP)
    parser.add_argument("-o", "--output", required=True, metavar="FILE.png|.svg|.pdf")
    parser.add_argument("--sheet", action="append", metavar="NAME",
                        help="draw only this sheet (repeat for several; default: all)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    smooth = parser.add_mutually_exclusive_group()
    smooth.add_argument("--smooth", metavar="BETA",
                        help="step_loss: smooth every sheet's losses with this beta in [0, 1) "
                             "(default: online and mini-batch runs with fastai's 0.98, full "
                             "batch raw)")
    smooth.add_argument("--no-smooth", dest="smooth", action="store_false",
                        help="step_loss: draw the raw losses only")
    parser.set_defaults(run=run, smooth=None)


def run(args) -> int:
    from .. import plots
    from ..plots.canvas import figure_format, require
    from ..plots.path import path_axes

    binary_output(args.output, 'the picture (PNG, SVG or PDF)')
    plots.check_kind(args.kind)
    options = {} if args.smooth is None else {"smooth": args.smooth}
    if args.smooth not in (None, False):
        options["smooth"] = smoothing.check_beta(args.smooth, "--smooth")
    if options and args.kind not in ("step_loss", "all"):
        raise SheetoptError(f"--smooth/--no-smooth: only --kind step_loss (or all) is "
                            f"smoothed, not {args.kind!r}")
    figure_format(args.output)
    check_target(args.output, args.force)
    require()
    spec = api.spec_of(args.spec)
    if args.kind == "path":
        path_axes(spec)  # refuses other models before running anything
    for name in args.sheet or []:
        spec.sheet(name)
    plots.save(api.run(spec).plot(args.kind, args.sheet, **options), args.output, args.force)
    return 0
