"""Review: the next response's submissions side by side; accept, edit-then-accept, reject and the fix."""
from datetime import timedelta

from django.utils import timezone

from annotate.models import Annotation, AnnotationStatus, AnnotationTask, Membership, PreferenceRecord, Role
from annotate.services.records import record_sync
from tests.annotate_api.helpers import TEXT, Team, next_task, segment
from tests.factories import make_user


def submit(team, user, segments=(), **extra):
    client = team.client(user)
    task = next_task(client, team.project)
    answer = client.post("/api/annotations/", {"task": task["id"], "segments": list(segments), "submit": True, **extra}, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def test_review_next_shows_all_submissions_of_one_response(db):
    """With overlap 2 the reviewer sees both annotators' submissions of the response; drafts stay hidden."""
    team = Team(overlap=2)
    response = team.response()
    first = submit(team, team.annotator, [segment(2, 5)])
    second = submit(team, team.other, no_hallucination=True)
    answer = team.client(team.reviewer).get(f"/api/review/next/?project={team.project.pk}")
    assert answer.status_code == 200
    body = answer.json()
    assert body["response"] == {"id": response.pk, "text": TEXT, "written_by": ""}
    assert body["prompt"]["question"] == response.prompt.question and body["prompt"]["image_url"]
    assert [a["id"] for a in body["annotations"]] == [first["id"], second["id"]]
    assert body["waiting"] == {"answers": 1, "annotations": 2, "disputed": 0}


def test_review_next_counts_what_waits_for_this_reviewer(db):
    """Three answers submitted, one of them by the reviewer (never theirs to decide): two answers wait."""
    team = Team(overlap=1)
    for _ in range(3):
        team.response()
    submit(team, team.annotator, [segment(2, 5)])
    submit(team, team.other, no_hallucination=True)
    submit(team, team.reviewer, [segment(2, 5)])
    body = team.client(team.reviewer).get(f"/api/review/next/?project={team.project.pk}").json()
    assert body["waiting"] == {"answers": 2, "annotations": 2, "disputed": 0}
    manager_view = team.client(team.manager).get(f"/api/review/next/?project={team.project.pk}").json()
    assert manager_view["waiting"] == {"answers": 3, "annotations": 3, "disputed": 0}


def test_review_next_is_204_when_nothing_waits(team):
    assert team.client(team.reviewer).get(f"/api/review/next/?project={team.project.pk}").status_code == 204


def test_accept_and_reject(db, django_capture_on_commit_callbacks):
    """Accept and reject close the review, bump the version and queue the record sync."""
    team = Team()
    team.response(), team.response()
    accepted = submit(team, team.annotator, [segment(2, 5)])
    rejected = submit(team, team.annotator, [segment(2, 5)])
    reviewer = team.client(team.reviewer)
    with django_capture_on_commit_callbacks() as callbacks:
        ok = reviewer.post(f"/api/annotations/{accepted['id']}/accept/", {}, format="json")
        no = reviewer.post(f"/api/annotations/{rejected['id']}/reject/", {"reason": "missed the dog"}, format="json")
    assert ok.status_code == 200 and ok.json()["status"] == "accepted" and ok.json()["version"] == 2
    assert no.json()["status"] == "rejected" and no.json()["review_reason"] == "missed the dog"
    assert len(callbacks) == 2
    assert Annotation.objects.get(pk=accepted["id"]).reviewer == team.reviewer
    again = reviewer.post(f"/api/annotations/{accepted['id']}/accept/", {}, format="json")
    assert again.status_code == 409
    assert reviewer.get(f"/api/review/next/?project={team.project.pk}").status_code == 204


def test_reject_needs_a_reason(team):
    team.response()
    annotation = submit(team, team.annotator, [segment(2, 5)])
    answer = team.client(team.reviewer).post(f"/api/annotations/{annotation['id']}/reject/", {"reason": ""}, format="json")
    assert answer.status_code == 400 and "reason" in answer.json()["fields"]


def test_edit_then_accept(team):
    """The reviewer's segments replace the annotator's, validated with field names."""
    team.response()
    annotation = submit(team, team.annotator, [segment(2, 5, "attribute", "blue")])
    reviewer = team.client(team.reviewer)
    url = f"/api/annotations/{annotation['id']}/accept/"
    bad = reviewer.post(url, {"segments": [segment(2, 5, "colour", "green")]}, format="json")
    assert bad.status_code == 400 and "segments[0].category" in bad.json()["fields"]
    body = reviewer.post(url, {"segments": [segment(2, 5, "attribute", "green")]}, format="json").json()
    assert body["status"] == "accepted" and body["chosen"] == TEXT.replace("red", "green", 1)


def test_project_manager_membership_reviews_like_a_reviewer(team):
    """A non-staff user with the manager role in the project sees and accepts its submissions."""
    team.response()
    annotation = submit(team, team.annotator, [segment(2, 5)])
    lead = make_user(username="lead")
    Membership.objects.create(project=team.project, user=lead, role=Role.MANAGER)
    client = team.client(lead)
    assert client.get(f"/api/review/next/?project={team.project.pk}").status_code == 200
    assert client.get(f"/api/annotations/{annotation['id']}/").status_code == 200
    assert client.post(f"/api/annotations/{annotation['id']}/accept/", {}, format="json").json()["status"] == "accepted"


def test_nobody_reviews_their_own_annotation(team):
    """A reviewer's own submission is not offered to them for review, and accepting or rejecting it is 403."""
    team.response()
    own = submit(team, team.reviewer, [segment(2, 5)])
    reviewer = team.client(team.reviewer)
    assert reviewer.get(f"/api/review/next/?project={team.project.pk}").status_code == 204
    assert reviewer.post(f"/api/annotations/{own['id']}/accept/", {}, format="json").status_code == 403
    assert reviewer.post(f"/api/annotations/{own['id']}/reject/", {"reason": "x"}, format="json").status_code == 403
    answer = team.client(team.manager).get(f"/api/review/next/?project={team.project.pk}")
    assert [a["id"] for a in answer.json()["annotations"]] == [own["id"]]


def test_rejected_annotation_comes_back_to_its_annotator_to_fix(team):
    """A reject reopens the slot for its annotator: next task, segments and reason back; the fix goes to review
    again and, accepted, becomes a record."""
    team.response(), team.response()
    client = team.client(team.annotator)
    rejected = submit(team, team.annotator, [segment(2, 5, "attribute", "blue")])
    reviewer = team.client(team.reviewer)
    assert reviewer.post(f"/api/annotations/{rejected['id']}/reject/", {"reason": "It is green."},
                         format="json").status_code == 200

    task = next_task(client, team.project)
    assert task["id"] == rejected["task"]
    assert task["annotation"]["status"] == "rejected" and task["annotation"]["review_reason"] == "It is green."
    assert task["annotation"]["reviewer"] == "rev" and task["annotation"]["reviewed_at"]
    assert [s["replacement"] for s in task["annotation"]["segments"]] == ["blue"]
    assert task["queue"] == {"done": 0, "remaining": 2}  # the returned answer is to do, not done

    draft = client.post("/api/annotations/", {"task": task["id"], "segments": [segment(2, 5, "attribute", "grn")]},
                        format="json")
    assert draft.status_code == 200 and draft.json()["status"] == "draft"
    assert draft.json()["review_reason"] == "It is green."  # still shown while the annotator fixes it
    fixed = client.patch(f"/api/annotations/{rejected['id']}/", {
        "version": draft.json()["version"], "segments": [segment(2, 5, "attribute", "green")], "submit": True,
    }, format="json")
    assert fixed.status_code == 200 and fixed.json()["status"] == "submitted"
    assert fixed.json()["reviewer"] is None and fixed.json()["reviewed_at"] is None  # waits for a new review
    assert fixed.json()["review_reason"] == "It is green."
    assert next_task(client, team.project)["id"] != rejected["task"]  # on to the next answer
    assert reviewer.get(f"/api/review/next/?project={team.project.pk}").json()["annotations"][0]["id"] == rejected["id"]
    assert reviewer.post(f"/api/annotations/{rejected['id']}/accept/", {}, format="json").status_code == 200
    record_sync(annotation_id=rejected["id"])  # what the worker runs on the accept
    assert PreferenceRecord.objects.get(annotation_id=rejected["id"]).chosen == TEXT.replace("red", "green", 1)
    assert client.post("/api/annotations/", {"task": task["id"], "segments": []}, format="json").status_code == 409


def test_returned_slot_nobody_fixes_goes_to_someone_else(team):
    """The lease of a returned slot expires like any other: another annotator takes it, and the first can no
    longer write there."""
    team.response()
    rejected = submit(team, team.annotator, [segment(2, 5)])
    team.client(team.reviewer).post(f"/api/annotations/{rejected['id']}/reject/", {"reason": "no"}, format="json")
    AnnotationTask.objects.filter(pk=rejected["task"]).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    taken = next_task(team.client(team.other), team.project)
    assert taken["id"] == rejected["task"] and taken["annotation"] is None
    late = team.client(team.annotator).post("/api/annotations/", {"task": rejected["task"], "segments": [segment(2, 5)]},
                                            format="json")
    assert late.status_code == 400 and "task" in late.json()["fields"]
    assert Annotation.objects.get(pk=rejected["id"]).status == AnnotationStatus.REJECTED
    assert next_task(team.client(team.annotator), team.project) is None


def test_skipping_a_returned_answer_frees_its_slot(team):
    team.response()
    rejected = submit(team, team.annotator, [segment(2, 5)])
    team.client(team.reviewer).post(f"/api/annotations/{rejected['id']}/reject/", {"reason": "no"}, format="json")
    skipped = team.client(team.annotator).post(f"/api/tasks/{rejected['task']}/skip/", {"reason": "unsure"}, format="json")
    assert skipped.status_code == 200, skipped.content
    assert Annotation.objects.get(pk=rejected["id"]).status == AnnotationStatus.SKIPPED
    assert next_task(team.client(team.other), team.project)["id"] == rejected["task"]


def test_rejected_no_hallucination_comes_back_to_be_corrected(team):
    """A rejected "no hallucination" is not said again by a PATCH that leaves the flag out: a draft stays a
    draft, and segments are accepted."""
    team.response()
    said = submit(team, team.annotator, no_hallucination=True)
    team.client(team.reviewer).post(f"/api/annotations/{said['id']}/reject/", {"reason": "red is wrong"}, format="json")
    client = team.client(team.annotator)
    version = Annotation.objects.get(pk=said["id"]).version
    draft = client.patch(f"/api/annotations/{said['id']}/", {"version": version, "submit": False}, format="json")
    assert draft.status_code == 200 and draft.json()["status"] == "draft" and not draft.json()["no_hallucination"]
    fixed = client.patch(f"/api/annotations/{said['id']}/", {
        "version": draft.json()["version"], "segments": [segment(2, 5, "attribute", "green")], "submit": True,
    }, format="json")
    assert fixed.status_code == 200 and fixed.json()["status"] == "submitted" and fixed.json()["segments"]
