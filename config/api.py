"""The REST API under ``/api/v1/``: authentication, rate limits and errors.

Built on django-ninja: function views with type hints, from which the
OpenAPI schema (``/api/v1/openapi.json``, browsable at ``/api/v1/docs``) is
generated. The endpoints live beside the pages they mirror
(``projects/api.py``, ``audits/api.py``, ``findings/api.py``) and reach
objects through the same scoping helper, so every rule of the pages holds:
another team's object is a 404, a viewer cannot write (403), and a refused
change is a 400 that says why.

Callers authenticate with a personal token (``Authorization: Bearer
plb_...``, read or write scope), with a project's CI token (``plbp_...``:
reads that project only, and uploads scans to it), or, in the browser,
with their session (CSRF-checked). Each token, or signed-in user, has its
own rate limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError
from ninja.openapi.schema import OpenAPISchema
from ninja.security import HttpBearer, SessionAuth
from ninja.throttling import BaseThrottle

from projects.access import authenticate_project_token, scoped
from projects.http import AppRequest
from projects.models import ApiToken, Membership, Project, ProjectToken, token_digest

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Caller:
    """Who is calling: a user, through a token of some scope or a session,
    or a CI job through its project's token (``project`` set, no user)."""

    user: object
    scope: str  # "read" or "write"
    key: str  # what the rate limit counts by
    token: ApiToken | None = None
    project: Project | None = None

    @property
    def can_write(self) -> bool:
        return self.scope == ApiToken.Scope.WRITE


class ApiRequest(AppRequest):
    """A request the API has authenticated: ninja sets ``auth`` to the
    ``Caller`` that one of the authenticators below returned."""

    auth: Caller


class TokenAuth(HttpBearer):
    """``Authorization: Bearer plb_...``: a personal token, acting as its user."""

    def authenticate(self, request: HttpRequest, token: str) -> Caller | None:
        if not token.startswith(ApiToken.PREFIX):
            return None
        found = (
            ApiToken.objects.select_related("user")
            .filter(digest=token_digest(token), revoked_at__isnull=True)
            .first()
        )
        if found is None or not found.user.is_active:
            return None
        found.touch()
        request.user = found.user
        return Caller(
            user=found.user, scope=found.scope, key=f"t{found.pk}", token=found
        )


class ProjectTokenAuth(HttpBearer):
    """``Authorization: Bearer plbp_...``: a project's CI token, reading that
    project as a viewer would."""

    def authenticate(self, request: HttpRequest, token: str) -> Caller | None:
        if not token.startswith(ProjectToken.PREFIX):
            return None
        found = authenticate_project_token(request)
        if found is None:
            return None
        return Caller(
            user=None,
            scope=ApiToken.Scope.READ,
            key=f"p{found.pk}",
            project=found.project,
        )


class BrowserSession(SessionAuth):
    """The signed-in browser session; writes need the CSRF token, as on pages."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Caller | None:
        if request.user.is_authenticated:
            return Caller(
                user=request.user, scope=ApiToken.Scope.WRITE, key=f"u{request.user.pk}"
            )
        return None


class PerCallerRate(BaseThrottle):
    """``API_RATE_LIMIT`` requests per minute per token or signed-in user.

    A fixed one-minute window counted in the cache: atomic increments in
    Redis, so every web process shares the count.
    """

    window = 60

    def allow_request(self, request: HttpRequest) -> bool:
        caller = getattr(request, "auth", None)
        if caller is None:
            return True
        now = time.time()
        slot = int(now // self.window)
        self.reset_in = (slot + 1) * self.window - now
        key = f"api-rate:{caller.key}:{slot}"
        cache.add(key, 0, timeout=self.window * 2)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=self.window * 2)
            count = 1
        return count <= settings.API_RATE_LIMIT

    def wait(self) -> float:
        return self.reset_in


class PlumblineAPI(NinjaAPI):
    """The API, whose schema also documents the CI upload endpoint (a plain
    view, so that it answers machines without the API's session machinery)."""

    def get_openapi_schema(self, **kwargs: Any) -> OpenAPISchema:
        from audits.ci_upload import OPENAPI

        schema = super().get_openapi_schema(**kwargs)
        prefix = kwargs.get("path_prefix") or self.get_root_path({})
        schema["paths"][f"{prefix}projects/{{slug}}/uploads"] = OPENAPI
        return schema


api = PlumblineAPI(
    title="Plumbline API",
    version="1",
    description=(
        "Projects, targets, audits and findings of the teams you belong to. "
        "Authenticate with `Authorization: Bearer <token>` (make tokens on "
        "your account's API tokens page; a project's CI token reads that "
        "project) or a browser session. Another "
        "team's object is a 404; a viewer, or a read token, cannot change "
        "anything (403); a refused change is a 400 whose `detail` says why."
    ),
    auth=[TokenAuth(), ProjectTokenAuth(), BrowserSession()],
    throttle=[PerCallerRate()],
    urls_namespace="api",
)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(
        request,
        {"detail": "Authentication required: send a valid API token or sign in."},
        status=401,
    )


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, {"detail": "Not found."}, status=404)


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return api.create_response(
        request, {"detail": str(exc) or "You may not do this."}, status=403
    )


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    problems: list[str] = []
    for error in exc.errors:
        where = ".".join(
            str(p) for p in error.get("loc", ()) if p not in ("body", "payload")
        )
        problems.append(
            f"{where}: {error.get('msg')}" if where else str(error.get("msg"))
        )
    return api.create_response(
        request,
        {
            "detail": "; ".join(problems) or "The request is invalid.",
            "errors": exc.errors,
        },
        status=400,
    )


def get_object(
    request: ApiRequest,
    queryset: QuerySet[M],
    *,
    write: bool = False,
    manage: bool = False,
    **lookup: Any,
) -> M:
    """Return the team-scoped object for the API caller, as the pages do.

    Another team's object is a 404; writing needs a writer's role and a
    write token (403 otherwise), managing an owner's or admin's role.
    """
    if request.auth.project is not None:
        return _in_tokens_project(request, queryset, write or manage, **lookup)
    obj = scoped(request, queryset, write=write, manage=manage, **lookup)
    if (write or manage) and not request.auth.can_write:
        raise PermissionDenied(
            "This token can only read; use a token with write scope."
        )
    return obj


def _in_tokens_project(
    request: ApiRequest, queryset: QuerySet[M], change: bool, **lookup: Any
) -> M:
    """Return the object of the project token's own project, read-only.

    Any other project's object is a 404, as for a user outside its team.
    """
    project = request.auth.project
    path = getattr(queryset.model, "team_path", "team")
    if queryset.model is Project:
        obj = queryset.filter(**lookup).filter(pk=project.pk).first()
    elif path.endswith("__team"):
        obj = queryset.filter(
            **{path.removesuffix("__team"): project}, **lookup
        ).first()
    else:  # a team's object outside any project
        obj = None
    if obj is None:
        raise Http404("No such object in the token's project.")
    if change:
        raise PermissionDenied(
            "A project token reads its project and uploads scans; changes need "
            "a personal token with write scope."
        )
    obj.role = request.role = Membership.Role.VIEWER
    return obj


def keyset_page(
    queryset: QuerySet[M], *, size: int, key: str
) -> tuple[list[M], str | None]:
    """Return the first ``size`` rows of an ordered queryset and the cursor
    of the next page (the last row's ``key``), or None when there is none."""
    rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, str(getattr(rows[-1], key)) if more else None


def require_write(request: ApiRequest) -> None:
    """Refuse a change made with a read-only token (403)."""
    if not request.auth.can_write:
        raise PermissionDenied(
            "This token can only read; use a token with write scope."
        )


api.add_router("/", "projects.api.router")
api.add_router("/", "audits.api.router")
api.add_router("/", "findings.api.router")
