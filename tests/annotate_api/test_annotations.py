"""Drafts, submissions, "no hallucination", optimistic concurrency and field-named validation errors."""
from unittest.mock import Mock

import pytest

from annotate.apis.annotations import AnnotationOutputSerializer
from annotate.models import Annotation, Segment
from annotate.services.annotations import annotation_save, annotation_update
from annotate.services.review import annotation_accept
from tests.annotate_api.helpers import TEXT, next_task, segment
from training.ddpo.alignment import apply_segments


@pytest.fixture
def held(team):
    """The annotator's client and the task they hold."""
    team.response()
    client = team.client(team.annotator)
    return client, next_task(client, team.project)


def post(client, task, segments=(), **extra):
    return client.post("/api/annotations/", {"task": task["id"], "segments": list(segments), **extra}, format="json")


def test_draft_created_then_updated(held):
    """The first POST creates a draft (201), the next updates it (200) with version + 1."""
    client, task = held
    created = post(client, task, [segment(2, 5, "attribute", "blue")])
    assert created.status_code == 201
    body = created.json()
    assert (body["status"], body["version"], body["annotator"]) == ("draft", 1, "ann")
    assert body["chosen"] == TEXT.replace("red", "blue", 1)
    updated = post(client, task, [segment(2, 5, "attribute", "green")])
    assert updated.status_code == 200 and updated.json()["id"] == body["id"] and updated.json()["version"] == 2
    assert Segment.objects.filter(annotation_id=body["id"]).get().replacement == "green"


def test_each_write_applies_the_segments_once(team, held, monkeypatch):
    """Saving a draft, submitting it and an edit-then-accept each apply the segments once, while validating them;
    the answer's ``chosen`` reuses that result (the record worker applies the stored segments on its own)."""
    spy = Mock(wraps=apply_segments)
    monkeypatch.setattr("annotate.services.annotations.apply_segments", spy)
    monkeypatch.setattr("annotate.apis.annotations.apply_segments", spy)

    def chosen(annotation):
        return AnnotationOutputSerializer(annotation).data["chosen"]

    _, task = held
    draft, _ = annotation_save(user=team.annotator, task_id=task["id"], segments=[segment(2, 5, "attribute", "blue")])
    assert chosen(draft) == TEXT.replace("red", "blue", 1) and spy.call_count == 1
    submitted = annotation_update(user=team.annotator, annotation_id=draft.pk, version=1, submit=True)
    assert chosen(submitted) == TEXT.replace("red", "blue", 1) and spy.call_count == 2
    pink = [segment(2, 5, "attribute", "pink")]
    accepted = annotation_accept(reviewer=team.reviewer, annotation_id=draft.pk, segments=pink)
    assert chosen(accepted) == TEXT.replace("red", "pink", 1) and spy.call_count == 3
    assert chosen(Annotation.objects.get()) == TEXT.replace("red", "pink", 1) and spy.call_count == 4  # a read applies


def test_code_point_offsets_around_emoji_and_combining_marks(held):
    """Offsets count code points: a ZWJ emoji and a combining mark are corrected exactly."""
    client, task = held
    dog = TEXT.index("🐕")
    accent = TEXT.index("e\u0301")
    segments = [segment(dog, dog + len("🐕‍🦺"), "object", "cat"), segment(accent, accent + 2, "other", "é")]
    body = post(client, task, segments, submit=True).json()
    assert body["chosen"] == TEXT.replace("🐕‍🦺", "cat").replace("e\u0301", "é")


def test_double_submit_creates_one_annotation(held, django_capture_on_commit_callbacks):
    """A second submit answers 409 naming the existing annotation; one annotation exists, one record sync queued."""
    client, task = held
    with django_capture_on_commit_callbacks() as callbacks:
        first = post(client, task, [segment(2, 5)], submit=True)
    assert first.status_code == 201 and first.json()["status"] == "submitted"
    assert len(callbacks) == 1
    second = post(client, task, [segment(2, 5)], submit=True)
    assert second.status_code == 409
    assert str(first.json()["id"]) in second.json()["fields"]["task"][0]
    assert Annotation.objects.filter(task_id=task["id"]).count() == 1


def test_draft_never_overwrites_submitted(held):
    """A draft POST or PATCH after the submit is refused with 409 and leaves the submission as it was."""
    client, task = held
    submitted = post(client, task, [segment(2, 5)], submit=True).json()
    assert post(client, task, [segment(6, 12)]).status_code == 409
    patched = client.patch(f"/api/annotations/{submitted['id']}/", {"version": submitted["version"], "segments": []}, format="json")
    assert patched.status_code == 409
    assert Annotation.objects.get(pk=submitted["id"]).segments.get().start == 2


def test_patch_with_stale_version_is_409(held):
    """Two tabs: the one writing with an old version gets 409 and the current version in the error."""
    client, task = held
    draft = post(client, task, [segment(2, 5)]).json()
    url = f"/api/annotations/{draft['id']}/"
    fresh = client.patch(url, {"version": 1, "segments": [segment(6, 12)]}, format="json")
    assert fresh.status_code == 200 and fresh.json()["version"] == 2
    stale = client.patch(url, {"version": 1, "segments": [segment(0, 1)]}, format="json")
    assert stale.status_code == 409 and "version" in stale.json()["fields"]
    assert Annotation.objects.get(pk=draft["id"]).segments.get().start == 6


def test_patch_submit_and_no_hallucination(held, django_capture_on_commit_callbacks):
    """PATCH can submit a draft; "no hallucination" clears its segments and is final."""
    client, task = held
    draft = post(client, task, [segment(2, 5)]).json()
    with django_capture_on_commit_callbacks() as callbacks:
        answer = client.patch(f"/api/annotations/{draft['id']}/", {"version": 1, "no_hallucination": True}, format="json")
    body = answer.json()
    assert (body["status"], body["no_hallucination"], body["segments"], body["chosen"]) == ("submitted", True, [], TEXT)
    assert len(callbacks) == 1


def test_no_hallucination_with_segments_is_400(held):
    """A "no hallucination" judgement cannot carry corrections."""
    client, task = held
    answer = post(client, task, [segment(2, 5)], no_hallucination=True)
    assert answer.status_code == 400 and "segments" in answer.json()["fields"]


def test_a_submission_with_neither_segments_nor_no_hallucination_is_400(held):
    """It would judge nothing (and could never become a record); the draft stays a draft."""
    client, task = held
    post(client, task)
    answer = post(client, task, submit=True)
    assert answer.status_code == 400 and "no_hallucination" in answer.json()["fields"]["segments"][0]
    assert post(client, task, no_hallucination=True).json()["status"] == "submitted"


@pytest.mark.parametrize(
    "segments, field",
    [
        ([segment(2, 5), segment(0, 999)], "segments[1].end"),
        ([segment(-1, 3)], "segments[0].start"),
        ([segment(5, 2)], "segments[0].end"),
        ([segment(2, 8), segment(6, 9)], "segments[1].start"),
        ([segment(3, 3), segment(3, 3, replacement="x")], "segments[1].start"),
        ([segment(2, 5, category="colour")], "segments[0].category"),
        ([segment(2, 5, replacement="x" * 51)], "segments[0].replacement"),
        ([segment(4, 4, replacement="")], "segments[0].replacement"),
        ([{"end": 3, "category": "object"}], "segments[0].start"),
        ([segment("2", 5)], "segments[0].start"),
        (["oops"], "segments[0]"),
    ],
)
def test_validation_errors_name_the_field(held, segments, field):
    """Each bad segment answers 400 with the exact field in ``fields`` and the message."""
    client, task = held
    answer = post(client, task, segments)
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["fields"], answer.json()
    assert field in answer.json()["error"]
    assert not Annotation.objects.exists()


def test_segments_not_a_list_is_400(held):
    client, task = held
    answer = client.post("/api/annotations/", {"task": task["id"], "segments": "2-5"}, format="json")
    assert answer.status_code == 400 and "segments" in answer.json()["fields"]


def test_annotation_on_task_not_leased_is_400_naming_task(team, held):
    """Someone else's slot and an unknown task get the same 400 naming ``task`` (the id reveals nothing)."""
    client, task = held
    answer = post(team.client(team.other), task, [segment(2, 5)])
    missing = client.post("/api/annotations/", {"task": 999999, "segments": []}, format="json")
    assert answer.status_code == missing.status_code == 400
    assert answer.json()["fields"] == missing.json()["fields"] == {"task": ["Not leased to you."]}
    assert not Annotation.objects.exists()


def test_list_filters_are_a_whitelist(team, held):
    """project/status/task/response filter exactly; relation-walking lookups are ignored, not applied."""
    client, task = held
    post(client, task, [segment(2, 5)])
    listed = client.get(f"/api/annotations/?project={team.project.pk}&status=draft").json()
    assert listed["count"] == 1 and listed["results"][0]["task"] == task["id"]
    assert client.get("/api/annotations/?status=submitted").json()["count"] == 0
    walked = client.get("/api/annotations/?annotator__password__startswith=x").json()
    assert walked["count"] == 1
    assert client.get("/api/annotations/?status=bogus").status_code == 400
