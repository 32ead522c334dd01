"""Job status transitions are guarded; lost workers are detected."""
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from training.jobs import JobStatus
from training.models import ModelCheckpoint, TrainingRun
from training.services import jobs_fail_lost
from tests.factories import make_project

pytestmark = pytest.mark.django_db


def _run():
    project = make_project()
    checkpoint = ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere")
    return TrainingRun.objects.create(project=project, base_checkpoint=checkpoint)


def test_queued_run_starts_once():
    """Two workers racing to start the same run: only one wins."""
    run = _run()
    other = TrainingRun.objects.get(pk=run.pk)
    assert run.transition(JobStatus.RUNNING)
    assert not other.transition(JobStatus.RUNNING)


def test_cancelled_run_cannot_succeed():
    """A run cancelled while running stays cancelled when the worker finishes."""
    run = _run()
    run.transition(JobStatus.RUNNING)
    TrainingRun.objects.get(pk=run.pk).transition(JobStatus.CANCELLED)
    assert not run.transition(JobStatus.SUCCEEDED)
    assert TrainingRun.objects.get(pk=run.pk).status == JobStatus.CANCELLED


def test_lost_worker_fails_job():
    """A running job without heartbeat for too long is failed with a reason."""
    run = _run()
    run.transition(JobStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1))
    fresh = _run()
    fresh.transition(JobStatus.RUNNING)
    assert jobs_fail_lost() == 1
    run.refresh_from_db()
    fresh.refresh_from_db()
    assert run.status == JobStatus.FAILED and "Worker lost" in run.error
    assert fresh.status == JobStatus.RUNNING


def test_database_holds_one_unfinished_run_per_project():
    """A second queued run of a project is refused by the database itself; a finished one makes room."""
    run = _run()
    with pytest.raises(IntegrityError), transaction.atomic():
        TrainingRun.objects.create(project=run.project, base_checkpoint=run.base_checkpoint)
    assert run.transition(JobStatus.CANCELLED)
    assert TrainingRun.objects.create(project=run.project, base_checkpoint=run.base_checkpoint).status == JobStatus.QUEUED
