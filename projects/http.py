"""The request the views receive, for their type hints."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class AppRequest(HttpRequest):
    """A request after the middleware and the scoping helper have run.

    django-htmx's middleware sets ``htmx``; ``projects.access.scoped`` sets
    ``role``, the user's role in the team of the object it returned.
    """

    htmx: HtmxDetails
    role: str | None
