"""``Idempotency-Key`` on claim, draft and submit: a retry gets the first outcome back and writes nothing."""
import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone
from rest_framework.test import APIClient

from annotate.models import Annotation, AnnotationTask, IdempotentRequest, Segment
from annotate.services.idempotency import idempotent_requests_purge
from annotate.tasks.idempotency import idempotent_requests_purge as purge_task
from tests.annotate_api.helpers import Team, next_task, segment
from tests.factories import make_user

KEY = "Idempotency-Key"


def claim(client, project, key):
    return client.post(f"/api/tasks/next/?project={project.pk}", headers={KEY: key})


def submit(client, task_id, key, segments=None, **extra):
    body = {"task": task_id, "segments": [segment(2, 5)] if segments is None else segments, "submit": True, **extra}
    return client.post("/api/annotations/", body, format="json", headers={KEY: key})


@pytest.fixture
def held(team):
    """The annotator's client and the task they hold."""
    team.response()
    client = team.client(team.annotator)
    return client, next_task(client, team.project)


def assert_replayed(first, retry):
    assert (retry.status_code, retry.json()) == (first.status_code, first.json())
    assert retry.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers


def test_submit_retried_gets_the_first_answer_and_writes_once(held, django_capture_on_commit_callbacks):
    """A submit retried with its key answers the first 201 and body again; one annotation, one record sync."""
    client, task = held
    with django_capture_on_commit_callbacks() as callbacks:
        first = submit(client, task["id"], "k-1")
        retry = submit(client, task["id"], "k-1")
    assert first.status_code == 201 and first.json()["status"] == "submitted"
    assert_replayed(first, retry)
    assert len(callbacks) == 1
    annotation = Annotation.objects.get(task_id=task["id"])
    assert annotation.version == 1 and Segment.objects.filter(annotation=annotation).count() == 1
    assert submit(client, task["id"], "k-2").status_code == 409  # a new key is a new request: already submitted


def test_draft_patch_retried_is_no_stale_version(held):
    """A PATCH retried with its key answers the first 200 again, not 409 for the version it bumped."""
    client, task = held
    draft = client.post("/api/annotations/", {"task": task["id"], "segments": [segment(2, 5)]}, format="json",
                        headers={KEY: "draft"})
    assert_replayed(draft, client.post("/api/annotations/", {"task": task["id"], "segments": [segment(2, 5)]},
                                       format="json", headers={KEY: "draft"}))
    url = f"/api/annotations/{draft.json()['id']}/"
    edit = {"version": 1, "segments": [segment(2, 5, "attribute", "blue")]}
    first = client.patch(url, edit, format="json", headers={KEY: "edit"})
    assert first.status_code == 200 and first.json()["version"] == 2
    assert_replayed(first, client.patch(url, edit, format="json", headers={KEY: "edit"}))
    assert Annotation.objects.get().version == 2
    assert client.patch(url, edit, format="json", headers={KEY: "edit-2"}).status_code == 409


def test_claim_retried_gets_the_same_task_even_after_it_is_done(team):
    """A claim retried with its key answers the task it leased, even once that task is submitted; 204 replays too."""
    for _ in range(2):
        team.response()
    client = team.client(team.annotator)
    first = claim(client, team.project, "c-1")
    assert first.status_code == 200
    assert submit(client, first.json()["id"], "s-1").status_code == 201
    assert_replayed(first, claim(client, team.project, "c-1"))
    assert AnnotationTask.objects.filter(leased_to=team.annotator).count() == 0  # the retry leased nothing
    second = claim(client, team.project, "c-2").json()
    assert second["id"] != first.json()["id"]
    assert submit(client, second["id"], "s-2").status_code == 201
    empty = claim(client, team.project, "c-3")
    assert empty.status_code == 204
    team.response()
    assert claim(client, team.project, "c-3").status_code == 204  # what the first call said, though work came


def test_skip_retried_gets_the_first_answer(held):
    """A skip retried with its key answers the first 200 again, not 404 for the slot it gave up."""
    client, task = held
    url = f"/api/tasks/{task['id']}/skip/"
    first = client.post(url, {"reason": "blurry"}, format="json", headers={KEY: "skip"})
    assert first.status_code == 200 and first.json()["status"] == "skipped"
    assert_replayed(first, client.post(url, {"reason": "blurry"}, format="json", headers={KEY: "skip"}))
    assert client.post(url, {"reason": "blurry"}, format="json").status_code == 404
    assert Annotation.objects.get().version == 1


def test_same_key_for_another_request_is_422(held):
    """The key of one request sent with another body, path or query answers 422 naming the header; nothing written."""
    client, task = held
    assert submit(client, task["id"], "k", [segment(2, 5)]).status_code == 201
    for answer in (
        submit(client, task["id"], "k", [segment(2, 5, "attribute", "blue")]),
        client.patch(f"/api/annotations/{Annotation.objects.get().pk}/", {"version": 1}, format="json",
                     headers={KEY: "k"}),
        client.post("/api/tasks/next/?project=999", headers={KEY: "k"}),
    ):
        assert answer.status_code == 422, answer.content
        assert list(answer.json()["fields"]) == [KEY] and KEY in answer.json()["error"]
    assert Segment.objects.get().replacement == "dog"


def test_keys_are_per_user(team):
    """Two people may send the same key: each gets their own outcome."""
    team.response()
    first = claim(team.client(team.annotator), team.project, "same")
    second = claim(team.client(team.other), team.project, "same")
    assert first.status_code == 200 and second.status_code == 204
    assert "Idempotent-Replayed" not in second.headers


@pytest.mark.parametrize("key, problem", [("x" * 256, "At most 255"), ("", "empty"), ("caf\u00e9", "printable")])
def test_malformed_key_is_400_naming_the_header(held, key, problem):
    """A key over 255 characters, empty, or not printable ASCII answers 400 naming the header; nothing written."""
    client, task = held
    answer = submit(client, task["id"], key)
    assert answer.status_code == 400
    assert list(answer.json()["fields"]) == [KEY] and problem in answer.json()["fields"][KEY][0]
    assert not Annotation.objects.exists() and not IdempotentRequest.objects.exists()


def test_a_4xx_is_replayed_a_5xx_is_not_stored(team, held, monkeypatch):
    """A validation 400 is stored and replayed; a server error leaves no outcome, so the retry runs anew."""
    client, task = held
    bad = submit(client, task["id"], "bad", [segment(5, 2)])
    assert bad.status_code == 400 and "segments[0].end" in bad.json()["fields"]
    assert_replayed(bad, submit(client, task["id"], "bad", [segment(5, 2)]))

    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("annotate.apis.annotations.annotation_save", broken)
    crashing = APIClient(raise_request_exception=False)
    crashing.force_authenticate(team.annotator)
    assert submit(crashing, task["id"], "crash").status_code == 500
    assert not IdempotentRequest.objects.filter(key="crash").exists()
    monkeypatch.undo()
    assert submit(client, task["id"], "crash").status_code == 201


@contextmanager
def connection_lost_after_commit():
    """Every query run outside a transaction once one has run fails, as if the connection was cut at the commit."""
    state = {"in_transaction": False}

    def cut(execute, sql, params, many, context):
        if connection.in_atomic_block:
            state["in_transaction"] = True
        elif state["in_transaction"]:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(cut):
        yield


@pytest.mark.django_db(transaction=True)
def test_answers_are_built_before_the_commit():
    """Claim, draft and submit read nothing after their commit: a connection cut right then costs no 500."""
    team = Team()
    team.response()
    client = team.client(team.annotator)
    with connection_lost_after_commit():
        task = claim(client, team.project, "c")
    assert task.status_code == 200
    with connection_lost_after_commit():
        draft = client.post("/api/annotations/", {"task": task.json()["id"], "segments": [segment(2, 5)]}, format="json")
    assert draft.status_code == 201
    with connection_lost_after_commit():
        done = client.patch(f"/api/annotations/{draft.json()['id']}/", {"version": 1, "submit": True}, format="json",
                            headers={KEY: "s"})
    assert done.status_code == 200 and done.json()["status"] == "submitted"


def _submit_in_thread(user, task_id, barrier, answers):
    client = APIClient()
    client.force_authenticate(user)
    try:
        barrier.wait()
        answers.append(submit(client, task_id, "together", no_hallucination=True, segments=[]))
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_write_once():
    """Two threads send the same submit with the same key at once: one write, two identical 201s (the second waits
    on the key's unique index on PostgreSQL, on the write lock on SQLite, then gets the first's outcome)."""
    team = Team()
    team.response()
    user = make_user(username="twice")
    team.project.members.add(user, through_defaults={"role": "annotator"})
    task = next_task(team.client(user), team.project)
    barrier, answers = threading.Barrier(2), []
    threads = [threading.Thread(target=_submit_in_thread, args=(user, task["id"], barrier, answers)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [answer.status_code for answer in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    assert sorted("Idempotent-Replayed" in answer.headers for answer in answers) == [False, True]
    assert Annotation.objects.get().version == 1 and IdempotentRequest.objects.count() == 1


def test_purge_deletes_expired_outcomes_only(team, settings):
    """The beat task deletes outcomes older than IDEMPOTENCY_KEY_TTL_HOURS and keeps the rest."""
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
    now = timezone.now()
    for key, age in (("old", timedelta(hours=25)), ("fresh", timedelta(hours=23))):
        IdempotentRequest.objects.create(user=team.annotator, key=key, method="POST", path="/api/annotations/",
                                         request_fingerprint="0" * 64, status_code=201, body={}, created_at=now - age)
    assert purge_task() == 1
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["fresh"]
    assert idempotent_requests_purge(ttl=timedelta(hours=1)) == 1


def test_an_expired_key_runs_anew(team, settings):
    """An outcome past the TTL that beat has not purged yet is not replayed: the key is free again."""
    team.response()
    client = team.client(team.annotator)
    assert claim(client, team.project, "c").status_code == 200
    IdempotentRequest.objects.update(created_at=timezone.now() - timedelta(hours=25))
    again = claim(client, team.project, "c")
    assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers
    assert IdempotentRequest.objects.get().created_at > timezone.now() - timedelta(hours=1)
