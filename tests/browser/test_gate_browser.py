"""The overview's quality gate card reads one way: each rule with its outcome."""

from playwright.sync_api import expect

from audits import services
from tests.audits.test_gate import CLEAN, NO_KEY, WITH_KEY

from .conftest import log_in_as, no_csp_violations


def audit_with(project, schema_file, text):
    schema_file.write_text(text)
    return services.execute_audit(services.start_audit(project, enqueue=False).pk)


def test_the_gate_card_says_which_rule_failed_and_which_held(
    chromium, live_server, owner, project, schema_file
):
    audit_with(project, schema_file, CLEAN + NO_KEY)
    audit_with(project, schema_file, CLEAN + WITH_KEY)
    audit_with(project, schema_file, CLEAN + NO_KEY)  # the fix regresses
    page = log_in_as(chromium, live_server, owner)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    card = page.locator("#gate")
    expect(card.get_by_role("heading")).to_have_text("Quality gate: failed")
    rules = card.locator(".gate-rules li")
    expect(rules).to_have_text(
        ["A new finding at high or above: none", "A regression: 1 found"]
    )
    findings = card.locator(".gate-findings li")
    expect(findings).to_have_count(1)
    expect(findings.first).to_contain_text("regression")
    # Nothing on the card claims there was no regression.
    expect(card).not_to_contain_text("no regression")
    no_csp_violations(page)


def test_the_first_audit_passes_and_names_its_baseline(
    chromium, live_server, owner, project, schema_file
):
    audit_with(project, schema_file, CLEAN + NO_KEY)
    page = log_in_as(chromium, live_server, owner)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    card = page.locator("#gate")
    expect(card.get_by_role("heading")).to_have_text("Quality gate: passed")
    expect(card.locator(".gate-baseline")).to_have_text(
        "1 finding already present when its target was first audited is the "
        "baseline, not new."
    )
    expect(card.locator(".gate-findings")).to_have_count(0)
