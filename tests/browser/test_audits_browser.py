"""Audits in a real browser: progress without a broker, what changed, in order."""

import re

import pytest
from django.urls import reverse

from audits import services
from audits.models import Audit
from findings.models import Finding
from projects.models import Target
from tests.browser.conftest import expect, log_in_as, no_csp_violations
from tests.findings.test_views import make_finding


def big_schema(path, tables: int) -> str:
    path.write_text(
        "\n".join(
            f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, user_id INTEGER,"
            " status TEXT, payload TEXT);"
            for i in range(tables)
        )
    )
    return str(path)


@pytest.mark.browser
def test_without_a_broker_an_audit_runs_in_the_background_and_the_bar_moves(
    chromium, live_server, project, owner, tmp_path, settings
):
    settings.AUDITS_IN_THREAD = True
    for n in range(3):
        Target.objects.create(
            project=project,
            kind=Target.Kind.DDL,
            location=big_schema(tmp_path / f"part{n}.sql", 1500),
        )
    page = log_in_as(chromium, live_server, owner)
    page.goto(live_server.url + project.get_absolute_url())
    # Every value the bar takes is kept, to see it move.
    page.evaluate(
        "window.barValues = [];"
        "new MutationObserver(function () {"
        "  var bar = document.querySelector('#audit-progress [role=progressbar]');"
        "  if (bar) window.barValues.push(Number(bar.getAttribute('aria-valuenow')));"
        "}).observe(document.getElementById('audit-progress-slot'),"
        " {subtree: true, childList: true, attributes: true});"
    )
    page.get_by_role("button", name="Run audit").click()
    # The request returns while the audit is still under way.
    expect(page.locator("#audit-status")).to_have_text(re.compile("Queued|Running"))
    # The page stays usable meanwhile: the grade help opens, links work.
    expect(page.locator("#run-audit")).to_be_visible()
    expect(page.locator("#audit-status")).to_have_text("Succeeded", timeout=60_000)
    values = page.evaluate("window.barValues")
    assert any(0 < v < 100 for v in values), values
    assert values[-1] == 100
    expect(page.locator(".overall-grade .grade")).to_be_visible()
    audit = Audit.objects.get(project=project)
    assert audit.status == "succeeded" and audit.progress_total == 5
    no_csp_violations(page)


@pytest.mark.browser
def test_what_changed_lists_put_the_worst_and_quickest_first(
    chromium, live_server, project, owner
):
    audit = services.start_audit(project, user=owner, enqueue=False)
    audit = services.execute_audit(audit.pk)
    Finding.objects.filter(project=project).delete()
    made = [
        ("low", "minutes", "Low and quick"),
        ("critical", "days", "Critical and slow"),
        ("medium", "hours", "Medium"),
        ("critical", "minutes", "Critical and quick"),
        ("high", "", "High, effort unknown"),
        ("high", "hours", "High in hours"),
    ]
    for n, (severity, effort, title) in enumerate(made):
        make_finding(
            project,
            n,
            severity=severity,
            effort=effort,
            title=title,
            first_seen_audit=audit,
        )
    page = log_in_as(chromium, live_server, owner)
    page.goto(live_server.url + audit.get_absolute_url())
    titles = page.locator("#new table.change-list tbody tr td:nth-child(2)")
    expect(titles).to_have_text(
        [
            "Critical and quick",
            "Critical and slow",
            "High in hours",
            "High, effort unknown",
            "Medium",
            "Low and quick",
        ]
    )
    no_csp_violations(page)


@pytest.mark.browser
def test_the_demo_shows_a_history_on_the_first_visit(
    chromium, live_server, settings, tmp_path
):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from projects.models import Project

    # The demo's sample database and working copy go to a folder of the test.
    settings.VAR_DIR = tmp_path

    call_command("demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    demo = get_user_model().objects.get(username="demo")
    project = Project.objects.get(slug="benchmark-studio")
    page = log_in_as(chromium, live_server, demo)
    page.goto(live_server.url + project.get_absolute_url())
    # Trends over the five audits, not a single point.
    expect(page.locator("svg.chart").first).to_be_visible()
    assert project.audits.count() == 5
    changes = page.locator("#changes")
    expect(changes).to_contain_text("2 fixed")
    expect(changes).to_contain_text("2 reopened")
    expect(changes).to_contain_text("0 new")
    # The first audit says it was the first, not "new since the previous".
    first = project.audits.get(number=1)
    page.goto(live_server.url + first.get_absolute_url())
    expect(page.locator("main")).to_contain_text("first audit")
    no_csp_violations(page)


@pytest.mark.browser
def test_a_manual_fix_the_next_audit_still_sees_is_open_again_not_a_regression(
    chromium, live_server, project, owner
):
    first = services.execute_audit(
        services.start_audit(project, user=owner, enqueue=False).pk
    )
    finding = Finding.objects.filter(project=project, status="open").first()
    page = log_in_as(chromium, live_server, owner)
    page.goto(live_server.url + finding.get_absolute_url())
    page.select_option("#id_status", "fixed")
    page.get_by_role("button", name="Update status").click()
    expect(page.locator("#finding-status")).to_have_text("Fixed")

    second = services.execute_audit(
        services.start_audit(project, user=owner, enqueue=False).pk
    )
    page.reload()
    expect(page.locator("#finding-status")).to_have_text("Open")
    expect(page.locator(".finding-badges")).not_to_contain_text("regression")
    last = page.locator("#history li.event").last
    expect(last).to_contain_text(f"Audit #{second.number} still sees it")
    expect(last).to_contain_text("Fixed → Open")
    expect(last).to_contain_text("Marked fixed by hand, but this audit still sees it.")
    assert second.summary["reopened"] == 0 and first.number == 1


@pytest.mark.browser
def test_a_huge_imported_report_is_shown_a_page_at_a_time(
    chromium, live_server, project, owner
):
    from tests.audits.test_report_pages import big_table

    audit = Audit.objects.create(
        project=project,
        number=1,
        status=Audit.Status.SUCCEEDED,
        report_markdown=big_table(4000),
    )
    page = log_in_as(chromium, live_server, owner)
    page.goto(live_server.url + reverse("audits:detail", args=[audit.pk]))
    report = page.locator("#report")
    expect(report.locator("#report-heading")).to_contain_text("(page 1 of 3)")
    expect(report.locator("td", has_text="Finding number 0")).to_have_count(1)
    report.get_by_role("link", name="Next →").first.click()
    expect(page).to_have_url(re.compile(r"report_page=2#report$"))
    expect(report.locator("#report-heading")).to_contain_text("(page 2 of 3)")
    expect(report.locator("td", has_text="Finding number 0")).to_have_count(0)
    # The table's header repeats on every page.
    expect(report.locator(".report thead th").first).to_have_text("ID")
    no_csp_violations(page)
