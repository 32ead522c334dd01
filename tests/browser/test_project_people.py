"""In Chromium: a manager sets up a project and its team on the pages, and the new annotator finds it."""
import pytest
from django.contrib.auth import get_user_model

from annotate.models import Membership, Project, Role
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_project, make_user

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "lantern-quiet-harbour-7"


def test_a_manager_sets_up_a_project_and_its_annotator_sees_it(watched):
    """New project → instructions (a <script> shows as text) → a category → an annotator account → their login."""
    page = watched.page
    manager = make_user(role=Role.MANAGER, project=make_project(name="first"))
    log_in(page, manager)
    page.get_by_role("link", name="New project").click()
    page.wait_for_url("**/projects/new/")  # loaded: the page's script handles the form
    page.get_by_label("Name").fill("Birds")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url("**/settings/")
    project = Project.objects.get(name="Birds")
    assert Membership.objects.get(project=project).user == manager

    page.get_by_label("Instructions for annotators").fill("# Mark birds\n\n<script>alert('x')</script> **only** birds")
    page.get_by_role("button", name="Add category").click()
    page.keyboard.type("species")  # the new row has the focus
    keys = page.locator(".category-key").all_inner_texts()
    assert keys == [str(n) for n in range(1, 8)]
    page.get_by_label("Annotators per answer (overlap)").fill("0")
    page.get_by_role("button", name="Save settings").click()
    error = page.locator("#overlap-error")
    error.wait_for(state="visible")
    assert "greater than or equal to 1" in error.inner_text()
    assert page.get_by_label("Annotators per answer (overlap)").get_attribute("aria-invalid") == "true"
    page.get_by_label("Annotators per answer (overlap)").fill("1")
    page.get_by_role("button", name="Save settings").click()
    preview = page.locator("#instructions-preview")
    preview.locator("h3").wait_for()
    assert "<script>alert('x')</script>" in preview.inner_text()
    assert preview.locator("script").count() == 0 and preview.locator("strong").inner_text() == "only"
    project.refresh_from_db()
    assert project.categories[-1] == "species" and len(project.categories) == 7
    screenshot(page, "project-settings")

    page.get_by_role("link", name="Members").click()
    page.wait_for_url(f"**/projects/{project.pk}/members/")
    page.get_by_label("Username").fill("robin")
    page.locator("#role").select_option("annotator")
    page.get_by_label("Create a new account").check()
    page.get_by_label("Password of the new account").fill("robin123")
    page.get_by_role("button", name="Add member").click()
    refused = page.locator("#password-error")
    refused.wait_for(state="visible")
    assert "too similar to the username" in refused.inner_text() or "too short" in refused.inner_text()
    assert not get_user_model().objects.filter(username="robin").exists()
    page.get_by_label("Password of the new account").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Add member").click()
    page.locator("#members tr", has_text="robin").wait_for()
    screenshot(page, "project-members")
    watched.wait_idle()
    page.get_by_role("button", name="Log out").click()

    page.goto("/login/")
    page.fill("input[name=username]", "robin")
    page.fill("input[name=password]", NEW_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    card = page.locator(f".project[data-project='{project.pk}']")
    card.wait_for()
    assert card.locator(".badge").first.text_content().strip() == "annotator"
    assert page.get_by_role("link", name="New project").count() == 0
    card.get_by_role("link", name="Annotate").click()
    instructions = page.locator("#instructions")
    instructions.wait_for()
    assert "<script>alert('x')</script>" in instructions.inner_text()
    assert instructions.locator("script").count() == 0


SELECT_FITS_JS = """(select) => {
  const context = document.createElement("canvas").getContext("2d");
  context.font = getComputedStyle(select).font;
  return context.measureText(select.selectedOptions[0].text).width + 24 <= select.clientWidth;  // 24: the arrow
}"""

SETUP_PAGES = {"settings": "Settings", "members": "Members", "upload": "Upload", "models": "Models",
               "dashboard": "Dashboard"}


def test_the_set_up_pages_link_each_other_and_the_settings_choices_read_in_full(watched):
    """A new manager goes settings → members → upload → models → dashboard from any of them; every choice of the
    settings' selects (record trigger, policy, promotion) shows its whole text, not a clipped one."""
    page = watched.page
    project = make_project(name="Birds")
    manager = make_user(role=Role.MANAGER, project=project)
    log_in(page, manager, then=f"/projects/{project.pk}/settings/")
    for select in page.locator("#settings-form select").all():
        for value in select.locator("option").evaluate_all("(options) => options.map((o) => o.value)"):
            select.select_option(value)
            assert select.evaluate(SELECT_FITS_JS), (select.get_attribute("id"), value)
    for path in SETUP_PAGES:
        page.goto(f"/projects/{project.pk}/{path}/")
        nav = page.locator(".topbar .manager-nav")
        others = [name for other, name in SETUP_PAGES.items() if other != path]
        assert nav.get_by_role("link").all_inner_texts() == others, path
        for other, name in SETUP_PAGES.items():
            if other != path:
                assert nav.get_by_role("link", name=name).get_attribute("href") == f"/projects/{project.pk}/{other}/"
    watched.wait_idle()
