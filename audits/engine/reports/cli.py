"""``plumbline parse-report FILE``: show what an import would read from a file."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TextIO

from audits.engine.issues import Severity

from . import parse_report
from .decode import DEFAULT_MAX_BYTES, check_size
from .types import ParsedReport, ReportError

EXIT_OK = 0
EXIT_ERROR = 2
_TITLE_WIDTH = 60


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the parse-report arguments to ``parser`` and set its handler."""
    parser.add_argument("file", metavar="FILE", help="Markdown report or SARIF file")
    parser.add_argument(
        "--format",
        choices=("json", "text"),
        default="text",
        help="output format (default: text)",
    )
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help=f"refuse larger files (default: {DEFAULT_MAX_BYTES})",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="for every place that looked like a finding, print its lines and "
        "whether it was kept, merged into a finding or skipped, and why",
    )
    parser.add_argument(
        "--root",
        default="",
        help="make absolute SARIF paths under this folder relative",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Parse the file named in ``args``, print it, and return the exit status."""
    path: str = args.file
    max_bytes: int = getattr(args, "max_bytes", DEFAULT_MAX_BYTES)
    try:
        data = _read(path, max_bytes)
        report = parse_report(
            data,
            os.path.basename(path),
            max_bytes=max_bytes,
            root=getattr(args, "root", ""),
        )
    except ReportError as exc:
        print(f"plumbline: {path}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    explain = bool(getattr(args, "explain", False))
    if args.format == "json":
        document = report.as_dict()
        if explain:
            document["explain"] = [e.as_dict() for e in report.explanations]
        json.dump(document, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        write_text(report, sys.stdout)
        if explain:
            write_explanations(report, sys.stdout)
    return EXIT_OK


def _read(path: str, max_bytes: int) -> bytes:
    try:
        check_size(os.path.getsize(path), max_bytes)
        with open(path, "rb") as handle:
            # Read one byte past the limit so a file that grew is still refused.
            return handle.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise ReportError("No such file.") from exc
    except IsADirectoryError as exc:
        raise ReportError("This is a folder, not a file.") from exc
    except PermissionError as exc:
        raise ReportError("Permission denied.") from exc
    except OSError as exc:
        raise ReportError(f"The file cannot be read ({exc.strerror}).") from exc


def write_text(report: ParsedReport, out: TextIO) -> None:
    """Write ``report`` to ``out`` as a readable table."""
    kind = f"SARIF from {report.tool}" if report.kind == "sarif" else "Markdown report"
    out.write(f"{report.title} ({kind})\n")
    if report.grades:
        out.write("\nGrades:\n")
        width = max(len(label) for label in report.grades)
        for label, grade in report.grades.items():
            out.write(f"  {label.ljust(width)}  {grade}\n")
    if report.stated is not None:
        write_totals(report, out)
    for warning in report.warnings:
        out.write(f"\nNote: {warning}\n")
    if not report.items:
        out.write("\nNo findings.\n")
        return
    rows = [
        (
            item.ref or "-",
            item.severity.value,
            item.status,
            item.effort or "-",
            f"{item.file}:{item.line}" if item.line is not None else item.file or "-",
            item.check or "-",
            _shorten(item.title),
        )
        for item in report.items
    ]
    header = ("REF", "SEVERITY", "STATUS", "EFFORT", "LOCATION", "CHECK", "TITLE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    out.write(f"\n{len(rows)} finding(s):\n")
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")


def write_totals(report: ParsedReport, out: TextIO) -> None:
    """Write the report's own totals per severity beside what was imported."""
    stated = report.stated or {}
    imported = report.imported_counts()
    order = [s.value for s in sorted(Severity, key=lambda s: -s.rank)]
    shown = [s for s in order if s in stated or s in imported]
    out.write("\nTotals per severity (stated by the report / imported):\n")
    for severity in shown:
        mark = (
            ""
            if stated.get(severity, 0) == imported.get(severity, 0)
            else "  <- differs"
        )
        out.write(
            f"  {severity.ljust(8)}  {stated.get(severity, 0):>4} / "
            f"{imported.get(severity, 0):<4}{mark}\n"
        )


def write_explanations(report: ParsedReport, out: TextIO) -> None:
    """Write where every candidate came from and what became of it."""
    out.write("\nHow each place was read:\n")
    if not report.explanations:
        out.write("  Nothing in the file looked like a finding.\n")
    for item in report.explanations:
        lines = (
            f"line {item.line}"
            if item.end <= item.line
            else f"lines {item.line}-{item.end}"
        )
        into = f" -> {item.finding}" if item.action == "merged" else ""
        out.write(
            f"  {lines.ljust(13)} {item.action.upper().ljust(7)} "
            f"{_shorten(item.text)}{into}\n"
            f"  {'':13} {'':7} because {item.reason}\n"
        )


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= _TITLE_WIDTH:
        return text
    return text[: _TITLE_WIDTH - 1] + "\u2026"
