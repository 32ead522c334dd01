"""run_loop end to end: tiny checkpoint 0, one round through the real REST API and the platform's own chain
(threshold -> beat trigger -> run -> evaluation -> promotion -> next batch), eager and on a real worker."""
import json
import time

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient
from django.core.management import call_command

from annotate.models import Annotation, AnnotationStatus, AnnotationTask, PreferenceRecord, Response
from jobs.models import JobStatus
from training.models import GenerationBatch, ModelCheckpoint, PromotionDecision, TrainingRun, TrainingTrigger

TINY_BOOTSTRAP = {"steps": 30, "scenes": 40, "batch_size": 8, "warmup_steps": 5}
TINY_TRAINING = {"epochs": 1, "batch_size": 4}


def assert_rounds_ran_through_the_platform(rounds, *, tasks, annotators):
    """Checkpoint 0, then per round: a batch of ``tasks`` answers of the round's checkpoint annotated over HTTP,
    a run the beat's trigger launched from it on the training records so far, its evaluation, the policy's
    promotion and the next batch (fresh scenes) from the new checkpoint. Returns the last checkpoint and batch."""
    assert [row["round"] for row in rounds] == list(range(len(rounds)))
    bootstrap = TrainingRun.objects.get(trigger=TrainingTrigger.BOOTSTRAP)
    assert bootstrap.output_checkpoint.pk == rounds[0]["checkpoint"]  # checkpoint 0 went through the job too
    batch, asked = GenerationBatch.objects.get(checkpoint=bootstrap.output_checkpoint), set()
    assert TrainingRun.objects.filter(trigger=TrainingTrigger.AUTO).count() == len(rounds) - 1
    for before, row in zip(rounds, rounds[1:]):
        annotations = Annotation.objects.filter(task__response__generation_batch=batch)
        assert annotations.count() == tasks == row["annotated"]
        assert set(annotations.values_list("status", flat=True)) == {AnnotationStatus.SUBMITTED}
        assert set(annotations.values_list("annotator__username", flat=True)) <= {
            f"sim-annotator{n}" for n in range(1, annotators + 1)}
        corrected = annotations.filter(segments__isnull=False).distinct().count()
        assert PreferenceRecord.objects.filter(annotation__in=annotations).count() == corrected
        run = TrainingRun.objects.get(pk=row["run"])
        trained = ModelCheckpoint.objects.get(pk=row["checkpoint"])
        assert run.trigger == TrainingTrigger.AUTO and run.output_checkpoint == trained  # the beat's, not run_loop's
        assert run.base_checkpoint_id == trained.parent_id == before["checkpoint"]
        trained_on = PreferenceRecord.objects.filter(split="train", annotation__task__response__checkpoint_id__lte=before["checkpoint"])
        assert run.record_count == row["records"] == trained_on.count()  # every training record so far
        evaluation = trained.evaluations.get()
        assert evaluation.status == JobStatus.SUCCEEDED and evaluation.metrics["heldout"]["reference"] == before["checkpoint"]
        assert trained.eval_metrics["judge"]["held_out"] == row["judge_scenes"] == 8
        decision = PromotionDecision.objects.get(checkpoint=trained)
        assert (decision.outcome, decision.kind, decision.policy) == ("promoted", "policy", "always")
        assert row["decision"] == "promoted" and decision.next_batch_id == row["next_batch"]
        asked |= set(batch.prompts.all())
        batch = decision.next_batch
        assert batch.checkpoint == trained and batch.prompts.count() == tasks
        assert not set(batch.prompts.all()) & asked  # fresh scenes every round
    assert trained.is_active
    return trained, batch


@pytest.mark.slow
def test_two_rounds_run_end_to_end_and_write_the_report(transactional_db, tmp_path, capsys):
    """run_loop only annotates: the embedded beat's trigger, the run, its evaluation, the promotion and the
    next batch are the platform's, in this process (Celery eager)."""
    report = tmp_path / "report.json"
    call_command("run_loop", "--project", "shapes", "--rounds", "2", "--tasks-per-round", "4", "--annotators", "2",
                 "--held-out", "8", "--policy", "always", "--trigger-every", "1", "--report", str(report),
                 "--bootstrap-config", json.dumps(TINY_BOOTSTRAP), "--config", json.dumps(TINY_TRAINING))
    rounds = json.loads(report.read_text())["rounds"]
    for row in rounds:
        assert {"checkpoint", "response_hallucination_rate", "mention_hallucination_rate", "coverage",
                "empty_rate", "unparsed_rate", "records", "seconds"} <= set(row)
        assert 0.0 <= row["response_hallucination_rate"] <= 1.0
    trained, batch = assert_rounds_ran_through_the_platform(rounds, tasks=4, annotators=2)
    assert batch.status == JobStatus.SUCCEEDED  # eager: generated at once
    assert AnnotationTask.objects.filter(response__checkpoint=trained, status="open").count() == 4
    out = capsys.readouterr().out
    assert "round 2" in out and "resp. halluc." in out and "promoted" in out


@pytest.mark.slow
@pytest.mark.postgres
def test_with_worker_the_chain_runs_on_a_real_worker_and_beat(celery_worker_process, celery_beat_process, tmp_path):
    """--worker: jobs on a real Celery worker (queues default,gpu) over the broker, the trigger on a real beat;
    the next batch's tasks are then claimable by an annotator."""
    report = tmp_path / "report.json"
    call_command("run_loop", "--worker", "--project", "shapes", "--rounds", "1", "--tasks-per-round", "4",
                 "--annotators", "2", "--policy", "always", "--timeout", "600", "--report", str(report),
                 "--bootstrap-config", json.dumps(TINY_BOOTSTRAP), "--config", json.dumps(TINY_TRAINING))
    rounds = json.loads(report.read_text())["rounds"]
    trained, batch = assert_rounds_ran_through_the_platform(rounds, tasks=4, annotators=2)
    deadline = time.monotonic() + 300
    while not batch.is_finished and time.monotonic() < deadline:  # the worker generates it after run_loop ends
        time.sleep(1)
        batch.refresh_from_db()
    assert batch.status == JobStatus.SUCCEEDED
    client = APIClient()
    client.force_authenticate(User.objects.get(username="sim-annotator1"))
    reply = client.post(f"/api/tasks/next/?project={trained.project_id}")
    assert reply.status_code == 200
    assert Response.objects.get(pk=reply.json()["response"]["id"]).checkpoint == trained


@pytest.mark.django_db
def test_a_bad_training_config_stops_before_any_work():
    """An unknown or mistyped override is refused at once (not after bootstrap, evaluation and annotation)."""
    from django.core.management import CommandError

    from annotate.models import Project

    with pytest.raises(CommandError, match="unknown config keys"):
        call_command("run_loop", "--project", "shapes", "--rounds", "1", "--config", '{"bogus": 1}')
    assert not Project.objects.exists() and not ModelCheckpoint.objects.exists()
