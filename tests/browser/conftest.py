"""Playwright on Debian's Chromium (no browser download), one browser per module, a fresh context per test."""
import threading
from pathlib import Path

import pytest
from django.core.signals import request_finished, request_started

from tests.conftest import ROOT
from tests.factories import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class _ServerRequests:
    """Requests the live server (a thread of this process) is handling, from Django's request signals."""

    def __init__(self):
        self.lock = threading.Lock()
        self.running = 0
        request_started.connect(self.started, weak=False)
        request_finished.connect(self.finished, weak=False)

    def started(self, **kwargs):
        with self.lock:
            self.running += 1

    def finished(self, **kwargs):
        with self.lock:
            self.running -= 1

    def busy(self):
        with self.lock:
            return self.running > 0


_server_requests = _ServerRequests()


class Watched:
    """A page plus what it must not do: open dialogs (XSS) or throw uncaught errors."""

    def __init__(self, page):
        self.page = page
        self.dialogs = []
        self.errors = []
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.in_flight = set()
        context = page.context
        context.on("request", lambda request: self.in_flight.add(request))
        context.on("requestfinished", lambda request: self.in_flight.discard(request))
        context.on("requestfailed", lambda request: self.in_flight.discard(request))

    def wait_idle(self, timeout_ms=5000, quiet_ms=300):
        for _ in range(timeout_ms // 50):
            if not self.in_flight:
                break
            self.page.wait_for_timeout(50)
        # A fetch the browser abandoned (a navigation aborts it, or a keepalive draft sent on leaving) may
        # still reach or run in the live server, unseen by the page; the flush after the test would deadlock
        # with its row locks. Wait until the server has handled no request for quiet_ms, then until no other
        # database connection is busy.
        quiet = 0
        for _ in range(timeout_ms // 50):
            quiet = quiet + 50 if not _server_requests.busy() else 0
            if quiet >= quiet_ms:
                break
            self.page.wait_for_timeout(50)
        from django.db import connection

        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            for _ in range(timeout_ms // 50):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                               "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')")
                if not cursor.fetchone()[0]:
                    return
                self.page.wait_for_timeout(50)


@pytest.fixture
def watched(browser, live_server):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(10_000)
    watched = Watched(context.new_page())
    yield watched
    # Leaving the page may send a last draft (keepalive fetch): let it land before the database is flushed.
    watched.page.goto("about:blank")
    watched.wait_idle()
    context.close()
    assert watched.dialogs == [], f"a dialog opened: {watched.dialogs}"
    assert watched.errors == [], f"uncaught errors in the page: {watched.errors}"


def log_in(page, user, then="/"):
    """Log in through the login page, as a person would."""
    page.goto(f"/login/?next={then}")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{then}")


def screenshot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
