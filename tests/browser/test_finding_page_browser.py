"""The finding page explains itself: Markdown, risk, place, check docs, edits."""

import datetime

import pytest
from django.urls import reverse

from findings.models import Finding, FindingEvent
from tests.browser.conftest import expect, log_in_as, no_csp_violations
from tests.findings.test_views import make_finding

IMPORTED_DESCRIPTION = """`upsert_leaderboard_entry()` reads on one connection and writes on another. **Lost update.**
See ![pixel](https://tracker.example/p.gif) and [the fix guide](https://phish.example/login).
```python
def upsert(conn):
    if row:
        conn.execute("UPDATE ...")
```

Impact: Data corruption when two evaluations finish together"""


@pytest.fixture
def imported(project):
    return make_finding(
        project,
        1,
        check_id="txn-lost-update",
        severity="critical",
        title="Leaderboard upsert race",
        file="db.py",
        line=1982,
        object="",
        evidence=IMPORTED_DESCRIPTION,
        remediation="Use `INSERT ... ON CONFLICT DO UPDATE` in **one** statement.",
        origin="markdown",
    )


@pytest.mark.browser
def test_imported_markdown_renders_safely_with_its_risk(
    chromium, live_server, project, owner, imported
):
    make_finding(project, 2, severity="low", title="Another one in db.py", file="db.py")
    page = log_in_as(chromium, live_server, owner)
    page.goto(live_server.url + imported.get_absolute_url())
    description = page.locator("#description")
    # Markdown is rendered: code and bold, no literal backticks or fences.
    expect(description.locator("code").first).to_have_text("upsert_leaderboard_entry()")
    expect(description.locator("strong")).to_have_text("Lost update.")
    assert "```" not in description.inner_text()
    assert "`" not in description.inner_text()
    # The code fence keeps its indentation.
    code = description.locator("pre code").inner_text()
    assert '    if row:\n        conn.execute("UPDATE ...")' in code
    # No image is loaded, no off-site link is clickable: both show as text.
    expect(page.locator("main img")).to_have_count(0)
    expect(description).to_contain_text(
        "[image: pixel] (https://tracker.example/p.gif)"
    )
    expect(description).to_contain_text("the fix guide (https://phish.example/login)")
    assert page.locator("main a[href^='http']").count() == 0
    # The report's risk text has its own place.
    expect(page.locator("#risk")).to_contain_text(
        "Data corruption when two evaluations finish together"
    )
    # Remediation is Markdown too.
    remediation = page.locator("#remediation")
    expect(remediation.locator("code").first).to_have_text(
        "INSERT ... ON CONFLICT DO UPDATE"
    )
    assert "`" not in remediation.inner_text()
    # Other findings in the same file are listed.
    expect(page.locator("#nearby")).to_contain_text("Another one in db.py")
    no_csp_violations(page)


@pytest.mark.browser
def test_the_check_documentation_page_is_one_click_away(
    chromium, live_server, project, owner, imported
):
    page = log_in_as(chromium, live_server, owner)
    page.goto(live_server.url + imported.get_absolute_url())
    page.locator("#check-doc-link").click()
    expect(page).to_have_url(
        live_server.url + reverse("checks:detail", args=["txn-lost-update"])
    )
    for heading in ("What it means", "Why it matters", "How to fix it", "Examples"):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.locator("#why")).to_contain_text("stale data")
    # The reader's own findings of this check are the examples.
    expect(page.locator("#examples")).to_contain_text("Leaderboard upsert race")
    page.get_by_role("link", name="← All checks").click()
    expect(page.get_by_role("link", name="Table has no primary key")).to_be_visible()
    no_csp_violations(page)


@pytest.mark.browser
def test_the_check_page_states_what_makes_a_finding_critical(chromium, live_server):
    page = chromium.new_page()
    page.goto(live_server.url + reverse("checks:detail", args=["query-n-plus-one"]))
    expect(page.get_by_role("heading", name="How severe a finding is")).to_be_visible()
    expect(page.locator("#severity")).to_contain_text(
        "low on SQLite (in process, a query is a call, not a round trip)"
    )
    no_csp_violations(page)


@pytest.mark.browser
def test_severity_and_due_date_changes_need_a_reason_and_enter_history(
    chromium, live_server, project, owner, imported
):
    page = log_in_as(chromium, live_server, owner)
    page.goto(live_server.url + imported.get_absolute_url())
    page.get_by_text("Change severity or due date").click()
    page.select_option("#id_severity", "medium")
    page.get_by_role("button", name="Set severity").click()
    expect(page.locator("#severity-error")).to_contain_text("required")
    expect(page.locator("#id_severity_reason")).to_be_focused()
    assert Finding.objects.get(pk=imported.pk).severity == "critical"

    page.fill("#id_severity_reason", "Only the nightly job writes this table.")
    page.get_by_role("button", name="Set severity").click()
    expect(page.locator("#finding-severity")).to_contain_text("medium")
    expect(page.locator("#finding-severity")).to_contain_text("set by hand")
    last = page.locator("#history li.event").last
    expect(last).to_contain_text("changed severity critical → medium")
    expect(last).to_contain_text("Only the nightly job writes this table.")

    page.get_by_text("Change severity or due date").click()
    page.fill("#id_due_date", "2031-01-15")
    page.fill("#id_due_reason", "Waiting for the schema freeze to end.")
    page.get_by_role("button", name="Set due date").click()
    expect(page.locator("#finding-due")).to_contain_text("2031-01-15")
    last = page.locator("#history li.event").last
    expect(last).to_contain_text("changed the due date")
    expect(last).to_contain_text("2031-01-15")
    expect(last).to_contain_text("Waiting for the schema freeze to end.")
    finding = Finding.objects.get(pk=imported.pk)
    assert finding.severity == "medium" and finding.severity_overridden
    assert finding.due_date == datetime.date(2031, 1, 15)
    assert FindingEvent.objects.filter(finding=finding, kind="due").count() == 1


@pytest.mark.browser
def test_viewers_are_not_offered_as_assignees(
    chromium, live_server, project, owner, member, viewer
):
    finding = make_finding(project, 1)
    page = log_in_as(chromium, live_server, owner)
    page.goto(live_server.url + finding.get_absolute_url())
    options = page.locator("#id_assignee option").all_inner_texts()
    assert "max" in options and "olivia" in options and "vera" not in options
    page.goto(live_server.url + reverse("findings:list", args=[project.pk]))
    options = page.locator("#bulk-assignee option").all_inner_texts()
    assert "max" in options and "vera" not in options
