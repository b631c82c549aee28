"""Webhook deliveries through a real Celery worker: retried with backoff, logged."""

import hashlib
import hmac
import json

import pytest

from audits import services
from projects.models import Webhook, WebhookDelivery

from .test_gate import CLEAN, NO_KEY
from .test_notifications import Receiver
from .test_worker import (  # noqa: F401
    clean_redis,
    pytestmark,  # noqa: F401  (Redis, real transactions)
    run_worker,
    send,
    wait_for,
    worker_output,
)

SECRET = "whsec_worker-secret"
DELAYS = "1,2,4,8"


@pytest.fixture
def webhook_worker(clean_redis):  # noqa: F811
    yield from run_worker(
        PLUMBLINE_ALLOW_PRIVATE_WEBHOOKS="1",
        PLUMBLINE_WEBHOOK_RETRY_DELAYS=DELAYS,
        PLUMBLINE_SITE_URL="https://plumbline.example",
    )


def test_a_failing_server_is_retried_by_the_worker_with_backoff_until_it_answers(
    client, owner, project, schema_file, webhook_worker
):
    with Receiver(status=500) as server:
        webhook = Webhook(project=project, url=server.url)
        webhook.signing_secret = SECRET
        webhook.save()
        schema_file.write_text(CLEAN + NO_KEY)
        audit = services.start_audit(project, enqueue=False)
        send(audit.pk)
        assert wait_for(lambda: len(server.requests) >= 3, timeout=120), worker_output(
            webhook_worker
        )
        delivery = WebhookDelivery.objects.get()
        # Each failed attempt is on the settings page's log: code and count.
        client.force_login(owner)
        page = client.get(f"/projects/{project.pk}/settings/").content.decode()
        assert f'id="delivery-{delivery.pk}"' in page
        assert '<strong class="response-code">500</strong>' in page
        assert "The server answered 500." in page
        server.status = 200
        assert wait_for(
            lambda: WebhookDelivery.objects.get().status == "delivered", timeout=60
        ), worker_output(webhook_worker)
    delivery = WebhookDelivery.objects.get()  # one message for the audit
    assert (delivery.response_code, delivery.error) == (200, "")
    assert delivery.attempts == len(server.requests) == 4
    # Backoff: each wait at least the configured delay, and longer each time.
    times = server.times
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    delays = [int(d) for d in DELAYS.split(",")]
    assert all(gap >= delay - 0.1 for gap, delay in zip(gaps, delays, strict=False)), (
        gaps
    )
    assert gaps == sorted(gaps), gaps
    # Every attempt is the same signed message.
    assert len({body for _, body in server.requests}) == 1
    headers, body = server.requests[-1]
    expected = hmac.new(
        SECRET.encode(),
        headers["X-Plumbline-Timestamp"].encode() + b"." + body,
        hashlib.sha256,
    ).hexdigest()
    assert headers["X-Plumbline-Signature"] == f"sha256={expected}"
    assert json.loads(body)["audit"]["number"] == audit.number
    client.force_login(owner)
    page = client.get(f"/projects/{project.pk}/settings/").content.decode()
    assert '<strong class="response-code">200</strong>' in page
