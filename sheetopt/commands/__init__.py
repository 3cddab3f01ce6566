"""One module per command: each has ``register(subparsers)`` that sets ``run`` as its handler."""
import argparse


def add_command(subparsers, name: str, summary: str, example: str) -> argparse.ArgumentParser:
    """A subcommand whose --help shows its summary and an example."""
    return subparsers.add_parser(
        name, help=summary, description=f"{summary}\n\nexample:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter)
