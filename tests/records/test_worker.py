"""End to end: an annotation submitted through the API makes a real Celery worker build its record."""
import time

import pytest
from rest_framework.test import APIClient

from annotate.models import PreferenceRecord
from tests.factories import make_project, make_response, make_user

pytestmark = pytest.mark.slow


def wait_for_record(annotation_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = PreferenceRecord.objects.filter(annotation_id=annotation_id).first()
        if record is not None:
            return record
        time.sleep(0.2)
    pytest.fail(f"No record for annotation {annotation_id} after {timeout} s")


def test_worker_builds_the_record_after_an_api_submit(celery_worker_process):
    """POST /api/annotations/ with submit=true -> on commit, the worker (other process, broker) writes the record."""
    project = make_project(record_trigger="submit")
    make_response(project, text="There is a red circle and a blue square.")
    annotator = make_user(role="annotator", project=project)
    client = APIClient()
    client.force_authenticate(annotator)

    task = client.post(f"/api/tasks/next/?project={project.pk}")
    assert task.status_code == 200, task.content
    segments = [{"start": 11, "end": 14, "category": "attribute", "replacement": "green"},
                {"start": 21, "end": 21, "category": "object", "replacement": " \U0001F7E2"}]
    created = client.post("/api/annotations/", {"task": task.json()["id"], "segments": segments, "submit": True}, format="json")
    assert created.status_code == 201, created.content

    record = wait_for_record(created.json()["id"])
    assert record.chosen == "There is a green circle \U0001F7E2 and a blue square."
    assert record.alignment == [
        {"rejected": [11, 14], "chosen": [11, 16], "category": "attribute"},
        {"rejected": [21, 21], "chosen": [23, 25], "category": "object"},
    ]
    assert (record.rejected_spans, record.chosen_spans) == ([[11, 14]], [[11, 16], [23, 25]])
    assert (record.source, record.status, record.version) == ("annotation", "active", 1)


def test_a_broker_down_at_submit_loses_no_record(transactional_db, process_env):
    """With the broker down, a submit through the API still answers 201 (the annotation is committed by
    then; no 500 after the fact), and the beat sweep later builds the record the lost message would have."""
    import subprocess
    import sys
    from datetime import timedelta

    from annotate.models import Annotation
    from annotate.services.records import records_sync_missing
    from tests.conftest import ROOT

    project = make_project(record_trigger="submit")
    make_response(project, text="There is a red circle.")
    annotator = make_user(role="annotator", project=project)
    segments = [{"start": 11, "end": 14, "category": "attribute", "replacement": "green"}]
    code = (
        "from django.contrib.auth import get_user_model; from rest_framework.test import APIClient; "
        "client = APIClient(HTTP_HOST='localhost'); "
        f"client.force_authenticate(get_user_model().objects.get(pk={annotator.pk})); "
        f"task = client.post('/api/tasks/next/?project={project.pk}').json(); "
        f"print(client.post('/api/annotations/', {{'task': task['id'], 'segments': {segments!r}, 'submit': True}}, "
        "format='json').status_code)"
    )
    env = {**process_env, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}
    shell = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert shell.returncode == 0 and shell.stdout.split()[-1] == "201", shell.stderr[-2000:]
    annotation = Annotation.objects.get()
    assert annotation.status == "submitted" and not PreferenceRecord.objects.exists()
    assert records_sync_missing(grace=timedelta(0)) == 1
    assert PreferenceRecord.objects.get(annotation=annotation).chosen == "There is a green circle."
    assert records_sync_missing(grace=timedelta(0)) == 0
