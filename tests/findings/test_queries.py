"""Query counts of the findings pages do not grow with findings or audits."""

import pytest
from django.db import connection
from django.urls import reverse

from audits.models import Audit
from findings.models import Finding, FindingEvent, FindingSighting
from tests.findings.test_views import make_finding

HTMX = {"HTTP_HX_REQUEST": "true"}


def populate(project, owner, member, n):
    """Give the project ``n`` findings with events across several audits."""
    audits = [
        Audit.objects.create(project=project, number=i, status=Audit.Status.SUCCEEDED)
        for i in range(1, 5)
    ]
    severities = ["critical", "high", "medium", "low", "info"]
    findings = []
    for i in range(n):
        f = make_finding(
            project,
            i,
            severity=severities[i % 5],
            assignee=(owner, member, None)[i % 3],
            first_seen_audit=audits[0],
            target=project.targets.first(),
        )
        FindingSighting.objects.create(
            finding=f,
            audit_number=audits[i % 4].number,
            seen_at=audits[i % 4].created_at,
        )
        findings.append(f)
        FindingEvent.objects.create(finding=f, kind="created", audit=audits[0])
    first = findings[0]
    for audit in audits[1:]:
        FindingEvent.objects.create(finding=first, kind="fixed", audit=audit)
        FindingEvent.objects.create(finding=first, kind="reopened", audit=audit)
    for i in range(n):
        FindingEvent.objects.create(
            finding=first, kind="comment", actor=(owner, member)[i % 2], note=f"c{i}"
        )
    return findings


def urls_for(project, first):
    return {
        "list": reverse("findings:list", args=[project.pk]),
        "list-filtered": reverse("findings:list", args=[project.pk])
        + "?severity=critical&status=all&sort=-title&q=Finding&assignee=me&page=1",
        "list-search": reverse("findings:list", args=[project.pk]) + "?q=table_1.user",
        "detail": reverse("findings:detail", args=[first.pk]),
        "mine": reverse("findings:mine"),
        "csv": reverse("findings:export-csv", args=[project.pk]),
        "markdown": reverse("findings:export-markdown", args=[project.pk]),
    }


# Sessions and the user, the scoped project, team members, target
# choices, the grouped status counts, the page of rows.
EXPECTED = {
    "list": 7,
    "list-filtered": 7,
    # On PostgreSQL a search of several words counts them in a sample first.
    "list-search": 8 if connection.vendor == "postgresql" else 7,
    "detail": 7,  # the last audit that saw it by its number; findings nearby
    "mine": 4,
    "csv": 5,
    "markdown": 6,
}


@pytest.mark.parametrize("n", [3, 60])
def test_findings_pages_query_counts_do_not_grow(
    client, owner, member, project, n, django_assert_num_queries
):
    findings = populate(project, owner, member, n)
    client.force_login(owner)
    urls = urls_for(project, findings[0])
    for name, url in urls.items():
        with django_assert_num_queries(EXPECTED[name]):
            response = client.get(url)
            if response.streaming:
                b"".join(response.streaming_content)
        assert response.status_code == 200, name
    # The fragment leaves out the filter form and so its target choices.
    with django_assert_num_queries(EXPECTED["list"] - 1):
        assert client.get(urls["list"], **HTMX).status_code == 200


@pytest.mark.parametrize("n", [3, 60])
def test_bulk_action_query_count_does_not_grow(
    client, owner, member, project, n, django_assert_num_queries
):
    populate(project, owner, member, n)
    client.force_login(owner)
    url = reverse("findings:bulk", args=[project.pk]) + "?status=all"
    # Sessions and user, project, members, the savepoint, the locking read,
    # per action one UPDATE and one INSERT of events, the release.
    with django_assert_num_queries(11):
        response = client.post(
            url,
            {"scope": "matching", "assignee": member.pk, "status": "in_progress"},
            **HTMX,
        )
    assert response.status_code == 200
    assert Finding.objects.filter(status="in_progress").count() == n
    assert FindingEvent.objects.filter(kind="status").count() == n
