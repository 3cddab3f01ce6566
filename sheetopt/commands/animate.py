"""sheetopt animate: one sheet's run as frames, the fitted line or the path, as GIF or HTML."""
from __future__ import annotations

from .. import api
from ..files import check_target
from . import add_command, binary_output


def register(subparsers) -> None:
    from ..plots.animation import DEFAULT_FRAMES, MAX_BYTES, MAX_FRAMES

    parser = add_command(
        subparsers, "animate",
        "Animate one sheet's run: the fitted line over the data (--kind fit; a model of "
        "several inputs: each row's prediction against its y) or the path over the loss "
        "surface (--kind path), one frame per step (or per few steps), the current loss (the "
        "MSE, a mean loss or f) in the title. *.gif (Pillow, no ffmpeg) or *.html (the frames "
        "embedded in a page "
        f"that any browser opens). At most {MAX_FRAMES} frames and {MAX_BYTES // 2**20} MB.",
        "sheetopt animate lesson2 --sheet sgd -o fit.gif",
        line="animate one sheet's run (fitted line or path) as GIF or HTML")
    parser.add_argument("spec", help="a run spec (.toml) or a preset name")
    parser.add_argument("--sheet", required=True, metavar="NAME", help="the sheet to animate")
    parser.add_argument("--kind", default=None, metavar="KIND",
                        help="fit (the default with data, unless the path can be drawn "
                             "and the data has several inputs) or path (the default on a "
                             "surface)")
    parser.add_argument("--frames", metavar="N",
                        help=f"how many frames, evenly spaced over the steps (default: one per "
                             f"step, up to {DEFAULT_FRAMES})")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.gif|.html")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..errors import SheetoptError
    from ..plots import animate
    from ..plots.animation import ANIMATIONS, FORMATS, default_kind, frame_count
    from ..plots.canvas import figure_format, require
    from ..plots.path import path_axes

    binary_output(args.output, 'the animation (GIF or HTML)')
    if args.kind is not None and args.kind not in ANIMATIONS:
        raise SheetoptError(f"unknown animation kind {args.kind!r}: choose fit or path")
    frames = frame_count(args.frames)
    figure_format(args.output, FORMATS)
    check_target(args.output, args.force)
    require()
    spec = api.spec_of(args.spec)
    sheet = spec.sheet(args.sheet)
    args.kind = args.kind or default_kind(spec.model)
    if args.kind == "path":
        path_axes(spec)
    trace = api.run(spec, sheet.name)[sheet.name]
    animate(spec, trace, sheet.name, args.kind, frames).save(args.output, args.force)
    return 0
