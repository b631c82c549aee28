"""Template filters for finding and report texts."""

from django import template
from django.utils.safestring import mark_safe

from findings.markdown import render_markdown

register = template.Library()


@register.filter
def markdown(text: str) -> str:
    """Render Markdown from a finding or report as safe HTML (findings.markdown)."""
    return mark_safe(render_markdown(text or ""))  # noqa: S308 - sanitised by render_markdown


@register.filter
def split_impact(text: str) -> tuple[str, str]:
    """Split a description into (what, impact) at its "Impact:" paragraph."""
    text = text or ""
    head, sep, tail = text.rpartition("\n\nImpact: ")
    if sep:
        return head, tail
    if text.startswith("Impact: "):
        return "", text[len("Impact: ") :]
    return text, ""
