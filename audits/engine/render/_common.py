"""Helpers the renderers share: ordering, locations, the tool's version."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

from audits.engine.issues import Issue, Severity

TOOL_NAME = "plumbline"
SEVERITY_ORDER: tuple[Severity, ...] = tuple(Severity)


def tool_version() -> str:
    """Return Plumbline's installed version, or 0.0.0 when not installed."""
    try:
        return metadata.version(TOOL_NAME)
    except metadata.PackageNotFoundError:
        return "0.0.0"


def sort_key(issue: Issue) -> tuple[int, str, str, str, str, str]:
    """Return a key that orders issues worst first, then by place.

    The order depends only on the issues themselves, never on the order the
    sources or checks produced them in.
    """
    return (
        -issue.severity.rank,
        issue.dimension.value,
        issue.check,
        issue.object,
        issue.file,
        issue.fingerprint,
    )


def ordered(issues: Iterable[Issue]) -> list[Issue]:
    """Return ``issues`` worst first, in a stable order."""
    return sorted(issues, key=sort_key)


def code_location(issue: Issue) -> str:
    """Return ``file:line`` (or ``file``) for an issue with a file, else ""."""
    if not issue.file:
        return ""
    return f"{issue.file}:{issue.line}" if issue.line else issue.file


def place(issue: Issue) -> str:
    """Return where an issue is, as one short line of text."""
    where = code_location(issue)
    if issue.object and where:
        return f"{issue.object} ({where})"
    return issue.object or where or (issue.sources[0] if issue.sources else "")
