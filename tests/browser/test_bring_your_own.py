"""Issue 17 end to end in Chromium, on a real Celery worker: a manager brings their own images, questions, answers
and model through the pages; an annotator the manager created corrects an imported and a generated answer; the
export holds both records, each credited to the model that wrote it."""
import json
import shutil
import time

import pytest

from annotate.models import AnnotationTask, ImageAsset, PreferenceRecord, Project, Prompt, Response, Role
from tests.browser.conftest import Watched, log_in, screenshot
from tests.browser.test_annotator import drag_select
from tests.factories import make_project, make_user, png_bytes
from tests.training.conftest import tiny_vlm  # noqa: F401 (fixture)
from tests.uploads.helpers import BLUE, RED, jsonl, make_zip

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ANNOTATOR_PASSWORD = "heron-marsh-lantern-42"
UPLOADED_MODEL = "llava-1.5-7b-vllm"
IMPORTED = "There is a red circle at the top left."
GREEN, YELLOW = png_bytes((30, 200, 30)), png_bytes((220, 220, 30))


def choose_file(page, name, data):
    page.set_input_files("#file-input", {"name": name, "mimeType": "application/zip", "buffer": data})
    page.click("#upload-button")


def correct(page, start, end, key, rewrite):
    """Select code points [start, end) with the mouse, press the category key, type the rewrite, submit."""
    drag_select(page, start, end - 1)
    page.keyboard.press(key)
    page.keyboard.type(rewrite)
    page.keyboard.press("Enter")
    page.keyboard.press("Control+Enter")


def wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_a_team_brings_its_own_images_answers_and_model_and_exports_corrections(
        watched, browser, live_server, settings, tiny_vlm, celery_worker_process):  # noqa: F811
    shutil.copytree(tiny_vlm, settings.MODELS_ROOT / "tiny-llava")
    manager = make_user(role=Role.MANAGER, project=make_project(name="first"))
    page = watched.page

    # A new project, its instructions, records on submit (no reviewer in this team yet).
    log_in(page, manager)
    page.get_by_role("link", name="New project").click()
    page.wait_for_url("**/projects/new/")
    page.get_by_label("Name").fill("Street scenes")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url("**/settings/")
    project = Project.objects.get(name="Street scenes")
    page.get_by_label("Instructions for annotators").fill("# Check colours\n\nMark every **wrong colour**.")
    page.get_by_label("A record is made").select_option("submit")
    page.get_by_role("button", name="Save settings").click()
    page.locator("#instructions-preview strong", has_text="wrong colour").wait_for()
    screenshot(page, "byo-settings")
    project.refresh_from_db()
    assert project.record_trigger == "submit" and project.instructions.startswith("# Check colours")

    # A zip with a JSONL manifest, two rows with answers from the team's own model.
    page.get_by_role("link", name="Upload", exact=True).click()
    page.wait_for_url(f"**/projects/{project.pk}/upload/")
    manifest = jsonl(
        {"image": "red.png", "question": "Describe the image in detail.", "answer": IMPORTED, "model": UPLOADED_MODEL},
        {"image": "blue.png", "question": "What colour is the square?", "answer": "The square is green.",
         "model": UPLOADED_MODEL},
        {"image": "green.png", "question": "Describe the image in detail.", "source": "street-cam-3"},
    )
    choose_file(page, "scenes.zip", make_zip({"red.png": RED, "blue.png": BLUE, "green.png": GREEN,
                                              "manifest.jsonl": manifest}))
    page.wait_for_selector("#upload-status[data-state=done]")
    assert [page.text_content(f"[data-count={name}]") for name in ("prompts", "responses", "tasks")] == ["3", "2", "2"]
    stored = (ImageAsset.objects.count(), Prompt.objects.count(), Response.objects.count(),
              AnnotationTask.objects.count())
    screenshot(page, "byo-upload-done")

    # A second, broken manifest: each bad line with its reason, nothing stored.
    broken = jsonl({"image": "yellow.png", "question": "Fine."},
                   {"image": "missing.png", "question": "Where is it?"},
                   {"image": "yellow.png", "question": "", "answer": "Yellow."})
    choose_file(page, "broken.zip", make_zip({"yellow.png": YELLOW, "manifest.jsonl": broken}))
    page.wait_for_selector("#upload-status[data-state=failed]")
    assert page.is_visible("#upload-rejected") and not page.is_visible("#upload-result")
    rows = page.locator("#rejected-lines tr")
    assert [rows.nth(i).locator("td").first.text_content() for i in range(rows.count())] == ["2", "3"]
    assert "missing.png" in rows.nth(0).text_content() and "question" in rows.nth(1).text_content()
    screenshot(page, "byo-upload-rejected")
    assert (ImageAsset.objects.count(), Prompt.objects.count(), Response.objects.count(),
            AnnotationTask.objects.count()) == stored

    # The team's model folder, checked on the worker, then the first batch from it.
    page.get_by_role("link", name="Models", exact=True).click()
    page.wait_for_url(f"**/projects/{project.pk}/models/")
    page.fill("input[name=path]", "tiny-llava")
    page.fill("input[name=name]", "street llava")
    page.click("#register-form button[type=submit]")
    row = page.locator("#models tr", has_text="street llava")
    row.locator(".model-status", has_text="ready").wait_for(timeout=120_000)
    row.locator(".badge", has_text="active").wait_for()  # the project's first model: training starts from it
    row.locator("button.generate").click()
    batch = page.locator("#batches tr").first
    batch.locator(".badge", has_text="succeeded").wait_for(timeout=120_000)
    assert batch.locator(".batch-checkpoint").text_content() == "street llava"
    generated = Response.objects.filter(prompt__project=project, checkpoint__name="street llava")
    assert generated.count() == 3
    screenshot(page, "byo-models")

    # An annotator account, made on the members page.
    page.get_by_role("link", name="Members", exact=True).click()
    page.wait_for_url(f"**/projects/{project.pk}/members/")
    page.get_by_label("Username").fill("wren")
    page.locator("#role").select_option("annotator")
    page.get_by_label("Create a new account").check()
    page.get_by_label("Password of the new account").fill(ANNOTATOR_PASSWORD)
    page.get_by_role("button", name="Add member").click()
    page.locator("#members tr", has_text="wren").wait_for()
    screenshot(page, "byo-members")
    watched.wait_idle()

    # The annotator, in a browser of their own: the imported answer and a generated one, each corrected.
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(10_000)
    annotator = Watched(context.new_page())
    other = annotator.page
    other.goto("/login/")
    other.fill("input[name=username]", "wren")
    other.fill("input[name=password]", ANNOTATOR_PASSWORD)
    other.click("button[type=submit]")
    other.wait_for_url("**/")
    other.locator(f".project[data-project='{project.pk}']").get_by_role("link", name="Annotate").click()
    corrected = {}
    while len(corrected) < 2:
        other.wait_for_selector("#task:not([hidden])")
        other.wait_for_selector("#written-by:not([hidden])")
        written_by = other.text_content("#written-by")
        text = other.text_content("#answer")
        if written_by == f"written by {UPLOADED_MODEL}" and "imported" not in corrected and text == IMPORTED:
            start = IMPORTED.index("red")
            correct(other, start, start + 3, "4", "blue")
            corrected["imported"] = IMPORTED.replace("red", "blue")
            screenshot(other, "byo-annotator-imported")
        elif written_by == "written by street llava" and "generated" not in corrected and text.strip():
            start = len(text) - len(text.lstrip())
            end = start + min(3, len(text.strip()))
            correct(other, start, end, "6", "XYZ")
            corrected["generated"] = text[:start] + "XYZ" + text[end:]
        else:
            other.keyboard.press("Alt+s")
            other.check("#skip-form input[value='I am not sure what is true']")
            other.click("#skip-form button.primary")
        other.wait_for_function(f"document.getElementById('answer').textContent !== {json.dumps(text)}"
                                " || !document.getElementById('queue-empty').hidden")
    annotator.wait_idle()
    context.close()
    assert annotator.dialogs == [] and annotator.errors == []

    # The worker builds the records; the export (the manager's session) holds both, credited to their models.
    wait_for(lambda: PreferenceRecord.objects.filter(project=project).count() == 2)
    answer = page.request.get(f"/api/export/?format=rlhfv-jsonl&project={project.pk}")
    assert answer.status == 200, answer.text()
    rows = [json.loads(line) for line in answer.text().splitlines() if line.strip()]
    by_model = {json.loads(row["origin_split"])["model"]: json.loads(row["text"]) for row in rows}
    assert set(by_model) == {UPLOADED_MODEL, "street llava"}
    assert by_model[UPLOADED_MODEL] == {"question": "Describe the image in detail.", "chosen": corrected["imported"],
                                        "rejected": IMPORTED}
    generated_text = generated.get(text=by_model["street llava"]["rejected"]).text
    assert by_model["street llava"]["chosen"] == corrected["generated"] != generated_text
