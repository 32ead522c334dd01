"""Hand-out of annotation slots: leases, expiry, overlap, skips, the queue position."""
from datetime import timedelta

from django.utils import timezone

from annotate.models import Annotation, AnnotationStatus, AnnotationTask
from tests.annotate_api.helpers import TEXT, Team, next_task, segment


def test_next_returns_task_json(team):
    """The task JSON carries the slot, the answer, the prompt with its image URL, no annotation yet and the queue."""
    response = team.response()
    task = next_task(team.client(team.annotator), team.project)
    assert task["id"] == response.tasks.get().pk
    assert task["project"] == team.project.pk and task["slot"] == 0
    assert task["response"] == {"id": response.pk, "text": TEXT, "written_by": ""}
    assert task["prompt"]["question"] == response.prompt.question
    assert task["prompt"]["image_url"].startswith("/media/")
    assert task["annotation"] is None
    assert task["queue"] == {"done": 0, "remaining": 1}
    assert task["lease_expires_at"]


def test_own_lease_returned_first_with_its_draft(team):
    """Asking again (a reload) gives back the same task and the caller's draft on it."""
    team.response(), team.response()
    client = team.client(team.annotator)
    first = next_task(client, team.project)
    client.post("/api/annotations/", {"task": first["id"], "segments": [segment(2, 5)]}, format="json")
    again = next_task(client, team.project)
    assert again["id"] == first["id"]
    assert again["annotation"]["status"] == "draft" and again["annotation"]["segments"][0]["start"] == 2
    assert client.get(f"/api/tasks/{first['id']}/").json()["id"] == first["id"]


def test_expired_lease_goes_to_someone_else(team):
    """Once a lease expires another annotator gets the slot; the first one then gets nothing of that response."""
    team.response()
    first = next_task(team.client(team.annotator), team.project)
    AnnotationTask.objects.filter(pk=first["id"]).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    taken = next_task(team.client(team.other), team.project)
    assert taken["id"] == first["id"]
    assert AnnotationTask.objects.get(pk=first["id"]).leased_to == team.other
    assert next_task(team.client(team.annotator), team.project) is None


def test_a_slot_nobody_holds_goes_before_an_expired_lease(db):
    """Overlap 2: with A's lease on slot 0 expired (A has a draft there), B gets the untouched slot 1, so A can
    still come back and finish the draft."""
    team = Team(overlap=2)
    team.response()
    annotator = team.client(team.annotator)
    first = next_task(annotator, team.project)
    annotator.post("/api/annotations/", {"task": first["id"], "segments": [segment(2, 5)]}, format="json")
    AnnotationTask.objects.filter(pk=first["id"]).update(lease_expires_at=timezone.now() - timedelta(minutes=1))
    taken = next_task(team.client(team.other), team.project)
    assert taken["id"] != first["id"] and taken["slot"] == 1
    again = next_task(annotator, team.project)
    assert again["id"] == first["id"] and again["annotation"]["segments"][0]["start"] == 2


def test_own_expired_lease_renewed_when_still_free(team):
    """An expired lease nobody took comes back to its holder with a new expiry."""
    team.response(), team.response()
    client = team.client(team.annotator)
    first = next_task(client, team.project)
    AnnotationTask.objects.filter(pk=first["id"]).update(lease_expires_at=timezone.now() - timedelta(minutes=1))
    again = next_task(client, team.project)
    assert again["id"] == first["id"]
    assert AnnotationTask.objects.get(pk=first["id"]).lease_expires_at > timezone.now() + timedelta(minutes=29)


def test_overlap_gives_each_response_to_k_distinct_annotators(db):
    """With overlap 2 the two slots of a response go to two people, never twice to one."""
    team = Team(overlap=2)
    responses = [team.response(), team.response()]
    seen = {}
    for user in (team.annotator, team.other, team.reviewer):
        client = team.client(user)
        while (task := next_task(client, team.project)) is not None:
            assert client.post("/api/annotations/", {"task": task["id"], "no_hallucination": True}, format="json").status_code == 201
            seen.setdefault(task["response"]["id"], []).append(user.username)
    assert {key: sorted(names) for key, names in seen.items()} == {r.pk: ["ann", "other"] for r in responses}
    assert not AnnotationTask.objects.filter(status="open").exists()


def test_submit_counts_done_and_closes_slot(team):
    """After a submit the queue position counts it and the slot is done, lease cleared."""
    team.response(), team.response()
    client = team.client(team.annotator)
    task = next_task(client, team.project)
    assert task["queue"] == {"done": 0, "remaining": 2}
    client.post("/api/annotations/", {"task": task["id"], "segments": [segment(2, 5)], "submit": True}, format="json")
    closed = AnnotationTask.objects.get(pk=task["id"])
    assert (closed.status, closed.leased_to, closed.lease_expires_at) == ("done", None, None)
    assert next_task(client, team.project)["queue"] == {"done": 1, "remaining": 1}


def test_skip_frees_slot_for_others_not_for_skipper(team):
    """A skip records a skipped annotation with its reason and hands the slot to the next annotator."""
    team.response()
    client = team.client(team.annotator)
    task = next_task(client, team.project)
    client.post("/api/annotations/", {"task": task["id"], "segments": [segment(2, 5)]}, format="json")
    skipped = client.post(f"/api/tasks/{task['id']}/skip/", {"reason": "image unreadable"}, format="json")
    assert skipped.status_code == 200
    assert skipped.json()["status"] == "skipped" and skipped.json()["segments"] == []
    annotation = Annotation.objects.get(task_id=task["id"], annotator=team.annotator)
    assert (annotation.status, annotation.skip_reason, annotation.version) == (AnnotationStatus.SKIPPED, "image unreadable", 2)
    assert next_task(client, team.project) is None
    assert next_task(team.client(team.other), team.project)["id"] == task["id"]


def test_skip_of_task_not_held_is_404(team):
    """Only the lease holder can skip."""
    team.response()
    task = next_task(team.client(team.annotator), team.project)
    assert team.client(team.other).post(f"/api/tasks/{task['id']}/skip/", {}, format="json").status_code == 404


def test_empty_queue_is_204(team):
    """Nothing to do answers 204 No Content."""
    assert team.client(team.annotator).post(f"/api/tasks/next/?project={team.project.pk}").status_code == 204


def test_next_needs_project_parameter(team):
    """A missing or non-numeric project parameter is a 400 naming it."""
    client = team.client(team.annotator)
    for url in ("/api/tasks/next/", "/api/tasks/next/?project=abc"):
        answer = client.post(url)
        assert answer.status_code == 400 and "project" in answer.json()["fields"]
