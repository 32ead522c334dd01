"""Every ``/api/`` endpoint answers a browser in JSON, never with a 500 (#18, finding 1).

A GET of ``/api/annotations/`` with ``Accept: text/html`` was a 500: DRF's
browsable renderer asked the view for a queryset it does not declare. The
routes are read from the URLconf, so a new endpoint is checked too.
"""
import re
from datetime import timedelta

import pytest
from django.urls import URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from annotate.models import Annotation, ExportJob
from tests.factories import make_project, make_response, make_user
from training.models import GenerationBatch, ModelCheckpoint, TrainingRun

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# Endpoints whose answer is not JSON by design: the OpenAPI document (YAML) and the Swagger UI page.
NOT_JSON = {"api/schema/": "application/vnd.oai.openapi", "api/docs/": "text/html",
            # Downloads: CSV whatever the Accept header says.
            **{f"api/projects/<id:project_id>/analytics/{table}.csv": "text/csv"
               for table in ("agreement", "annotators", "batches", "skip-reasons", "verdicts")}}


def _routes(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern).removeprefix("^")  # re_path's: the catch-all ``^api/``


API_ROUTES = sorted({route for route in _routes(get_resolver().url_patterns) if route.startswith("api/")})


def test_the_routes_are_found():
    assert {"api/", "api/annotations/", "api/tasks/<id:task_id>/", "api/training-runs/"} <= set(API_ROUTES)


@pytest.fixture
def staff_ids(db):
    """A staff user and one row of each kind a path names, so that ids resolve to something real."""
    user = make_user(username="staff-html")
    user.is_staff = True
    user.save()
    project = make_project()
    task = make_response(project).tasks.get()
    task.leased_to, task.lease_expires_at = user, timezone.now() + timedelta(minutes=30)
    task.save()
    checkpoint = ModelCheckpoint.objects.create(project=project, name="c", path="/nonexistent")
    ids = {
        "project_id": project.pk,
        "task_id": task.pk,
        "annotation_id": Annotation.objects.create(task=task, annotator=user).pk,
        "pk": ExportJob.objects.create(project=project, format="rlhfv-jsonl").pk,
        "checkpoint_id": checkpoint.pk,
        "run_id": TrainingRun.objects.create(project=project, base_checkpoint=checkpoint).pk,
        "batch_id": GenerationBatch.objects.create(project=project, checkpoint=checkpoint).pk,
    }
    return user, ids


@pytest.mark.parametrize("route", API_ROUTES)
def test_get_with_a_browser_accept_header_answers_json(route, staff_ids):
    user, ids = staff_ids
    url = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda match: str(ids.get(match.group(1), 1)), route)
    client = APIClient()
    client.force_login(user)
    for accept in ("text/html", BROWSER_ACCEPT):
        answer = client.get(url, HTTP_ACCEPT=accept)
        assert answer.status_code < 500, (url, accept, answer.content[:500])
        assert answer["Content-Type"].startswith(NOT_JSON.get(route, "application/json")), (url, accept)
    if route not in NOT_JSON:
        answer.json()
        # What a browser really sends (*/* included) gets what a JSON client gets.
        assert answer.status_code == client.get(url, HTTP_ACCEPT="application/json").status_code, url
