"""Malformed input against every training endpoint: a 4xx in the one error shape, never a 500, nothing queued."""
import json

import pytest
from rest_framework.test import APIClient

from annotate.models import Prompt, Role
from tests.factories import make_project, make_user
from training.models import GenerationBatch, ModelCheckpoint, TrainingRun

HUGE = 10**20  # past a 64-bit integer column
BAD_VALUES = [None, "x", "", [], {}, [1], {"a": 1}, True, 1.5, -1, 0, HUGE, "1", "²"]
BAD_NUMBERS = ["x", [1], True, 1.5, -1, HUGE]  # for config and params keys


def bodies(project_id, foreign_checkpoint_id):
    """Bodies that no endpoint may take: not JSON, not an object, wrong types, out of range, other projects' ids."""
    raw = [b"{not json", b"[]", b'"text"', b"42", b"null", b"\xff\xfe", b"{" * 5000,
           # Parsed by Python as float("inf"): a JSON column on PostgreSQL refuses it.
           b'{"project": P, "config": {"beta": 1e400}}', b'{"project": P, "params": {"temperature": 1e400}}',
           b'{"project": P, "config": {"gamma": -1e400}}', b'{"project": P, "params": {"top_p": 1e-400}}']
    raw = [body.replace(b"P", str(project_id).encode()) for body in raw]
    objects = [{"project": value} for value in BAD_VALUES]
    for field in ("base_checkpoint", "checkpoint", "config", "params", "prompts", "limit"):
        objects += [{"project": project_id, field: value} for value in BAD_VALUES]
    objects += [{"project": project_id, "base_checkpoint": foreign_checkpoint_id},
                {"project": project_id, "checkpoint": foreign_checkpoint_id},
                {"project": project_id, "prompts": [HUGE]}, {"project": project_id, "prompts": ["x", None]},
                {"project": project_id, "prompts": list(range(1, 10002))}]
    for name in ("gamma", "beta", "learning_rate", "epochs", "batch_size", "max_steps", "grad_accum", "lora",
                 "lora_target_modules", "dtype", "seed", "save_steps", "max_completion_tokens", "bf16", "unknown"):
        objects += [{"project": project_id, "config": {name: value}} for value in BAD_NUMBERS]
    for name in ("temperature", "top_p", "max_new_tokens", "samples_per_prompt", "batch_size", "seed", "unknown"):
        objects += [{"project": project_id, "params": {name: value}} for value in BAD_NUMBERS]
    objects += [{"project": project_id, "config": {"model": "/etc"}}, {"project": project_id, "config": {"resume": True}}]
    return raw + [json.dumps(body).encode() for body in objects]


BAD_QUERIES = ["project=abc", f"project={HUGE}", "project=-1", "project=", "project=²", "project=1.5",
               "page=abc", "page=0", f"page={HUGE}", "page_size=-1"]
BAD_IDS = ["0", str(10**18 - 1)]


def client_error_problem(answer, what):
    """What is wrong with the answer (None when it is fine): a 500, or an error outside the one error shape."""
    if answer.status_code >= 500:
        return f"{what}: {answer.status_code}"
    if answer.status_code >= 400 and set(answer.json()) != {"error", "fields"}:
        return f"{what}: {answer.content[:300]!r}"
    return None


@pytest.fixture
def projects(db):
    project, other = make_project(), make_project()
    ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True)
    foreign = ModelCheckpoint.objects.create(project=other, name="theirs", path="/nowhere/theirs", is_active=True)
    Prompt.objects.create(project=project, question="q")
    return project, foreign


def test_malformed_input_never_gives_a_500(projects):
    """Malformed bodies, queries and ids answer 4xx in the error shape, for staff and for a member manager."""
    project, foreign = projects
    member_manager = make_user(role=Role.MANAGER, project=project)
    problems = []
    for user in (make_user(role=Role.MANAGER), member_manager):
        client = APIClient(raise_request_exception=False)
        client.force_authenticate(user)
        for url in ("/api/training-runs/", "/api/generation-batches/"):
            for body in bodies(project.pk, foreign.pk) if user is member_manager else bodies(project.pk, foreign.pk)[:12]:
                answer = client.generic("POST", url, body, content_type="application/json")
                problems.append(client_error_problem(answer, f"POST {url} {body[:100]!r}"))
                if answer.status_code == 201:  # a body that happens to be valid: make room for the next one
                    TrainingRun.objects.all().delete()
                    GenerationBatch.objects.all().delete()
        for query in BAD_QUERIES:
            for url in ("/api/training-runs/", "/api/checkpoints/", "/api/generation-batches/"):
                problems.append(client_error_problem(client.get(f"{url}?{query}"), f"GET {url}?{query}"))
        for bad in BAD_IDS + [str(foreign.pk)]:
            for method, url in (("GET", "/api/training-runs/{}/"), ("POST", "/api/training-runs/{}/cancel/"),
                                ("POST", "/api/checkpoints/{}/activate/")):
                answer = client.generic(method, url.format(bad))
                problems.append(client_error_problem(answer, f"{method} {url.format(bad)}"))
    problems = [problem for problem in problems if problem]
    assert not problems, "\n".join(problems)


def test_another_projects_checkpoint_is_refused(projects):
    """Neither staff nor a member manager may start a run or a batch from another project's checkpoint;
    a member manager cannot even see it."""
    project, foreign = projects
    member_manager = make_user(role=Role.MANAGER, project=project)
    for user in (make_user(role=Role.MANAGER), member_manager):
        client = APIClient()
        client.force_authenticate(user)
        for url, field in (("/api/training-runs/", "base_checkpoint"), ("/api/generation-batches/", "checkpoint")):
            answer = client.post(url, {"project": project.pk, field: foreign.pk}, format="json")
            assert answer.status_code == 400 and field in answer.json()["fields"], answer.content
    assert client.post(f"/api/checkpoints/{foreign.pk}/activate/").status_code == 404  # the member manager's
    assert not TrainingRun.objects.exists() and not GenerationBatch.objects.exists()
