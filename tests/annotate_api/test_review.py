"""Review: the next response's submissions side by side; accept, edit-then-accept, reject."""
from annotate.models import Annotation, Membership, Role
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
    assert body["response"] == {"id": response.pk, "text": TEXT}
    assert body["prompt"]["question"] == response.prompt.question and body["prompt"]["image_url"]
    assert [a["id"] for a in body["annotations"]] == [first["id"], second["id"]]


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
