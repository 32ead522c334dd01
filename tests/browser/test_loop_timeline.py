"""The dashboard's loop timeline in Chromium: each round's run, evaluation, decision, batch and tasks; a manager
promotes a checkpoint the manual policy left waiting; and the round the platform ran by itself on real workers."""
import pytest
from django.urls import reverse

from annotate.models import AnnotationTask, Prompt, PromotionPolicy, Response, Role
from jobs.models import JobStatus
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_project, make_user
from tests.loop_scenario import HELD_OUT, TRAINING, annotate_all, loop_project, next_checkpoint_task, tiny_model
from training.models import ModelCheckpoint, PromotionDecision, TrainingRun
from training.promotion import checkpoint_promotion_decide

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def evaluated(project, name, accuracy):
    """A checkpoint of a succeeded run, its held-out evaluation stored."""
    base = ModelCheckpoint.objects.get(project=project, is_active=True)
    run = TrainingRun.objects.create(project=project, base_checkpoint=base, status=JobStatus.SUCCEEDED, step=6,
                                     total_steps=6, record_count=40, trigger="auto")
    return ModelCheckpoint.objects.create(
        project=project, name=name, path=f"/nowhere/{name}", parent=base, produced_by=run,
        eval_metrics={"heldout": {"records": 12, "preference_accuracy": accuracy, "reward_margin": 0.3}})


def test_the_timeline_shows_each_rounds_steps_and_a_manager_promotes(watched):
    page = watched.page
    project = make_project(next_batch_size=2, auto_train_threshold=40)
    ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True,
                                   eval_metrics={"heldout": {"records": 12, "preference_accuracy": 0.6}})
    for index in range(4):
        Prompt.objects.create(project=project, question=f"Describe scene {index}.")
    first = evaluated(project, "round one", 0.7)
    batch = checkpoint_promotion_decide(checkpoint=first).next_batch
    response = Response.objects.create(prompt=batch.prompts.first(), checkpoint=first, generation_batch=batch,
                                       text="A red circle.")
    AnnotationTask.objects.create(project=project, response=response)
    project.promotion_policy = PromotionPolicy.MANUAL
    project.save()
    second = evaluated(project, "round two", 0.72)
    assert checkpoint_promotion_decide(checkpoint=second).outcome == "pending"

    log_in(page, make_user(role=Role.MANAGER), then=reverse("dashboard", args=[project.id]))
    round_one, round_two = page.locator("#rounds .round[data-round='1']"), page.locator("#rounds .round[data-round='2']")
    round_two.wait_for()
    assert "Promotion: manual (a manager promotes)" in page.inner_text("#loop-summary")
    steps = {name: round_one.locator(f".step[data-step='{name}']").inner_text() for name in
             ("records", "run", "evaluation", "decision", "batch", "tasks")}
    assert "40 records" in steps["records"] and "succeeded" in steps["run"].lower() and "step 6/6" in steps["run"]
    assert "held-out accuracy 0.700 on 12 records" in steps["evaluation"]
    assert "promoted" in steps["decision"].lower()
    assert "held-out preference accuracy 0.700 vs parent 0.600 (margin 0.02) on 12 records: passes" in steps["decision"]
    assert f"#{batch.pk}" in steps["batch"] and "queued" in steps["batch"].lower() and "2 prompts" in steps["batch"]
    assert "1 open · 0 done" in steps["tasks"]
    assert "waiting for a manager" in round_two.locator(".step[data-step='decision']").inner_text()
    screenshot(page, "loop-timeline")

    round_two.locator("button:has-text('Promote')").click()
    round_two.locator(".step[data-step='batch'] .badge").wait_for()
    round_two.locator("h3 .badge.ok").wait_for()  # active
    assert ModelCheckpoint.objects.get(project=project, is_active=True) == second
    override = PromotionDecision.objects.filter(checkpoint=second, kind="override").get()
    assert override.decided_by.username in round_two.locator(".step[data-step='decision']").inner_text()
    assert override.next_batch.checkpoint == second
    assert round_one.locator("button:has-text('Promote')").count() == 1  # round one may be promoted back

    page.click("#loop-title ~ details summary")
    assert page.input_value("#loop-form select[name=promotion_policy]") == "manual"
    assert page.input_value("#loop-form input[name=next_batch_size]") == "2"
    page.select_option("#loop-form select[name=promotion_policy]", "always")
    page.fill("#loop-form input[name=temperature]", "0.7")
    page.fill("#loop-form input[name=samples_per_prompt]", "2")
    page.click("#loop-form button[type=submit]")
    page.wait_for_selector("#loop-summary:has-text('always promote')")
    project.refresh_from_db()
    assert project.promotion_policy == "always" and project.auto_train_threshold == 40
    assert (project.next_batch_params["temperature"], project.next_batch_params["samples_per_prompt"]) == (0.7, 2)


@pytest.mark.postgres
def test_the_timeline_shows_the_round_the_platform_ran_by_itself(watched, celery_worker_process, celery_beat_process,
                                                                 tmp_path):
    """tests/training/test_loop_e2e.py's chain (annotations only, then real worker and beat), seen by a manager."""
    project, base, annotator = loop_project(model_path=tiny_model(tmp_path / "tiny-vlm"))
    annotate_all(project=project, annotator=annotator)
    promoted, _ = next_checkpoint_task(project=project, base=base, annotator=annotator)
    batch = PromotionDecision.objects.get(checkpoint=promoted).next_batch

    page = watched.page
    log_in(page, make_user(role=Role.MANAGER), then=reverse("dashboard", args=[project.id]))
    round_one = page.locator("#rounds .round[data-round='1']")
    round_one.wait_for()
    steps = {name: round_one.locator(f".step[data-step='{name}']").inner_text() for name in
             ("records", "run", "evaluation", "decision", "batch", "tasks")}
    assert f"{TRAINING} records" in steps["records"] and "auto" in steps["records"]
    assert "succeeded" in steps["run"].lower()
    assert "succeeded" in steps["evaluation"].lower() and f"on {HELD_OUT} records" in steps["evaluation"]
    assert "promoted" in steps["decision"].lower() and "policy always" in steps["decision"]
    assert f"#{batch.pk}" in steps["batch"] and "succeeded" in steps["batch"].lower()
    batch.refresh_from_db()
    assert f"{batch.response_count} answers" in steps["batch"]
    assert f"{batch.response_count} open · 0 done" in steps["tasks"]  # the claimed one is leased, still open
    assert round_one.locator("h3 .badge.ok").count() == 1  # its checkpoint is the active one
    screenshot(page, "loop-timeline-live")
