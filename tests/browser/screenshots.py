"""Take the screenshots under docs/screenshots/ from demo data.

Run from the repository root:

    .venv/bin/python tests/browser/screenshots.py [--out docs/screenshots]

It builds a throwaway SQLite database in a temporary folder, loads the demo
(``manage.py demo``, which audits the sample application over eight weeks),
photographs the overview as a first visit sees it, then adds a few
assignments and a comment, serves the app with ``manage.py runserver`` and photographs
every page at desktop (1280×900) and phone (390×844) width in headless
chromium. Nothing outside the temporary folder and the output folder is
touched.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(env: dict, *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


def build_history(env: dict) -> dict:
    """Triage and re-audit the sample project so the pages have a past."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from audits.models import Audit
    from findings.models import Finding
    from projects.models import Membership, Project

    User = get_user_model()
    demo = User.objects.get(username="demo")
    project = Project.objects.get(slug="benchmark-studio")
    team = project.team
    for name, role in (("sam", "member"), ("rita", "viewer"), ("ana", "admin")):
        user, _ = User.objects.get_or_create(
            username=name, defaults={"email": f"{name}@example.com"}
        )
        Membership.objects.get_or_create(team=team, user=user, defaults={"role": role})
    sam = User.objects.get(username="sam")

    def open_findings():
        return project.findings.filter(status="open").order_by("severity", "id")

    mine = list(
        project.findings.filter(
            status__in=["open", "in_progress"],
            severity__in=["critical", "high", "medium"],
        ).order_by("severity", "id")[:6]
    )
    for i, finding in enumerate(mine):
        finding.assign(demo if i % 3 else sam, by=demo)
        if i < 3:
            Finding.objects.filter(pk=finding.pk).update(
                due_date=timezone.localdate() - timedelta(days=3 - i)
            )
    detail = mine[0] if mine else open_findings().first()
    detail.assign(demo, by=sam)
    detail.comment(
        "Confirmed on the staging copy. The fix is small; I will pair on it "
        "with whoever picks it up.",
        by=sam,
    )
    if detail.status == "open":
        detail.change_status("in_progress", by=demo)
    audits = list(Audit.objects.filter(project=project).order_by("number"))
    latest = audits[-1]
    return {
        "project": project.pk,
        "audit": latest.pk,
        "finding": detail.pk,
        "check": detail.check_id,
        "team": team.slug,
    }


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def photograph(base: str, ids: dict, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    pages = [
        ("login", "/accounts/login/"),
        ("project-list", "/"),
        ("overview", f"/projects/{ids['project']}/"),
        ("findings-list", f"/projects/{ids['project']}/findings/"),
        ("finding-detail", f"/findings/{ids['finding']}/"),
        ("check-doc", f"/checks/{ids['check']}/"),
        ("audit-detail", f"/audits/{ids['audit']}/"),
        ("settings", f"/projects/{ids['project']}/settings/"),
        ("team-members", f"/teams/{ids['team']}/members/"),
        ("my-findings", "/findings/mine/"),
    ]
    written = []
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        for size, (width, height) in SIZES.items():
            context = browser.new_context(
                viewport={"width": width, "height": height}, device_scale_factor=1
            )
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.goto(base + "/accounts/login/")
            page.screenshot(path=str(out / f"login-{size}.png"))
            written.append(out / f"login-{size}.png")
            page.fill("#id_username", "demo")
            page.fill("#id_password", "plumbline-demo")
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            for name, path in pages[1:]:
                page.goto(base + path)
                page.wait_for_load_state("networkidle")
                if name == "settings":
                    # Show a connection test's answer.
                    page.get_by_role("button", name="Test connection").first.click()
                    page.locator(".test-result .notice").first.wait_for()
                if name == "overview":
                    # Show one grade expanded, as a reader would.
                    details = page.locator("details.grade-details").first
                    if details.count():
                        details.locator("summary").click()
                        page.wait_for_load_state("networkidle")
                target = out / f"{name}-{size}.png"
                page.screenshot(path=str(target), full_page=True)
                written.append(target)
            context.close()
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plumbline-shots-") as tmp:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL")
        }
        env.update(
            DATABASE_URL=f"sqlite:///{tmp}/plumbline.sqlite3",
            SECRET_KEY="screenshots-only",
            DEBUG="0",
            DJANGO_SETTINGS_MODULE="config.settings",
            # As make demo does: the demo reads its own folders and database.
            PLUMBLINE_TARGET_PATH_ROOTS=f"{ROOT / 'demo'},{ROOT / 'var'},{tmp}",
            PLUMBLINE_ALLOW_PRIVATE_TARGETS="1",
        )
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "demo")
        ids = build_history(env)
        port = free_port()
        server = subprocess.Popen(
            [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(base + "/accounts/login/")
            for path in photograph(base, ids, Path(args.out)):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
