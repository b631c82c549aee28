"""Every endpoint's query count stays the same as the project's data grows.

Each endpoint of ``test_access.ENDPOINTS`` is called, in a transaction
rolled back afterwards, on a small project and again once the project has
many more findings, audits, targets, members and history events; the two
counts must be equal. Bulk triage is called on 2 and then on 40 findings.
"""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from audits.models import Audit
from findings.models import FindingEvent
from projects.models import Membership, Target

from .conftest import make_finding
from .test_access import ENDPOINTS, IDS, call

GROWTH = 40


def counted(api, endpoint, objects):
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            response = call(api, endpoint, objects)
        transaction.set_rollback(True)
    assert response.status_code == endpoint.ok, response.content
    return len(queries)


def grow(project, finding, owner, tmp_path):
    from tests.conftest import make_user

    for n in range(GROWTH):
        user = make_user(f"user{n}")
        Membership.objects.create(team=project.team, user=user, role="member")
        make_finding(project, 100 + n, severity="high", assignee=user)
        FindingEvent.objects.create(
            finding=finding, kind="comment", actor=user, note=f"Note {n}"
        )
    for n in range(GROWTH):
        Audit.objects.create(
            project=project,
            number=2 + n,
            status=Audit.Status.SUCCEEDED,
            summary={"new": n, "open": n, "grades": {"overall": "B"}},
        )
    for n in range(5):
        path = tmp_path / f"more{n}.sql"
        path.write_text("CREATE TABLE t (id INTEGER PRIMARY KEY);\n")
        Target.objects.create(project=project, kind="ddl", location=str(path))


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_query_count_does_not_grow_with_the_data(
    api_as, owner, objects, project, finding, endpoint, tmp_path
):
    api = api_as(owner)
    api.get("/projects")  # stamps the token's last use, written once a minute
    small = counted(api, endpoint, objects)
    grow(project, finding, owner, tmp_path)
    if endpoint.name == "finding bulk":
        many = list(project.findings.values_list("pk", flat=True))
        assert len(many) > GROWTH
        objects = {**objects, "f": None}
        endpoint = type(endpoint)(
            endpoint.name,
            endpoint.method,
            endpoint.path,
            endpoint.need,
            endpoint.ok,
            {**endpoint.body, "ids": [str(pk) for pk in many]},
        )
    assert counted(api, endpoint, objects) == small
