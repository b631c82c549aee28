"""The findings pages: list (filters, tabs, sort, bulk), detail and my findings."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audits.models import Audit
from findings.models import Finding, FindingEvent, FindingSighting
from projects.models import Project

HTMX = {"HTTP_HX_REQUEST": "true"}


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
def findings(project):
    return [
        make_finding(project, 1, severity="critical", effort="minutes"),
        make_finding(project, 2, severity="high", effort="minutes"),
        make_finding(project, 3, severity="high", effort="days", status="fixed"),
        make_finding(
            project, 4, severity="low", title="Secret in settings", file="app/s.py"
        ),
        make_finding(project, 5, severity="info", status="documented"),
    ]


def list_url(project, query=""):
    return reverse("findings:list", args=[project.pk]) + (f"?{query}" if query else "")


def bulk_url(project, query=""):
    return reverse("findings:bulk", args=[project.pk]) + (f"?{query}" if query else "")


def titles(response):
    return [row.record.title for row in response.context["table"].paginated_rows]


def titles_and_ids(response):
    rows = response.context["table"].paginated_rows
    return [(row.record.title, row.record.pk) for row in rows]


# --- list -----------------------------------------------------------------


def test_list_shows_unresolved_worst_first_with_status_tabs(client, owner, findings):
    client.force_login(owner)
    response = client.get(list_url(findings[0].project))
    assert response.status_code == 200
    assert titles(response) == [
        "Finding number 1",
        "Finding number 2",
        "Secret in settings",
    ]
    tabs = {value: count for value, _, count, _ in response.context["tabs"]}
    assert tabs == {
        "unresolved": 3,
        "open": 3,
        "in_progress": 0,
        "fixed": 1,
        "documented": 1,
        "false_positive": 0,
        "all": 5,
    }
    body = response.content.decode()
    assert 'id="filter-form"' in body and "<html" in body


def test_list_htmx_request_returns_only_the_table_fragment(client, owner, findings):
    client.force_login(owner)
    response = client.get(list_url(findings[0].project, "severity=high"), **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="findings-table"')
    assert "<html" not in body and 'id="filter-form"' not in body
    assert "Finding number 2" in body and "Finding number 1" not in body


def test_matrix_cell_parameters_filter_the_list(client, owner, findings):
    client.force_login(owner)
    project = findings[0].project
    response = client.get(
        list_url(project, "severity=high&effort=minutes&status=unresolved")
    )
    assert titles(response) == ["Finding number 2"]
    assert response.context["total"] == 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=fixed", ["Finding number 3"]),
        ("status=all&severity=high", ["Finding number 3", "Finding number 2"]),
        ("dimension=security", []),
        ("check=fk-missing&severity=low", ["Secret in settings"]),
        ("q=s.py", ["Secret in settings"]),
        ("q=TABLE_2", ["Finding number 2"]),
        ("effort=days&status=all", ["Finding number 3"]),
        (
            "status=bogus&severity=nonsense",
            ["Finding number 1", "Finding number 2", "Secret in settings"],
        ),
    ],
)
def test_list_filters(client, owner, findings, query, expected):
    client.force_login(owner)
    assert titles(client.get(list_url(findings[0].project, query))) == expected


def test_assignee_filter_me_nobody_and_member(client, owner, member, findings):
    findings[0].assign(owner, by=owner)
    findings[1].assign(member, by=owner)
    client.force_login(owner)
    project = findings[0].project
    assert titles(client.get(list_url(project, "assignee=me"))) == ["Finding number 1"]
    assert titles(client.get(list_url(project, f"assignee={member.pk}"))) == [
        "Finding number 2"
    ]
    assert titles(client.get(list_url(project, "assignee=nobody"))) == [
        "Secret in settings"
    ]


def test_target_and_overdue_filters(client, owner, project, findings):
    target = project.targets.first()
    Finding.objects.filter(pk=findings[1].pk).update(
        target=target, due_date=timezone.localdate() - timedelta(days=2)
    )
    Finding.objects.filter(pk=findings[2].pk).update(
        due_date=timezone.localdate() - timedelta(days=2)
    )
    client.force_login(owner)
    assert titles(client.get(list_url(project, f"target={target.pk}"))) == [
        "Finding number 2"
    ]
    # The fixed finding is past its date but not overdue.
    assert titles(client.get(list_url(project, "overdue=1&status=all"))) == [
        "Finding number 2"
    ]


@pytest.mark.parametrize("cap", [2000, 1])
def test_text_search_pages_counts_and_order_whatever_the_match_count(
    client, owner, project, monkeypatch, cap
):
    # On PostgreSQL a search reads its page by the ids the counts query
    # returned, unless a status has more matches than the cap (here 1):
    # both ways give the same tabs, rows, order and pages.
    monkeypatch.setattr("findings.views.SEARCH_IDS_CAP", cap)
    for n, (severity, status) in enumerate(
        [
            ("low", "open"),
            ("critical", "open"),
            ("high", "in_progress"),
            ("critical", "fixed"),
            ("medium", "open"),
        ]
    ):
        make_finding(
            project,
            n,
            severity=severity,
            status=status,
            title=f"Needle {n}" if n != 4 else "Haystack",
        )
    client.force_login(owner)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(list_url(project, "q=needle"))
    assert titles(response) == ["Needle 1", "Needle 2", "Needle 0"]
    searched = [q["sql"] for q in queries if "LIKE" in q["sql"]]
    # The search runs once (in the counts) when the ids come back with them.
    by_id = connection.vendor == "postgresql" and cap > 1
    assert len(searched) == (1 if by_id else 2)
    tabs = {value: count for value, _, count, _ in response.context["tabs"]}
    assert tabs["unresolved"] == 3 and tabs["fixed"] == 1 and tabs["all"] == 4
    response = client.get(list_url(project, "q=needle&status=all&sort=-title"))
    assert titles(response) == ["Needle 3", "Needle 2", "Needle 1", "Needle 0"]
    response = client.get(list_url(project, "q=needle&status=fixed"))
    assert titles(response) == ["Needle 3"]
    response = client.get(list_url(project, "q=nothing-like-it&status=all"))
    assert titles(response) == [] and response.context["total"] == 0


def test_a_search_looks_up_its_rarest_word_and_keeps_only_the_whole_term(
    client, owner, project
):
    from findings.filters import FindingFilter, search_parts

    make_finding(project, 1, title="On table_42", object="table_42.user_id")
    make_finding(project, 2, title="On table_420", object="table_420.user_id")
    make_finding(project, 3, title="On table_142", object="table_142.id")
    # Both words, but never together: not a match.
    make_finding(project, 4, title="On table_9", object="view_42.id")
    make_finding(project, 5, title="In a file", object="", file="app/TABLE_42.py")
    assert search_parts("TABLE_42.") == ["TABLE_", "_42."]
    filterset = FindingFilter({}, project=project, user=owner)
    # On PostgreSQL the index looks up the word fewer findings hold.
    rare = "_42." if connection.vendor == "postgresql" else "TABLE_42."
    assert filterset.index_part("TABLE_42.") == rare
    client.force_login(owner)
    response = client.get(list_url(project, "q=table_42.&status=all"))
    assert sorted(titles(response)) == ["In a file", "On table_42"]
    assert response.context["total"] == 2


def test_status_counts_follow_the_other_filters(client, owner, findings):
    client.force_login(owner)
    response = client.get(list_url(findings[0].project, "severity=high"))
    tabs = {value: count for value, _, count, _ in response.context["tabs"]}
    assert tabs["unresolved"] == 1 and tabs["fixed"] == 1 and tabs["all"] == 2


def test_sort_by_title_and_paginate(client, owner, project):
    for n in range(60):
        make_finding(project, n, title=f"T{n:03d}")
    client.force_login(owner)
    response = client.get(list_url(project, "sort=-title&page=2"))
    assert titles(response)[:2] == ["T009", "T008"]
    assert len(titles(response)) == 10
    body = response.content.decode()
    assert 'hx-get="?sort=-title&amp;page=1"' in body
    # Out of range pages land on the last page.
    assert titles(client.get(list_url(project, "page=99")))[-1] == "T000"


@pytest.mark.parametrize(
    "sort",
    [
        "",
        "sort=-title",
        "sort=due_date",
        "sort=-due_date",
        "sort=assignee",
        "sort=-effort",
    ],
)
def test_pages_past_the_middle_read_backwards_give_the_same_rows(
    client, owner, member, project, monkeypatch, sort
):
    # Ties (same title, severity, due date or nobody assigned) and empty due
    # dates everywhere: the id settles the order both ways.
    today = timezone.localdate()
    for n in range(11):
        make_finding(
            project,
            n,
            title=f"T{n % 4}",
            severity=["critical", "high", "low"][n % 3],
            effort=["minutes", "days", ""][n % 3],
            due_date=None if n % 3 == 0 else today + timedelta(days=n % 2),
            assignee=member if n % 4 == 0 else None,
        )
    client.force_login(owner)
    query = f"status=all&{sort}"
    everything = titles_and_ids(client.get(list_url(project, query)))
    assert len(everything) == 11
    monkeypatch.setattr("findings.views.PER_PAGE", 3)
    pages = [
        titles_and_ids(client.get(list_url(project, f"{query}&page={n}")))
        for n in range(1, 5)
    ]
    assert [len(p) for p in pages] == [3, 3, 3, 2]
    assert [row for page in pages for row in page] == everything


def test_empty_states(client, owner, project):
    client.force_login(owner)
    assert "No findings yet" in client.get(list_url(project)).content.decode()
    make_finding(project, 1)
    body = client.get(list_url(project, "severity=critical")).content.decode()
    assert "No findings match" in body


def test_list_wrong_method_anonymous_and_outsider(client, outsider, project):
    assert client.get(list_url(project))["Location"].startswith(reverse("login"))
    client.force_login(outsider)
    assert client.get(list_url(project)).status_code == 404
    client.force_login(project.team.memberships.get(role="owner").user)
    assert client.post(list_url(project)).status_code == 405


def test_viewer_sees_the_list_without_the_bulk_form(client, viewer, findings):
    client.force_login(viewer)
    body = client.get(list_url(findings[0].project)).content.decode()
    assert "Finding number 1" in body and 'id="bulk-form"' not in body


# --- bulk -----------------------------------------------------------------


def test_bulk_status_reports_refusals_and_writes_one_event_each(
    client, owner, findings
):
    client.force_login(owner)
    project = findings[0].project
    ids = [f.pk for f in findings[:4]]  # open, open, fixed, open
    before = FindingEvent.objects.count()
    response = client.post(
        bulk_url(project), {"ids": ids, "status": "in_progress"}, **HTMX
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "findings-changed"
    body = response.content.decode()
    assert (
        "3 changed to in progress, 1 skipped: a fixed finding can only become: open."
        in body
    )
    statuses = dict(Finding.objects.values_list("pk", "status"))
    assert [statuses[i] for i in ids] == [
        "in_progress",
        "in_progress",
        "fixed",
        "in_progress",
    ]
    events = FindingEvent.objects.filter(kind="status").order_by("finding_id")
    assert FindingEvent.objects.count() == before + 3
    assert [(e.from_value, e.to_value, e.actor_id) for e in events] == [
        ("open", "in_progress", owner.pk)
    ] * 3


def test_bulk_reason_required_changes_nothing(client, owner, findings):
    client.force_login(owner)
    response = client.post(
        bulk_url(findings[0].project),
        {"ids": [findings[0].pk], "status": "false_positive"},
        **HTMX,
    )
    assert response.status_code == 400
    assert "needs a reason" in response.content.decode()
    assert Finding.objects.get(pk=findings[0].pk).status == "open"
    assert not FindingEvent.objects.filter(kind="status").exists()


def test_bulk_documented_with_reason_stores_it(client, owner, findings):
    client.force_login(owner)
    client.post(
        bulk_url(findings[0].project),
        {
            "ids": [findings[0].pk, findings[1].pk],
            "status": "documented",
            "reason": "Accepted risk",
        },
    )
    rows = Finding.objects.filter(pk__in=[findings[0].pk, findings[1].pk])
    assert {(f.status, f.status_reason) for f in rows} == {
        ("documented", "Accepted risk")
    }
    assert set(FindingEvent.objects.values_list("note", flat=True)) == {"Accepted risk"}


def test_bulk_reopen_gives_a_fresh_due_date(client, owner, findings):
    client.force_login(owner)
    fixed = findings[2]
    client.post(bulk_url(fixed.project), {"ids": [fixed.pk], "status": "open"})
    fixed.refresh_from_db()
    assert fixed.status == "open"
    assert fixed.due_date == (timezone.now() + timedelta(days=30)).date()


def test_bulk_assign_all_matching_the_filter(client, owner, member, findings):
    client.force_login(owner)
    project = findings[0].project
    response = client.post(
        bulk_url(project, "severity=high&status=all"),
        {"scope": "matching", "assignee": member.pk},
    )
    assert response.status_code == 302
    assert response["Location"] == list_url(project, "severity=high&status=all")
    assigned = set(Finding.objects.filter(assignee=member).values_list("pk", flat=True))
    assert assigned == {findings[1].pk, findings[2].pk}
    events = FindingEvent.objects.filter(kind="assigned")
    assert {(e.from_value, e.to_value) for e in events} == {("", "max")}
    assert events.count() == 2


def test_bulk_assign_skips_findings_already_assigned(client, owner, member, findings):
    findings[0].assign(member, by=owner)
    client.force_login(owner)
    response = client.post(
        bulk_url(findings[0].project),
        {"ids": [findings[0].pk, findings[1].pk], "assignee": member.pk},
        **HTMX,
    )
    assert "1 assigned to max, 1 already were." in response.content.decode()
    assert FindingEvent.objects.filter(kind="assigned").count() == 2


def test_bulk_ignores_findings_of_other_projects(client, owner, team, findings):
    other = Project.objects.create(team=team, name="Other", slug="other")
    foreign = make_finding(other, 1)
    client.force_login(owner)
    client.post(
        bulk_url(findings[0].project), {"ids": [foreign.pk], "status": "in_progress"}
    )
    assert Finding.objects.get(pk=foreign.pk).status == "open"


def test_bulk_needs_a_selection_and_an_action(client, owner, findings):
    client.force_login(owner)
    project = findings[0].project
    response = client.post(bulk_url(project), {"status": "fixed"}, **HTMX)
    assert response.status_code == 400
    assert "Select at least one finding" in response.content.decode()
    response = client.post(bulk_url(project), {"ids": [findings[0].pk]}, **HTMX)
    assert "Choose an assignee or a status" in response.content.decode()


def test_bulk_refused_to_viewer_outsider_anonymous_and_get(
    client, viewer, outsider, findings
):
    project = findings[0].project
    data = {"ids": [findings[0].pk], "status": "in_progress"}
    assert client.post(bulk_url(project), data)["Location"].startswith(reverse("login"))
    client.force_login(viewer)
    assert client.post(bulk_url(project), data).status_code == 403
    client.force_login(outsider)
    assert client.post(bulk_url(project), data).status_code == 404
    assert Finding.objects.get(pk=findings[0].pk).status == "open"
    assert client.get(bulk_url(project)).status_code == 405


# --- detail ---------------------------------------------------------------


@pytest.fixture
def audited(project, owner):
    audit = Audit.objects.create(
        project=project, number=1, status=Audit.Status.SUCCEEDED
    )
    finding = make_finding(
        project,
        1,
        severity="high",
        evidence="notes.user_id has no REFERENCES clause",
        remediation="Declare the foreign key.",
        fix_sql="ALTER TABLE notes ADD FOREIGN KEY (user_id) REFERENCES users(id);",
        first_seen_audit=audit,
    )
    FindingSighting.objects.create(
        finding=finding, audit_number=audit.number, seen_at=audit.created_at
    )
    FindingEvent.objects.create(
        finding=finding, kind="created", audit=audit, to_value="open"
    )
    return finding


def test_detail_shows_everything_and_the_audit_in_history(client, owner, audited):
    client.force_login(owner)
    response = client.get(audited.get_absolute_url())
    body = response.content.decode()
    assert response.status_code == 200
    for text in (
        "Finding number 1",
        "notes.user_id has no REFERENCES clause",
        "Declare the foreign key.",
        "ALTER TABLE notes ADD FOREIGN KEY",
        "table_1.user_id",
        "found it",
    ):
        assert text in body
    audit_url = reverse("audits:detail", args=[audited.first_seen_audit_id])
    assert f'href="{audit_url}">Audit #1</a>' in body


def test_status_change_by_htmx_returns_triage_with_the_new_event(
    client, owner, audited
):
    client.force_login(owner)
    response = client.post(
        reverse("findings:status", args=[audited.pk]),
        {"status": "in_progress", "reason": ""},
        **HTMX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert response["HX-Trigger"] == "findings-changed"
    assert body.lstrip().startswith('<aside class="detail-side" id="triage"')
    assert "changed status" in body and "In progress" in body
    # The status badge in the page header follows, out of band.
    assert (
        '<span id="head-status" class="status status-in_progress" hx-swap-oob="true">'
        in body
    )
    assert "<html" not in body


def test_status_change_refused_explains_why(client, owner, audited):
    client.force_login(owner)
    response = client.post(
        reverse("findings:status", args=[audited.pk]),
        {"status": "documented"},
        **HTMX,
    )
    assert response.status_code == 400
    assert "needs a reason" in response.content.decode()


def test_plain_post_comment_redirects_to_the_finding(client, owner, audited):
    client.force_login(owner)
    response = client.post(
        reverse("findings:comment", args=[audited.pk]), {"text": "Looking at it"}
    )
    assert response.status_code == 302
    assert response["Location"] == audited.get_absolute_url()
    assert "Looking at it" in client.get(audited.get_absolute_url()).content.decode()


def test_assign_by_htmx(client, owner, member, audited):
    client.force_login(owner)
    response = client.post(
        reverse("findings:assign", args=[audited.pk]), {"assignee": member.pk}, **HTMX
    )
    assert response.status_code == 200
    assert "assigned it to <strong>max</strong>" in response.content.decode()


def test_detail_wrong_method_anonymous_outsider(client, owner, outsider, audited):
    url = audited.get_absolute_url()
    assert client.get(url)["Location"].startswith(reverse("login"))
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.force_login(owner)
    assert client.post(url).status_code == 405
    assert client.get(reverse("findings:status", args=[audited.pk])).status_code == 405


def test_viewer_reads_detail_without_controls(client, viewer, audited):
    client.force_login(viewer)
    body = client.get(audited.get_absolute_url()).content.decode()
    assert "Update status" not in body and "You can read this project" in body


# --- my findings ----------------------------------------------------------


def test_my_findings_across_teams_overdue_first(client, owner, project, outsider):
    today = timezone.localdate()
    late = make_finding(project, 1, due_date=today - timedelta(days=3))
    soon = make_finding(project, 2, due_date=today + timedelta(days=3))
    undated = make_finding(project, 3, severity="critical")
    done = make_finding(project, 4, status="fixed")
    for f in (late, soon, undated, done):
        Finding.objects.filter(pk=f.pk).update(assignee=owner)
    # Assigned in a team the user has left: not shown.
    other = Project.objects.create(
        team=outsider.memberships.get().team, name="Theirs", slug="theirs"
    )
    Finding.objects.filter(pk=make_finding(other, 1).pk).update(assignee=owner)
    client.force_login(owner)
    response = client.get(reverse("findings:mine"))
    assert [f.pk for f in response.context["page"].object_list] == [
        late.pk,
        soon.pk,
        undated.pk,
    ]
    assert response.context["totals"] == {"total": 3, "overdue": 1}
    assert "1 overdue" in response.content.decode()


def test_my_findings_htmx_fragment_method_and_anonymous(client, owner):
    url = reverse("findings:mine")
    assert client.get(url)["Location"].startswith(reverse("login"))
    client.force_login(owner)
    body = client.get(url, **HTMX).content.decode()
    assert body.lstrip().startswith('<div id="mine-table"') and "<html" not in body
    assert "Nothing is assigned to you" in body
    assert client.post(url).status_code == 405
