"""Playwright on Debian's Chromium (no browser download), one browser per module, a fresh context per test."""
from pathlib import Path

import pytest

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

    def wait_idle(self, timeout_ms=5000):
        for _ in range(timeout_ms // 50):
            if not self.in_flight:
                break
            self.page.wait_for_timeout(50)
        # A fetch the browser abandoned (a navigation aborts it) may still run in the live server; the flush
        # after the test would deadlock with its row locks, so wait until no other connection is busy.
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
