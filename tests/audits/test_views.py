"""The audit list, run, status, detail and report views."""

import pytest
from django.urls import reverse
from django.utils import timezone

from audits import services
from audits.models import Audit
from findings.models import Finding, FindingEvent
from projects.models import Project, Target

HX = {"HTTP_HX_REQUEST": "true"}


def run_audit(project, user=None) -> Audit:
    audit = services.start_audit(project, user=user, enqueue=False)
    return services.execute_audit(audit.pk)


def make_changes(audit, count):
    """Give ``audit`` ``count`` new, fixed and reopened findings each."""
    project = audit.project
    rows = []
    for kind in ("new", "fixed", "reopened"):
        for i in range(count):
            rows.append(
                Finding(
                    project=project,
                    fingerprint=f"{kind}-{i:05d}",
                    check_id="fk-missing",
                    severity="high",
                    title=f"{kind} finding {i}",
                    object=f"t.{kind}_{i}",
                    status="fixed" if kind == "fixed" else "open",
                    first_seen_audit=audit if kind == "new" else None,
                    fixed_by_audit=audit if kind == "fixed" else None,
                    regression=kind == "reopened",
                )
            )
    Finding.objects.bulk_create(rows)
    FindingEvent.objects.bulk_create(
        FindingEvent(finding=f, kind=FindingEvent.Kind.REOPENED, audit=audit)
        for f in Finding.objects.filter(fingerprint__startswith="reopened-")
    )
    audit.summary = {**audit.summary, "new": count, "fixed": count, "reopened": count}
    audit.save()


# Audit detail -------------------------------------------------------------


def test_audit_detail_shows_targets_changes_and_the_report(client, project, owner):
    audit = run_audit(project, owner)
    client.force_login(owner)
    response = client.get(reverse("audits:detail", args=[audit.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    outcome = audit.summary["targets"][0]
    assert outcome["label"] in html
    assert '<span class="pill succeeded">ok</span>' in html
    new = Finding.objects.filter(first_seen_audit=audit)
    assert new.exists()
    for finding in new:
        assert finding.get_absolute_url() in html
    for key in ("new", "fixed", "reopened"):
        assert f'id="{key}"' in html
    assert '<div class="report">' in html
    assert reverse("audits:report", args=[audit.pk]) in html


def test_audit_detail_sanitises_the_report(client, project, owner):
    audit = Audit.objects.create(
        project=project,
        number=1,
        status="succeeded",
        report_markdown="# Report\n\n<script>alert(1)</script>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    )
    client.force_login(owner)
    html = client.get(reverse("audits:detail", args=[audit.pk])).content.decode()
    assert "<script>alert" not in html
    assert "<table>" in html and "<h1>Report</h1>" in html


def test_audit_report_downloads_as_markdown(client, project, owner):
    audit = run_audit(project, owner)
    client.force_login(owner)
    response = client.get(reverse("audits:report", args=[audit.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    assert 'filename="shop-audit-1.md"' in response["Content-Disposition"]
    assert response.content.decode() == audit.report_markdown


def test_failed_audit_explains_itself(client, project, owner, tmp_path):
    project.targets.update(location=str(tmp_path / "gone.sql"))
    audit = run_audit(project, owner)
    assert audit.status == Audit.Status.FAILED
    client.force_login(owner)
    html = client.get(reverse("audits:detail", args=[audit.pk])).content.decode()
    assert "This audit failed" in html
    assert "No finding was changed" in html
    error = audit.summary["targets"][0]["error"]
    assert error and "gone.sql" in error
    assert f'<pre class="error-message">{error}</pre>' in html
    assert '<span class="pill failed">error</span>' in html
    assert reverse("projects:settings", args=[project.pk]) + "#targets" in html


def test_partial_audit_says_which_targets_failed(client, project, owner, tmp_path):
    Target.objects.create(
        project=project, kind=Target.Kind.SQLITE, location=str(tmp_path / "gone.db")
    )
    audit = run_audit(project, owner)
    assert audit.status == Audit.Status.PARTIAL
    client.force_login(owner)
    html = client.get(reverse("audits:detail", args=[audit.pk])).content.decode()
    assert "Some targets could not be scanned" in html
    assert "1 of 2 targets failed" in html


def test_audit_detail_lists_new_fixed_and_reopened(client, project, owner):
    audit = Audit.objects.create(project=project, number=1, status="succeeded")
    make_changes(audit, 3)
    client.force_login(owner)
    html = client.get(reverse("audits:detail", args=[audit.pk])).content.decode()
    for kind in ("new", "fixed", "reopened"):
        section = html[html.index(f'id="{kind}"') :]
        section = section[: section.index("</section>")]
        assert section.count("<tr>") == 1 + 3, kind
        assert f"{kind} finding 0" in section


def test_audit_detail_caps_each_list_at_200(client, project, owner):
    audit = Audit.objects.create(project=project, number=1, status="succeeded")
    make_changes(audit, 205)
    client.force_login(owner)
    html = client.get(reverse("audits:detail", args=[audit.pk])).content.decode()
    section = html[html.index('id="new"') :]
    section = section[: section.index("</section>")]
    assert section.count("<tr>") == 1 + 200
    assert "(205)" in section and "Showing the first 200" in section


@pytest.mark.parametrize("count", [3, 300])
def test_audit_detail_query_count_does_not_grow(
    client, project, owner, django_assert_num_queries, count
):
    audit = Audit.objects.create(project=project, number=1, status="succeeded")
    make_changes(audit, count)
    client.force_login(owner)
    # Session, user, the audit, then new, fixed and reopened.
    with django_assert_num_queries(6):
        response = client.get(reverse("audits:detail", args=[audit.pk]))
    assert response.status_code == 200


def test_audit_detail_fragment_for_htmx(client, project, owner):
    audit = run_audit(project, owner)
    client.force_login(owner)
    html = client.get(reverse("audits:detail", args=[audit.pk]), **HX).content.decode()
    assert html.lstrip().startswith('<div id="audit-body"')
    assert "<html" not in html


def test_audit_detail_of_a_running_audit_polls_and_refreshes(client, project, owner):
    audit = Audit.objects.create(project=project, number=1, status="running")
    client.force_login(owner)
    html = client.get(reverse("audits:detail", args=[audit.pk])).content.decode()
    assert f'hx-get="{reverse("audits:status", args=[audit.pk])}"' in html
    assert 'hx-trigger="audit-finished from:body"' in html


def test_audit_detail_rejects_post(client, project, owner):
    audit = Audit.objects.create(project=project, number=1, status="succeeded")
    client.force_login(owner)
    assert client.post(reverse("audits:detail", args=[audit.pk])).status_code == 405


def test_audit_pages_redirect_anonymous(client, project):
    audit = Audit.objects.create(project=project, number=1, status="succeeded")
    for name in ("audits:detail", "audits:status", "audits:report"):
        response = client.get(reverse(name, args=[audit.pk]))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_outsider_gets_404_on_audit_pages(client, project, outsider):
    audit = Audit.objects.create(project=project, number=1, status="succeeded")
    client.force_login(outsider)
    for name in ("audits:detail", "audits:status", "audits:report"):
        assert client.get(reverse(name, args=[audit.pk])).status_code == 404
    for name in ("audits:detail", "audits:status"):
        response = client.get(reverse(name, args=[audit.pk]), **HX)
        assert response.status_code == 404
    assert client.get(reverse("audits:list", args=[project.pk])).status_code == 404


# Run and status -----------------------------------------------------------


def test_run_audit_with_htmx_returns_the_finished_progress_bar(
    transactional_db, client, project, owner
):
    # Committed transactions: with no broker, the task runs on commit, inside
    # the request, as it does in the embedded mode.
    client.force_login(owner)
    response = client.post(reverse("audits:run", args=[project.pk]), **HX)
    html = response.content.decode()
    audit = project.audits.get()
    assert audit.status == Audit.Status.SUCCEEDED
    assert html.lstrip().startswith('<div id="audit-progress"')
    assert 'aria-valuenow="100"' in html and ">Succeeded</span>" in html
    assert "every 1s" not in html
    # The grades on the overview refresh on this event.
    assert response["HX-Trigger"] == "audit-finished"


def test_run_audit_without_htmx_redirects_to_the_audit(client, project, owner):
    client.force_login(owner)
    response = client.post(reverse("audits:run", args=[project.pk]))
    audit = project.audits.get()
    assert response.status_code == 302
    assert response["Location"] == audit.get_absolute_url()


def test_run_audit_while_one_runs_starts_no_second(client, project, owner):
    running = Audit.objects.create(project=project, number=1, status="running")
    client.force_login(owner)
    response = client.post(reverse("audits:run", args=[project.pk]), **HX)
    assert project.audits.count() == 1
    assert f"Audit #{running.number}" in response.content.decode()
    assert "HX-Trigger" not in response


def test_run_audit_without_targets_says_what_to_do(client, team, owner):
    project = Project.objects.create(team=team, name="Bare", slug="bare")
    client.force_login(owner)
    response = client.post(reverse("audits:run", args=[project.pk]), **HX)
    assert "Add an enabled target" in response.content.decode()
    assert not project.audits.exists()
    response = client.post(reverse("audits:run", args=[project.pk]))
    assert response["Location"] == reverse("projects:settings", args=[project.pk])


def test_run_audit_rejects_get_and_viewers(client, project, viewer):
    client.force_login(viewer)
    url = reverse("audits:run", args=[project.pk])
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403
    assert not project.audits.exists()


def test_status_polls_while_running_and_announces_the_end(client, project, owner):
    audit = Audit.objects.create(
        project=project, number=1, status="running", progress_done=1, progress_total=2
    )
    client.force_login(owner)
    url = reverse("audits:status", args=[audit.pk])
    response = client.get(url, **HX)
    html = response.content.decode()
    assert f'hx-get="{url}" hx-trigger="every 1s"' in html
    assert 'aria-valuenow="50"' in html
    assert "HX-Trigger" not in response
    Audit.objects.filter(pk=audit.pk).update(
        status="succeeded", finished_at=timezone.now()
    )
    response = client.get(url, **HX)
    assert "every 1s" not in response.content.decode()
    assert 'aria-valuenow="100"' in response.content.decode()
    assert response["HX-Trigger"] == "audit-finished"


def test_status_rejects_post(client, project, owner):
    audit = Audit.objects.create(project=project, number=1, status="running")
    client.force_login(owner)
    assert client.post(reverse("audits:status", args=[audit.pk])).status_code == 405


@pytest.mark.parametrize("count", [2, 60])
def test_audit_list_query_count_does_not_grow(
    client, project, owner, django_assert_num_queries, count
):
    Audit.objects.bulk_create(
        Audit(project=project, number=n, status="succeeded", summary={"open": n})
        for n in range(1, count + 1)
    )
    client.force_login(owner)
    with django_assert_num_queries(5):  # session, user, project, count, page
        response = client.get(reverse("audits:list", args=[project.pk]))
    assert response.status_code == 200


def test_audit_detail_explains_counts_whose_findings_changed_since(
    client, project, owner
):
    audit = Audit.objects.create(
        project=project, number=1, status="succeeded", summary={"fixed": 4}
    )
    client.force_login(owner)
    html = client.get(reverse("audits:detail", args=[audit.pk])).content.decode()
    section = html[html.index('id="fixed"') :]
    assert "(4)" in section[: section.index("</section>")]
    assert "changed since" in section[: section.index("</section>")]
    assert "No fixed finding came back." in html


def test_audit_list_shows_each_audit_with_its_counts(client, project, owner):
    audit = run_audit(project, owner)
    client.force_login(owner)
    html = client.get(reverse("audits:list", args=[project.pk])).content.decode()
    assert audit.get_absolute_url() in html
    assert ">Succeeded</span>" in html
    s = audit.summary
    assert f"<td>{s['new']}</td><td>{s['fixed']}</td>" in html


def test_audit_list_empty_state_and_wrong_method(client, project, owner):
    client.force_login(owner)
    url = reverse("audits:list", args=[project.pk])
    assert "No audits yet" in client.get(url).content.decode()
    assert client.post(url).status_code == 405
