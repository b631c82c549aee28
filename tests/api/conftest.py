import json

import pytest

from audits.models import Audit
from findings.models import Finding, FindingEvent
from projects.models import ApiToken

SARIF = json.dumps(
    {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "demo-linter", "rules": []}},
                "results": [
                    {
                        "ruleId": "D100",
                        "level": "error",
                        "message": {"text": "Raw SQL built from user input"},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {"uri": "app/db.py"},
                                    "region": {"startLine": 3},
                                }
                            }
                        ],
                    }
                ],
            }
        ],
    }
).encode()


class Api:
    """A test client speaking to /api/v1/ with a bearer token (or none)."""

    def __init__(self, client, secret: str | None = None):
        self.client = client
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}

    def get(self, path, **params):
        return self.client.get(f"/api/v1{path}", params, **self.headers)

    def post(self, path, body=None, **extra):
        return self.client.post(
            f"/api/v1{path}",
            json.dumps(body if body is not None else {}),
            content_type="application/json",
            **self.headers,
            **extra,
        )

    def patch(self, path, body):
        return self.client.patch(
            f"/api/v1{path}",
            json.dumps(body),
            content_type="application/json",
            **self.headers,
        )

    def upload(self, path, name, data):
        from django.core.files.uploadedfile import SimpleUploadedFile

        return self.client.post(
            f"/api/v1{path}",
            {"report": SimpleUploadedFile(name, data)},
            **self.headers,
        )


def token_for(user, scope="write"):
    return ApiToken.issue(user, name=f"{user.username} {scope}", scope=scope)[1]


@pytest.fixture
def api_as(client):
    """Return a function making an Api client for a user (None: anonymous)."""

    def make(user=None, scope="write"):
        return Api(client, token_for(user, scope) if user is not None else None)

    return make


def make_finding(project, n, **fields):
    values = {
        "fingerprint": f"fp-{project.pk}-{n}",
        "check_id": "fk-missing",
        "dimension": "schema",
        "severity": "medium",
        "effort": "hours",
        "title": f"Finding number {n}",
        "object": f"table_{n}.user_id",
    }
    values.update(fields)
    return Finding.objects.create(project=project, **values)


@pytest.fixture
def audit(project, owner):
    return Audit.objects.create(
        project=project,
        number=1,
        status=Audit.Status.SUCCEEDED,
        requested_by=owner,
        summary={
            "new": 2,
            "fixed": 0,
            "reopened": 0,
            "open": 2,
            "grades": {"overall": "C"},
        },
        report_markdown="# Shop: database audit\n",
        gate_passed=False,
        gate={
            "rules": ["no new finding at high or above"],
            "failed": 1,
            "findings": [],
        },
    )


@pytest.fixture
def finding(project, audit, owner):
    found = make_finding(project, 1, severity="high", first_seen_audit=audit)
    make_finding(project, 2, severity="low", first_seen_audit=audit)
    FindingEvent.objects.create(
        finding=found, kind=FindingEvent.Kind.CREATED, audit=audit, to_value="open"
    )
    return found


@pytest.fixture
def objects(project, audit, finding, schema_file):
    """Return the ids the endpoint paths of ``test_access.ENDPOINTS`` take."""
    target = project.targets.get()
    return {
        "p": project.pk,
        "t": target.pk,
        "a": audit.pk,
        "f": finding.pk,
        "schema": str(schema_file),
    }
