"""The JSON output: the command-line contract of DESIGN.md."""

from __future__ import annotations

import json
import re
from typing import Any

from audits.engine.grading import Grades, grade
from audits.engine.issues import Dimension, Effort, Issue, Severity
from audits.engine.scan import ScanResult, Target, TargetResult

from ._common import TOOL_NAME, ordered, tool_version


def target_data(result: TargetResult) -> dict[str, Any]:
    """Return one target's outcome as a JSON-ready dictionary."""
    return {
        "target": result.target.label,
        "kind": result.target.kind,
        "ok": result.ok,
        "error": result.error or None,
        "notes": list(result.notes),
        "checks_run": sorted(result.checks_run),
        "findings": len(result.issues),
        "duration": round(result.duration, 3),
    }


def as_data(result: ScanResult, *, grades: Grades | None = None) -> dict[str, Any]:
    """Return the scan result as the JSON contract's top-level object.

    ``findings`` and ``grades`` (``{dimension: letter, ..., "overall": ...}``)
    and ``score`` are the contract; ``grade_details`` says what set each
    grade, ``targets`` and ``checks_run`` what was scanned.
    """
    grades = grades or grade(result.issues)
    return {
        "tool": {"name": TOOL_NAME, "version": tool_version()},
        "findings": [issue.as_dict() for issue in ordered(result.issues)],
        "grades": grades.letters(),
        "score": grades.score,
        "grade_details": grades.as_dict(),
        "targets": [target_data(t) for t in result.targets],
        "checks_run": sorted(result.checks_run),
        "suppressed": [
            {**item.issue.as_dict(), "suppressed_by": item.how, "reason": item.reason}
            for item in result.suppressed
        ],
        "config": result.config.as_dict() if result.config else None,
    }


def render(result: ScanResult, *, grades: Grades | None = None) -> str:
    """Return the scan result as indented JSON text."""
    return json.dumps(as_data(result, grades=grades), indent=2, ensure_ascii=False)


_KIND_OF_UPLOAD = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "mysql": "mysql",
    "ddl": "ddl",
    "code": "code",
    "folder": "code",
}
_TEXT_LIMITS = {
    "title": 300,
    "object": 300,
    "file": 500,
    "function": 300,
    "evidence": 20_000,
    "remediation": 20_000,
    "fix_sql": 20_000,
}
_CHECK_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
_FINGERPRINT = re.compile(r"[0-9a-f]{8,64}")
MAX_UPLOADED_FINDINGS = 100_000
MAX_UPLOADED_TARGETS = 200


class UploadError(ValueError):
    """An uploaded scan is not the JSON this tool writes."""


def _text(
    entry: dict[str, Any], key: str, where: str, *, required: bool = False
) -> str:
    value = entry.get(key)
    if value is None:
        if required:
            raise UploadError(f"{where}: {key} is missing")
        return ""
    if not isinstance(value, str):
        raise UploadError(f"{where}: {key} must be text")
    limit = _TEXT_LIMITS.get(key, 1000)
    return value[:limit]


def _issue(entry: Any, where: str) -> Issue:
    if not isinstance(entry, dict):
        raise UploadError(f"{where}: each finding must be an object")
    check = _text(entry, "check", where, required=True)
    if not _CHECK_ID.fullmatch(check):
        raise UploadError(f"{where}: {check!r} is not a check id")
    fingerprint = _text(entry, "fingerprint", where, required=True)
    if not _FINGERPRINT.fullmatch(fingerprint):
        raise UploadError(f"{where}: the fingerprint is not hexadecimal")
    try:
        dimension = Dimension(entry.get("dimension"))
        severity = Severity(entry.get("severity"))
        effort = Effort(entry.get("effort"))
    except ValueError as exc:
        raise UploadError(f"{where}: {exc}") from exc
    line = entry.get("line")
    if line is not None and (not isinstance(line, int) or isinstance(line, bool)):
        raise UploadError(f"{where}: line must be a whole number")
    sources = entry.get("sources") or []
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise UploadError(f"{where}: sources must be a list of target labels")
    return Issue(
        check=check,
        dimension=dimension,
        severity=severity,
        effort=effort,
        title=_text(entry, "title", where, required=True),
        fingerprint=fingerprint,
        object=_text(entry, "object", where),
        file=_text(entry, "file", where),
        line=line,
        function=_text(entry, "function", where),
        evidence=_text(entry, "evidence", where),
        remediation=_text(entry, "remediation", where),
        fix_sql=_text(entry, "fix_sql", where),
        sources=tuple(s[:600] for s in sources[:50]),
    )


def from_data(data: Any) -> ScanResult:
    """Return the scan result a JSON document of :func:`as_data` describes.

    Used by the server for scans uploaded from CI. Each finding goes to the
    first target among its ``sources``; targets keep their kind (a folder
    counts as code) and the checks that ran on them, so the server fixes
    only what the uploaded targets could have seen. Raise
    :class:`UploadError` saying what is wrong with the document.
    """
    if not isinstance(data, dict):
        raise UploadError("the upload is not a JSON object")
    raw_targets = data.get("targets")
    raw_findings = data.get("findings")
    if not isinstance(raw_targets, list) or not raw_targets:
        raise UploadError("the upload names no targets")
    if not isinstance(raw_findings, list):
        raise UploadError("the upload has no findings list")
    if len(raw_targets) > MAX_UPLOADED_TARGETS:
        raise UploadError(f"the upload has more than {MAX_UPLOADED_TARGETS} targets")
    if len(raw_findings) > MAX_UPLOADED_FINDINGS:
        raise UploadError(f"the upload has more than {MAX_UPLOADED_FINDINGS} findings")
    targets: list[Target] = []
    meta: list[dict[str, Any]] = []
    for n, entry in enumerate(raw_targets, 1):
        where = f"target {n}"
        if not isinstance(entry, dict):
            raise UploadError(f"{where}: each target must be an object")
        label = _text(entry, "target", where, required=True)
        kind = _KIND_OF_UPLOAD.get(str(entry.get("kind")))
        if kind is None:
            raise UploadError(f"{where}: unknown kind {entry.get('kind')!r}")
        checks = entry.get("checks_run") or []
        if not isinstance(checks, list) or not all(
            isinstance(c, str) and _CHECK_ID.fullmatch(c) for c in checks
        ):
            raise UploadError(f"{where}: checks_run must be a list of check ids")
        notes = entry.get("notes") or []
        if not isinstance(notes, list):
            raise UploadError(f"{where}: notes must be a list")
        location = label.split(":", 1)[1] if ":" in label else label
        targets.append(Target(kind=kind, location=location[:500]))
        meta.append(
            {
                "label": label,
                "ok": bool(entry.get("ok")),
                "error": str(entry.get("error") or "")[:2000],
                "notes": tuple(str(x)[:1000] for x in notes[:50]),
                "checks": frozenset(checks),
                "duration": float(entry.get("duration") or 0.0),
            }
        )
    by_label = {m["label"]: i for i, m in enumerate(meta)}
    per_target: list[list[Issue]] = [[] for _ in targets]
    for n, entry in enumerate(raw_findings, 1):
        issue = _issue(entry, f"finding {n}")
        index = next((by_label[s] for s in issue.sources if s in by_label), 0)
        per_target[index].append(issue)
    results = tuple(
        TargetResult(
            target=target,
            ok=m["ok"],
            error=m["error"],
            issues=tuple(per_target[i]) if m["ok"] else (),
            checks_run=m["checks"] if m["ok"] else frozenset(),
            notes=m["notes"],
            duration=m["duration"],
        )
        for i, (target, m) in enumerate(zip(targets, meta, strict=True))
    )
    issues = tuple(issue for result in results for issue in result.issues)
    return ScanResult(targets=results, issues=issues)
