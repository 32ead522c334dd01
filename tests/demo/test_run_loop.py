"""run_loop end to end: tiny checkpoint 0, one round through the real REST API, the report."""
import json

import pytest
from django.core.management import call_command

from annotate.models import Annotation, AnnotationStatus, PreferenceRecord
from training.models import GenerationBatch, ModelCheckpoint, TrainingRun, TrainingTrigger

TINY_BOOTSTRAP = {"steps": 30, "scenes": 40, "batch_size": 8, "warmup_steps": 5}
TINY_TRAINING = {"epochs": 1, "batch_size": 4}


@pytest.mark.slow
def test_one_round_runs_end_to_end_and_writes_the_report(transactional_db, tmp_path, capsys):
    """Bootstrap, generate 6 answers, 2 annotators correct them over HTTP, records, train, evaluate, activate."""
    report = tmp_path / "report.json"
    call_command("run_loop", "--project", "shapes", "--rounds", "1", "--tasks-per-round", "6", "--annotators", "2",
                 "--held-out", "8", "--report", str(report), "--bootstrap-config", json.dumps(TINY_BOOTSTRAP),
                 "--config", json.dumps(TINY_TRAINING))
    rounds = json.loads(report.read_text())["rounds"]
    assert [row["round"] for row in rounds] == [0, 1]
    for row in rounds:
        assert {"checkpoint", "response_hallucination_rate", "mention_hallucination_rate", "coverage",
                "empty_rate", "unparsed_rate", "records", "seconds"} <= set(row)
        assert 0.0 <= row["response_hallucination_rate"] <= 1.0
    batch = GenerationBatch.objects.get()
    annotations = Annotation.objects.filter(task__response__generation_batch=batch)
    assert annotations.count() == 6
    assert set(annotations.values_list("status", flat=True)) == {AnnotationStatus.SUBMITTED}
    assert set(annotations.values_list("annotator__username", flat=True)) <= {"sim-annotator1", "sim-annotator2"}
    corrected = annotations.filter(segments__isnull=False).distinct().count()
    assert PreferenceRecord.objects.count() == corrected == rounds[1]["records"]
    bootstrap = TrainingRun.objects.get(trigger=TrainingTrigger.BOOTSTRAP)
    assert bootstrap.output_checkpoint.pk == rounds[0]["checkpoint"]  # checkpoint 0 went through the job too
    run = TrainingRun.objects.get(trigger=TrainingTrigger.LOOP)
    trained = ModelCheckpoint.objects.get(pk=rounds[1]["checkpoint"])
    assert run.output_checkpoint == trained and trained.parent_id == rounds[0]["checkpoint"]
    assert trained.is_active and trained.eval_metrics["judge"]["held_out"] >= 8  # its evaluation job's, or run_loop's
    assert trained.evaluations.get().metrics["heldout"]["reference"] == rounds[0]["checkpoint"]
    out = capsys.readouterr().out
    assert "round 1" in out and "resp. halluc." in out


@pytest.mark.django_db
def test_a_bad_training_config_stops_before_any_work():
    """An unknown or mistyped override is refused at once (not after bootstrap, evaluation and annotation)."""
    from django.core.management import CommandError

    from annotate.models import Project

    with pytest.raises(CommandError, match="unknown config keys"):
        call_command("run_loop", "--project", "shapes", "--rounds", "1", "--config", '{"bogus": 1}')
    assert not Project.objects.exists() and not ModelCheckpoint.objects.exists()
