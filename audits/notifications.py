"""Tell people what an audit changed: email and signed webhooks.

After an audit commits, ``notify_audit`` (a task) works out the audit's
notable events (new critical or high findings, regressions, findings that
became overdue, an audit that failed or was partial, a failed quality
gate) and sends one message per audit: one email per person who asked for
those events on that project, and one delivery per webhook of the project.
Webhook deliveries are rows of their own, sent by ``deliver_webhook`` with
retries and backoff, so the settings page can show their log.

A webhook body is JSON with a Slack-compatible ``text`` field. It is signed
with the webhook's secret: ``X-Plumbline-Signature: sha256=HEX``, the
HMAC-SHA256 of ``TIMESTAMP.BODY`` where TIMESTAMP is the
``X-Plumbline-Timestamp`` header (Unix seconds).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from findings.models import Finding, FindingEvent
from projects.models import NotificationEvent, Webhook, WebhookDelivery

from .models import Audit

log = logging.getLogger(__name__)

# Findings named per event in one message; the counts stay exact.
LISTED = 20
TIMEOUT = 5.0
USER_AGENT = "Plumbline-Webhook/1"
FINDING_FIELDS = ("id", "severity", "title", "check_id", "object", "file", "line")
EVENT_LABELS = dict(NotificationEvent.choices)


@dataclass
class AuditNews:
    """What an audit has to tell: its events and, per event, findings."""

    audit: Audit
    events: list[str] = field(default_factory=list)
    findings: dict[str, list[dict]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def only(self, wanted) -> AuditNews:
        """Return the news limited to the ``wanted`` events."""
        keep = [e for e in self.events if e in wanted]
        return AuditNews(
            self.audit,
            keep,
            {e: self.findings.get(e, []) for e in keep},
            {e: self.counts.get(e, 0) for e in keep},
        )


def site_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _finding_rows(queryset) -> tuple[list[dict], int]:
    total = queryset.count()
    rows = []
    if total:
        for row in queryset.order_by("pk").values(*FINDING_FIELDS)[:LISTED]:
            location = row["object"]
            if row["file"]:
                location = (
                    f"{row['file']}:{row['line']}" if row["line"] else row["file"]
                )
            rows.append(
                {
                    "id": row["id"],
                    "severity": row["severity"],
                    "title": row["title"],
                    "check": row["check_id"],
                    "location": location,
                    "url": site_url(reverse("findings:detail", args=[row["id"]])),
                }
            )
    return rows, total


def audit_news(audit: Audit) -> AuditNews:
    """Return the notable events of a finished audit, with their findings."""
    news = AuditNews(audit)
    findings = Finding.objects.filter(project_id=audit.project_id)

    def add(event: str, queryset=None, *, count: int | None = None) -> None:
        rows, total = _finding_rows(queryset) if queryset is not None else ([], 0)
        if queryset is not None and not total:
            return
        news.events.append(event)
        news.findings[event] = rows
        news.counts[event] = count if count is not None else total

    if audit.status != Audit.Status.FAILED:
        add(
            NotificationEvent.NEW_FINDING,
            findings.filter(
                first_seen_audit=audit,
                status__in=Finding.UNRESOLVED,
                severity__in=("critical", "high"),
            ),
        )
        reopened = FindingEvent.objects.filter(
            audit=audit, kind=FindingEvent.Kind.REOPENED
        ).values("finding_id")
        add(NotificationEvent.REGRESSION, findings.filter(pk__in=reopened))
        add(NotificationEvent.SLA_BREACHED, _newly_overdue(audit, findings))
    if audit.status in (Audit.Status.FAILED, Audit.Status.PARTIAL):
        add(NotificationEvent.AUDIT_FAILED)
    if audit.gate_passed is False:
        gate = audit.gate or {}
        news.events.append(NotificationEvent.GATE_FAILED)
        news.findings[NotificationEvent.GATE_FAILED] = [
            {
                **{
                    k: f.get(k)
                    for k in ("id", "severity", "title", "check", "location")
                },
                "url": site_url(reverse("findings:detail", args=[f["id"]])),
            }
            for f in gate.get("findings", [])[:LISTED]
        ]
        news.counts[NotificationEvent.GATE_FAILED] = gate.get("failed", 0)
    return news


def _newly_overdue(audit: Audit, findings):
    """Return unresolved findings whose due date passed since the previous audit."""
    today = timezone.localdate()
    previous = (
        Audit.objects.filter(project_id=audit.project_id, number__lt=audit.number)
        .finished()
        .order_by("-number")
        .values_list("created_at", flat=True)
        .first()
    )
    since = Q(due_date__gte=timezone.localdate(previous)) if previous else Q()
    return findings.filter(since, status__in=Finding.UNRESOLVED, due_date__lt=today)


def headline(news: AuditNews) -> str:
    """Return one line saying what happened, for a subject or chat message."""
    audit = news.audit
    parts = []
    for event in news.events:
        n = news.counts.get(event, 0)
        if event == NotificationEvent.NEW_FINDING:
            parts.append(f"{n} new critical/high finding{'s' if n != 1 else ''}")
        elif event == NotificationEvent.REGRESSION:
            parts.append(f"{n} regression{'s' if n != 1 else ''}")
        elif event == NotificationEvent.SLA_BREACHED:
            parts.append(f"{n} finding{'s' if n != 1 else ''} past due")
        elif event == NotificationEvent.AUDIT_FAILED:
            parts.append(f"audit {audit.get_status_display().lower()}")
        elif event == NotificationEvent.GATE_FAILED:
            parts.append("quality gate failed")
    return f"{audit.project.name} audit #{audit.number}: " + ", ".join(parts)


def slack_text(news: AuditNews) -> str:
    """Return the message as Slack mrkdwn: the headline, then findings by event."""
    audit = news.audit
    url = site_url(audit.get_absolute_url())
    lines = [f"*<{url}|{_slack_escape(headline(news))}>*"]
    if audit.error and NotificationEvent.AUDIT_FAILED in news.events:
        lines.append(_slack_escape(audit.error[:300]))
    for event in news.events:
        rows = news.findings.get(event, [])
        if not rows:
            continue
        lines.append(f"_{EVENT_LABELS[event]}_")
        for f in rows[:5]:
            lines.append(
                f"• {f['severity']}: <{f['url']}|{_slack_escape(f['title'])}>"
                f" ({_slack_escape(f['location'] or f['check'])})"
            )
        if news.counts.get(event, 0) > 5:
            lines.append(f"… and {news.counts[event] - 5} more")
    return "\n".join(lines)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_body(news: AuditNews) -> str:
    """Return the JSON body of a webhook message about ``news``."""
    audit = news.audit
    project = audit.project
    return json.dumps(
        {
            "text": slack_text(news),
            "events": news.events,
            "project": {
                "id": project.pk,
                "name": project.name,
                "slug": project.slug,
                "url": site_url(project.get_absolute_url()),
            },
            "audit": {
                "id": audit.pk,
                "number": audit.number,
                "status": audit.status,
                "error": audit.error,
                "gate_passed": audit.gate_passed,
                "url": site_url(audit.get_absolute_url()),
            },
            "counts": news.counts,
            "findings": news.findings,
        },
        ensure_ascii=False,
    )


def notify(audit_id: int) -> int:
    """Send the audit's notifications once; return how many messages were made."""
    # Claimed once it has finished: a worker that found the audit claimed by
    # another must not take its news away before it ends.
    claimed = (
        Audit.objects.finished()
        .filter(pk=audit_id, notified_at__isnull=True)
        .update(notified_at=timezone.now())
    )
    if not claimed:
        return 0
    audit = Audit.objects.select_related("project", "project__team").get(pk=audit_id)
    news = audit_news(audit)
    if not news.events:
        return 0
    return _queue_webhooks(news) + _send_emails(news)


def notify_later(audit_ids) -> None:
    """Queue the notifications of audits that ended outside their own task
    (the sweeper's failures), once the current transaction commits."""
    from .tasks import notify_audit

    for audit_id in audit_ids:
        notify_audit.delay_on_commit(audit_id)


def _queue_webhooks(news: AuditNews) -> int:
    from .tasks import deliver_webhook

    made = 0
    for webhook in Webhook.objects.filter(
        project_id=news.audit.project_id, enabled=True
    ):
        part = news.only(webhook.events or news.events)  # none chosen: all
        if not part.events:
            continue
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    webhook=webhook,
                    audit=news.audit,
                    events=part.events,
                    body=webhook_body(part),
                )
        except IntegrityError:  # already made for this audit
            continue
        made += 1
        deliver_webhook.delay_on_commit(delivery.pk)
    return made


def recipients(project):
    """Return the team members who want email about ``project``."""
    return (
        get_user_model()
        .objects.filter(
            memberships__team_id=project.team_id,
            notification_preference__email=True,
        )
        .filter(
            Q(notification_preference__projects__isnull=True)
            | Q(notification_preference__projects=project)
        )
        .exclude(email="")
        .select_related("notification_preference")
        .distinct()
    )


def _send_emails(news: AuditNews) -> int:
    audit = news.audit
    messages = []
    for user in recipients(audit.project):
        part = news.only(user.notification_preference.events)
        if not part.events:
            continue
        body = render_to_string(
            "audits/email/audit_notification.txt",
            {
                "user": user,
                "news": part,
                "sections": [
                    {
                        "label": EVENT_LABELS[e],
                        "findings": part.findings.get(e, []),
                        "more": part.counts.get(e, 0) - len(part.findings.get(e, [])),
                    }
                    for e in part.events
                ],
                "audit": audit,
                "audit_url": site_url(audit.get_absolute_url()),
                "settings_url": site_url(reverse("projects:notifications")),
            },
        )
        messages.append(
            EmailMessage(
                subject=f"[Plumbline] {headline(part)}",
                body=body,
                to=[user.email],
            )
        )
    if not messages:
        return 0
    try:
        return get_connection().send_messages(messages) or 0
    except Exception:  # a mail server problem must not lose the webhooks
        log.exception("could not send the notification emails of audit %s", audit.pk)
        return 0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return the signature header value of a webhook body."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class RefusedAddress(Exception):
    """The webhook's host resolves to an address the operator has not allowed."""


def _allowed(address: str) -> bool:
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return True
    ip = ipaddress.ip_address(address)
    return ip.is_global and not ip.is_multicast


def _connect_address(host: str, port: int) -> str:
    """Return the address to connect to, checked against the private ranges.

    The check runs on the very address connected to, so a name that
    resolves differently the second time cannot slip through.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        if _allowed(sockaddr[0]):
            return sockaddr[0]
    raise RefusedAddress(
        f"{host} resolves to a private or local address, which webhooks may not "
        "reach unless the operator allows it (PLUMBLINE_ALLOW_PRIVATE_WEBHOOKS)"
    )


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host, port, *, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host, port, *, address, timeout):
        super().__init__(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
        self.address = address

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` to ``url`` and return the response status.

    Raise OSError (and RefusedAddress) when no response came.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedAddress("a webhook URL must be http:// or https://")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _connect_address(parts.hostname, port)
    kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    conn = kind(parts.hostname, port, address=address, timeout=TIMEOUT)
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(65536)
        return response.status
    finally:
        conn.close()


def _retryable(code: int | None) -> bool:
    return code is None or code in (408, 429) or code >= 500


def attempt_delivery(delivery_id: int) -> int | None:
    """Send a pending delivery once; return seconds until the next try, or None."""
    delivery = (
        WebhookDelivery.objects.select_related("webhook")
        .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
        .first()
    )
    if delivery is None:
        return None
    body = delivery.body.encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Plumbline-Delivery": str(delivery.pk),
        "X-Plumbline-Event": ",".join(delivery.events),
        "X-Plumbline-Timestamp": timestamp,
    }
    code, error = None, ""
    try:
        headers["X-Plumbline-Signature"] = signature(
            delivery.webhook.signing_secret, timestamp, body
        )
        code = post(delivery.webhook.url, body, headers)
        if not 200 <= code < 300:
            error = f"The server answered {code}."
    except RefusedAddress as exc:
        error, code = str(exc), 0
    except ValueError as exc:  # the secret no longer decrypts
        error, code = str(exc), 0
    except (OSError, http.client.HTTPException) as exc:
        error = f"No answer: {type(exc).__name__}: {exc}"
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_code = code or None
    delivery.error = error[:300]
    delay = None
    if not error:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif _retryable(code) and delivery.attempts <= len(settings.WEBHOOK_RETRY_DELAYS):
        delay = settings.WEBHOOK_RETRY_DELAYS[delivery.attempts - 1]
        delivery.next_attempt_at = now + timedelta(seconds=delay)
    else:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.next_attempt_at = None
    delivery.save(
        update_fields=[
            "attempts",
            "last_attempt_at",
            "response_code",
            "error",
            "status",
            "delivered_at",
            "next_attempt_at",
        ]
    )
    if error:
        log.warning("webhook delivery %s: %s", delivery.pk, error)
    return delay
