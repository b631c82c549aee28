"""Answers shared by the views of every app: toasts and error pages.

A refused htmx request is never silent: its 4xx answer carries the message,
either as the fragment of the form that was used (the view renders it with
the field's error) or, when there is no field to point at, as a toast the
page's script shows (static/js/plumbline.js swaps 4xx answers like any
other).
"""

from django.shortcuts import render


def toast(request, message: str, *, status: int = 400, kind: str = "error"):
    """Return ``message`` as a toast for an htmx request, with ``status``."""
    response = render(
        request,
        "projects/partials/toast.html",
        {"message": message, "kind": kind},
        status=status,
    )
    response["HX-Retarget"] = "#toasts"
    response["HX-Reswap"] = "beforeend"
    return response


def is_htmx(request) -> bool:
    """Return whether an htmx request asked for a fragment (not a boosted page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted


def error_page(request, *, status: int, title: str, message: str):
    """Return the error page, or a toast when htmx asked for a fragment."""
    if is_htmx(request):
        return toast(request, message, status=status)
    return render(
        request,
        "errors/error.html",
        {"code": status, "title": title, "message": message},
        status=status,
    )
