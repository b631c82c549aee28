"""The project list, project overview and settings pages."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audits import services
from audits.models import Audit
from findings.models import Finding
from projects import charts
from projects.models import Project, Target

HX = {"HTTP_HX_REQUEST": "true"}
SEVERITIES = ["critical", "high", "medium", "low", "info"]


def summary_for(n: int) -> dict:
    """Return a plausible audit summary whose counts vary with ``n``."""
    by_severity = {"critical": n % 3, "high": 2 + n % 4, "medium": 5, "info": 1}
    return {
        "by_status": {"open": sum(by_severity.values())},
        "by_severity": by_severity,
        "by_dimension": {
            "schema": {"high": by_severity["high"]},
            "security": {"critical": by_severity["critical"]},
            "performance": {"medium": 5},
        },
        "matrix": {
            "critical": {"minutes": by_severity["critical"]},
            "high": {"hours": by_severity["high"]},
            "medium": {"days": 5},
            "info": {"unknown": 1},
        },
        "open": sum(by_severity.values()),
        "grades": {
            "schema": "C",
            "integrity": "A+",
            "performance": "B-",
            "operations": "A+",
            "security": "D" if by_severity["critical"] else "A+",
            "isolation": "A+",
            "overall": "C-",
        },
        "grade_summaries": {"schema": f"{by_severity['high']} high: fk-missing"},
        "grade_worst": {
            "schema": "high",
            "security": "critical" if by_severity["critical"] else None,
            "performance": "medium",
        },
        "score": 4.6,
        "targets": [],
        "new": 1,
        "still_open": 3,
        "fixed": 2,
        "reopened": 1,
    }


def make_audits(project, count: int) -> list[Audit]:
    start = timezone.now() - timedelta(days=count)
    return Audit.objects.bulk_create(
        Audit(
            project=project,
            number=n,
            status=Audit.Status.SUCCEEDED,
            started_at=start + timedelta(days=n),
            finished_at=start + timedelta(days=n, seconds=3),
            summary=summary_for(n),
        )
        for n in range(1, count + 1)
    )


def make_findings(project, count: int, **fields) -> None:
    fields = {"severity": "high", "dimension": "schema", "effort": "hours"} | fields
    Finding.objects.bulk_create(
        Finding(
            project=project,
            fingerprint=f"{fields['severity']}-{i:06d}",
            check_id="fk-missing",
            title=f"Reference column {i} has no foreign key",
            object=f"t.col_{i}",
            **fields,
        )
        for i in range(count)
    )


def run_audit(project, user=None) -> Audit:
    audit = services.start_audit(project, user=user, enqueue=False)
    return services.execute_audit(audit.pk)


# Project overview ---------------------------------------------------------


def test_overview_shows_the_executive_summary_of_a_real_audit(client, project, owner):
    audit = run_audit(project, owner)
    client.force_login(owner)
    response = client.get(reverse("projects:overview", args=[project.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    grades = audit.summary["grades"]
    table = html[
        html.index('id="grades"') : html.index("</table>", html.index('id="grades"'))
    ]
    for label in ("Schema Design &amp; Normalization", "Multi-Tenant Isolation"):
        assert label in table
    assert f">{grades['schema']}</span>" in table
    assert f'data-grade="{grades["overall"]}"' in html
    assert f"score <strong>{audit.summary['score']}</strong>/10" in html
    # The dimension's one-line summary names what set the grade.
    assert audit.summary["grade_summaries"]["schema"] in table


def test_overview_grade_expands_to_the_findings_that_set_it(client, project, owner):
    make_findings(project, 25, severity="high", dimension="schema")
    make_findings(project, 3, severity="medium", dimension="schema")
    make_audits(project, 1)
    client.force_login(owner)
    url = reverse("projects:overview", args=[project.pk])
    html = client.get(url).content.decode()
    fragment_url = f"{url}?dimension=schema&amp;severity=high"
    assert f'hx-get="{fragment_url}"' in html
    assert 'hx-trigger="toggle once"' in html
    response = client.get(url, {"dimension": "schema", "severity": "high"}, **HX)
    fragment = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in fragment
    assert fragment.count('class="badge sev-high"') == 20
    assert "sev-medium" not in fragment
    assert (
        f"{reverse('findings:list', args=[project.pk])}"
        "?dimension=schema&amp;severity=high&amp;status=unresolved"
    ) in fragment
    assert "See all" in fragment


def test_grade_findings_leave_out_resolved_ones(client, project, owner):
    make_findings(project, 2, severity="high", dimension="schema", status="fixed")
    client.force_login(owner)
    url = reverse("projects:overview", args=[project.pk])
    fragment = client.get(url, {"dimension": "schema", "severity": "high"}, **HX)
    assert "sev-high" not in fragment.content.decode()
    assert "resolved since" in fragment.content.decode()


def test_grade_findings_refuse_an_unknown_severity(client, project, owner):
    client.force_login(owner)
    url = reverse("projects:overview", args=[project.pk])
    assert client.get(url, {"dimension": "schema", "severity": "x"}).status_code == 400


def test_overview_summary_fragment_for_htmx(client, project, owner):
    make_audits(project, 3)
    client.force_login(owner)
    url = reverse("projects:overview", args=[project.pk])
    response = client.get(url, {"fragment": "summary"}, **HX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="overview-summary"')
    assert "<html" not in html and "run-audit" not in html
    assert 'id="grades"' in html and 'id="priority-matrix"' in html
    # The summary re-fetches itself when an audit finishes.
    full = client.get(url).content.decode()
    assert 'hx-trigger="audit-finished from:body"' in full


def test_overview_matrix_cells_link_to_the_filtered_list(client, project, owner):
    make_audits(project, 2)  # latest has critical 2 (minutes), high 4 (hours)
    client.force_login(owner)
    html = client.get(reverse("projects:overview", args=[project.pk])).content.decode()
    matrix = html[html.index('id="priority-matrix"') :]
    list_url = reverse("findings:list", args=[project.pk])
    for severity in SEVERITIES:
        for effort in ("minutes", "hours", "days"):
            assert (
                f'href="{list_url}?severity={severity}&amp;effort={effort}'
                '&amp;status=unresolved"'
            ) in matrix
    cell = re.search(
        r'<td class="cell quick-win" data-severity="critical" data-effort="minutes">'
        r'\s*<a href="[^"]+"[^>]*>(\d+)</a>',
        matrix,
    )
    assert cell and cell.group(1) == "2"
    assert re.search(
        r'data-severity="high" data-effort="hours">\s*<a[^>]*>4</a>', matrix
    )
    # Findings without an effort estimate get their own column.
    assert "Unrated" in matrix
    # Quick wins are called out in words as well as by the cell style.
    assert (
        "<strong>6</strong> critical or high findings can be fixed in minutes or hours"
        in matrix
    )
    assert 'class="cell zero" data-severity="critical" data-effort="days"' in matrix


def test_overview_changes_link_to_the_audit_lists(client, project, owner):
    audits = make_audits(project, 2)
    client.force_login(owner)
    html = client.get(reverse("projects:overview", args=[project.pk])).content.decode()
    detail = reverse("audits:detail", args=[audits[-1].pk])
    for key, n in (("new", 1), ("fixed", 2), ("reopened", 1)):
        assert f'<a href="{detail}#{key}"><strong>{n}</strong> {key}</a>' in html


def test_overview_trend_charts_read_the_audit_summaries(client, project, owner):
    make_audits(project, 5)
    client.force_login(owner)
    html = client.get(reverse("projects:overview", args=[project.pk])).content.decode()
    assert html.count('class="bar-group"') == 5
    assert 'class="series series-overall"' in html
    assert "over the last 5 audits" in html


def test_overview_next_scheduled_audit(client, project, owner):
    project.next_audit_at = timezone.now() + timedelta(hours=5)
    project.save()
    client.force_login(owner)
    html = client.get(reverse("projects:overview", args=[project.pk])).content.decode()
    assert "Next scheduled audit" in html
    assert project.next_audit_at.strftime("%Y-%m-%d %H:%M") in html
    project.audit_interval_hours = 0
    project.save()
    html = client.get(reverse("projects:overview", args=[project.pk])).content.decode()
    assert "Scheduled re-audits are off" in html


def test_overview_empty_state_without_targets(client, team, owner):
    project = Project.objects.create(team=team, name="Bare", slug="bare")
    client.force_login(owner)
    html = client.get(reverse("projects:overview", args=[project.pk])).content.decode()
    assert "Add a target to audit" in html
    assert reverse("projects:settings", args=[project.pk]) + "#targets" in html
    assert 'id="run-audit"' not in html


def test_overview_empty_state_before_the_first_audit(client, project, owner):
    client.force_login(owner)
    html = client.get(reverse("projects:overview", args=[project.pk])).content.decode()
    assert "No audit yet" in html
    assert 'id="run-audit"' in html


def test_viewer_sees_the_overview_without_the_run_button(client, project, viewer):
    make_audits(project, 2)
    client.force_login(viewer)
    html = client.get(reverse("projects:overview", args=[project.pk])).content.decode()
    assert 'id="grades"' in html
    assert 'id="run-audit"' not in html


def test_overview_shows_a_running_audit_that_polls(client, project, owner):
    make_audits(project, 1)
    running = Audit.objects.create(
        project=project,
        number=2,
        status=Audit.Status.RUNNING,
        progress_total=4,
        progress_done=1,
        progress_step="Scanning schema.sql",
    )
    client.force_login(owner)
    html = client.get(reverse("projects:overview", args=[project.pk])).content.decode()
    status_url = reverse("audits:status", args=[running.pk])
    assert f'hx-get="{status_url}" hx-trigger="every 1s"' in html
    assert 'aria-valuenow="25"' in html
    assert "Scanning schema.sql" in html


def test_overview_rejects_post(client, project, owner):
    client.force_login(owner)
    response = client.post(reverse("projects:overview", args=[project.pk]))
    assert response.status_code == 405


def test_overview_redirects_anonymous_to_login(client, project):
    url = reverse("projects:overview", args=[project.pk])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_outsider_gets_404_on_overview_and_its_fragments(client, project, outsider):
    make_findings(project, 2)
    client.force_login(outsider)
    url = reverse("projects:overview", args=[project.pk])
    assert client.get(url).status_code == 404
    assert client.get(url, {"fragment": "summary"}, **HX).status_code == 404
    response = client.get(url, {"dimension": "schema", "severity": "high"}, **HX)
    assert response.status_code == 404


@pytest.mark.parametrize("audits", [2, 40])
@pytest.mark.parametrize("findings", [3, 300])
def test_overview_query_count_does_not_grow(
    client, project, owner, django_assert_num_queries, audits, findings
):
    make_audits(project, audits)
    make_findings(project, findings)
    Audit.objects.create(project=project, number=audits + 1, status="running")
    client.force_login(owner)
    url = reverse("projects:overview", args=[project.pk])
    # Session, user, project (with its role and has-targets), the finished
    # audits for the charts, the active audit.
    with django_assert_num_queries(5):
        response = client.get(url)
    assert response.status_code == 200
    assert response.content.decode().count('class="bar-group"') == min(audits, 30)
    with django_assert_num_queries(4):
        client.get(url, {"fragment": "summary"}, **HX)
    with django_assert_num_queries(4):
        client.get(url, {"dimension": "schema", "severity": "high"}, **HX)


# Charts -------------------------------------------------------------------


def chart_rows(count):
    start = timezone.now()
    return [
        {
            "number": n,
            "finished_at": start + timedelta(days=n),
            "summary": summary_for(n),
        }
        for n in range(1, count + 1)
    ]


def test_severity_chart_has_axes_one_bar_per_audit_and_tooltips():
    svg = str(charts.severity_chart(chart_rows(6)))
    assert svg.startswith('<svg class="chart"') and svg.endswith("</svg>")
    assert "<title>Open findings per severity</title>" in svg
    assert ">Audit</text>" in svg and ">Open findings</text>" in svg
    assert svg.count('class="bar-group"') == 6
    for n in range(1, 7):
        assert f">#{n}</text>" in svg
    # Every segment has its own tooltip: audit 4 has 1 critical, 2 high, 5
    # medium and 1 info.
    assert ": 1 critical of 9 open</title>" in svg
    assert ": 2 high of 9 open</title>" in svg
    rects = re.findall(r"<rect [^>]*>(.*?)</rect>", svg)
    assert rects and all(r.startswith("<title>Audit #") for r in rects)
    # The y axis has round ticks starting at zero.
    assert re.search(r'text-anchor="end" dominant-baseline="middle">0</text>', svg)


def test_severity_chart_marks_an_audit_with_nothing_open():
    rows = chart_rows(1)
    rows[0]["summary"] = {"by_severity": {}, "grades": {"overall": "A+"}}
    svg = str(charts.severity_chart(rows))
    assert "no open findings</title>" in svg


def test_severity_chart_labels_some_audits_when_there_are_many():
    svg = str(charts.severity_chart(chart_rows(30)))
    assert svg.count('class="bar-group"') == 30
    labels = re.findall(r">#(\d+)</text>", svg)
    assert 8 <= len(labels) <= 16 and labels[-1] == "30"


def test_grade_chart_has_grade_letters_on_the_y_axis_and_point_tooltips():
    svg = str(charts.grade_chart(chart_rows(4)))
    for letter in ("A", "B", "C", "D", "F"):
        assert f'dominant-baseline="middle">{letter}</text>' in svg
    assert ">Grade</text>" in svg and ">Audit</text>" in svg
    for key in ("schema", "integrity", "performance", "security", "overall"):
        assert f'data-series="{key}"' in svg
    assert svg.count("<circle") == 4 * 7
    assert re.search(
        r"<title>Audit #3 \([^)]*\): Multi-Tenant Isolation A\+</title>", svg
    )
    assert "Overall C-</title>" in svg


def test_charts_escape_what_they_print():
    rows = chart_rows(1)
    rows[0]["summary"]["grades"]["overall"] = "<script>"
    svg = str(charts.grade_chart(rows))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


# Project list -------------------------------------------------------------


def test_project_list_shows_grade_counts_and_last_audit(client, project, owner):
    make_audits(project, 3)
    client.force_login(owner)
    html = client.get(reverse("projects:list")).content.decode()
    assert project.name in html
    assert 'title="Overall grade">C-</span>' in html
    # Audit 3: 0 critical, 1 high ... from its summary, linked to the list.
    list_url = reverse("findings:list", args=[project.pk])
    assert f'href="{list_url}?severity=medium&amp;status=unresolved"' in html
    assert 'title="5 open medium"' in html
    assert "last audit" in html


def test_project_list_says_when_a_project_was_never_audited(client, project, owner):
    client.force_login(owner)
    html = client.get(reverse("projects:list")).content.decode()
    assert "Not audited yet" in html


def test_project_list_empty_state(client, outsider):
    client.force_login(outsider)
    html = client.get(reverse("projects:list")).content.decode()
    assert "No projects yet" in html and reverse("projects:create") in html


@pytest.mark.parametrize("projects", [1, 8])
def test_project_list_is_one_query_for_the_list(
    client, team, owner, schema_file, django_assert_num_queries, projects
):
    for i in range(projects):
        p = Project.objects.create(team=team, name=f"P{i}", slug=f"p{i}")
        make_audits(p, 3)
        make_findings(p, 5)
    client.force_login(owner)
    # Session, user, the projects with their latest summaries, the teams.
    with django_assert_num_queries(4):
        response = client.get(reverse("projects:list"))
    assert response.content.decode().count('class="card project-card"') == projects


def test_project_list_rejects_post(client, owner):
    client.force_login(owner)
    assert client.post(reverse("projects:list")).status_code == 405


def test_project_list_redirects_anonymous(client, db):
    response = client.get(reverse("projects:list"))
    assert response.status_code == 302


def test_project_list_hides_other_teams_projects(client, project, outsider):
    client.force_login(outsider)
    assert project.name not in client.get(reverse("projects:list")).content.decode()


# Settings -----------------------------------------------------------------


def test_settings_lists_targets_with_a_test_button(client, project, owner):
    client.force_login(owner)
    html = client.get(reverse("projects:settings", args=[project.pk])).content.decode()
    target = project.targets.get()
    test_url = reverse("projects:target-test", args=[target.pk])
    assert f'hx-post="{test_url}"' in html
    assert 'id="schedule"' in html and 'id="sla"' in html
    assert reverse("projects:members", args=[project.team.slug]) in html


def test_settings_form_errors_are_shown_beside_the_fields(client, project, owner):
    client.force_login(owner)
    response = client.post(
        reverse("projects:settings", args=[project.pk]),
        {"project-name": "", "project-audit_interval_hours": "-3"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Settings were not saved" in html
    assert html.count('class="field has-error"') >= 2
    assert 'aria-invalid="true"' in html
    project.refresh_from_db()
    assert project.name == "Shop"


def test_settings_target_form_errors_are_clear(client, project, owner, tmp_path):
    client.force_login(owner)
    response = client.post(
        reverse("projects:target-create", args=[project.pk]),
        {"target-kind": "ddl", "target-location": str(tmp_path / "missing.sql")},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "The target was not added" in html
    assert "No such file or folder" in html
    assert project.targets.count() == 1


def test_test_connection_reports_success_as_a_fragment(client, project, owner):
    client.force_login(owner)
    target = project.targets.get()
    response = client.post(reverse("projects:target-test", args=[target.pk]), **HX)
    html = response.content.decode()
    assert "<html" not in html
    assert "Connected and read 2 tables" in html


def test_test_connection_reports_the_exact_error(client, project, owner, tmp_path):
    target = Target.objects.create(
        project=project, kind=Target.Kind.SQLITE, location=str(tmp_path / "gone.db")
    )
    client.force_login(owner)
    response = client.post(reverse("projects:target-test", args=[target.pk]), **HX)
    html = response.content.decode()
    assert 'class="notice error"' in html
    assert "gone.db" in html


def test_viewer_reads_settings_without_forms(client, project, viewer):
    client.force_login(viewer)
    html = client.get(reverse("projects:settings", args=[project.pk])).content.decode()
    assert "Viewers can read settings" in html
    assert "Test connection" not in html and "Save settings" not in html


def test_unknown_pages_get_the_designed_error_page(client, project, outsider):
    client.force_login(outsider)
    response = client.get(reverse("projects:overview", args=[project.pk]))
    html = response.content.decode()
    assert response.status_code == 404
    assert 'class="card empty error-page"' in html
    assert "belongs to a team you are not in" in html
    assert "/static/css/plumbline.css" in html


def test_a_failed_last_audit_shows_its_error_and_keeps_the_grades(
    client, project, owner
):
    make_audits(project, 2)
    Audit.objects.create(
        project=project,
        number=3,
        status=Audit.Status.FAILED,
        finished_at=timezone.now(),
        error="The audit stopped on an internal error: KeyError: 'x'",
    )
    client.force_login(owner)
    html = client.get(reverse("projects:overview", args=[project.pk])).content.decode()
    assert "Audit #3" in html and ">Failed</span>" in html
    assert "KeyError: &#x27;x&#x27;" in html
    assert 'data-grade="C-"' in html  # from audit 2's summary
    assert html.count('class="bar-group"') == 2
