"""The team analytics page: who may open it, where it is linked from, and in Chromium its tables, charts and CSVs."""
import pytest
from django.urls import reverse

from annotate.models import Role
from tests.annotate_api.analytics_fixture import analytics_team
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_user


@pytest.mark.django_db
def test_the_page_is_the_managers_and_linked_from_their_dashboard_and_home(client):
    """The project's manager opens it (linked from the dashboard and the home card); its reviewer gets 403, the
    manager of another project 404; no link for non-managers."""
    project, users, _ = analytics_team()
    url = reverse("analytics", args=[project.id])
    client.force_login(users["manager"])
    assert client.get(url).status_code == 200
    assert url in client.get(reverse("dashboard", args=[project.id])).content.decode()
    assert url in client.get(reverse("home")).content.decode()
    client.force_login(users["reviewer"])
    assert client.get(url).status_code == 403
    assert url not in client.get(reverse("home")).content.decode()
    client.force_login(users["outsider"])
    assert client.get(url).status_code == 404
    client.force_login(make_user(role=Role.MANAGER))  # staff
    assert client.get(url).status_code == 200


@pytest.mark.slow
@pytest.mark.browser
def test_the_page_shows_the_annotators_table_and_charts(watched, live_server):
    """The per-annotator table with the hand-counted figures, the batch, agreement and verdict charts, and a CSV
    download named after the project."""
    page = watched.page
    project, users, _ = analytics_team()
    log_in(page, users["manager"], then=reverse("analytics", args=[project.id]))
    page.wait_for_selector("#annotators tr[data-annotator]")
    assert page.locator("#annotators tr[data-annotator]").count() == 3
    alice = page.locator("#annotators tr[data-annotator=alice]").inner_text()
    assert "52.5 s" in alice and "image broken 1" in alice and "0.82 (3)" in alice
    bob = page.inner_text("#annotators tr[data-annotator=bob]")
    assert "2 min 00 s" in bob and "1 / 2" in bob
    assert page.locator("#batches tr[data-batch]").count() == 3
    assert page.locator("#batch-chart .batch-bar").count() == 3
    assert page.locator("#agreement-chart .agreement-line").count() == 3
    assert page.locator("#agreement-chart circle").count() == 5  # alice 2 weeks, bob 2, carol 1
    page.wait_for_selector("#verdict-category-chart .verdict-bar")
    assert page.locator("#verdict-category-chart .verdict-group").count() == 1
    assert "80.0%" in page.locator("#verdict-category-chart .verdict-bar").first.inner_html()  # 4 of 5 judgements
    with page.expect_download() as download:
        page.click("a[href$='/analytics/annotators.csv']")
    assert download.value.suggested_filename == "team-analytics-annotators.csv"
    screenshot(page, "analytics")
