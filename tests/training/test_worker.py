"""End to end on a real Celery worker: launch through the API, train, stream metrics, register, cancel, generate."""
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from annotate.models import AnnotationTask, PreferenceRecord, Prompt, RecordSplit, Role
from tests.factories import make_image, make_user
from tests.training.conftest import make_record
from jobs.models import FINISHED, JobStatus
from training.models import ModelCheckpoint, TrainingMetric

pytestmark = pytest.mark.slow


@pytest.fixture
def manager_client(transactional_db):
    client = APIClient()
    client.force_authenticate(make_user(role=Role.MANAGER))
    return client


def wait_for(client, url, done, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if done(body):
            return body
        time.sleep(0.5)
    pytest.fail(f"timed out waiting on {url}: {body}")


def test_run_trains_on_the_worker_and_its_checkpoint_generates(project_with_model, celery_worker_process, manager_client):
    """A launched run executes on queue gpu, streams metrics, registers its checkpoint, which is evaluated on the
    held-out records; that checkpoint answers a batch."""
    project, base = project_with_model
    held = [make_record(project, index) for index in (6, 7)]
    PreferenceRecord.objects.filter(pk__in=[r.pk for r in held]).update(split=RecordSplit.HELDOUT)
    config = {"epochs": 2, "batch_size": 2, "learning_rate": 1e-3, "warmup_ratio": 0.0}
    run = manager_client.post("/api/training-runs/", {"project": project.pk, "config": config}, format="json").json()
    run = wait_for(manager_client, f"/api/training-runs/{run['id']}/", lambda r: r["status"] in FINISHED)
    assert run["status"] == JobStatus.SUCCEEDED, run["error"]
    assert (run["step"], run["total_steps"], run["record_count"], run["progress"]) == (6, 6, 6, 1.0)
    # Its checkpoint's evaluation follows on queue gpu by itself: the two held-out records against the base.
    evaluations = wait_for(manager_client, f"/api/checkpoints/{run['output_checkpoint']}/evaluations/",
                           lambda page: page["results"] and page["results"][0]["status"] in FINISHED)["results"]
    assert evaluations[0]["status"] == JobStatus.SUCCEEDED, evaluations[0]["error"]
    heldout = evaluations[0]["metrics"]["heldout"]
    assert (heldout["records"], heldout["reference"]) == (2, base.pk)
    assert 0.0 <= heldout["preference_accuracy"] <= 1.0
    assert run["metrics"]["steps"] == [1, 2, 3, 4, 5, 6]
    assert {"loss", "rewards/accuracies", "rewards/margins", "logps/chosen", "lr"} <= set(run["metrics"]["series"])
    assert TrainingMetric.objects.filter(run_id=run["id"]).count() == 6
    checkpoint = ModelCheckpoint.objects.get(pk=run["output_checkpoint"])
    assert checkpoint.parent == base and checkpoint.produced_by_id == run["id"] and checkpoint.project == project
    assert (Path(checkpoint.path) / "config.json").exists()

    manager_client.post(f"/api/checkpoints/{checkpoint.pk}/activate/")
    prompts = [Prompt.objects.create(project=project, image=make_image(), question="Describe the image.") for _ in range(3)]
    batch = manager_client.post("/api/generation-batches/", {"project": project.pk, "params": {"max_new_tokens": 6}},
                                format="json").json()
    batch = wait_for(manager_client, "/api/generation-batches/", lambda b: b["results"][0]["status"] in FINISHED)
    batch = batch["results"][0]
    assert batch["status"] == JobStatus.SUCCEEDED, batch["error"]
    assert batch["checkpoint"] == checkpoint.pk and batch["response_count"] == len(prompts)
    assert AnnotationTask.objects.filter(response__generation_batch_id=batch["id"]).count() == len(prompts) * project.overlap


def test_cancel_stops_a_running_run(project_with_model, celery_worker_process, manager_client):
    """Cancel during training stops the worker within a step; no checkpoint is registered."""
    project, _ = project_with_model
    config = {"epochs": 100, "batch_size": 2}  # at most TRAINING_LIMITS["epochs"]
    run = manager_client.post("/api/training-runs/", {"project": project.pk, "config": config}, format="json").json()
    url = f"/api/training-runs/{run['id']}/"
    wait_for(manager_client, url, lambda r: r["step"] >= 2)
    assert manager_client.post(f"{url}cancel/").json()["cancel_requested"] is True
    run = wait_for(manager_client, url, lambda r: r["status"] in FINISHED, timeout=60)
    assert run["status"] == JobStatus.CANCELLED
    assert 2 <= run["step"] < run["total_steps"] == 300
    assert run["output_checkpoint"] is None
