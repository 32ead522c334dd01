"""The claim at scale: its cost does not grow with the queue, and the queue position it reports stays exact."""
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotate.models import (
    Annotation,
    AnnotationTask,
    Prompt,
    Response,
    Role,
)
from annotate.selectors.tasks import (
    queue_open_responses,
    task_available,
    task_claim_read,
    task_claim_sql,
    task_queue_position,
)
from annotate.services.responses import responses_create
from tests.annotate_api.helpers import Team, next_task
from tests.factories import make_project, make_user


def _queue(size, overlap=1):
    """A project of ``size`` responses (no images: quicker to write) and an annotator in it."""
    project = make_project(overlap=overlap)
    prompts = Prompt.objects.bulk_create(Prompt(project=project, question="Describe it.") for _ in range(size))
    responses_create(project=project, responses=[Response(prompt=prompt, text="A red circle.") for prompt in prompts])
    return project, make_user(role=Role.ANNOTATOR, project=project)


def _claim_queries(size):
    """Queries of one claim by someone who skipped the first two responses (the walk steps over them)."""
    project, user = _queue(size)
    client = Team.client(None, user)
    for _ in range(2):
        task = next_task(client, project)
        assert client.post(f"/api/tasks/{task['id']}/skip/", {}, format="json").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        task = next_task(client, project)
    assert task["queue"] == {"done": 0, "remaining": size - 2}
    return len(queries)


def test_claim_queries_do_not_grow_with_the_queue(db):
    """The same number of queries at 10 and at 1,000 open slots."""
    assert _claim_queries(10) == _claim_queries(1000)


@pytest.mark.postgres
def test_claim_plan_walks_the_open_slots_index(db):
    """On PostgreSQL, without table statistics (as after a fresh bulk load) and with them, the claim reads the
    partial index of open slots in queue order: no sort of the open slots, no scan of the task table. So does the
    generic plan PostgreSQL may keep for the prepared statement after its fifth run."""
    project, user = _queue(5000)
    client = Team.client(None, user)
    task = next_task(client, project)
    client.post(f"/api/tasks/{task['id']}/skip/", {}, format="json")
    claim = task_available(user=user, project=project).select_for_update(skip_locked=True, of=("self",))[:1]
    sql, params = task_claim_sql(user=user, project=project, now=timezone.now(), held=False)  # what task_next runs
    for analyzed in (False, True):
        if analyzed:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE annotate_annotationtask")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql, params)
            raw_plan = "\n".join(row[0] for row in cursor.fetchall())
        numbered = iter(range(1, len(params) + 1))
        with connection.cursor() as cursor:
            cursor.execute("PREPARE claim_probe AS " + re.sub("%s", lambda _: f"${next(numbered)}", sql))
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            cursor.execute(connection.ops.compose_sql("EXPLAIN EXECUTE claim_probe(%s, %s, %s)", params))
            generic_plan = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("RESET plan_cache_mode")
            cursor.execute("DEALLOCATE claim_probe")
        assert "$1" in generic_plan, generic_plan  # planned without the values
        for plan in (claim.explain(), raw_plan, generic_plan):
            assert "task_open_idx" in plan, plan
            assert "Sort" not in plan and "Seq Scan on annotate_annotationtask" not in plan, plan


def test_the_claims_sql_picks_the_head_of_task_available(db):
    """``task_next`` reads ``task_available``'s head in SQL: the same slot each time, past the caller's skips and
    others' running leases, the slots nobody holds before an expired lease, then none."""
    project, user = _queue(4)
    holders = [Team.client(None, make_user(role=Role.ANNOTATOR, project=project)) for _ in range(2)]
    expired = next_task(holders[0], project)["id"]
    next_task(holders[1], project)
    AnnotationTask.objects.filter(pk=expired).update(lease_expires_at=timezone.now() - timedelta(minutes=1))
    client, picked = Team.client(None, user), []
    while True:
        expected = task_available(user=user, project=project).first()
        got = task_claim_read(user=user, project=project, now=timezone.now(), held=False)
        assert (got and got.pk) == (expected and expected.pk)
        if expected is None:
            break
        picked.append(expected.pk)
        assert next_task(client, project)["id"] == expected.pk
        client.post(f"/api/tasks/{expected.pk}/skip/", {}, format="json")
    assert len(picked) == 3 and picked[-1] == expired


def _reference_position(user, project):
    """The queue position by the definition: a scan of every open slot (what the claim no longer does)."""
    now = timezone.now()
    annotated = Annotation.objects.filter(annotator=user, task__response=OuterRef("response"))
    leased = AnnotationTask.objects.filter(response=OuterRef("response"), leased_to=user, status="open")
    open_slots = AnnotationTask.objects.filter(response__prompt__project=project, status="open")
    available = open_slots.filter(Q(leased_to__isnull=True) | Q(lease_expires_at__lte=now)).filter(
        ~Exists(annotated), ~Exists(leased))
    held = open_slots.filter(leased_to=user)
    return len(set(available.values_list("response_id", flat=True))) + len(set(held.values_list("response_id", flat=True)))


def _check(team, users):
    open_responses = AnnotationTask.objects.filter(project=team.project, status="open").values("response").distinct()
    assert queue_open_responses(project_id=team.project.pk) == open_responses.count()
    for user in users:
        assert task_queue_position(user=user, project=team.project)["remaining"] == _reference_position(user, team.project), user


def _expire(task_id):
    AnnotationTask.objects.filter(pk=task_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def test_remaining_stays_exact(db):
    """Across claims, skips, drafts, submits, expired leases taken over, a reject sent back and the queue
    drained, every annotator's "remaining" equals the count by scan, and the open-responses counter the count
    of responses with an open slot."""
    team = Team(overlap=2)
    third = make_user(role=Role.ANNOTATOR, project=team.project)
    users = [team.annotator, team.other, third]
    a, b, c = (team.client(user) for user in users)
    for _ in range(4):
        team.response()
    _check(team, users)
    a_task, b_task, c_task = next_task(a, team.project), next_task(b, team.project), next_task(c, team.project)
    _check(team, users)
    a.post(f"/api/tasks/{a_task['id']}/skip/", {}, format="json")
    _check(team, users)
    assert c.post("/api/annotations/", {"task": c_task["id"], "no_hallucination": True}, format="json").status_code == 201
    _check(team, users)
    _expire(b_task["id"])  # B wrote nothing: the slot is anyone's (but B's own reload) and B may get the response again
    _check(team, users)
    taken = next_task(c, team.project)
    _check(team, users)
    a_task = next_task(a, team.project)
    a.post("/api/annotations/", {"task": a_task["id"], "segments": []}, format="json")  # a draft
    _expire(a_task["id"])
    _check(team, users)
    b_task = next_task(b, team.project)
    _check(team, users)
    for client, task in ((c, taken), (b, b_task)):
        client.post("/api/annotations/", {"task": task["id"], "no_hallucination": True}, format="json")
        _check(team, users)
    submitted = Annotation.objects.filter(annotator=third, status="submitted").first()
    assert team.client(team.reviewer).post(
        f"/api/annotations/{submitted.pk}/reject/", {"reason": "look again"}, format="json").status_code == 200
    _check(team, users)
    for client in (a, b, c):
        while (task := next_task(client, team.project)) is not None:
            answer = client.post("/api/annotations/", {"task": task["id"], "no_hallucination": True}, format="json")
            if answer.status_code == 200:  # the draft or the sent-back answer already there
                client.patch(f"/api/annotations/{answer.json()['id']}/", {"version": answer.json()["version"], "submit": True}, format="json")
            _check(team, users)
    assert not AnnotationTask.objects.filter(project=team.project, status="open").exists()
