"""A task sent through a real Celery worker (configured broker: Redis on PostgreSQL runs, filesystem on SQLite) runs end to end."""
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import JobStatus
from training.models import GenerationBatch, ModelCheckpoint
from jobs.tasks import jobs_fail_lost
from tests.factories import make_project

pytestmark = pytest.mark.slow


def test_task_runs_in_real_worker(celery_worker_process, settings):
    """The worker process picks the task from the broker and writes to the shared database: a generation batch
    whose worker stopped beating is failed as lost (a training run would be resumed instead)."""
    project = make_project()
    checkpoint = ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere")
    batch = GenerationBatch.objects.create(project=project, checkpoint=checkpoint)
    batch.transition(JobStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1))

    result = jobs_fail_lost.delay()
    assert result.get(timeout=60) == 1
    batch.refresh_from_db()
    assert batch.status == JobStatus.FAILED
