"""The upload page in Chromium: a manager drops a zip, watches it upload and sees what was stored; a broken
manifest lists each rejected line with its reason, and nothing is stored."""
import base64
import io
import random

import pytest
from PIL import Image

from annotate.models import AnnotationTask, Prompt, Response, Role
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_project, make_user
from tests.uploads.helpers import BLUE, RED, jsonl, make_zip, stored_counts

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DROP_JS = """([name, data]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: "application/zip" }));
  const zone = document.getElementById("drop-zone");
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }
}"""

# Every status the page shows, in order, so a test sees the progress it went through.
WATCH_STATUS_JS = """() => {
  window.statuses = [];
  const node = document.getElementById("upload-status");
  new MutationObserver(() => window.statuses.push(node.textContent)).observe(node, { childList: true, characterData: true, subtree: true });
}"""


def noise_png(size=600):
    """A PNG that does not compress (about 1 MB): large enough for the upload to take a moment."""
    rng = random.Random(7)
    image = Image.frombytes("RGB", (size, size), bytes(rng.getrandbits(8) for _ in range(size * size * 3)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def drop(page, name, data):
    page.evaluate(DROP_JS, [name, base64.b64encode(data).decode()])


def open_upload_page(watched, project):
    manager = make_user(username="lead")
    project.memberships.create(user=manager, role=Role.MANAGER)
    page = watched.page
    log_in(page, manager)
    page.click(f".project[data-project='{project.pk}'] >> text=Upload")
    page.wait_for_url(f"**/projects/{project.pk}/upload/")
    return page


def test_a_manager_drops_a_zip_and_sees_the_progress_and_the_result(watched):
    project = make_project(overlap=2)
    page = open_upload_page(watched, project)
    manifest = jsonl({"image": "big.png", "question": "Describe the image in detail.", "answer": "Grey noise.",
                      "model": "llava-1.5-7b"},
                     {"image": "red.png", "question": "What colour is it?"})
    data = make_zip({"big.png": noise_png(), "red.png": RED, "manifest.jsonl": manifest})
    drop(page, "batch.zip", data)
    assert page.text_content("#chosen").startswith("batch.zip (")
    page.evaluate(WATCH_STATUS_JS)
    page.click("#upload-button")
    page.wait_for_selector("#upload-status[data-state=done]")
    statuses = page.evaluate("window.statuses")
    assert statuses[0].startswith("Uploading…") and "Uploaded; checking and storing…" in statuses and statuses[-1] == "Done."
    assert page.get_attribute("#upload-progress", "value") == "100"
    assert page.text_content("[data-count=prompts]") == "2"
    assert page.text_content("[data-count=responses]") == "1"
    assert page.text_content("[data-count=tasks]") == "2"
    screenshot(page, "upload-done")
    assert Prompt.objects.filter(project=project).count() == 2
    response = Response.objects.get(prompt__project=project)
    assert response.model_name == "llava-1.5-7b" and AnnotationTask.objects.filter(response=response).count() == 2

    # The answer is an annotator's task at once, shown with the model it is credited to.
    watched.wait_idle()
    page.context.clear_cookies()
    log_in(page, make_user(role=Role.ANNOTATOR, project=project), then=f"/projects/{project.pk}/annotate/")
    page.wait_for_selector("#written-by:not([hidden])")
    assert page.text_content("#written-by") == "written by llava-1.5-7b"
    assert page.text_content("#answer") == "Grey noise."
    watched.wait_idle()


def test_a_broken_manifest_shows_each_rejected_line_with_its_reason(watched):
    project = make_project()
    page = open_upload_page(watched, project)
    manifest = jsonl({"image": "red.png", "question": "Fine."},
                     {"image": "gone.png", "question": "Where?"},
                     {"image": "blue.png", "question": ""})
    drop(page, "broken.zip", make_zip({"red.png": RED, "blue.png": BLUE, "manifest.jsonl": manifest}))
    page.click("#upload-button")
    page.wait_for_selector("#upload-status[data-state=failed]")
    assert page.is_visible("#upload-rejected") and not page.is_visible("#upload-result")
    rows = page.locator("#rejected-lines tr")
    assert rows.count() == 2
    assert [rows.nth(i).locator("td").nth(0).text_content() for i in range(2)] == ["2", "3"]
    assert "gone.png" in rows.nth(0).text_content() and "question" in rows.nth(1).text_content()
    assert "missing or empty" in rows.nth(1).text_content()
    screenshot(page, "upload-rejected")
    assert stored_counts()["prompts"] == 0 and stored_counts()["images"] == 0
    watched.wait_idle()
