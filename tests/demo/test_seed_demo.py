"""seed_demo: fast and idempotent; checkpoint 0 is a training run like any other (listed, cancellable,
failed visibly, sent again when its message is lost) whose end turns checkpoint 0's answers into tasks."""
import time

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from annotate.models import AnnotationTask, Membership, Project, Prompt, RecordTrigger, Response
from config.celery import app
from demo.services import BOOTSTRAP_TASK, HABIT_ORIGIN, bootstrap_run_create, bootstrap_run_execute, shapes_project_setup
from jobs.models import JobStatus
from jobs.selectors import jobs_due_for_resend
from jobs.services import RESEND_AFTER
from synthetic.render import MODEL_SIZE
from training.models import GenerationBatch, ModelCheckpoint, TrainingMetric, TrainingRun, TrainingTrigger

TINY = {"steps": 12, "scenes": 20, "batch_size": 4, "warmup_steps": 2, "validate_every": 6, "validation_scenes": 4}


def enqueued_by_seed_demo(django_capture_on_commit_callbacks) -> int:
    """Run seed_demo; how many jobs it queued (held back: no broker message is sent)."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("seed_demo")
    return len(callbacks)


def test_seed_demo_is_fast_and_idempotent(db, django_capture_on_commit_callbacks, capsys):
    """First start: project, logins, 20 habit-corpus tasks, checkpoint 0 queued as a run; a second start adds nothing."""
    started = time.monotonic()
    assert enqueued_by_seed_demo(django_capture_on_commit_callbacks) == 1
    assert time.monotonic() - started < 20
    project = Project.objects.get(name="shapes")
    assert project.record_trigger == RecordTrigger.SUBMIT
    run = TrainingRun.objects.get(project=project)
    assert (run.trigger, run.status, run.task_name, run.base_checkpoint) == (
        TrainingTrigger.BOOTSTRAP, JobStatus.QUEUED, BOOTSTRAP_TASK, None)
    assert app.amqp.router.route({}, BOOTSTRAP_TASK)["queue"].name == "gpu"
    responses = Response.objects.filter(prompt__project=project)
    assert responses.count() == 20 and all(r.sampling_params == {"origin": HABIT_ORIGIN} for r in responses)
    assert AnnotationTask.objects.count() == 20
    assert Prompt.objects.filter(project=project, image__width=MODEL_SIZE).count() == 20
    assert "scene-" in Prompt.objects.first().image.file.name
    assert set(Membership.objects.values_list("user__username", flat=True)) == {
        "annotator1", "annotator2", "reviewer1", "manager1"}

    assert enqueued_by_seed_demo(django_capture_on_commit_callbacks) == 0
    assert Response.objects.count() == 20 and Project.objects.count() == 1 and TrainingRun.objects.count() == 1
    assert f"training run {run.pk}" in capsys.readouterr().out


def test_a_cancelled_or_failed_checkpoint_0_is_queued_again_on_the_next_start(db, django_capture_on_commit_callbacks):
    """No marker file: what the dashboard shows decides. A cancelled run leaves room for a new one."""
    enqueued_by_seed_demo(django_capture_on_commit_callbacks)
    run = TrainingRun.objects.get()
    assert run.transition(JobStatus.CANCELLED)
    assert enqueued_by_seed_demo(django_capture_on_commit_callbacks) == 1
    assert TrainingRun.objects.filter(status=JobStatus.QUEUED, trigger=TrainingTrigger.BOOTSTRAP).count() == 1


def test_the_dashboard_api_lists_checkpoint_0(db, client, django_capture_on_commit_callbacks):
    """The manager sees the queued checkpoint 0 among the project's runs at once."""
    enqueued_by_seed_demo(django_capture_on_commit_callbacks)
    client.login(username="manager1", password="demo-pass")
    project = Project.objects.get(name="shapes")
    runs = client.get(f"/api/training-runs/?project={project.pk}").json()
    runs = runs["results"] if isinstance(runs, dict) else runs
    assert [(r["trigger"], r["status"], r["base_checkpoint"]) for r in runs] == [("bootstrap", "queued", None)]


def test_a_lost_message_is_sent_again_to_the_bootstrap_task(db, django_capture_on_commit_callbacks):
    """The resend sweep sends each run's own task: checkpoint 0's, not DDPO's."""
    project = shapes_project_setup()
    with django_capture_on_commit_callbacks(execute=False):
        run = bootstrap_run_create(project=project, bootstrap=TINY)
    TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - RESEND_AFTER * 2,
                                                 sent_at=timezone.now() - RESEND_AFTER * 2)
    due = jobs_due_for_resend(resend_after=RESEND_AFTER)
    assert [(job.pk, job.task_name) for job in due] == [(run.pk, BOOTSTRAP_TASK)]


def test_checkpoint_0_reports_steps_and_a_cancel_stops_it(db, django_capture_on_commit_callbacks):
    """A cancel asked for before the worker's first step ends the run cancelled, with no checkpoint."""
    project = shapes_project_setup()
    with django_capture_on_commit_callbacks(execute=False):
        run = bootstrap_run_create(project=project, bootstrap=TINY)
    TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    run = bootstrap_run_execute(run_id=run.pk)
    assert run.status == JobStatus.CANCELLED and not ModelCheckpoint.objects.exists()
    assert list(TrainingMetric.objects.filter(run=run).values_list("step", flat=True)) == [1]


def test_a_bad_bootstrap_setting_fails_the_run_visibly(db, django_capture_on_commit_callbacks):
    project = shapes_project_setup()
    with django_capture_on_commit_callbacks(execute=False):
        run = bootstrap_run_create(project=project, bootstrap={"bogus": 1})
    run = bootstrap_run_execute(run_id=run.pk)
    assert run.status == JobStatus.FAILED and "bogus" in run.error


@pytest.mark.slow
def test_demo_bootstrap_generates_tasks_on_a_real_worker(celery_worker_process):
    """Checkpoint 0 on a real worker (queue gpu): steps streamed, made active and evaluated by its evaluation
    job; its batch makes tasks."""
    project = shapes_project_setup()
    run = bootstrap_run_create(project=project, bootstrap=TINY, first_batch=4)
    deadline = time.monotonic() + 240
    batch = None
    while batch is None or batch.status != JobStatus.SUCCEEDED:
        assert time.monotonic() < deadline, f"run {run.status} {run.error}; batch {batch and batch.status}"
        time.sleep(0.5)
        run.refresh_from_db()
        assert run.status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED), run.error
        batch = GenerationBatch.objects.filter(project=project).first()
        assert batch is None or batch.status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED), batch.error
    checkpoint = ModelCheckpoint.objects.get(produced_by=run)
    assert (run.step, run.total_steps) == (TINY["steps"], TINY["steps"])
    assert TrainingMetric.objects.filter(run=run, step=TINY["steps"]).exists()
    assert batch.checkpoint == checkpoint and batch.response_count == 4
    deadline = time.monotonic() + 120
    while not checkpoint.eval_metrics and time.monotonic() < deadline:
        time.sleep(0.5)
        checkpoint.refresh_from_db()
    # Judged by its evaluation job (queue gpu) on EVALUATION_JUDGE_SCENES (tests/settings.py) held-out scenes.
    assert checkpoint.is_active and checkpoint.eval_metrics["judge"]["held_out"] == settings.EVALUATION_JUDGE_SCENES
    assert checkpoint.evaluations.get().status == JobStatus.SUCCEEDED
    assert AnnotationTask.objects.filter(response__checkpoint=checkpoint).count() == 4
