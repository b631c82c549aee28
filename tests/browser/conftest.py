"""Shared pieces of the browser tests: a headless chromium page and logging in."""

import os

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse
from playwright import sync_api
from playwright.sync_api import expect

from tests.conftest import PASSWORD

# Playwright's sync API runs an event loop in this thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture
def chromium(live_server, transactional_db, monkeypatch):
    """Yield a new browser context; pages it opens record CSP violations."""
    # Each live-server request runs in its own thread; persistent
    # connections would outlive it and block dropping the test database.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        watch_csp(context)
        yield context
        browser.close()


def watch_csp(context):
    """Keep every Content-Security-Policy violation of the context's pages."""
    context.set_default_timeout(20_000)
    context.add_init_script(
        "window.cspViolations = [];"
        "document.addEventListener('securitypolicyviolation', function (e) {"
        " window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI); });"
    )
    return context


def log_in_as(context, live_server, user):
    """Return a page of ``context`` logged in as ``user`` (session cookie)."""
    client = Client()
    client.force_login(user)
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": live_server.url,
            }
        ]
    )
    return context.new_page()


def log_in_through_the_form(page, live_server, username, password=PASSWORD):
    page.goto(live_server.url + reverse("login"))
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()


def no_csp_violations(page):
    assert page.evaluate("window.cspViolations") == []


def toast(page):
    return page.locator("#toasts .toast")


__all__ = ["expect", "log_in_as", "log_in_through_the_form", "no_csp_violations"]
