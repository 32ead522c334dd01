"""The models page in Chromium, on a real Celery worker: a manager registers a model folder from the dashboard,
sees its check succeed with its facts, a bad folder refused with the field named, and generates the first batch."""
import shutil

import pytest
from transformers import AutoModelForImageTextToText

from annotate.models import AnnotationTask, Membership, Prompt, Role
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_image, make_project, make_user
from tests.training.conftest import tiny_vlm  # noqa: F401 (fixture)
from training.models import GenerationBatch, ModelCheckpoint

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_registers_a_folder_and_generates_the_first_batch(watched, settings, tiny_vlm,  # noqa: F811
                                                                     celery_worker_process):
    shutil.copytree(tiny_vlm, settings.MODELS_ROOT / "tiny-llava")
    project = make_project(overlap=1)
    for _ in range(2):
        Prompt.objects.create(project=project, image=make_image(), question="Describe the image.")
    manager = make_user()
    Membership.objects.create(project=project, user=manager, role=Role.MANAGER)
    page = watched.page

    log_in(page, manager, then=f"/projects/{project.pk}/dashboard/")
    page.click("text=Models")
    page.wait_for_url(f"**/projects/{project.pk}/models/")
    page.fill("input[name=path]", "../outside")
    page.click("#register-form button[type=submit]")
    page.wait_for_selector("#notice.notice-error")
    assert "path:" in page.text_content("#notice") and not ModelCheckpoint.objects.exists()

    page.fill("input[name=path]", "tiny-llava")
    page.fill("input[name=name]", "my llava")
    page.click("#register-form button[type=submit]")
    row = page.locator("#models tr", has_text="my llava")
    row.locator(".model-status", has_text="ready").wait_for(timeout=120_000)
    parameters = sum(p.numel() for p in AutoModelForImageTextToText.from_pretrained(tiny_vlm).parameters())
    assert row.locator(".model-architecture").text_content() == "LlavaForConditionalGeneration (llava)"
    assert row.locator(".model-parameters").text_content() == f"{parameters:,}"
    assert row.locator(".model-dtype").text_content() == "float32"
    assert row.locator(".model-prefix").text_content() == "yes"

    assert row.locator("button.generate").text_content() == "Generate the first batch"
    row.locator("button.generate").click()
    page.locator("#models tr button.generate", has_text="Generate a batch").wait_for()
    batch_row = page.locator("#batches tr").first
    batch_row.locator(".badge", has_text="succeeded").wait_for(timeout=120_000)
    batch = GenerationBatch.objects.get()
    assert batch.checkpoint.name == "my llava" and batch.response_count == 2
    assert batch_row.locator(".batch-answers").text_content() == "2"
    assert AnnotationTask.objects.filter(response__generation_batch=batch).count() == 2
    screenshot(page, "models-page")
