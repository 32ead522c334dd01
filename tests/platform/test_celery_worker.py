"""A task sent through a real Celery worker (configured broker: Redis on PostgreSQL runs, filesystem on SQLite) runs end to end."""
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import JobStatus
from training.models import ModelCheckpoint, TrainingRun
from jobs.tasks import jobs_fail_lost
from tests.factories import make_project

pytestmark = pytest.mark.slow


def test_task_runs_in_real_worker(celery_worker_process, settings):
    """The worker process picks the task from the broker and writes to the shared database."""
    project = make_project()
    checkpoint = ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere")
    run = TrainingRun.objects.create(project=project, base_checkpoint=checkpoint)
    run.transition(JobStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1))

    result = jobs_fail_lost.delay()
    assert result.get(timeout=60) == 1
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED
