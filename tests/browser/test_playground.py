"""The checkpoint playground in Chromium, on a real Celery worker: a question waits behind a running training run,
two checkpoints answer the same image and question side by side, words are marked and one answer is sent to the
annotation queue."""
import pytest

from annotate.models import AnnotationTask, Prompt, Response, Role
from jobs.models import JobStatus
from jobs.services import job_send
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_image, make_project, make_user
from tests.training.conftest import other_tiny_vlm, tiny_vlm  # noqa: F401 (fixtures)
from training.models import ModelCheckpoint, PlaygroundRequest, TrainingRun

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SELECT_JS = """([checkpoint, length]) => {
  const answer = document.querySelector(`.play-text[data-checkpoint="${checkpoint}"]`);
  const range = document.createRange();
  range.setStart(answer.firstChild, 0);
  range.setEnd(answer.firstChild, length);
  document.getSelection().removeAllRanges();
  document.getSelection().addRange(range);
}"""


def test_two_checkpoints_answer_side_by_side_and_one_is_sent_to_the_queue(watched, request, tiny_vlm,  # noqa: F811
                                                                          other_tiny_vlm):  # noqa: F811
    page = watched.page
    project = make_project(overlap=2)
    image = make_image()
    Prompt.objects.create(project=project, image=image, question="Describe the image.")
    first = ModelCheckpoint.objects.create(project=project, name="tiny", path=str(tiny_vlm), is_active=True)
    second = ModelCheckpoint.objects.create(project=project, name="other tiny", path=str(other_tiny_vlm))
    run = TrainingRun.objects.create(project=project, base_checkpoint=first, step=120, total_steps=400)
    run.transition(JobStatus.RUNNING)
    reviewer = make_user(role=Role.REVIEWER, project=project)

    log_in(page, reviewer)
    page.click(f".project[data-project='{project.pk}'] >> text=Playground")
    page.wait_for_url(f"**/projects/{project.pk}/playground/")
    assert page.get_attribute(".thumb[aria-pressed=true]", "data-image") == str(image.pk)
    page.fill("#question", "What colour is the circle?")
    assert page.input_value("#checkpoint-a") == str(first.pk)  # the active one first
    page.select_option("#checkpoint-b", str(second.pk))
    page.fill("#max-new-tokens", "8")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#play-status[data-status=queued]")
    assert page.text_content("#play-status") == f"Queued behind training run #{run.pk} (running, step 120/400)."

    # A worker comes up (its start purges the queue); the job's task is sent again, as the resend sweep would.
    request.getfixturevalue("celery_worker_process")
    job_send(PlaygroundRequest.objects.get())
    page.wait_for_selector("#play-status[data-status=succeeded]", timeout=180_000)
    asked = PlaygroundRequest.objects.get()
    cards = page.locator(".play-answer")
    assert cards.count() == 2
    texts = [asked.answers[str(first.pk)], asked.answers[str(second.pk)]]
    assert [page.text_content(f".play-text[data-checkpoint='{c.pk}']") for c in (first, second)] == texts
    left, right = cards.nth(0).bounding_box(), cards.nth(1).bounding_box()
    assert left["y"] == right["y"] and left["x"] + left["width"] <= right["x"]  # side by side
    assert "tiny" in cards.nth(0).text_content() and "active" in cards.nth(0).text_content()

    length = min(3, len(texts[0]))
    page.focus(f".play-text[data-checkpoint='{first.pk}']")  # Tab lands there; a click on the text too
    page.evaluate(SELECT_JS, [first.pk, length])
    page.keyboard.press("m")
    assert page.text_content(f".play-text[data-checkpoint='{first.pk}'] mark.hand-mark") == texts[0][:length]
    screenshot(page, "playground-side-by-side")
    cards.nth(0).locator("text=Send to annotation queue").click()
    page.wait_for_selector(".play-answer .sent-result[data-response]")
    response = Response.objects.get(pk=int(page.get_attribute(".sent-result[data-response]", "data-response")))
    assert (response.text, response.checkpoint_id, response.prompt.image_id) == (texts[0], first.pk, image.pk)
    assert f"response #{response.pk}" in page.text_content(".sent-result[data-response]")
    assert AnnotationTask.objects.filter(response=response, status="open").count() == 2
    asked.refresh_from_db()
    assert asked.sent == {str(first.pk): {"response": response.pk, "marks": [[0, length]]}}
    assert cards.nth(0).locator("text=Send to annotation queue").is_disabled()
    assert cards.nth(1).locator("text=Send to annotation queue").is_enabled()
