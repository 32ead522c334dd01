"""Training API: only managers launch and follow runs, checkpoints and batches; bad input names the field."""
import pytest
from rest_framework.test import APIClient

from annotate.models import Membership, Prompt, Role
from tests.factories import make_project, make_user
from jobs.models import JobStatus
from training.models import ModelCheckpoint, TrainingMetric, TrainingRun


@pytest.fixture
def project(db):
    project = make_project()
    ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True)
    return project


def client_for(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.mark.parametrize("method,url", [("get", "/api/training-runs/"), ("post", "/api/training-runs/"),
                                        ("get", "/api/checkpoints/"), ("get", "/api/generation-batches/"),
                                        ("post", "/api/generation-batches/")])
def test_annotators_and_reviewers_are_refused(project, method, url):
    """Anonymous callers get 401/403, members without the manager role 403."""
    assert getattr(client_for(), method)(url, {"project": project.pk}, format="json").status_code in (401, 403)
    for role in (Role.ANNOTATOR, Role.REVIEWER):
        response = getattr(client_for(make_user(role=role, project=project)), method)(url, {"project": project.pk}, format="json")
        assert response.status_code == 403, response.content
        assert response.json()["error"]
    assert not TrainingRun.objects.exists()


def test_project_manager_launches_in_own_project_only(project):
    """A member manager launches in their project; another project answers 404."""
    manager = make_user(role=Role.MANAGER, project=make_project())
    other = make_user(role=Role.MANAGER, project=project)
    response = client_for(other).post("/api/training-runs/", {"project": project.pk, "config": {"gamma": 2.0}}, format="json")
    assert response.status_code == 201, response.content
    config = response.json()["config"]  # the settings resolved at launch: the override and the project's beta
    assert response.json()["status"] == "queued" and (config["gamma"], config["beta"]) == (2.0, project.beta)
    assert client_for(manager).post("/api/training-runs/", {"project": project.pk}, format="json").status_code == 404
    assert client_for(manager).get("/api/training-runs/").json()["results"] == []
    assert [run["id"] for run in client_for(other).get("/api/training-runs/").json()["results"]] == [response.json()["id"]]


def test_refusals_name_the_project(project):
    """Another team's project is a 404 and a project without the manager role a 403, each naming the project."""
    user = make_user(role=Role.MANAGER, project=make_project())
    refused = client_for(user).post("/api/training-runs/", {"project": project.pk}, format="json")
    assert refused.status_code == 404 and refused.json()["error"] == f"No project {project.pk} of yours."
    Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    refused = client_for(user).post("/api/training-runs/", {"project": project.pk}, format="json")
    assert refused.status_code == 403 and refused.json()["error"] == f"This needs the manager role in project {project.pk}."
    assert not TrainingRun.objects.exists()


@pytest.mark.parametrize("body,field", [({"config": {}}, "project"), ({"project": "x"}, "project"),
                                        ({"project": "P", "config": {"beta": 0}}, "config"),
                                        ({"project": "P", "config": [1]}, "config"),
                                        ({"project": "P", "config": {"learning_rate": -1}}, "config"),
                                        ({"project": "P", "base_checkpoint": 999999}, "base_checkpoint")])
def test_bad_run_input_is_a_400_naming_the_field(project, body, field):
    """Invalid launches answer 400 with the field in the error body."""
    body = {key: project.pk if value == "P" else value for key, value in body.items()}
    response = client_for(make_user(role=Role.MANAGER)).post("/api/training-runs/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]


def test_detail_has_the_metric_series_and_cancel(project):
    """The detail carries one column per logged step; cancel stops a queued run, then answers 409."""
    client = client_for(make_user(role=Role.MANAGER))
    run_id = client.post("/api/training-runs/", {"project": project.pk}, format="json").json()["id"]
    TrainingMetric.objects.create(run_id=run_id, step=1, values={"loss": 0.7, "rewards/accuracies": 0.5})
    TrainingMetric.objects.create(run_id=run_id, step=2, values={"loss": 0.6})
    detail = client.get(f"/api/training-runs/{run_id}/").json()
    assert detail["metrics"] == {"steps": [1, 2], "series": {"loss": [0.7, 0.6], "rewards/accuracies": [0.5, None]}}
    assert client.post(f"/api/training-runs/{run_id}/cancel/").json()["status"] == JobStatus.CANCELLED
    assert client.post(f"/api/training-runs/{run_id}/cancel/").status_code == 409
    assert client.get("/api/training-runs/999999/").status_code == 404


def test_checkpoint_list_and_activate(project):
    """Checkpoints list per project; activating one moves the active flag."""
    client = client_for(make_user(role=Role.MANAGER))
    new = ModelCheckpoint.objects.create(project=project, name="next", path="/nowhere/next")
    listed = client.get(f"/api/checkpoints/?project={project.pk}").json()["results"]
    assert {c["id"]: c["is_active"] for c in listed} == {new.pk: False, new.pk - 1: True}
    assert client.post(f"/api/checkpoints/{new.pk}/activate/").json()["is_active"] is True
    assert ModelCheckpoint.objects.get(project=project, is_active=True) == new
    assert client.get("/api/checkpoints/?project=abc").status_code == 400


def test_generation_batch_create_and_list(project):
    """A manager queues a batch of unanswered prompts; bad params name the field."""
    client = client_for(make_user(role=Role.MANAGER))
    for i in range(3):
        Prompt.objects.create(project=project, question=f"q{i}")
    response = client.post("/api/generation-batches/", {"project": project.pk, "limit": 2,
                                                        "params": {"temperature": 0.7}}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["prompt_count"] == 2 and response.json()["params"]["temperature"] == 0.7
    assert len(client.get("/api/generation-batches/").json()["results"]) == 1
    bad = client.post("/api/generation-batches/", {"project": project.pk, "params": {"top_p": 0}}, format="json")
    assert bad.status_code == 400 and "params" in bad.json()["fields"]
    batch_id = response.json()["id"]
    annotator = client_for(make_user(role=Role.ANNOTATOR, project=project))
    assert annotator.post(f"/api/generation-batches/{batch_id}/cancel/").status_code == 403
    assert client.post(f"/api/generation-batches/{batch_id}/cancel/").json()["status"] == JobStatus.CANCELLED
    assert client.post(f"/api/generation-batches/{batch_id}/cancel/").status_code == 409
    assert client.post("/api/generation-batches/999999/cancel/").status_code == 404
