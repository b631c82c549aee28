"""Notifications after an audit: signed webhooks to a real local server, email."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.core import mail

from audits import notifications, services
from projects.models import NotificationPreference, Webhook, WebhookDelivery

from .test_gate import CLEAN, NO_KEY, WITH_KEY

SECRET = "whsec_test-secret"


# The ports these tests' servers take on 127.0.0.1, the first one free.
PORTS = range(18310, 18330)


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST (and when it came)
    and answers ``status``."""

    def __init__(self, status=200):
        self.status = status
        self.requests = []
        self.times = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.times.append(time.monotonic())
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        for port in PORTS:
            try:
                self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
                break
            except OSError:  # taken: the next one
                continue
        else:
            raise OSError(f"no free port in {PORTS}")
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/plumbline?x=1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def local_webhooks(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.SITE_URL = "https://plumbline.example"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def make_webhook(project, url, events=()):
    webhook = Webhook(project=project, url=url, events=list(events))
    webhook.signing_secret = SECRET
    webhook.save()
    return webhook


def audit_with(project, schema_file, text, capture):
    """Start an audit the way the pages do: its task runs (in-process) on commit."""
    schema_file.write_text(text)
    with capture(execute=True):
        audit = services.start_audit(project)
    audit.refresh_from_db()
    return audit


def test_one_signed_delivery_per_audit(
    project, schema_file, django_capture_on_commit_callbacks
):
    with Receiver() as receiver:
        make_webhook(project, receiver.url)
        audit_with(project, schema_file, CLEAN, django_capture_on_commit_callbacks)
        assert receiver.requests == []  # nothing notable: no message
        audit = audit_with(
            project, schema_file, CLEAN + NO_KEY, django_capture_on_commit_callbacks
        )
        assert len(receiver.requests) == 1
        headers, body = receiver.requests[0]
        expected = hmac.new(
            SECRET.encode(),
            headers["X-Plumbline-Timestamp"].encode() + b"." + body,
            hashlib.sha256,
        ).hexdigest()
        assert headers["X-Plumbline-Signature"] == f"sha256={expected}"
        assert headers["Content-Type"] == "application/json"
        message = json.loads(body)
        assert message["events"] == ["new_finding", "gate_failed"]
        assert message["audit"]["number"] == audit.number
        assert message["audit"]["gate_passed"] is False
        [new] = message["findings"]["new_finding"]
        assert new["check"] == "table-no-primary-key"
        assert new["url"] == f"https://plumbline.example/findings/{new['id']}/"
        assert message["text"].startswith(
            f"*<https://plumbline.example/audits/{audit.pk}/|"
        )
        assert "quality gate failed" in message["text"]
        # Running the notification again sends nothing more.
        notifications.notify(audit.pk)
        assert len(receiver.requests) == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.response_code, delivery.attempts) == (
        "delivered",
        200,
        1,
    )


def test_a_failing_server_is_retried_with_backoff_and_logged(
    client, owner, project, schema_file, django_capture_on_commit_callbacks
):
    with Receiver(status=500) as receiver:
        make_webhook(project, receiver.url)
        audit_with(
            project, schema_file, CLEAN + NO_KEY, django_capture_on_commit_callbacks
        )
        # Without a broker the retries run at once; a worker waits between them.
        attempts = len(settings.WEBHOOK_RETRY_DELAYS) + 1
        assert len(receiver.requests) == attempts
        # Every attempt carries the same body and delivery id.
        assert len({body for _, body in receiver.requests}) == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.response_code, delivery.attempts) == (
        "failed",
        500,
        attempts,
    )
    assert delivery.error == "The server answered 500."
    client.force_login(owner)
    page = client.get(f"/projects/{project.pk}/settings/").content.decode()
    assert f'id="delivery-{delivery.pk}"' in page
    assert '<strong class="response-code">500</strong>' in page


def test_a_retry_schedules_the_next_attempt(project):
    with Receiver(status=503) as receiver:
        webhook = make_webhook(project, receiver.url)
        from audits.models import Audit

        audit = Audit.objects.create(project=project, number=7, status="failed")
        delivery = WebhookDelivery.objects.create(
            webhook=webhook, audit=audit, events=["audit_failed"], body="{}"
        )
        delay = notifications.attempt_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delay == settings.WEBHOOK_RETRY_DELAYS[0]
    assert delivery.status == "pending"
    assert delivery.next_attempt_at > delivery.last_attempt_at


def test_a_client_error_is_not_retried(
    project, schema_file, django_capture_on_commit_callbacks
):
    with Receiver(status=404) as receiver:
        make_webhook(project, receiver.url)
        audit_with(
            project, schema_file, CLEAN + NO_KEY, django_capture_on_commit_callbacks
        )
        assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().status == "failed"


def test_webhooks_to_private_addresses_are_refused_unless_allowed(
    settings, project, schema_file, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with Receiver() as receiver:
        make_webhook(project, receiver.url)
        audit_with(
            project, schema_file, CLEAN + NO_KEY, django_capture_on_commit_callbacks
        )
        assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"
    assert "private or local address" in delivery.error


def test_a_webhook_gets_only_its_events(
    project, schema_file, django_capture_on_commit_callbacks
):
    with Receiver() as receiver:
        make_webhook(project, receiver.url, events=["regression"])
        audit_with(
            project, schema_file, CLEAN + NO_KEY, django_capture_on_commit_callbacks
        )
        assert receiver.requests == []
        audit_with(
            project, schema_file, CLEAN + WITH_KEY, django_capture_on_commit_callbacks
        )
        audit_with(
            project, schema_file, CLEAN + NO_KEY, django_capture_on_commit_callbacks
        )
        assert len(receiver.requests) == 1
        message = json.loads(receiver.requests[0][1])
        assert message["events"] == ["regression"]


def test_email_lists_the_findings_with_links(
    project, owner, member, viewer, schema_file, django_capture_on_commit_callbacks
):
    NotificationPreference.objects.create(
        user=owner, email=True, events=["new_finding", "gate_failed"]
    )
    # Wants only failed audits: this audit does not concern them.
    NotificationPreference.objects.create(
        user=member, email=True, events=["audit_failed"]
    )
    # Chose another project only.
    other = project.team.projects.create(name="Other", slug="other")
    pref = NotificationPreference.objects.create(
        user=viewer, email=True, events=["new_finding"]
    )
    pref.projects.set([other])
    audit_with(project, schema_file, CLEAN, django_capture_on_commit_callbacks)
    assert mail.outbox == []  # nothing to tell
    audit = audit_with(
        project, schema_file, CLEAN + NO_KEY, django_capture_on_commit_callbacks
    )
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["olivia@example.com"]
    assert message.subject == (
        f"[Plumbline] Shop audit #{audit.number}: "
        "1 new critical/high finding, quality gate failed"
    )
    finding = audit.gate["findings"][0]
    assert f"[high] {finding['title']} (schema.sql:3)" in message.body
    assert f"https://plumbline.example/findings/{finding['id']}/" in message.body
    assert f"https://plumbline.example/audits/{audit.pk}/" in message.body


def test_a_failed_audit_is_news(
    project, owner, schema_file, tmp_path, django_capture_on_commit_callbacks
):
    NotificationPreference.objects.create(
        user=owner, email=True, events=["audit_failed"]
    )
    target = project.targets.get()
    target.location = str(tmp_path / "gone.sql")
    target.save()
    with django_capture_on_commit_callbacks(execute=True):
        services.start_audit(project)
    [message] = mail.outbox
    assert "audit failed" in message.subject
    assert "gone.sql" in message.body


def test_sla_breaches_since_the_previous_audit_are_news(
    project, owner, schema_file, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from findings.models import Finding

    NotificationPreference.objects.create(
        user=owner, email=True, events=["sla_breached"]
    )
    from audits.models import Audit

    first = audit_with(project, schema_file, CLEAN, django_capture_on_commit_callbacks)
    Audit.objects.filter(pk=first.pk).update(
        created_at=timezone.now() - timedelta(days=3)
    )
    # Due yesterday: it became overdue after the previous audit ran.
    Finding.objects.filter(project=project).update(
        due_date=timezone.localdate() - timedelta(days=1)
    )
    audit_with(project, schema_file, CLEAN, django_capture_on_commit_callbacks)
    [message] = mail.outbox
    assert "2 findings past due" in message.subject
    # Already overdue at the previous audit: not news again.
    audit_with(project, schema_file, CLEAN, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1


def test_an_unfinished_audit_is_not_claimed_for_notification(project):
    from audits.models import Audit

    audit = Audit.objects.start(project)
    assert notifications.notify(audit.pk) == 0
    audit.refresh_from_db()
    assert audit.notified_at is None


def test_an_audit_failed_by_the_sweeper_is_news_once(
    project, owner, schema_file, settings, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    NotificationPreference.objects.create(
        user=owner, email=True, events=["audit_failed"]
    )
    with Receiver() as receiver:
        make_webhook(project, receiver.url)
        stuck = services.start_audit(project, enqueue=False)
        services.claim_audit(stuck.pk)
        later = timezone.now() + timedelta(seconds=settings.AUDIT_TIME_LIMIT + 60)
        with django_capture_on_commit_callbacks(execute=True):
            assert services.sweep_stuck_audits(now=later) == 1
        with django_capture_on_commit_callbacks(execute=True):
            assert services.sweep_stuck_audits(now=later) == 0
        [message] = mail.outbox
        assert f"audit #{stuck.number}: audit failed" in message.subject
        assert "The process running this audit stopped" in message.body
        [(_, body)] = receiver.requests
        assert json.loads(body)["events"] == ["audit_failed"]
