"""The job machinery: guarded status transitions, heartbeats, lost workers, resends of lost messages."""
import time
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs import services as job_services
from jobs.models import JobStatus
from jobs.services import jobs_fail_lost
from training import services
from training.models import GenerationBatch, ModelCheckpoint, TrainingRun
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
    """A running job without heartbeat for too long is failed with a reason, unless it is resumable (a training
    run is sent again: tests/training/test_resume.py)."""
    run = _run()
    lost = GenerationBatch.objects.create(project=run.project, checkpoint=run.base_checkpoint)
    lost.transition(JobStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1))
    fresh = GenerationBatch.objects.create(project=run.project, checkpoint=run.base_checkpoint)
    fresh.transition(JobStatus.RUNNING)
    assert jobs_fail_lost() == 1
    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.status == JobStatus.FAILED and "Worker lost" in lost.error
    assert fresh.status == JobStatus.RUNNING


def test_database_holds_one_unfinished_run_per_project():
    """A second queued run of a project is refused by the database itself; a finished one makes room."""
    run = _run()
    with pytest.raises(IntegrityError), transaction.atomic():
        TrainingRun.objects.create(project=run.project, base_checkpoint=run.base_checkpoint)
    assert run.transition(JobStatus.CANCELLED)
    assert TrainingRun.objects.create(project=run.project, base_checkpoint=run.base_checkpoint).status == JobStatus.QUEUED


def test_a_long_step_free_phase_keeps_beating(transactional_db):
    """While a job loads its model or fills the reference cache (no steps), a thread keeps its heartbeat fresh."""
    project = make_project()
    ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True)
    run = services.training_run_create(project=project)
    run.transition(JobStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1))
    with job_services.job_beating(run, every=timedelta(seconds=0.05)):
        time.sleep(0.5)
    assert jobs_fail_lost() == 0
    run.refresh_from_db()
    assert timezone.now() - run.heartbeat_at < timedelta(seconds=5)


def test_a_passing_database_error_does_not_stop_the_heartbeat(db):
    """The beat thread logs a failed beat and keeps beating (it used to end at the first error)."""
    from django.db import OperationalError

    class FlakyJob:
        beats = 0

        def beat(self):
            FlakyJob.beats += 1
            if FlakyJob.beats == 1:
                raise OperationalError("server closed the connection unexpectedly")
            return True

    with job_services.job_beating(FlakyJob(), every=timedelta(seconds=0.02)):
        time.sleep(0.3)
    assert FlakyJob.beats > 3


def test_a_job_waiting_long_is_sent_again_ever_less_often(db):
    """A queued job's task is sent again 30 min after its first send, then whenever it has waited since its
    last send as long as it had waited before: a job behind a day-long run gets 6 messages, not 48. A job
    that started is never sent again."""
    from annotate.models import ExportJob
    from jobs.selectors import jobs_due_for_resend

    project = make_project()
    job = ExportJob.objects.create(project=project, format="rlhfv-jsonl")
    started = ExportJob.objects.create(project=project, format="rlhfv-jsonl", status=JobStatus.RUNNING)
    ExportJob.objects.update(sent_at=job.created_at)
    sends = []
    for minute in range(0, 24 * 60, 5):  # beat's sweep, every 5 minutes for a day
        now = job.created_at + timedelta(minutes=minute)
        due = jobs_due_for_resend(resend_after=job_services.RESEND_AFTER, now=now)
        assert started not in due
        if due:
            assert due == [job]
            ExportJob.objects.filter(pk=job.pk).update(sent_at=now)  # what job_send stores
            sends.append(minute)
    assert sends == [30, 60, 120, 240, 480, 960]
