"""Template tags that bring the engine's vocabulary (colours) into pages."""

from django import template
from django.utils.safestring import SafeString, mark_safe

from audits.engine.levels import Severity

register = template.Library()


@register.simple_tag
def severity_colours() -> SafeString:
    """Return a style block defining ``--critical`` … ``--info`` for the CSS."""
    names = "; ".join(f"--{s.value}: {s.colour}" for s in Severity)
    return mark_safe(f"<style>:root {{ {names}; }}</style>")  # noqa: S308 - constants
