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
