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


def test_the_settings_page_shows_each_delivery_with_its_last_response(
    chromium, live_server, owner, project, schema_file, settings
):
    from audits import notifications
    from projects.models import Webhook
    from tests.audits.test_notifications import Receiver

    settings.WEBHOOK_ALLOW_PRIVATE = True
    with Receiver(status=500) as receiver:
        webhook = Webhook(project=project, url=receiver.url)
        webhook.signing_secret = "whsec_browser"
        webhook.save()
        audit_with(project, schema_file, CLEAN)
        audit = audit_with(project, schema_file, CLEAN + NO_KEY)
        # Without a broker the retries run at once, each one logged.
        notifications.notify(audit.pk)
    attempts = len(settings.WEBHOOK_RETRY_DELAYS) + 1
    assert len(receiver.requests) == attempts
    page = log_in_as(chromium, live_server, owner)
    page.goto(f"{live_server.url}/projects/{project.pk}/settings/#deliveries")
    row = page.locator("table.deliveries tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text(f"#{audit.number}")
    expect(row.locator("td").nth(3)).to_have_text("new_finding, gate_failed")
    expect(row.locator("td").nth(4)).to_have_text("failed")
    expect(row.locator(".response-code")).to_have_text("500")
    expect(row.locator("td").nth(5)).to_contain_text("The server answered 500.")
    expect(row.locator("td").nth(6)).to_have_text(str(attempts))
