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


def assert_one_round_ran_through_the_platform(rounds, *, tasks, annotators):
    """Checkpoint 0, a batch of ``tasks`` answers annotated over HTTP, a run launched by the beat's trigger from
    the threshold, its evaluation, the policy's promotion and the next batch from the new checkpoint."""
    assert [row["round"] for row in rounds] == [0, 1]
    bootstrap = TrainingRun.objects.get(trigger=TrainingTrigger.BOOTSTRAP)
    assert bootstrap.output_checkpoint.pk == rounds[0]["checkpoint"]  # checkpoint 0 went through the job too
    first = GenerationBatch.objects.get(checkpoint=bootstrap.output_checkpoint)
    annotations = Annotation.objects.filter(task__response__generation_batch=first)
    assert annotations.count() == tasks
    assert set(annotations.values_list("status", flat=True)) == {AnnotationStatus.SUBMITTED}
    assert set(annotations.values_list("annotator__username", flat=True)) <= {
        f"sim-annotator{n}" for n in range(1, annotators + 1)}
    corrected = annotations.filter(segments__isnull=False).distinct().count()
    assert PreferenceRecord.objects.count() == corrected
    run = TrainingRun.objects.get(trigger=TrainingTrigger.AUTO)  # the beat's trigger, not run_loop
    trained = ModelCheckpoint.objects.get(pk=rounds[1]["checkpoint"])
    assert run.pk == rounds[1]["run"] and run.output_checkpoint == trained
    assert run.base_checkpoint_id == trained.parent_id == rounds[0]["checkpoint"]
    assert run.record_count == rounds[1]["records"] == PreferenceRecord.objects.filter(split="train").count()
    evaluation = trained.evaluations.get()
    assert evaluation.status == JobStatus.SUCCEEDED and evaluation.metrics["heldout"]["reference"] == rounds[0]["checkpoint"]
    assert trained.eval_metrics["judge"]["held_out"] == rounds[1]["judge_scenes"] == 8
    decision = PromotionDecision.objects.get(checkpoint=trained)
    assert (decision.outcome, decision.kind, decision.policy) == ("promoted", "policy", "always")
    assert trained.is_active and rounds[1]["decision"] == "promoted"
    batch = decision.next_batch
    assert batch.checkpoint == trained and rounds[1]["next_batch"] == batch.pk
    assert batch.prompts.count() == tasks and not set(batch.prompts.all()) & set(first.prompts.all())  # fresh scenes
    return trained, batch


@pytest.mark.slow
def test_one_round_runs_end_to_end_and_writes_the_report(transactional_db, tmp_path, capsys):
    """run_loop only annotates: the embedded beat's trigger, the run, its evaluation, the promotion and the
    next batch are the platform's, in this process (Celery eager)."""
    report = tmp_path / "report.json"
    call_command("run_loop", "--project", "shapes", "--rounds", "1", "--tasks-per-round", "6", "--annotators", "2",
                 "--held-out", "8", "--policy", "always", "--trigger-every", "1", "--report", str(report),
                 "--bootstrap-config", json.dumps(TINY_BOOTSTRAP), "--config", json.dumps(TINY_TRAINING))
    rounds = json.loads(report.read_text())["rounds"]
    for row in rounds:
        assert {"checkpoint", "response_hallucination_rate", "mention_hallucination_rate", "coverage",
                "empty_rate", "unparsed_rate", "records", "seconds"} <= set(row)
        assert 0.0 <= row["response_hallucination_rate"] <= 1.0
    trained, batch = assert_one_round_ran_through_the_platform(rounds, tasks=6, annotators=2)
    assert batch.status == JobStatus.SUCCEEDED  # eager: generated at once
    assert AnnotationTask.objects.filter(response__checkpoint=trained, status="open").count() == 6
    out = capsys.readouterr().out
    assert "round 1" in out and "resp. halluc." in out and "promoted" in out


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
    trained, batch = assert_one_round_ran_through_the_platform(rounds, tasks=4, annotators=2)
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
