"""Runs resume: a run whose worker was lost is sent again (bounded attempts) on the record set its first attempt
took, each interruption kept; cancel wins over resume; a later attempt owns the run (no worker)."""
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import JobStatus
from jobs.services import jobs_fail_lost
from tests.factories import make_project
from tests.training.conftest import make_record
from training import services
from training.models import (
    GenerationBatch,
    ModelCheckpoint,
    TrainingMetric,
    TrainingRun,
    TrainingRunInterruption,
    TrainingRunRecord,
)

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(hours=1)


@pytest.fixture
def run():
    project = make_project()
    base = ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True)
    return TrainingRun.objects.create(project=project, base_checkpoint=base, config={"epochs": 1})


def lose(run, *, step=0):
    """The run is running at ``step`` and its worker stopped beating long ago."""
    TrainingRun.objects.filter(pk=run.pk).update(status=JobStatus.RUNNING, step=step, total_steps=20,
                                                  started_at=timezone.now() - 2 * LONG_AGO,
                                                  heartbeat_at=timezone.now() - LONG_AGO)
    run.refresh_from_db()


def test_a_lost_run_is_sent_again_with_its_interruption(run, settings, django_capture_on_commit_callbacks):
    """The sweep queues the lost run again as attempt 2 (its task sent once committed) and notes when, at which
    step and why attempt 1 ended; a run that still beats is left alone."""
    settings.JOBS_LOST_AFTER_SECONDS = 120
    lose(run, step=7)
    first_start = run.started_at
    with django_capture_on_commit_callbacks(execute=False) as sends:
        assert jobs_fail_lost() == 1
    run.refresh_from_db()
    assert (run.status, run.attempts, run.error, run.heartbeat_at) == (JobStatus.QUEUED, 2, "", None)
    assert len(sends) == 1  # job_enqueue: the same task, once the transaction commits
    interruption = run.interruptions.get()
    assert (interruption.attempt, interruption.step, interruption.resumed_step) == (1, 7, None)
    assert interruption.reason == "worker lost (no heartbeat for 120 s)"
    assert timezone.now() - interruption.at < timedelta(minutes=1)

    assert run.transition(JobStatus.RUNNING)  # the next worker takes it
    run.refresh_from_db()
    assert run.started_at == first_start  # a resumed run keeps its first start (when it took its records)
    assert jobs_fail_lost() == 0


def test_attempts_are_bounded(run, settings):
    """Past TRAINING_RUN_MAX_ATTEMPTS the lost run fails, with every interruption kept."""
    settings.TRAINING_RUN_MAX_ATTEMPTS = 2
    lose(run, step=3)
    jobs_fail_lost()
    run.transition(JobStatus.RUNNING)
    lose(run, step=9)
    assert jobs_fail_lost() == 1
    run.refresh_from_db()
    assert (run.status, run.attempts) == (JobStatus.FAILED, 2)
    assert run.error.startswith("Worker lost: worker lost (no heartbeat for 600 s), attempt 2 of 2")
    assert list(run.interruptions.values_list("attempt", "step")) == [(1, 3), (2, 9)]


def test_cancel_wins_over_resume(run, django_capture_on_commit_callbacks):
    """A lost run whose cancel was requested ends cancelled, not sent again; a cancel while it waits queued
    again cancels it at once, and its message then starts nothing."""
    lose(run)
    services.training_run_cancel(run=run)
    with django_capture_on_commit_callbacks(execute=False) as sends:
        jobs_fail_lost()
    run.refresh_from_db()
    assert (run.status, run.attempts, sends) == (JobStatus.CANCELLED, 1, [])
    assert not run.interruptions.exists()

    other = TrainingRun.objects.create(project=make_project(), base_checkpoint=run.base_checkpoint)
    lose(other)
    jobs_fail_lost()
    other.refresh_from_db()
    assert other.status == JobStatus.QUEUED
    services.training_run_cancel(run=other)
    assert TrainingRun.objects.get(pk=other.pk).status == JobStatus.CANCELLED
    started = []
    services.training_run_work(run_id=other.pk, body=started.append)  # the message sent on resume arrives
    assert started == [] and TrainingRun.objects.get(pk=other.pk).status == JobStatus.CANCELLED


def test_only_resumable_jobs_go_back_to_queued(run):
    """running -> queued is legal for a resumable job only; a lost generation batch still fails."""
    batch = GenerationBatch.objects.create(project=run.project, checkpoint=run.base_checkpoint)
    batch.transition(JobStatus.RUNNING, heartbeat_at=timezone.now() - LONG_AGO)
    with pytest.raises(ValueError, match="not resumable"):
        batch.transition(JobStatus.QUEUED)
    assert jobs_fail_lost() == 1
    batch.refresh_from_db()
    assert batch.status == JobStatus.FAILED and "Worker lost" in batch.error
    assert not run.transition(JobStatus.QUEUED)  # a queued run is not "queued again"


def test_the_lost_attempt_gives_way_to_the_next(run):
    """A worker taken for lost that wakes up (frozen, not dead) stops at its next step and can neither fail,
    cancel nor succeed the run its next attempt now runs."""
    lose(run, step=5)
    stale = TrainingRun.objects.get(pk=run.pk)  # what the frozen worker holds: attempt 1
    jobs_fail_lost()
    TrainingRun.objects.get(pk=run.pk).transition(JobStatus.RUNNING)
    assert services.training_run_stop_requested(stale)
    assert not services._training_run_end(run=stale, to=JobStatus.FAILED, error="late")
    assert not services._training_run_end(run=stale, to=JobStatus.CANCELLED)
    assert services._training_run_finish(run=stale, output_path="/nowhere/final") is None
    current = TrainingRun.objects.get(pk=run.pk)
    assert (current.status, current.attempts, current.error) == (JobStatus.RUNNING, 2, "")
    assert not services.training_run_stop_requested(current)


def test_resumed_attempt_notes_its_step_and_drops_the_lost_steps(run):
    """The next attempt starts from its saved step: noted on the interruption, run.step set back, the lost
    attempt's metrics past it dropped (they are logged again)."""
    lose(run)
    for step in range(1, 8):
        services.training_run_record_metrics(run=run, step=step, values={"loss": 1.0 / step})
    lose(run, step=7)
    jobs_fail_lost()
    run.refresh_from_db()
    run.transition(JobStatus.RUNNING)
    services.training_run_resumed(run=run, step=5)
    run.refresh_from_db()
    assert (run.step, run.progress) == (5, 0.25)
    assert list(TrainingMetric.objects.filter(run=run).values_list("step", flat=True)) == [1, 2, 3, 4, 5]
    assert run.interruptions.get().resumed_step == 5
    services.training_run_record_metrics(run=run, step=6, values={"loss": 0.5})
    assert TrainingMetric.objects.get(run=run, step=6).values == {"loss": 0.5}


def test_config_resumes_after_the_first_attempt_and_saves_steps(run, settings):
    """Attempt 1 starts fresh, later ones resume from the run's own folder; steps are saved every
    TRAINING_RUN_SAVE_STEPS unless the run's config says how often."""
    settings.TRAINING_RUN_SAVE_STEPS = 7
    config = services.training_run_config(run=run)
    assert (config.resume, config.save_steps) == (False, 7)
    assert config.output_dir == str(settings.CHECKPOINT_ROOT / f"run-{run.pk}")
    run.attempts, run.config = 2, {**run.config, "save_steps": 3}
    config = services.training_run_config(run=run)
    assert (config.resume, config.save_steps) == (True, 3)


def test_the_first_attempt_takes_the_record_set_and_a_resumed_one_keeps_it(run, settings):
    """Attempt 1 stores the ids and versions it trains on (and writes them beside its steps); a resumed
    attempt trains on exactly those, though a record was re-annotated and another added since."""
    records = [make_record(run.project, i) for i in range(3)]
    output = settings.CHECKPOINT_ROOT / f"run-{run.pk}"
    output.mkdir(parents=True)
    (output / "checkpoint-99").mkdir()  # left by a run of this id in an earlier database
    taken = services._ddpo_records(run=run, output=output)
    assert [int(r["id"]) for r in taken] == [r.pk for r in records]
    assert not (output / "checkpoint-99").exists()
    assert set(TrainingRunRecord.objects.filter(run=run).values_list("record_id", "record_version")) == {
        (r.pk, 1) for r in records}
    assert json.loads((output / services.RECORDS_FILE).read_text()) == taken

    records[0].chosen, records[0].version = "There is a purple circle.", 2
    records[0].save()
    make_record(run.project, 5)
    run.attempts = 2
    assert services._ddpo_records(run=run, output=output) == taken
    assert TrainingRunRecord.objects.filter(run=run).count() == 3


def test_serializer_shows_attempts_and_interruptions(run):
    from training.apis import TrainingRunOutputSerializer

    lose(run, step=4)
    jobs_fail_lost()
    data = TrainingRunOutputSerializer(TrainingRun.objects.get(pk=run.pk)).data
    assert (data["attempts"], data["max_attempts"]) == (2, 3)
    assert [(i["attempt"], i["step"], i["resumed_step"]) for i in data["interruptions"]] == [(1, 4, None)]
    assert "no heartbeat" in data["interruptions"][0]["reason"]
    assert TrainingRunInterruption.objects.count() == 1
