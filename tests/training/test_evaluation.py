"""Checkpoint evaluations: queued after every run and on demand (managers only, one at a time), measured on the
held-out records against the checkpoint's reference, stored on the checkpoint."""
import pytest
from rest_framework.test import APIClient

from annotate.models import PreferenceRecord, RecordSplit, Role
from config.errors import ApplicationError
from jobs.models import JobStatus
from tests.factories import make_image, make_project, make_user
from tests.training.conftest import COLOURS, SHAPES
from training import promotion, services
from training.models import CheckpointEvaluation, ModelCheckpoint


@pytest.fixture
def base(db):
    project = make_project()
    return ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True)


def manager_of(project):
    user = make_user(role=Role.MANAGER, project=project)
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_reference_is_the_parent_or_the_checkpoint_itself(base, settings):
    """A child is measured against its parent (its run's base), a base model against itself, or against the
    reference asked for; the judge's size is the platform's; a second one while the first waits is a 409."""
    child = ModelCheckpoint.objects.create(project=base.project, name="child", path="/nowhere/child", parent=base)
    assert services.checkpoint_evaluation_create(checkpoint=child).reference == child.parent
    first = services.checkpoint_evaluation_create(checkpoint=base)
    assert (first.reference, first.judge_scenes, first.status) == (base, settings.EVALUATION_JUDGE_SCENES, "queued")
    with pytest.raises(ApplicationError) as caught:
        services.checkpoint_evaluation_create(checkpoint=base)
    assert caught.value.status == 409
    first.transition(JobStatus.RUNNING)
    first.transition(JobStatus.FAILED, error="out of memory")
    assert services.checkpoint_evaluation_create(checkpoint=base, reference=child).reference == child


def test_a_checkpoint_of_no_project_or_a_reference_of_another_is_refused(base):
    shared = ModelCheckpoint.objects.create(name="shared", path="/nowhere/shared")
    with pytest.raises(ApplicationError) as caught:
        services.checkpoint_evaluation_create(checkpoint=shared)
    assert "checkpoint" in caught.value.fields
    elsewhere = ModelCheckpoint.objects.create(project=make_project(), name="x", path="/nowhere/x")
    with pytest.raises(ApplicationError) as caught:
        services.checkpoint_evaluation_create(checkpoint=base, reference=elsewhere)
    assert "reference" in caught.value.fields
    assert not CheckpointEvaluation.objects.exists()


def test_a_succeeded_run_queues_the_evaluation_of_its_checkpoint(base, django_capture_on_commit_callbacks):
    """In the transaction that registers the checkpoint: sent to the broker once it commits."""
    run = services.training_run_create(project=base.project)
    run.transition(JobStatus.RUNNING)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        checkpoint = services._training_run_finish(run=run, output_path="/nowhere/final")
    evaluation = checkpoint.evaluations.get()
    assert (evaluation.status, evaluation.reference) == (JobStatus.QUEUED, base)
    assert len(sent) == 1


def test_the_api_queues_lists_and_refuses(base):
    """201 for a manager of the project, 409 while one waits, 404 for another team's or an unknown checkpoint,
    403 for an annotator; the checkpoint list shows the latest evaluation."""
    client = manager_of(base.project)
    response = client.post(f"/api/checkpoints/{base.pk}/evaluate/")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["checkpoint"], body["reference"], body["status"]) == (base.pk, base.pk, "queued")
    assert client.post(f"/api/checkpoints/{base.pk}/evaluate/").status_code == 409
    listed = client.get(f"/api/checkpoints/{base.pk}/evaluations/").json()["results"]
    assert [e["id"] for e in listed] == [body["id"]]
    [checkpoint] = client.get("/api/checkpoints/").json()["results"]
    assert checkpoint["evaluation"]["id"] == body["id"] and checkpoint["evaluation"]["status"] == "queued"
    assert checkpoint["eval_metrics"] == {}
    other = manager_of(make_project())
    assert other.post(f"/api/checkpoints/{base.pk}/evaluate/").status_code == 404
    assert other.get(f"/api/checkpoints/{base.pk}/evaluations/").status_code == 404
    assert client.post("/api/checkpoints/999999/evaluate/").status_code == 404
    bad = client.post(f"/api/checkpoints/{base.pk}/evaluate/", {"reference": 999999}, format="json")
    assert bad.status_code == 400 and "reference" in bad.json()["fields"]
    annotator = APIClient()
    annotator.force_authenticate(make_user(role=Role.ANNOTATOR, project=base.project))
    assert annotator.post(f"/api/checkpoints/{base.pk}/evaluate/").status_code == 403
    assert CheckpointEvaluation.objects.count() == 1


RGB = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 30), "yellow": (230, 220, 20)}


def colour_record(project, index, split=RecordSplit.TRAIN):
    """A pair whose chosen answer names the colour of its image, the rejected one another colour (the habit)."""
    right, wrong = COLOURS[index % 4], COLOURS[(index + 1 + index // 4) % 4]
    wrong = COLOURS[(index + 2) % 4] if wrong == right else wrong
    prefix, shape = "There is a ", SHAPES[index % 3]
    return PreferenceRecord.objects.create(
        project=project, image=make_image(color=RGB[right]), question="Describe the image in detail.",
        chosen=f"{prefix}{right} {shape}.", rejected=f"{prefix}{wrong} {shape}.", split=split,
        chosen_spans=[[len(prefix), len(prefix) + len(right)]], rejected_spans=[[len(prefix), len(prefix) + len(wrong)]])


@pytest.mark.slow
def test_a_trained_checkpoint_beats_its_base_on_the_held_out_twins(db, tiny_vlm):
    """Trained on 24 pairs of the habit, the run's checkpoint ranks 8 held-out pairs of it above chance against
    its base; the base, its own reference, scores 1/2 with no margin. Figures stored on job and checkpoint."""
    project = make_project()
    base = ModelCheckpoint.objects.create(project=project, name="tiny", path=str(tiny_vlm), is_active=True)
    for index in range(32):
        colour_record(project, index, RecordSplit.HELDOUT if index >= 24 else RecordSplit.TRAIN)
    config = {"epochs": 4, "batch_size": 8, "learning_rate": 1e-3, "warmup_ratio": 0.1, "beta": 0.1}
    run = services.training_run_execute(run_id=services.training_run_create(project=project, config=config).pk)
    assert run.status == JobStatus.SUCCEEDED and run.record_count == 24  # no held-out record trained
    trained = ModelCheckpoint.objects.get(produced_by=run)
    evaluation = promotion.checkpoint_evaluation_execute(evaluation_id=trained.evaluations.get().pk)
    assert evaluation.status == JobStatus.SUCCEEDED, evaluation.error
    trained.refresh_from_db()
    heldout = trained.eval_metrics["heldout"]
    assert trained.eval_metrics == evaluation.metrics and trained.eval_metrics["evaluation"] == evaluation.pk
    assert (heldout["records"], heldout["available"], heldout["reference"]) == (8, 8, base.pk)
    assert (heldout["gamma"], heldout["beta"]) == (project.gamma, 0.1) and "judge" not in trained.eval_metrics
    assert heldout["preference_accuracy"] > 0.5 and heldout["reward_margin"] > 0, heldout
    assert heldout["chosen_changed_logp_delta"] > heldout["rejected_changed_logp_delta"]
    assert evaluation.record_count == 8 and evaluation.progress == 1.0

    own = promotion.checkpoint_evaluation_execute(evaluation_id=services.checkpoint_evaluation_create(checkpoint=base).pk)
    base.refresh_from_db()
    assert own.status == JobStatus.SUCCEEDED, own.error
    assert base.eval_metrics["heldout"]["preference_accuracy"] == 0.5 and base.eval_metrics["heldout"]["reward_margin"] == 0.0
    print("held-out figures, trained:", heldout, "base:", base.eval_metrics["heldout"])


def test_an_evaluation_whose_reference_was_deleted_fails_saying_so(base):
    child = ModelCheckpoint.objects.create(project=base.project, name="child", path="/nowhere/child", parent=base)
    evaluation = services.checkpoint_evaluation_create(checkpoint=child)
    ModelCheckpoint.objects.filter(pk=base.pk).delete()
    evaluation = promotion.checkpoint_evaluation_execute(evaluation_id=evaluation.pk)
    assert evaluation.status == JobStatus.FAILED and "reference checkpoint was deleted" in evaluation.error
