"""POST /api/checkpoints/: what is refused at once (400 naming the field, nothing stored), who may register."""
import os
import shutil

import pytest
from rest_framework.test import APIClient

from annotate.models import Membership, Role
from jobs.models import JobStatus
from tests.factories import make_project, make_user
from training.models import ModelCheckpoint, ModelRegistration
from training.registration_services import adapter_output_dir, model_registration_execute


@pytest.fixture
def project(db):
    return make_project()


def member_manager(project):
    """A manager of ``project`` alone (not staff)."""
    user = make_user()
    Membership.objects.create(project=project, user=user, role=Role.MANAGER)
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def manager(project):
    return member_manager(project)


@pytest.fixture
def models_root(settings):
    (settings.MODELS_ROOT / "llava").mkdir(parents=True)
    (settings.MODELS_ROOT.parent / "secret").mkdir()
    return settings.MODELS_ROOT


def register(client, project, **body):
    return client.post("/api/checkpoints/", {"project": project.pk, **body}, format="json")


@pytest.mark.parametrize("body,field", [
    ({"path": "../secret"}, "path"),
    ({"path": "llava/../../secret"}, "path"),
    ({"path": "/etc"}, "path"),
    ({"path": "missing"}, "path"),
    ({"hub_id": "nobody/no-such-model-here"}, "hub_id"),
    ({"hub_id": "../etc"}, "hub_id"),
    ({}, "path"),
    ({"path": "llava", "hub_id": "org/name"}, "hub_id"),
    ({"path": "llava", "base": "../secret"}, "base"),
])
def test_bad_sources_are_refused_before_any_job(manager, project, models_root, body, field):
    """A path out of MODELS_ROOT, a hub id not in the local cache, neither or both: 400 naming the field."""
    response = register(manager, project, **body)
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"] and response.json()["error"]
    assert not ModelCheckpoint.objects.exists() and not ModelRegistration.objects.exists()


def test_a_symlink_out_of_the_models_root_is_refused(manager, project, models_root):
    os.symlink(models_root.parent / "secret", models_root / "escape")
    response = register(manager, project, path="escape")
    assert response.status_code == 400 and "not inside" in response.json()["fields"]["path"][0]
    assert not ModelCheckpoint.objects.exists()


def test_annotators_get_403_and_outsiders_404(project, models_root):
    """Only the project's managers register; a manager of another project does not learn it exists."""
    annotator = APIClient()
    annotator.force_authenticate(make_user(role=Role.ANNOTATOR, project=project))
    assert register(annotator, project, path="llava").status_code == 403
    outsider = member_manager(make_project())
    assert register(outsider, project, path="llava").status_code == 404
    assert not ModelCheckpoint.objects.exists()


def test_a_folder_is_queued_validating_and_refused_by_its_job(manager, project, models_root,
                                                             django_capture_on_commit_callbacks):
    """A folder inside the root answers 202 with a validating checkpoint; its job (run here) refuses a folder
    that is no model, with the reason; the checkpoint stays failed and nothing generates from it."""
    with django_capture_on_commit_callbacks() as sent:
        response = register(manager, project, path="llava", name="mine")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["name"], body["path"]) == ("validating", "mine", str(models_root.resolve() / "llava"))
    assert len(sent) == 1  # the job's task, sent once the transaction commits
    registration = model_registration_execute(registration_id=body["registration"])
    assert registration.status == JobStatus.FAILED and "no config.json" in registration.error
    detail = manager.get(f"/api/checkpoints/{body['id']}/").json()
    assert (detail["status"], detail["error"], detail["architecture"]) == ("failed", registration.error, "")
    batch = manager.post("/api/generation-batches/", {"project": project.pk, "checkpoint": body["id"]}, format="json")
    assert batch.status_code == 400 and "checkpoint" in batch.json()["fields"]
    assert manager.post(f"/api/checkpoints/{body['id']}/activate/").status_code == 400


def test_a_folder_moved_out_after_the_request_is_refused_by_the_job(manager, project, models_root, tiny_vlm):
    """The job resolves the folder again: replaced by a link out of the root meanwhile, it is refused."""
    shutil.rmtree(models_root / "llava")
    shutil.copytree(tiny_vlm, models_root / "llava")
    body = register(manager, project, path="llava").json()
    shutil.rmtree(models_root / "llava")
    os.symlink(tiny_vlm, models_root / "llava")
    registration = model_registration_execute(registration_id=body["registration"])
    assert registration.status == JobStatus.FAILED and "not inside" in registration.error


def test_a_refused_job_leaves_no_merged_weights_behind(manager, project, models_root):
    """Weights merged for the checkpoint (an adapter's) before the check failed are removed with the failure."""
    body = register(manager, project, path="llava").json()
    merged = adapter_output_dir(checkpoint_id=body["id"])
    merged.mkdir(parents=True)
    (merged / "model.safetensors").write_bytes(b"weights")
    registration = model_registration_execute(registration_id=body["registration"])
    assert registration.status == JobStatus.FAILED and not merged.exists()


def test_the_job_writes_the_facts(manager, project, models_root, tiny_vlm):
    """Run in this process: the checkpoint becomes ready with its facts, and can be activated."""
    shutil.rmtree(models_root / "llava")
    shutil.copytree(tiny_vlm, models_root / "llava")
    body = register(manager, project, path="llava").json()
    assert model_registration_execute(registration_id=body["registration"]).status == JobStatus.SUCCEEDED
    detail = manager.get(f"/api/checkpoints/{body['id']}/").json()
    assert (detail["status"], detail["error"], detail["architecture"], detail["model_type"], detail["dtype"],
            detail["prefix_sharing"]) == ("ready", "", "LlavaForConditionalGeneration", "llava", "float32", True)
    assert detail["parameters"] > 0
    assert manager.post(f"/api/checkpoints/{body['id']}/activate/").json()["is_active"] is True


def test_the_first_ready_model_becomes_active_and_a_later_one_does_not(manager, project, models_root, tiny_vlm):
    """A new team's loop starts from the model it registered: with no active checkpoint, the first one that passes
    its check becomes active (training runs and auto-train default to it); a second one leaves it active."""
    shutil.rmtree(models_root / "llava")
    shutil.copytree(tiny_vlm, models_root / "llava")
    first, second = (register(manager, project, path="llava", name=name).json() for name in ("first", "second"))
    for body in (second, first):  # the first to pass its check wins, whichever was asked first
        assert model_registration_execute(registration_id=body["registration"]).status == JobStatus.SUCCEEDED
    assert list(ModelCheckpoint.objects.filter(project=project, is_active=True).values_list("name", flat=True)) == [
        "second"]
    assert manager.get(f"/api/checkpoints/{first['id']}/").json()["is_active"] is False
