"""Grading: open findings to letter grades per dimension, overall, and a score.

The formula is documented in ``docs/grading.md``. In short:

* A dimension's band is set by its worst open severity (none: A+, low: A,
  medium: B, high: C/D, critical: D/F) and the number of findings at that
  severity places it inside the band. Lower severities never move a grade
  that a worse one has set, and info findings never move a grade at all.
* The overall grade is a weighted mean of the dimensions' grade points,
  capped at one band (three steps) above the worst dimension.
* The score is the overall value on a 0-10 scale, so it always agrees with
  the overall letter.

Every step is monotonic: an added open finding, or a finding whose severity
rises, never improves any grade or the score.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import levels
from .issues import Dimension, Severity

# Grade points, worst to best: the index in this tuple is the letter's
# points, so comparing points compares letters.
LETTERS: tuple[str, ...] = (
    "F",
    "D-",
    "D",
    "D+",
    "C-",
    "C",
    "C+",
    "B-",
    "B",
    "B+",
    "A-",
    "A",
    "A+",
)
BEST = len(LETTERS) - 1  # A+
BAND_STEPS = 3  # letters per band (A, B, C, D); the overall cap is one band

# For each gradable severity: (minimum count, points) rungs, read from the
# top; the last rung whose minimum the count reaches gives the points. The
# ranges never overlap across severities, so a worse severity always gives
# a worse grade than any count of a milder one.
LADDERS: dict[Severity, tuple[tuple[int, int], ...]] = {
    Severity.LOW: ((1, LETTERS.index("A")), (3, LETTERS.index("A-"))),
    Severity.MEDIUM: (
        (1, LETTERS.index("B+")),
        (2, LETTERS.index("B")),
        (4, LETTERS.index("B-")),
    ),
    Severity.HIGH: (
        (1, LETTERS.index("C+")),
        (2, LETTERS.index("C")),
        (4, LETTERS.index("C-")),
        (6, LETTERS.index("D+")),
    ),
    Severity.CRITICAL: (
        (1, LETTERS.index("D")),
        (2, LETTERS.index("D-")),
        (4, LETTERS.index("F")),
    ),
}

# Integrity and security failures lose data or leak it; they weigh most.
WEIGHTS: dict[Dimension, int] = {
    Dimension.SCHEMA: 2,
    Dimension.INTEGRITY: 3,
    Dimension.PERFORMANCE: 2,
    Dimension.OPERATIONS: 2,
    Dimension.SECURITY: 3,
    Dimension.ISOLATION: 2,
}

# Statuses (from the Django side's rows) whose findings no longer count.
CLOSED_STATUSES = frozenset(s.value for s in levels.CLOSED)

# The severities that set grades, worst first (info never does).
_GRADED = tuple(s for s in Severity if s in LADDERS)


@dataclass(frozen=True)
class Grade:
    """One letter grade and what set it.

    ``fingerprints`` are the findings at the worst severity (the ones that
    set the grade); ``counts`` holds the open findings per severity value.
    """

    dimension: str  # a Dimension value, or "overall"
    letter: str
    points: int  # index into LETTERS, 0 (F) to 12 (A+)
    worst: Severity | None = None
    fingerprints: tuple[str, ...] = ()
    summary: str = ""
    counts: Mapping[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the grade as a JSON-ready dictionary."""
        return {
            "dimension": self.dimension,
            "letter": self.letter,
            "points": self.points,
            "worst": self.worst.value if self.worst else None,
            "fingerprints": list(self.fingerprints),
            "summary": self.summary,
            "counts": dict(self.counts),
        }


@dataclass(frozen=True)
class Grades:
    """Grades for every dimension, the overall grade and the 0-10 score."""

    dimensions: Mapping[str, Grade]
    overall: Grade
    score: float

    def __getitem__(self, dimension: str | Dimension) -> Grade:
        key = dimension.value if isinstance(dimension, Dimension) else dimension
        if key == "overall":
            return self.overall
        return self.dimensions[key]

    def __iter__(self) -> Iterator[Grade]:
        yield from self.dimensions.values()

    def letters(self) -> dict[str, str]:
        """Return ``{dimension: letter, ..., "overall": letter}``."""
        out = {key: g.letter for key, g in self.dimensions.items()}
        out["overall"] = self.overall.letter
        return out

    def as_dict(self) -> dict[str, Any]:
        """Return every grade in detail, for JSON output."""
        out = {key: g.as_dict() for key, g in self.dimensions.items()}
        out["overall"] = self.overall.as_dict()
        return out


def letter_for(points: int) -> str:
    """Return the letter for ``points`` (0 to 12)."""
    return LETTERS[max(0, min(BEST, points))]


def points_for(letter: str) -> int:
    """Return the grade points of ``letter``; raise ValueError if unknown."""
    try:
        return LETTERS.index(letter.strip().upper())
    except ValueError:
        raise ValueError(f"unknown grade {letter!r}") from None


def band_points(severity: Severity | None, count: int) -> int:
    """Return the grade points for ``count`` open findings at worst ``severity``.

    ``None`` (or no graded finding) is A+.
    """
    if severity is None or count <= 0 or severity not in LADDERS:
        return BEST
    points = BEST
    for minimum, rung in LADDERS[severity]:
        if count >= minimum:
            points = rung
    return points


def _as_enum(value: Any, enum: type[Any], what: str) -> Any:
    if isinstance(value, enum):
        return value
    try:
        return enum(str(value).strip().lower())
    except ValueError:
        raise ValueError(f"unknown {what} {value!r}") from None


def _is_open(item: Any) -> bool:
    status = getattr(item, "status", None)
    if status is None:
        return True
    return str(getattr(status, "value", status)).lower() not in CLOSED_STATUSES


@dataclass
class _Bucket:
    counts: Counter[Severity] = field(default_factory=Counter)
    checks: dict[Severity, Counter[str]] = field(default_factory=dict)
    fingerprints: dict[Severity, list[str]] = field(default_factory=dict)


def _summary(worst: Severity | None, bucket: _Bucket) -> str:
    if worst is None:
        infos = bucket.counts[Severity.INFO]
        return f"no open findings ({infos} info)" if infos else "no open findings"
    per_check = bucket.checks[worst]
    detail = ", ".join(
        f"{check} ×{n}" for check, n in sorted(per_check.items(), key=_by_count)
    )
    text = f"{bucket.counts[worst]} {worst.value}: {detail}"
    milder = [
        f"{bucket.counts[s]} {s.value}"
        for s in Severity
        if s.rank < worst.rank and bucket.counts[s]
    ]
    if milder:
        text += f" (also {', '.join(milder)})"
    return text


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


def _dimension_grade(dimension: Dimension, bucket: _Bucket) -> Grade:
    worst = next((s for s in _GRADED if bucket.counts[s]), None)
    points = band_points(worst, bucket.counts[worst] if worst else 0)
    fingerprints = tuple(sorted(bucket.fingerprints.get(worst, []))) if worst else ()
    return Grade(
        dimension=dimension.value,
        letter=letter_for(points),
        points=points,
        worst=worst,
        fingerprints=fingerprints,
        summary=_summary(worst, bucket),
        counts={s.value: bucket.counts[s] for s in Severity if bucket.counts[s]},
    )


def overall_value(points: Mapping[Dimension, int]) -> float:
    """Return the overall grade value (0 to 12) for per-dimension points.

    The weighted mean of the points, capped at one band above the worst
    dimension so that one failing dimension cannot hide behind good ones.
    """
    total = sum(WEIGHTS[d] for d in points)
    if not total:
        return float(BEST)
    mean = sum(WEIGHTS[d] * p for d, p in points.items()) / total
    return min(mean, float(min(points.values()) + BAND_STEPS))


def score_for(value: float) -> float:
    """Return the 0-10 score for an overall value (0 to 12), to one decimal."""
    return math.floor(value / BEST * 100 + 1e-9) / 10


def grade(issues: Iterable[Any]) -> Grades:
    """Grade ``issues``: anything with ``dimension``, ``severity``, ``fingerprint``.

    Dimension and severity may be the enums or their string values (as the
    Django side's rows hold them); ``check`` is used for summaries when
    present. Items with a ``status`` of fixed, documented or false_positive
    do not count.
    """
    buckets = {d: _Bucket() for d in Dimension}
    for item in issues:
        if not _is_open(item):
            continue
        dimension = _as_enum(item.dimension, Dimension, "dimension")
        severity = _as_enum(item.severity, Severity, "severity")
        bucket = buckets[dimension]
        bucket.counts[severity] += 1
        check = str(getattr(item, "check", "") or "finding")
        bucket.checks.setdefault(severity, Counter())[check] += 1
        bucket.fingerprints.setdefault(severity, []).append(str(item.fingerprint))
    return _grade_buckets(buckets)


def grade_counts(
    counts: Mapping[str, Mapping[str, int]],
    checks: Mapping[str, Mapping[str, Mapping[str, int]]] | None = None,
) -> Grades:
    """Grade open-finding counts: ``{dimension: {severity: n}}``.

    For callers that count in the database rather than hold every finding;
    ``checks`` (``{dimension: {severity: {check: n}}}``) feeds the summaries.
    The grades are the ones :func:`grade` gives for the same findings, less
    the fingerprints that set them. Unknown dimensions are ignored.
    """
    buckets = {d: _Bucket() for d in Dimension}
    for dimension in Dimension:
        per_severity = counts.get(dimension.value, {})
        per_check = (checks or {}).get(dimension.value, {})
        bucket = buckets[dimension]
        for sev_value, n in per_severity.items():
            severity = _as_enum(sev_value, Severity, "severity")
            bucket.counts[severity] += n
            named = per_check.get(sev_value) or {"finding": n}
            bucket.checks.setdefault(severity, Counter()).update(named)
    return _grade_buckets(buckets)


def _grade_buckets(buckets: Mapping[Dimension, _Bucket]) -> Grades:
    dims = {d.value: _dimension_grade(d, b) for d, b in buckets.items()}
    points = {d: dims[d.value].points for d in Dimension}
    value = overall_value(points)
    overall_points = math.floor(value + 1e-9)
    worst_points = min(points.values())
    setters = [g for g in dims.values() if g.points == worst_points]
    if worst_points == BEST:
        summary = "no open findings above info in any dimension"
        fingerprints: tuple[str, ...] = ()
    else:
        names = ", ".join(f"{g.dimension} {g.letter}" for g in setters)
        capped = value == worst_points + BAND_STEPS
        how = "capped one band above" if capped else "weighted mean; worst"
        summary = f"{how} {names}"
        fingerprints = tuple(sorted({f for g in setters for f in g.fingerprints}))
    totals: Counter[str] = Counter()
    for g in dims.values():
        totals.update(g.counts)
    overall = Grade(
        dimension="overall",
        letter=letter_for(overall_points),
        points=overall_points,
        worst=min((g.worst for g in setters if g.worst), default=None, key=_rank_desc),
        fingerprints=fingerprints,
        summary=summary,
        counts=dict(totals),
    )
    return Grades(dimensions=dims, overall=overall, score=score_for(value))


def _rank_desc(severity: Severity) -> int:
    return -severity.rank
