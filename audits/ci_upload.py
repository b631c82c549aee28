"""The CI upload endpoint, for machines authenticated by project tokens.

It answers JSON, never redirects to a login page, and reveals nothing about
projects the token does not belong to: a token for another project gets the
same 404 as a project that does not exist.
"""

import json

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from projects.access import authenticate_project_token

from . import gate, services


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@csrf_exempt  # no cookies are read: the token in the header is the credential
@require_POST
def upload_create(request, slug):
    token = authenticate_project_token(request)
    if token is None:
        response = _error(
            "A valid project token is required (Authorization: Bearer <token>).", 401
        )
        response["WWW-Authenticate"] = 'Bearer realm="plumbline"'
        return response
    project = token.project
    if project.slug != slug:
        return _error("No such project.", 404)
    length = int(request.headers.get("Content-Length") or 0)
    if length > settings.IMPORT_MAX_BYTES:
        return _error(
            f"The upload is larger than {settings.IMPORT_MAX_BYTES} bytes.", 413
        )
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _error("The body is not JSON: send `plumbline scan --format json`.", 400)
    try:
        audit = services.record_upload(project, data)
    except ValueError as exc:
        return _error(f"The upload is not a Plumbline scan: {exc}", 400)
    summary = audit.summary or {}
    return JsonResponse(
        {
            "audit": audit.number,
            "status": audit.status,
            "url": request.build_absolute_uri(audit.get_absolute_url()),
            "new": summary.get("new", 0),
            "fixed": summary.get("fixed", 0),
            "reopened": summary.get("reopened", 0),
            "still_open": summary.get("still_open", 0),
            "open": summary.get("open", 0),
            "grades": summary.get("grades", {}),
            "error": audit.error or None,
            # The quality gate's verdict: ``plumbline scan --gate`` exits on it.
            "gate": gate.shown(audit),
        },
        status=201,
    )


def _count(description: str) -> dict:
    return {"type": "integer", "description": description}


# The endpoint as the API's OpenAPI schema documents it (config.api adds it).
OPENAPI = {
    "post": {
        "operationId": "audits_ci_upload_upload_create",
        "summary": "Upload a scan from CI (project token)",
        "description": (
            "Send the JSON of `plumbline scan --format json` (what `plumbline "
            "scan --upload URL --project SLUG` sends) with the project's CI "
            "token. It becomes an audit of the project, reconciled as a "
            "worker's scan would be, and the answer carries the quality "
            "gate's verdict, on which `--gate` exits. A token of another "
            "project gets the 404 of a project that does not exist."
        ),
        "tags": ["audits"],
        "parameters": [
            {
                "in": "path",
                "name": "slug",
                "required": True,
                "schema": {"type": "string"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "responses": {
            "201": {
                "description": "The audit the upload became",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "audit": _count("The audit's number in the project"),
                                "status": {"type": "string"},
                                "url": {"type": "string"},
                                "new": _count("Findings new with this audit"),
                                "fixed": _count("Findings this audit fixed"),
                                "reopened": _count("Fixed findings seen again"),
                                "still_open": _count("Open findings seen again"),
                                "open": _count("Unresolved findings now"),
                                "grades": {"type": "object"},
                                "error": {"type": "string", "nullable": True},
                                "gate": {"$ref": "#/components/schemas/GateVerdict"},
                            },
                        }
                    }
                },
            },
            "400": {"description": "The body is not a Plumbline scan"},
            "401": {"description": "No valid project token"},
            "404": {"description": "No such project for this token"},
            "413": {"description": "The upload is too large"},
        },
        "security": [{"ProjectTokenAuth": []}],
    }
}
