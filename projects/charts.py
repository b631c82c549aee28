"""Trend charts drawn on the server as SVG, from audit summary rows.

Each chart takes the audits oldest first, as dictionaries with ``number``,
``finished_at`` and ``summary`` (the snapshot an audit stores when it ends),
and returns safe SVG markup sized by its ``viewBox`` so it scales to the
page. Every bar segment and every point carries a ``<title>``, which
browsers show as a tooltip and screen readers read out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from audits.engine.grading import LETTERS, points_for
from audits.engine.levels import DIMENSION_COLOURS, Dimension, Severity

SEVERITIES = tuple(s.value for s in Severity)

WIDTH, HEIGHT = 640, 250
LEFT, RIGHT, TOP, BOTTOM = 60, 12, 14, 48

# Letters shown on the grade chart's y axis: each band's middle letter and
# F, so the axis stays readable when the chart is phone-sized. A+ sits one
# step above A, at the top of the chart.
GRADE_TICKS = ("A", "B", "C", "D", "F")


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _when(audit: dict[str, Any]) -> str:
    finished = audit.get("finished_at")
    return f" ({finished:%Y-%m-%d %H:%M})" if finished else ""


def short_number(value: int) -> str:
    """Return ``value`` compactly for an axis: 1500 as 1.5k."""
    if value >= 1000:
        return f"{_fmt(value / 1000)}k"
    return str(value)


def nice_step(maximum: int, ticks: int = 4) -> int:
    """Return a round tick step (1, 2, 5 × 10^n) covering ``maximum``."""
    if maximum <= ticks:
        return 1
    raw = maximum / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return int(factor * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def _x_labels(count: int, x_of, audits: Sequence[dict[str, Any]]) -> list[str]:
    """Label every audit when they fit, else every k-th and always the last."""
    every = max(1, math.ceil(count / 12))
    parts = []
    for i, audit in enumerate(audits):
        if i % every and i != count - 1:
            continue
        parts.append(
            f'<text class="tick" x="{_fmt(x_of(i))}" y="{HEIGHT - BOTTOM + 6}" '
            f'text-anchor="middle" dominant-baseline="hanging">'
            f"#{int(audit['number'])}</text>"
        )
    return parts


def _frame(title: str, y_label: str, body: list[str], desc: str) -> SafeString:
    plot_h = HEIGHT - TOP - BOTTOM
    head = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>"
    )
    axes = (
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>'
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + plot_h}"/>'
        f'<text class="axis-label" x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" '
        f'y="{HEIGHT - 4}" text-anchor="middle">Audit</text>'
        f'<text class="axis-label" x="12" y="{TOP + plot_h / 2:.0f}" '
        f'text-anchor="middle" transform="rotate(-90 12 {TOP + plot_h / 2:.0f})">'
        f"{escape(y_label)}</text>"
    )
    return mark_safe(head + "".join(body) + axes + "</svg>")  # noqa: S308 - escaped above


def severity_chart(audits: Sequence[dict[str, Any]]) -> SafeString:
    """Return stacked bars of open findings per severity, one bar per audit."""
    count = len(audits)
    totals = [
        sum(int(a["summary"].get("by_severity", {}).get(s, 0)) for s in SEVERITIES)
        for a in audits
    ]
    step = nice_step(max(totals, default=0))
    top = max(step, math.ceil(max(totals, default=0) / step) * step)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(count, 1)
    bar_w = max(2.0, min(36.0, slot * 0.7))

    def x_of(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    def y_of(value: float) -> float:
        return TOP + plot_h - plot_h * value / top

    body = []
    for tick in range(0, top + 1, step):
        y = _fmt(y_of(tick))
        body.append(
            f'<line class="grid" x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y}" text-anchor="end" '
            f'dominant-baseline="middle">{short_number(tick)}</text>'
        )
    for i, (audit, total) in enumerate(zip(audits, totals, strict=True)):
        by_severity = audit["summary"].get("by_severity", {})
        base = 0
        label = f"Audit #{int(audit['number'])}{_when(audit)}"
        segments = []
        # Critical sits on the axis so the worst part is always comparable.
        for severity in SEVERITIES:
            n = int(by_severity.get(severity, 0))
            if not n:
                continue
            y_top, y_bottom = y_of(base + n), y_of(base)
            segments.append(
                f'<rect class="bar bar-{severity}" x="{_fmt(x_of(i) - bar_w / 2)}" '
                f'y="{_fmt(y_top)}" width="{_fmt(bar_w)}" '
                f'height="{_fmt(y_bottom - y_top)}">'
                f"<title>{escape(label)}: {n} {severity} of {total} open</title></rect>"
            )
            base += n
        if not segments:
            # An audit with nothing open still gets a mark to hover.
            segments.append(
                f'<rect class="bar bar-none" x="{_fmt(x_of(i) - bar_w / 2)}" '
                f'y="{_fmt(y_of(0) - 2)}" width="{_fmt(bar_w)}" height="2">'
                f"<title>{escape(label)}: no open findings</title></rect>"
            )
        body.append(
            f'<g class="bar-group" data-audit="{int(audit["number"])}">'
            + "".join(segments)
            + "</g>"
        )
    body += _x_labels(count, x_of, audits)
    desc = ", ".join(
        f"audit #{int(a['number'])}: {t} open"
        for a, t in zip(audits, totals, strict=True)
    )
    return _frame("Open findings per severity", "Open findings", body, desc)


def grade_chart(audits: Sequence[dict[str, Any]]) -> SafeString:
    """Return one line per dimension (and overall) of grades across audits."""
    count = len(audits)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(count, 1)
    best = len(LETTERS) - 1

    def x_of(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    def y_of(points: float) -> float:
        return TOP + plot_h - plot_h * points / best

    body = []
    for letter in GRADE_TICKS:
        y = _fmt(y_of(points_for(letter)))
        body.append(
            f'<line class="grid" x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y}" text-anchor="end" '
            f'dominant-baseline="middle">{letter}</text>'
        )
    series = [(d.value, d.label) for d in Dimension] + [("overall", "Overall")]
    for n, (key, label) in enumerate(series):
        # A small offset per line keeps equal grades from hiding each other.
        offset = (n - (len(series) - 1) / 2) * 1.2
        points = []
        for i, audit in enumerate(audits):
            letter = audit["summary"].get("grades", {}).get(key)
            try:
                value = points_for(letter) if letter else None
            except ValueError:
                value = None
            if value is not None:
                points.append((i, audit, letter, x_of(i), y_of(value) + offset))
        if not points:
            continue
        colour = DIMENSION_COLOURS.get(key, "#5d6677")
        path = " ".join(f"{_fmt(x)},{_fmt(y)}" for _, _, _, x, y in points)
        marks = "".join(
            f'<circle class="point" cx="{_fmt(x)}" cy="{_fmt(y)}" r="3.5" '
            f'fill="{colour}"><title>Audit #{int(a["number"])}{escape(_when(a))}: '
            f"{escape(label)} {escape(letter)}</title></circle>"
            for _, a, letter, x, y in points
        )
        body.append(
            f'<g class="series series-{key}" data-series="{key}">'
            f'<polyline class="line" points="{path}" stroke="{colour}" fill="none" '
            f'stroke-width="{3 if key == "overall" else 2}"/>'
            f"{marks}</g>"
        )
    body += _x_labels(count, x_of, audits)
    desc = ", ".join(
        f"audit #{int(a['number'])}: overall {a['summary'].get('grades', {}).get('overall', '–')}"
        for a in audits
    )
    return _frame("Grade per dimension", "Grade", body, desc)
