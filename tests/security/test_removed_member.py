"""A member removed from a project loses the task they held: no read, draft, submit or skip (#18, finding 5)."""
import pytest

from annotate.models import Annotation, AnnotationStatus, Membership
from tests.annotate_api.helpers import Team, next_task, segment

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def held():
    """The annotator holds a task with a draft on it, then is removed from the project."""
    team = Team()
    team.response()
    client = team.client(team.annotator)
    task = next_task(client, team.project)
    draft = client.post("/api/annotations/", {"task": task["id"], "segments": [segment(2, 5)]}, format="json")
    assert draft.status_code == 201
    Membership.objects.filter(user=team.annotator, project=team.project).delete()
    return team, client, task["id"], draft.json()["id"]


def test_the_removed_member_cannot_read_or_write_the_task_they_held(held):
    team, client, task_id, annotation_id = held
    answers = {
        "GET task": client.get(f"/api/tasks/{task_id}/"),
        "draft": client.post("/api/annotations/", {"task": task_id, "segments": [segment(2, 6)]}, format="json"),
        "submit": client.post("/api/annotations/", {"task": task_id, "segments": [segment(2, 6)], "submit": True},
                              format="json"),
        "PATCH": client.patch(f"/api/annotations/{annotation_id}/", {"version": 1, "submit": True}, format="json"),
        "no hallucination": client.post("/api/annotations/", {"task": task_id, "no_hallucination": True},
                                        format="json"),
        "skip": client.post(f"/api/tasks/{task_id}/skip/", {"reason": "x"}, format="json"),
        "GET annotation": client.get(f"/api/annotations/{annotation_id}/"),
        "next task": client.post(f"/api/tasks/next/?project={team.project.pk}"),
    }
    for what, answer in answers.items():
        assert answer.status_code in (403, 404), (what, answer.status_code, answer.content[:300])
        assert set(answer.json()) == {"error", "fields"}, what
    assert client.get("/api/annotations/").json()["results"] == []
    annotation = Annotation.objects.get(pk=annotation_id)
    assert (annotation.status, annotation.version, annotation.segments.count()) == (AnnotationStatus.DRAFT, 1, 1)


def test_a_member_again_finds_the_task_and_the_draft(held):
    team, client, task_id, annotation_id = held
    Membership.objects.create(user=team.annotator, project=team.project, role="annotator")
    answer = client.get(f"/api/tasks/{task_id}/")
    assert answer.status_code == 200 and answer.json()["annotation"]["id"] == annotation_id
    submit = client.patch(f"/api/annotations/{annotation_id}/", {"version": 1, "submit": True}, format="json")
    assert submit.status_code == 200 and submit.json()["status"] == "submitted"


def test_staff_need_no_membership():
    team = Team()
    team.response()
    client = team.client(team.manager)
    assert not Membership.objects.filter(user=team.manager).exists()
    task = next_task(client, team.project)
    assert client.get(f"/api/tasks/{task['id']}/").status_code == 200
    answer = client.post("/api/annotations/", {"task": task["id"], "no_hallucination": True}, format="json")
    assert answer.status_code == 201, answer.content
