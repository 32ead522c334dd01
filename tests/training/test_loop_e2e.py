"""The issue's end to end: on PostgreSQL + Redis with a real worker (queues default,gpu), a real beat and the
tiny model, an annotator's submitted corrections are the only calls; the platform does the rest."""
import pytest

from annotate.models import PreferenceRecord, Response
from jobs.models import JobStatus
from tests.loop_scenario import HELD_OUT, TRAINING, annotate_all, loop_project, next_checkpoint_task
from training.models import PromotionDecision, TrainingRun, TrainingTrigger

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_annotations_past_the_threshold_close_the_loop_by_themselves(tiny_vlm, celery_worker_process,
                                                                     celery_beat_process):
    project, base, annotator = loop_project(model_path=tiny_vlm)
    assert annotate_all(project=project, annotator=annotator) == TRAINING + HELD_OUT

    promoted, task = next_checkpoint_task(project=project, base=base, annotator=annotator)

    assert Response.objects.get(pk=task["response"]["id"]).checkpoint == promoted
    run = TrainingRun.objects.get(project=project)
    assert (run.trigger, run.status, run.base_checkpoint) == (TrainingTrigger.AUTO, JobStatus.SUCCEEDED, base)
    assert run.record_count == TRAINING == PreferenceRecord.objects.filter(project=project, split="train").count()
    assert promoted.produced_by == run and promoted.parent == base
    evaluation = promoted.evaluations.get()
    assert evaluation.status == JobStatus.SUCCEEDED and evaluation.reference == base
    assert promoted.eval_metrics["heldout"]["records"] == HELD_OUT
    decision = PromotionDecision.objects.get(checkpoint=promoted)
    assert (decision.outcome, decision.kind, decision.policy, decision.parent) == ("promoted", "policy", "always", base)
    assert decision.next_batch.checkpoint == promoted and decision.next_batch.status == JobStatus.SUCCEEDED
    base.refresh_from_db()
    assert not base.is_active
