"""SARIF 2.1.0 output that GitHub code scanning accepts.

Every catalogued check is a rule; every issue is a result with at least one
physical location (GitHub requires one): the code file for code issues, the
DDL file for schema issues read from DDL, else a location naming the scanned
database: its file URI (under ``%SRCROOT%`` or absolute) or, for a server,
``kind/host:port/database`` under the ``TARGET`` base. Issues about a
database object also carry a logical location naming it (``member`` for a
column, ``type`` for a table, ``resource`` otherwise).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

from audits.engine.config import Suppressed
from audits.engine.issues import Issue, Severity, Step
from audits.engine.registry import CheckSpec, all_checks
from audits.engine.scan import ScanResult, Target

from ._common import TOOL_NAME, ordered, tool_version

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "plumbline/v1"
SRCROOT = "%SRCROOT%"
TARGET_BASE = "TARGET"


class Rating(NamedTuple):
    """How SARIF states one severity: a result's level and GitHub's score.

    GitHub maps ``security`` onto its critical/high/medium/low labels
    (>= 9.0, >= 7.0, >= 4.0, > 0); None gives a rule no score, so it never
    shows as a security severity.
    """

    level: str
    security: str | None


# One row a severity, so a new severity cannot miss either half.
RATINGS = {
    Severity.CRITICAL: Rating("error", "9.5"),
    Severity.HIGH: Rating("error", "8.0"),
    Severity.MEDIUM: Rating("warning", "5.5"),
    Severity.LOW: Rating("note", "3.0"),
    Severity.INFO: Rating("note", None),
}


def rule_name(check_id: str) -> str:
    """Return the check id in PascalCase, as SARIF rule names usually are."""
    return "".join(part.capitalize() for part in re.split(r"[-_]", check_id))


def rule(spec: CheckSpec) -> dict[str, Any]:
    """Return the SARIF reporting descriptor of one catalogued check."""
    help_text = (
        f"{spec.rationale}\n\nFix: {spec.remediation}\n\n"
        f"Severity: {spec.severity_rule}\n\n"
        f"Dimension: {spec.dimension.value}; default severity: "
        f"{spec.severity.value}; effort: {spec.effort.value}."
    )
    help_markdown = (
        f"**Why it matters:** {spec.rationale}\n\n"
        f"**Fix:** {spec.remediation}\n\n"
        f"**Severity:** {spec.severity_rule}\n\n"
        f"| Dimension | Severity | Effort |\n|---|---|---|\n"
        f"| {spec.dimension.label} | {spec.severity.value} | {spec.effort.value} |"
    )
    tags = ["database", spec.dimension.value]
    if spec.dimension.value == "security":
        tags.append("security")
    properties: dict[str, Any] = {"tags": tags, "precision": "high"}
    rating = RATINGS[spec.severity]
    if rating.security is not None:
        properties["security-severity"] = rating.security
    return {
        "id": spec.id,
        "name": rule_name(spec.id),
        "shortDescription": {"text": spec.title},
        "fullDescription": {"text": spec.rationale},
        "help": {"text": help_text, "markdown": help_markdown},
        "defaultConfiguration": {"level": rating.level},
        "properties": properties,
    }


class _Locator:
    """Turn issue files and targets into SARIF artifact locations."""

    def __init__(self, result: ScanResult, base: Path) -> None:
        self.base = base.resolve()
        self.targets: dict[str, Target] = {
            t.target.label: t.target for t in result.targets
        }

    def file_location(self, file: str, target: Target | None) -> dict[str, Any]:
        path = Path(file)
        candidates = [path] if path.is_absolute() else [self.base / path]
        if target is not None and target.kind in ("folder", "code", "ddl"):
            root = Path(target.location)
            root = root if root.is_dir() else root.parent
            if not path.is_absolute():
                candidates.insert(0, root / path)
        for candidate in candidates:
            if candidate.exists():
                return self._path_location(candidate)
        if path.is_absolute():
            return self._path_location(path)
        return {"uri": quote(path.as_posix()), "uriBaseId": SRCROOT}

    def _path_location(self, path: Path) -> dict[str, Any]:
        resolved = path.resolve()
        try:
            relative = resolved.relative_to(self.base)
        except ValueError:
            return {"uri": resolved.as_uri()}
        if relative == Path("."):
            # The base folder itself: its absolute URI, never a bare ".".
            return {"uri": resolved.as_uri()}
        return {"uri": quote(relative.as_posix()), "uriBaseId": SRCROOT}

    def target_location(self, target: Target | None, label: str) -> dict[str, Any]:
        if target is not None and target.kind in ("sqlite", "ddl", "code", "folder"):
            # A file or folder: relative to %SRCROOT% when under it, else
            # its absolute file URI (a database file kept elsewhere).
            return self._path_location(Path(target.location))
        if target is not None and "://" in target.location:
            parts = urlsplit(target.location)
            host = parts.hostname or "localhost"
            port = f":{parts.port}" if parts.port else ""
            uri = f"{target.kind}/{host}{port}{parts.path or '/'}"
        else:
            kind, _, rest = label.partition(":")
            uri = f"{kind}/{rest.lstrip('/')}" if rest else (kind or "target")
        return {"uri": quote(uri.lstrip("/")), "uriBaseId": TARGET_BASE}

    def target_of(self, issue: Issue) -> tuple[Target | None, str]:
        for label in issue.sources:
            if label in self.targets:
                return self.targets[label], label
        label = issue.sources[0] if issue.sources else ""
        return None, label


def _object_location(name: str) -> dict[str, Any]:
    """Return the logical location of a database object (``table.column``)."""
    table, dot, column = name.rpartition(".")
    if dot and table and column and " " not in name:
        return {"fullyQualifiedName": name, "name": column, "kind": "member"}
    if " " not in name:
        return {"fullyQualifiedName": name, "name": name, "kind": "type"}
    return {"fullyQualifiedName": name, "kind": "resource"}


def _message(issue: Issue) -> str:
    text = issue.title
    if issue.object:
        text += f": {issue.object}"
    if issue.function:
        text += f" (in {issue.function})"
    if issue.evidence:
        first = issue.evidence.strip().splitlines()[0]
        text += f". {first}"
    return text if text.endswith(".") else text + "."


def _step_location(
    step: Step, target: Target | None, locator: _Locator, index: int | None = None
) -> dict[str, Any]:
    location: dict[str, Any] = {"message": {"text": step.message}}
    if step.file:
        location["physicalLocation"] = {
            "artifactLocation": locator.file_location(step.file, target),
            "region": {"startLine": max(1, step.line or 1)},
        }
    if index is not None:
        location["id"] = index
    return location


def _result(issue: Issue, index: dict[str, int], locator: _Locator) -> dict[str, Any]:
    target, label = locator.target_of(issue)
    if issue.file:
        artifact = locator.file_location(issue.file, target)
    else:
        artifact = locator.target_location(target, label)
    physical: dict[str, Any] = {
        "artifactLocation": artifact,
        "region": {"startLine": max(1, issue.line or 1)},
    }
    for number, text in issue.context:
        if number == issue.line:
            physical["region"]["snippet"] = {"text": text}
    if issue.context:
        physical["contextRegion"] = {
            "startLine": issue.context[0][0],
            "endLine": issue.context[-1][0],
            "snippet": {"text": "\n".join(text for _n, text in issue.context)},
        }
    location: dict[str, Any] = {"physicalLocation": physical}
    if issue.object:
        location["logicalLocations"] = [_object_location(issue.object)]
    elif issue.function:
        location["logicalLocations"] = [
            {"fullyQualifiedName": issue.function, "kind": "function"}
        ]
    properties: dict[str, Any] = {
        "severity": issue.severity.value,
        "dimension": issue.dimension.value,
        "effort": issue.effort.value,
    }
    if issue.fix_sql:
        properties["fixSql"] = issue.fix_sql
    if issue.remediation:
        properties["remediation"] = issue.remediation
    if issue.sources:
        properties["sources"] = list(issue.sources)
    result: dict[str, Any] = {
        "ruleId": issue.check,
        "level": RATINGS[issue.severity].level,
        "message": {"text": _message(issue)},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: issue.fingerprint},
        "properties": properties,
    }
    if issue.check in index:
        result["ruleIndex"] = index[issue.check]
    if issue.related:
        result["relatedLocations"] = [
            _step_location(step, target, locator, i)
            for i, step in enumerate(issue.related, start=1)
        ]
    if issue.trace:
        result["codeFlows"] = [
            {
                "threadFlows": [
                    {
                        "locations": [
                            {"location": _step_location(step, target, locator)}
                            for step in issue.trace
                        ]
                    }
                ]
            }
        ]
    return result


def _suppressed_result(
    item: Suppressed, index: dict[str, int], locator: _Locator
) -> dict[str, Any]:
    result = _result(item.issue, index, locator)
    result["suppressions"] = [
        {
            "kind": "inSource" if item.how == "inline" else "external",
            "justification": item.reason,
        }
    ]
    return result


def as_data(result: ScanResult, *, base: Path | None = None) -> dict[str, Any]:
    """Return the scan result as a SARIF 2.1.0 log (a JSON-ready dict).

    ``base`` is the folder that relative URIs start from (``%SRCROOT%``),
    the working directory by default: run the scan from the repository root
    for GitHub to link results to files.
    """
    specs = list(all_checks())
    index = {spec.id: i for i, spec in enumerate(specs)}
    locator = _Locator(result, base or Path.cwd())
    notifications = [
        {
            "level": "error",
            "message": {"text": f"{t.target.label}: {t.error}"},
        }
        for t in result.targets
        if not t.ok
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": tool_version(),
                "semanticVersion": tool_version(),
                "rules": [rule(spec) for spec in specs],
            }
        },
        "originalUriBaseIds": {
            SRCROOT: {"uri": locator.base.as_uri() + "/"},
            TARGET_BASE: {
                "description": {"text": "The database or schema source scanned."}
            },
        },
        "invocations": [
            {
                "executionSuccessful": result.ok,
                "toolExecutionNotifications": notifications,
            }
        ],
        "results": [_result(i, index, locator) for i in ordered(result.issues)]
        + [_suppressed_result(s, index, locator) for s in result.suppressed],
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(result: ScanResult, *, base: Path | None = None) -> str:
    """Return the scan result as SARIF 2.1.0 JSON text."""
    return json.dumps(as_data(result, base=base), indent=2, ensure_ascii=False)
