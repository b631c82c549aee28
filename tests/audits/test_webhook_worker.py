"""Webhook deliveries through a real Celery worker: retried with backoff, logged."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from audits import services
from projects.models import Webhook, WebhookDelivery

from .test_gate import CLEAN, NO_KEY
from .test_worker import (  # noqa: F401
    clean_redis,
    pytestmark,  # noqa: F401  (Redis, real transactions)
    run_worker,
    send,
    wait_for,
    worker_output,
)

SECRET = "whsec_worker-secret"
# This suite's own ports on 127.0.0.1.
PORTS = range(18310, 18320)
DELAYS = "1,2,4,8"


class Flaky:
    """An HTTP server on 127.0.0.1 answering ``status`` to each POST, recording when."""

    def __init__(self, status):
        self.status = status
        self.requests = []
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                flaky.requests.append((time.monotonic(), dict(self.headers), body))
                self.send_response(flaky.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        for port in PORTS:
            try:
                self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
                break
            except OSError:
                continue
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


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
    server = Flaky(status=500)
    try:
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
    finally:
        server.close()
    delivery = WebhookDelivery.objects.get()  # one message for the audit
    assert (delivery.response_code, delivery.error) == (200, "")
    assert delivery.attempts == len(server.requests) == 4
    # Backoff: each wait at least the configured delay, and longer each time.
    times = [t for t, _, _ in server.requests]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    delays = [int(d) for d in DELAYS.split(",")]
    assert all(gap >= delay - 0.1 for gap, delay in zip(gaps, delays, strict=False)), (
        gaps
    )
    assert gaps == sorted(gaps), gaps
    # Every attempt is the same signed message.
    assert len({body for _, _, body in server.requests}) == 1
    _, headers, body = server.requests[-1]
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
