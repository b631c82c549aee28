"""The findings API: the page's filters and sorts, cursor pages, triage, bulk."""

from datetime import timedelta

import pytest
from django.utils import timezone

from findings.models import Finding, FindingEvent

from .conftest import make_finding


@pytest.fixture
def findings(project, owner):
    today = timezone.localdate()
    return [
        make_finding(project, 1, severity="critical", effort="minutes"),
        make_finding(
            project, 2, severity="high", assignee=owner, due_date=today - timedelta(1)
        ),
        make_finding(project, 3, severity="high", status="fixed"),
        make_finding(
            project, 4, severity="low", title="Secret in settings", file="s.py"
        ),
        make_finding(project, 5, severity="info", status="documented"),
    ]


def titles(response):
    assert response.status_code == 200, response.content
    return [f["title"] for f in response.json()["items"]]


def test_list_defaults_to_unresolved_worst_first(api_as, owner, findings):
    project = findings[0].project
    response = api_as(owner).get(f"/projects/{project.pk}/findings")
    assert titles(response) == [
        "Finding number 1",
        "Finding number 2",
        "Secret in settings",
    ]
    first = response.json()["items"][1]
    assert first["assignee"] == "olivia"
    assert first["overdue"] is True
    assert first["url"] == f"/findings/{findings[1].pk}/"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "all"}, [1, 2, 3, 4, 5]),
        ({"status": "fixed"}, [3]),
        ({"severity": "high", "status": "all"}, [2, 3]),
        ({"assignee": "me"}, [2]),
        ({"assignee": "nobody"}, [1, 4]),
        ({"overdue": "true"}, [2]),
        ({"effort": "minutes"}, [1]),
        ({"q": "secret"}, [4]),
        ({"check": "fk-missing", "status": "documented"}, [5]),
    ],
)
def test_list_takes_the_pages_filters(api_as, owner, findings, query, expected):
    project = findings[0].project
    response = api_as(owner).get(f"/projects/{project.pk}/findings", **query)
    assert sorted(titles(response)) == sorted(findings[n - 1].title for n in expected)


def test_bad_filter_values_are_a_400_that_names_them(api_as, owner, findings):
    project = findings[0].project
    response = api_as(owner).get(f"/projects/{project.pk}/findings", severity="huge")
    assert response.status_code == 400
    assert "severity" in response.json()["detail"]
    response = api_as(owner).get(f"/projects/{project.pk}/findings", assignee="12345")
    assert response.status_code == 400
    assert "assignee" in response.json()["detail"]


SORTS = [
    "severity",
    "-severity",
    "title",
    "-title",
    "status",
    "-status",
    "assignee",
    "-assignee",
    "due_date",
    "-due_date",
    "effort",
    "-effort",
    "first_seen_at",
    "-first_seen_at",
]


@pytest.fixture
def many(project, owner, member):
    """37 findings with repeated and missing sort values."""
    today = timezone.localdate()
    people = [owner, member, None]
    severities = ["critical", "high", "medium", "low", "info"]
    return [
        make_finding(
            project,
            n,
            severity=severities[n % 5],
            title=f"Finding {n % 7}",
            assignee=people[n % 3],
            due_date=None if n % 4 == 0 else today + timedelta(days=n % 6),
            effort=["minutes", "hours", "days", ""][n % 4],
            status=["open", "in_progress"][n % 2],
        )
        for n in range(37)
    ]


@pytest.mark.parametrize("sort", SORTS)
def test_cursor_pages_walk_the_same_order_as_one_page(api_as, owner, many, sort):
    """Forward page by page, then back, gives the one-page order both ways."""
    api = api_as(owner)
    path = f"/projects/{many[0].project_id}/findings"
    whole = api.get(path, sort=sort, limit=200).json()
    assert whole["next"] is None and whole["previous"] is None
    expected = [f["id"] for f in whole["items"]]
    assert len(expected) == 37
    pages, cursor = [], None
    while True:
        params = {"sort": sort, "limit": 5}
        if cursor:
            params["cursor"] = cursor
        body = api.get(path, **params).json()
        pages.append(body)
        cursor = body["next"]
        if cursor is None:
            break
    assert [f["id"] for p in pages for f in p["items"]] == expected
    assert len(pages) == 8
    # And back from the last page with the "previous" cursors.
    back, cursor = [], pages[-1]["previous"]
    while cursor:
        body = api.get(path, sort=sort, limit=5, cursor=cursor).json()
        back = [f["id"] for f in body["items"]] + back
        cursor = body["previous"]
    assert back + [f["id"] for f in pages[-1]["items"]] == expected


def test_list_sorts_like_the_page(api_as, client, owner, many):
    """The API's order for each sort is the findings page's order."""
    project = many[0].project
    client.force_login(owner)
    for sort in ("severity", "-title", "due_date", "-assignee"):
        page = client.get(f"/projects/{project.pk}/findings/", {"sort": sort})
        on_page = [row.record.pk for row in page.context["table"].paginated_rows]
        api = api_as(owner).get(f"/projects/{project.pk}/findings", sort=sort, limit=50)
        assert [f["id"] for f in api.json()["items"]][: len(on_page)] == on_page, sort


def test_a_cursor_from_another_sort_or_garbage_is_a_400(api_as, owner, many):
    api = api_as(owner)
    path = f"/projects/{many[0].project_id}/findings"
    cursor = api.get(path, sort="title", limit=5).json()["next"]
    response = api.get(path, sort="severity", cursor=cursor)
    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]
    assert api.get(path, cursor="not-a-cursor").status_code == 400


def add_findings(project, start, count):
    Finding.objects.bulk_create(
        Finding(
            project=project,
            fingerprint=f"bulk-{project.pk}-{n}",
            check_id="fk-missing",
            severity=["critical", "high", "low"][n % 3],
            title=f"Bulk {n}",
        )
        for n in range(start, start + count)
    )


def test_list_query_count_does_not_grow(
    api_as, owner, project, django_assert_num_queries
):
    """Token, project, then one query per index range read: a first page
    reads one, a later page two (the rest of the last row's title, then the
    titles after it). Team members are read only to filter by one."""
    api = api_as(owner)
    path = f"/projects/{project.pk}/findings"
    api.get(path)  # stamps the token's last use
    for start, count in ((0, 90), (90, 900)):
        add_findings(project, start, count)
        with django_assert_num_queries(3):
            first = api.get(path, limit=20, sort="title", severity="critical")
        with django_assert_num_queries(4):
            api.get(
                path,
                limit=20,
                sort="title",
                severity="critical",
                cursor=first.json()["next"],
            )
        with django_assert_num_queries(3):
            api.get(path, limit=20)
        with django_assert_num_queries(4):
            api.get(path, limit=20, assignee=str(owner.pk))


def test_detail_has_history_in_order(api_as, owner, finding, django_assert_num_queries):
    FindingEvent.objects.create(finding=finding, kind="comment", actor=owner, note="Hm")
    api = api_as(owner)
    api.get(f"/findings/{finding.pk}")
    with django_assert_num_queries(3):
        response = api.get(f"/findings/{finding.pk}")
    body = response.json()
    assert [e["kind"] for e in body["history"]] == ["created", "comment"]
    assert body["history"][0]["actor"] == "Audit #1"
    assert body["history"][1]["actor"] == "olivia"
    assert body["first_seen_audit"] == finding.first_seen_audit_id
    for n in range(20):
        FindingEvent.objects.create(
            finding=finding, kind="comment", actor=owner, note=f"{n}"
        )
    with django_assert_num_queries(3):
        api.get(f"/findings/{finding.pk}")


def test_status_change_records_history_and_refusals_say_why(api_as, owner, finding):
    api = api_as(owner)
    response = api.post(f"/findings/{finding.pk}/status", {"status": "documented"})
    assert response.status_code == 400
    assert response.json()["detail"] == "Marking a finding documented needs a reason."
    response = api.post(
        f"/findings/{finding.pk}/status",
        {"status": "documented", "reason": "Accepted by the team"},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "documented"
    assert response.json()["history"][-1]["note"] == "Accepted by the team"
    response = api.post(f"/findings/{finding.pk}/status", {"status": "in_progress"})
    assert response.status_code == 400
    assert "can only become: open" in response.json()["detail"]
    response = api.post(f"/findings/{finding.pk}/status", {"status": "closed"})
    assert response.status_code == 400
    assert "status" in response.json()["detail"]


def test_assign_takes_team_members_only(api_as, owner, member, outsider, finding):
    api = api_as(owner)
    response = api.post(f"/findings/{finding.pk}/assign", {"assignee": "max"})
    assert response.json()["assignee"] == "max"
    response = api.post(f"/findings/{finding.pk}/assign", {"assignee": "oscar"})
    assert response.status_code == 400
    assert "not a member" in response.json()["detail"]
    response = api.post(f"/findings/{finding.pk}/assign", {"assignee": None})
    assert response.json()["assignee"] is None


def test_comment_must_say_something(api_as, owner, finding):
    api = api_as(owner)
    response = api.post(f"/findings/{finding.pk}/comments", {"text": "   "})
    assert response.status_code == 400
    response = api.post(f"/findings/{finding.pk}/comments", {"text": "On it"})
    assert response.status_code == 201
    assert response.json()["note"] == "On it"


def test_bulk_changes_selected_and_matching_findings(api_as, owner, findings):
    project = findings[0].project
    api = api_as(owner)
    path = f"/projects/{project.pk}/findings/bulk"
    response = api.post(
        path, {"ids": [findings[0].pk, findings[2].pk], "status": "in_progress"}
    )
    body = response.json()
    assert response.status_code == 200
    assert (body["changed"], body["skipped"]) == (1, 1)
    assert "can only become" in body["message"]
    # All matching: the list's filters ride in the query string.
    response = api.post(
        path + "?severity=high&status=unresolved",
        {"all_matching": True, "assignee": "olivia"},
    )
    assert response.json()["message"] == "0 assigned to olivia, 1 already were."
    response = api.post(
        path + "?severity=low", {"all_matching": True, "assignee": None}
    )
    assert response.json()["changed"] == 0
    # Every finding refused: a 400 that says why.
    response = api.post(path, {"ids": [findings[2].pk], "status": "in_progress"})
    assert response.status_code == 400
    assert "can only become" in response.json()["detail"]
    response = api.post(path, {"ids": [], "status": "fixed"})
    assert response.status_code == 400
    assert "Select at least one finding" in response.json()["detail"]


def test_bulk_only_touches_the_projects_own_findings(api_as, owner, findings, outsider):
    from projects.models import Project, Team

    other = Project.objects.create(
        team=Team.objects.get(slug="elsewhere"), name="X", slug="x"
    )
    theirs = make_finding(other, 9)
    response = api_as(owner).post(
        f"/projects/{findings[0].project_id}/findings/bulk",
        {"ids": [theirs.pk], "status": "fixed"},
    )
    assert response.json()["changed"] == 0
    theirs.refresh_from_db()
    assert theirs.status == "open"


def test_exports_take_the_filters(api_as, owner, findings):
    project = findings[0].project
    response = api_as(owner).get(
        f"/projects/{project.pk}/findings/export.csv", severity="critical"
    )
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    assert "Finding number 1" in text and "Finding number 2" not in text
    response = api_as(owner).get(f"/projects/{project.pk}/findings/export.md")
    text = b"".join(response.streaming_content).decode()
    assert text.startswith("# Findings — Shop")
    response = api_as(owner).get(
        f"/projects/{project.pk}/findings/export.csv", severity="nope"
    )
    assert response.status_code == 400


def test_severity_override_needs_a_reason_and_is_history(api_as, owner, finding):
    api = api_as(owner)
    path = f"/findings/{finding.pk}/severity"
    response = api.post(path, {"severity": "low", "reason": "  "})
    assert response.status_code == 400
    assert response.json()["detail"] == "Changing the severity needs a reason."
    response = api.post(path, {"severity": "high", "reason": "Same"})
    assert response.status_code == 400
    assert response.json()["detail"] == "The severity is already high."
    response = api.post(path, {"severity": "urgent", "reason": "x"})
    assert response.status_code == 400
    assert "severity" in response.json()["detail"]
    response = api.post(path, {"severity": "low", "reason": "Internal tool only"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["severity"] == "low"
    event = body["history"][-1]
    assert (event["kind"], event["from_value"], event["to_value"], event["note"]) == (
        "severity",
        "high",
        "low",
        "Internal tool only",
    )
    finding.refresh_from_db()
    assert finding.severity_overridden is True


def test_bulk_severity_and_comment_follow_the_single_rules(
    api_as, owner, findings, django_assert_max_num_queries
):
    project = findings[0].project
    api = api_as(owner)
    path = f"/projects/{project.pk}/findings/bulk"
    ids = [findings[0].pk, findings[1].pk, findings[3].pk]
    response = api.post(path, {"ids": ids, "severity": "medium"})
    assert response.status_code == 400
    assert response.json()["detail"] == "Changing the severity needs a reason."
    response = api.post(
        path,
        {
            "ids": ids,
            "severity": "low",
            "severity_reason": "Behind the VPN",
            "comment": "Triaged in the weekly review",
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["message"] == "2 set to low, 1 already were. 3 commented."
    changed = Finding.objects.filter(pk__in=ids)
    assert set(changed.values_list("severity", "severity_overridden")) == {
        ("low", True),
        ("low", False),
    }
    events = FindingEvent.objects.filter(finding__in=ids)
    assert sorted(events.values_list("kind", "from_value", "note")) == [
        ("comment", "", "Triaged in the weekly review"),
        ("comment", "", "Triaged in the weekly review"),
        ("comment", "", "Triaged in the weekly review"),
        ("severity", "critical", "Behind the VPN"),
        ("severity", "high", "Behind the VPN"),
    ]
    response = api.post(path, {"ids": ids})
    assert response.status_code == 400
    assert (
        "Choose an assignee, a status, a severity or a comment"
        in (response.json()["detail"])
    )


def test_due_date_needs_a_reason_and_can_be_cleared(api_as, owner, finding):
    api = api_as(owner)
    path = f"/findings/{finding.pk}/due"
    response = api.post(path, {"due_date": "2031-01-31", "reason": ""})
    assert response.status_code == 400
    assert response.json()["detail"] == "Changing the due date needs a reason."
    response = api.post(path, {"due_date": "2031-01-31", "reason": "Next release"})
    assert response.status_code == 200, response.content
    assert response.json()["due_date"] == "2031-01-31"
    event = response.json()["history"][-1]
    assert (event["kind"], event["to_value"], event["note"]) == (
        "due",
        "2031-01-31",
        "Next release",
    )
    response = api.post(path, {"due_date": "2031-01-31", "reason": "Again"})
    assert response.status_code == 400
    assert response.json()["detail"] == "The finding is already due then."
    response = api.post(path, {"due_date": None, "reason": "No deadline"})
    assert response.json()["due_date"] is None
    response = api.post(path, {"due_date": "soon", "reason": "x"})
    assert response.status_code == 400
    assert "due_date" in response.json()["detail"]
