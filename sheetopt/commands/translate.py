"""sheetopt translate: an optimizer's namesakes in the other frameworks, run side by side."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import SheetoptError
from ..rules import FLAVORS
from ..translation import translate
from . import add_command

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "translate",
        "Run an optimizer of one framework (torch, keras, optax, fastai or the lecture's) and "
        "its namesakes in the others on the same rows from the same start; say per framework "
        "the arguments that reproduce it exactly (within 1e-12 relative at every step) when "
        "there are any, else the closest ones, how far the runs drift apart (first step that "
        "differs, largest difference and its step) and which operations differ.",
        "sheetopt translate keras.adam learning_rate=0.01 epsilon=1e-7",
        line="an optimizer beside its namesakes in keras, optax, fastai, torch")
    parser.add_argument("optimizer", metavar="[FLAVOR.]OPTIMIZER",
                        help="the optimizer, e.g. adam, keras.rmsprop, optax.sgd (a bare name "
                             "is torch's unless --from says otherwise)")
    parser.add_argument("args", nargs="*", metavar="NAME=VALUE",
                        help="its arguments right after it, spelled as its framework spells "
                             "them (or as sheetopt does): lr=0.01 betas=[0.9,0.99] nesterov=true")
    parser.add_argument("--from", dest="flavor", default=None, metavar="FLAVOR",
                        help=f"the framework it comes from: {', '.join(FLAVORS)} (default torch)")
    parser.add_argument("--into", metavar="F1,F2", default=None,
                        help="the frameworks to translate into (default: every other one)")
    parser.add_argument("--spec", default="frameworks", metavar="SPEC",
                        help="a preset or .toml whose rows, model and start are used "
                             "(default frameworks: the lecture's rows)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs to run (default 3)")
    parser.add_argument("--batch", default="online",
                        help='"online", "full" or a batch size (default online)')
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    parser.add_argument("-o", "--output", metavar="FILE.xlsx",
                        help="also write a workbook: each framework's sheet side by side and "
                             "a sheet of live differences")
    parser.add_argument("--force", action="store_true", help="overwrite an existing workbook")
    parser.set_defaults(run=run)


def parse_args(pairs: list[str]) -> dict:
    """NAME=VALUE pairs, each value read as TOML reads one (0.01, true, [0.9, 0.99])."""
    out = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise SheetoptError(f"argument {pair!r}: write it NAME=VALUE, like lr=0.01")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            raise SheetoptError(f"argument {name}: {text!r} is not a number, true/false or a "
                                f"list like [0.9, 0.99]") from None
        out[name] = value
    return out


def _batch(text: str):
    if text in ("online", "full"):
        return text
    try:
        return int(text)
    except ValueError:
        raise SheetoptError(f'--batch: {text!r} is not "online", "full" or a whole number') from None


def run(args) -> int:
    into = [f.strip() for f in args.into.split(",")] if args.into else None
    output = Path(args.output) if args.output else None
    if output is not None and output.exists() and not args.force:
        raise SheetoptError(f"{output}: exists; add --force to overwrite it")
    flavor, dot, optimizer = args.optimizer.rpartition(".")
    if dot and args.flavor and args.flavor != flavor:
        raise SheetoptError(f"{args.optimizer} comes from {flavor}, but --from says {args.flavor}")
    flavor = flavor or args.flavor or "torch"
    answer = translate(optimizer, flavor, parse_args(args.args), spec=args.spec,
                       into=into, epochs=args.epochs, batch=_batch(args.batch))
    print(answer.to_json() if args.json else answer.table(), end="" if not args.json else "\n")
    if output is not None:
        written = answer.write_workbook(output, force=args.force)
        print(f"wrote {written.path}: {written.sheets} optimizer sheets and the differences",
              file=sys.stderr if args.json else sys.stdout)
    return 0
