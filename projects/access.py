"""The one scoping helper every view uses to reach a team's objects.

An object outside the user's teams is a 404 (its existence is not revealed);
a viewer may read but not change anything (403).
"""

from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404

from .models import Membership, ProjectToken


def scoped(request, queryset, *, write=False, manage=False, **lookup):
    """Return the object of ``queryset`` matching ``lookup`` in the user's teams.

    The model names the path to its team in ``team_path``. The user's role in
    that team is set on ``request.role`` and on the object as ``role``.
    Raise Http404 when the object is not in one of the user's teams and
    PermissionDenied when the role does not allow writing (``write``) or
    managing the team (``manage``).
    """
    path = getattr(queryset.model, "team_path", "team")
    role = Membership.objects.filter(team=OuterRef(path), user=request.user).values(
        "role"
    )[:1]
    obj = (
        queryset.annotate(role=Subquery(role))
        .filter(role__isnull=False, **lookup)
        .first()
    )
    if obj is None:
        raise Http404("No such object in your teams.")
    request.role = obj.role
    if manage and obj.role not in Membership.MANAGER_ROLES:
        raise PermissionDenied("Only team owners and admins can do this.")
    if write and obj.role not in Membership.WRITER_ROLES:
        raise PermissionDenied("Viewers can read but not change anything.")
    return obj


def can_write(role: str | None) -> bool:
    return role in Membership.WRITER_ROLES


def can_manage(role: str | None) -> bool:
    return role in Membership.MANAGER_ROLES


def authenticate_project_token(request) -> ProjectToken | None:
    """Return the active project token the request carries, or None.

    The token rides in ``Authorization: Bearer <token>`` (``Token <token>``
    is accepted too). A revoked or unknown token gives None. The token's
    project is loaded with it (``token.project``) and its last use recorded.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    raw = raw.strip()
    if scheme.lower() not in ("bearer", "token") or not raw.startswith(
        ProjectToken.PREFIX
    ):
        return None
    token = (
        ProjectToken.objects.active()
        .select_related("project", "project__team")
        .filter(digest=ProjectToken.digest_of(raw))
        .first()
    )
    if token is not None:
        token.touch()
    return token
