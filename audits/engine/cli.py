"""The ``plumbline`` console script: ``scan`` and ``parse-report``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence


def add_repeatable(
    parser: argparse.ArgumentParser, flag: str, *, metavar: str, help: str
) -> None:
    """Add an option that may be given many times: a list, empty when absent."""
    parser.add_argument(
        flag, action="append", default=[], metavar=metavar, help=f"{help} (repeatable)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    # sqlglot warns of every statement it reads as a bare command; what the
    # scan could not read is in its own notes, so the warnings are muted.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(
        prog="plumbline",
        description="Audit databases and the code that talks to them.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    from . import scan_command

    scan_command.add_arguments(
        commands.add_parser("scan", help="scan targets and report findings")
    )
    from .reports import cli as report_cli

    report_cli.add_arguments(
        commands.add_parser(
            "parse-report", help="parse a Markdown audit report or SARIF file"
        )
    )
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
