"""The `ems` command: one entry point, a subcommand per capability.

Each package that offers commands has a ``cli`` module with ``register(subparsers)``; it adds its
subcommands and sets ``func`` on each. Those modules import their heavy dependencies inside the
handlers so that ``ems --help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ems.errors import EmsError

# Packages whose `cli` module adds subcommands, in the order `ems --help` lists them.
COMMAND_MODULES = (
    "dispatch.cli",
    "dispatch.backup_cli",
    "geodata.cli",
    "routing.cli",
    "centers.cli",
    "simulation.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="ems",
        description="County 120 emergency dispatch, chest pain / stroke center coordination and "
        "a planner's simulator. Runs on the embedded Ningxiang county unless told otherwise.",
    )
    parser.add_argument("--config", metavar="FILE", help="config file (default: the project's config.toml)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `ems` command; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except EmsError as e:
        # One line per fault (a configuration may have several), each marked as the command's.
        for line in str(e).splitlines() or [""]:
            print(f"ems: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ems: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
