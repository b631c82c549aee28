"""Nothing hangs: silent servers fail tests and audits within stated limits."""

import http.cookiejar
import re
import threading
import time
import urllib.parse
import urllib.request

import pytest
from django.urls import reverse

from audits import services
from audits.engine.scan import Target as EngineTarget
from audits.engine.scan import scan_target
from audits.models import Audit
from projects import connection_tests
from projects.models import Project, Target
from tests.conftest import PASSWORD

from .servers import listener, silent_postgres


def test_a_server_silent_after_the_handshake_fails_the_probe_within_its_window():
    with silent_postgres() as port:
        started = time.monotonic()
        result = scan_target(
            EngineTarget("postgresql", f"postgresql://u@127.0.0.1:{port}/x", timeout=1)
        )
        took = time.monotonic() - started
    assert not result.ok
    assert "stopped answering" in result.error
    assert took < 30  # the window is 2 x timeout + 5 s; a hang never returns


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_a_listener_that_never_answers_fails_the_probe(kind):
    with listener() as port:
        result = scan_target(
            EngineTarget(kind, f"{kind}://u@127.0.0.1:{port}/x", timeout=1)
        )
    assert not result.ok
    assert "timed out" in result.error.lower() or "timeout" in result.error.lower()


def test_an_audit_of_a_silent_server_fails_and_touches_no_finding(team, owner):
    project = Project.objects.create(team=team, name="Silent", slug="silent")
    with listener() as port:
        Target.objects.create(
            project=project,
            kind=Target.Kind.POSTGRESQL,
            location=f"postgresql://u@127.0.0.1:{port}/x",
        )
        audit = services.start_audit(project, enqueue=False)
        audit = services.execute_audit(audit.pk)
    assert audit.status == Audit.Status.FAILED
    assert "timed out" in audit.error


class Browser:
    """A cookie-keeping HTTP client for a live server, as a user's browser is."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar)
        )

    def csrf(self) -> str:
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def get(self, path: str, timeout: float = 30) -> tuple[int, str]:
        with self.opener.open(self.base + path, timeout=timeout) as r:
            return r.status, r.read().decode()

    def post(self, path: str, data: dict, timeout: float = 30) -> tuple[int, str]:
        body = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": self.csrf(), **data}
        ).encode()
        request = urllib.request.Request(
            self.base + path,
            data=body,
            headers={"Referer": self.base + path, "HX-Request": "true"},
        )
        with self.opener.open(request, timeout=timeout) as r:
            return r.status, r.read().decode()

    def log_in(self, user) -> None:
        self.get(reverse("login"))
        self.post(reverse("login"), {"username": user.username, "password": PASSWORD})


@pytest.mark.django_db(transaction=True)
def test_test_connection_to_a_silent_server_times_out_while_pages_keep_answering(
    live_server, team, owner, settings
):
    settings.TEST_CONNECTION_SECONDS = 3
    project = Project.objects.create(team=team, name="Shop", slug="shop")
    browser = Browser(live_server.url)
    browser.log_in(owner)
    # Worse than a closed port: the server completes the handshake, then
    # says nothing more, so only the wall-clock limit ends the wait.
    with silent_postgres() as port:
        target = Target.objects.create(
            project=project,
            kind=Target.Kind.POSTGRESQL,
            location=f"postgresql://u@127.0.0.1:{port}/x",
        )
        url = reverse("projects:target-test", args=[target.pk])
        answers: list[tuple[float, str]] = []

        def test_connection() -> None:
            status, body = browser.post(url, {})
            answers.append((time.monotonic(), body))

        # More tests at once than the pool has places: the extra ones are
        # refused at once rather than queued.
        threads = [
            threading.Thread(target=test_connection)
            for _ in range(connection_tests.WORKERS + 2)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        page_status, page = browser.get(reverse("login"))
        page_answered = time.monotonic()
        overview_status, _ = browser.get(
            reverse("projects:overview", args=[project.pk])
        )
        for thread in threads:
            thread.join(60)
    assert page_status == 200 and overview_status == 200
    assert len(answers) == len(threads)
    texts = [body for _, body in answers]
    assert sum("Timed out: no complete answer within 3 s" in t for t in texts) >= 1
    assert all(re.search(r"Timed out|Too many connection tests", t) for t in texts), (
        texts
    )
    # The page answered while the tests were still waiting on the server.
    assert page_answered < max(when for when, body in answers if "Timed out" in body)


def test_a_file_that_defeats_the_parser_is_skipped_with_a_note(tmp_path):
    (tmp_path / "deep.py").write_text("x = " + "+".join(["1"] * 50_000) + "\n")
    (tmp_path / "deep_ddl.py").write_text(
        'DDL = "CREATE TABLE t (id INTEGER PRIMARY KEY)"\n'
        + "y = "
        + "+".join(["1"] * 50_000)
        + "\n"
    )
    (tmp_path / "app.py").write_text(
        "import sqlite3\n\n\ndef find(conn, name):\n"
        "    return conn.execute(\"SELECT * FROM users WHERE name = '%s'\" % name)\n"
    )
    result = scan_target(EngineTarget("code", str(tmp_path)))
    assert result.ok, result.error
    assert "deep.py: skipped, nested too deeply to analyse" in result.notes
    assert any(n.startswith("deep_ddl.py: skipped") for n in result.notes)
    # The other file was still read and checked.
    assert any(i.file == "app.py" for i in result.issues)
