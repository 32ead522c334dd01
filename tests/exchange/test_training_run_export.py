"""A training run's record set exports exactly (``?training_run=``), or not at all when it changed since."""
import json

import pytest
from rest_framework.test import APIClient

from annotate.models import Membership, RecordStatus, Role
from tests.exchange.helpers import make_record, make_records, manager_client
from tests.factories import make_project, make_user
from training import services
from training.models import ModelCheckpoint, TrainingRun

pytestmark = pytest.mark.django_db


def trained_run(project, tmp_path):
    """A run of ``project`` that took the project's training records now, as its first attempt does."""
    base = ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base")
    run = TrainingRun.objects.create(project=project, base_checkpoint=base)
    tmp_path.mkdir(parents=True, exist_ok=True)
    services.training_run_records_take(run=run, output=tmp_path)
    return run


def exported_ids(client, **params):
    response = client.get("/api/export/", {"format": "rlhfv-jsonl", **params})
    assert response.status_code == 200, response.content
    return [json.loads(line)["idx"] for line in b"".join(response.streaming_content).decode().splitlines()]


def test_the_run_set_exports_exactly(tmp_path):
    """The run's records, no more (records added since), no fewer (one retired since), with or without project."""
    project = make_project()
    records = make_records(project)
    make_record(project, "Retired before?", "Old text here.", [(0, 3, "other", "New")], status=RecordStatus.RETIRED)
    run = trained_run(project, tmp_path)
    make_record(project, "Later?", "A later answer.", [(0, 1, "other", "B")])
    records[1].status = RecordStatus.RETIRED
    records[1].save()
    client = manager_client()
    assert exported_ids(client, training_run=run.pk) == [r.pk for r in records]
    assert exported_ids(client, training_run=run.pk, project=project.pk) == [r.pk for r in records]
    assert exported_ids(client, training_run=run.pk, category="number") == [records[2].pk]  # filters narrow it
    assert exported_ids(client, project=project.pk) == [records[0].pk, records[2].pk, records[2].pk + 2]


def test_a_set_that_changed_since_answers_409_naming_the_records(tmp_path):
    """A record re-annotated after the run took it would export other text than it trained on: 409 naming it,
    for the streamed export and the background one alike."""
    project = make_project()
    records = make_records(project)
    run = trained_run(project, tmp_path)
    records[2].chosen, records[2].version = "Two stars.", 2
    records[2].save()
    client = manager_client()
    response = client.get("/api/export/", {"format": "rlhfv-jsonl", "training_run": run.pk})
    assert response.status_code == 409
    assert str([records[2].pk]) in response.json()["fields"]["training_run"][0]
    queued = client.post("/api/export-jobs/", {"format": "rlhfv-jsonl", "training_run": run.pk}, format="json")
    assert queued.status_code == 409 and str([records[2].pk]) in queued.json()["error"]
    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded")
    later = trained_run(project, tmp_path / "later")  # took version 2: its set is whole
    assert exported_ids(client, training_run=later.pk) == [r.pk for r in records]


def test_a_run_without_a_set_answers_409(tmp_path):
    """A run that has not started has taken no records yet: no empty file passed off as its set."""
    project = make_project()
    make_records(project)
    base = ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base")
    run = TrainingRun.objects.create(project=project, base_checkpoint=base)
    response = manager_client().get("/api/export/", {"format": "rlhfv-jsonl", "training_run": run.pk})
    assert response.status_code == 409 and "has no record set" in response.json()["error"]


def test_bad_unknown_and_other_teams_runs(tmp_path):
    """A malformed id is a 400, an unknown run, another project's and another team's are 404s, each naming
    training_run; the background export queues the same set."""
    mine, other = make_project(), make_project()
    make_records(mine)
    make_records(other)
    run = trained_run(mine, tmp_path / "mine")
    theirs = trained_run(other, tmp_path / "theirs")
    lead = make_user()
    Membership.objects.create(project=mine, user=lead, role=Role.MANAGER)
    client = APIClient()
    client.force_authenticate(lead)
    bad = client.get("/api/export/", {"format": "rlhfv-jsonl", "training_run": "x"})
    assert bad.status_code == 400 and "training_run" in bad.json()["fields"]
    for params in ({"training_run": 999999}, {"training_run": theirs.pk}, {"training_run": run.pk, "project": other.pk}):
        answer = client.get("/api/export/", {"format": "rlhfv-jsonl", **params})
        assert answer.status_code == 404, params
        assert "training_run" in answer.json()["fields"], params
    missing = client.get("/api/export/", {"format": "rlhfv-jsonl"})
    assert missing.status_code == 400 and "project" in missing.json()["fields"]
    queued = client.post("/api/export-jobs/", {"format": "rlhfv-jsonl", "training_run": run.pk}, format="json")
    assert queued.status_code == 202 and queued.json()["project"] == mine.pk
    assert queued.json()["filters"]["training_run"] == run.pk
