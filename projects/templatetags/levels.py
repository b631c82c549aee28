"""Template tags that bring the engine's vocabulary (colours) into pages."""

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from audits.engine.levels import Severity

register = template.Library()


@register.simple_tag(takes_context=True)
def severity_colours(context) -> SafeString:
    """Return a style block defining ``--critical`` … ``--info`` for the CSS.

    It carries the request's CSP nonce: the Content-Security-Policy allows
    no other inline style.
    """
    names = "; ".join(f"--{s.value}: {s.colour}" for s in Severity)
    request = context.get("request")
    # str() makes the nonce: django-csp puts it in the header once made.
    nonce = getattr(request, "csp_nonce", None) if request is not None else None
    attribute = f' nonce="{escape(str(nonce))}"' if nonce is not None else ""
    return mark_safe(f"<style{attribute}>:root {{ {names}; }}</style>")  # noqa: S308 - constants
