"""seed_demo: fast and idempotent; the queued demo bootstrap turns checkpoint 0's answers into tasks."""
import time

import pytest
from django.core.management import call_command

from config.celery import app
from annotate.models import AnnotationTask, Membership, Project, Prompt, RecordTrigger, Response
from training.jobs import JobStatus
from training.models import GenerationBatch
from training.shapes import DEMO_TASK, HABIT_ORIGIN, shapes_demo_bootstrap, shapes_project_setup
from synthetic.render import MODEL_SIZE


def enqueued_by_seed_demo(django_capture_on_commit_callbacks) -> int:
    """Run seed_demo; how many jobs it queued (held back: no broker message is sent)."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("seed_demo")
    return len(callbacks)


def test_seed_demo_is_fast_and_idempotent(db, django_capture_on_commit_callbacks, capsys):
    """First start: project, logins, 20 habit-corpus tasks, one bootstrap queued; a second start adds nothing."""
    started = time.monotonic()
    assert enqueued_by_seed_demo(django_capture_on_commit_callbacks) == 1
    assert time.monotonic() - started < 20
    project = Project.objects.get(name="shapes")
    assert project.record_trigger == RecordTrigger.SUBMIT
    app.loader.import_default_modules()
    assert app.tasks[DEMO_TASK].queue == "gpu"
    responses = Response.objects.filter(prompt__project=project)
    assert responses.count() == 20 and all(r.sampling_params == {"origin": HABIT_ORIGIN} for r in responses)
    assert AnnotationTask.objects.count() == 20
    assert Prompt.objects.filter(project=project, image__width=MODEL_SIZE).count() == 20
    assert "scene-" in Prompt.objects.first().image.file.name
    assert set(Membership.objects.values_list("user__username", flat=True)) == {
        "annotator1", "annotator2", "reviewer1", "manager1"}

    assert enqueued_by_seed_demo(django_capture_on_commit_callbacks) == 0
    assert Response.objects.count() == 20 and Project.objects.count() == 1
    assert "annotator1" in capsys.readouterr().out


def test_the_demo_manager_can_use_the_admin(db, client, django_capture_on_commit_callbacks):
    """manager1 is staff with the permissions of our apps, so /admin/ shows and edits them (not an empty admin)."""
    enqueued_by_seed_demo(django_capture_on_commit_callbacks)
    client.login(username="manager1", password="demo-pass")
    assert client.get("/admin/annotate/project/").status_code == 200
    assert client.get("/admin/training/trainingrun/").status_code == 200
    assert client.get("/admin/auth/user/").status_code == 403  # users stay the superuser's


@pytest.mark.slow
def test_demo_bootstrap_generates_tasks_on_a_real_worker(celery_worker_process):
    """The queued job's body: a tiny checkpoint 0, made active and evaluated; its batch (queue gpu) makes tasks."""
    project = shapes_project_setup()
    checkpoint = shapes_demo_bootstrap(project_id=project.pk, prompts=4, held_out=4,
                                       steps=20, scenes=20, batch_size=4, warmup_steps=2)
    assert checkpoint.is_active and checkpoint.eval_metrics["held_out"] == 4
    assert shapes_demo_bootstrap(project_id=project.pk) is None  # never twice
    batch = GenerationBatch.objects.get(checkpoint=checkpoint)
    deadline = time.monotonic() + 120
    while batch.status != JobStatus.SUCCEEDED and time.monotonic() < deadline:
        assert batch.status in (JobStatus.QUEUED, JobStatus.RUNNING), batch.error
        time.sleep(0.5)
        batch.refresh_from_db()
    assert batch.status == JobStatus.SUCCEEDED and batch.response_count == 4
    assert AnnotationTask.objects.filter(response__checkpoint=checkpoint).count() == 4
