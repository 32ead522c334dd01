"""Who may call what: annotator, other annotator, reviewer, another project's reviewer, manager, anonymous.

The annotator holds task T2 with a draft D on it and has submitted S on T1.
What a caller may not see answers 404; what they see but may not do, 403;
a body naming a task not leased to the caller, 400 (like an unknown task);
anonymous callers 401.
"""
import pytest

from tests.annotate_api.helpers import next_task, segment

ROLES = ["annotator", "other", "reviewer", "outsider_reviewer", "manager", None]
ALLOWED = (200, 204)

# endpoint -> expected status per role, in the order of ROLES
MATRIX = {
    "next": [ALLOWED, ALLOWED, ALLOWED, 404, ALLOWED, 401],
    "task_get": [200, 404, 404, 404, 404, 401],
    "task_skip": [200, 404, 404, 404, 404, 401],
    "list": [200, 200, 200, 200, 200, 401],
    "create": [200, 400, 400, 400, 400, 401],
    "get": [200, 404, 200, 404, 200, 401],
    "patch": [200, 404, 403, 404, 403, 401],
    "accept": [403, 404, 200, 404, 200, 401],
    "reject": [403, 404, 200, 404, 200, 401],
    "review_next": [403, 403, 200, 404, 200, 401],
    "agreement": [403, 403, 200, 404, 200, 401],
}
VISIBLE = {"annotator": 2, "other": 0, "reviewer": 2, "outsider_reviewer": 0, "manager": 2}


def _call(client, endpoint, project, t2, draft, submitted):
    p = project.pk
    calls = {
        "next": lambda: client.post(f"/api/tasks/next/?project={p}"),
        "task_get": lambda: client.get(f"/api/tasks/{t2}/"),
        "task_skip": lambda: client.post(f"/api/tasks/{t2}/skip/", {"reason": "r"}, format="json"),
        "list": lambda: client.get("/api/annotations/"),
        "create": lambda: client.post("/api/annotations/", {"task": t2, "segments": [segment(0, 1)]}, format="json"),
        "get": lambda: client.get(f"/api/annotations/{draft}/"),
        "patch": lambda: client.patch(f"/api/annotations/{draft}/", {"version": 1, "segments": []}, format="json"),
        "accept": lambda: client.post(f"/api/annotations/{submitted}/accept/", {}, format="json"),
        "reject": lambda: client.post(f"/api/annotations/{submitted}/reject/", {"reason": "no"}, format="json"),
        "review_next": lambda: client.get(f"/api/review/next/?project={p}"),
        "agreement": lambda: client.get(f"/api/projects/{p}/agreement/"),
    }
    return calls[endpoint]()


@pytest.mark.parametrize("role_index, role", list(enumerate(ROLES)))
@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_permission_matrix(team, endpoint, role_index, role):
    """Each (endpoint, role) answers the status of the matrix; allowed calls of the list see only what they may."""
    for _ in range(3):
        team.response()
    owner = team.client(team.annotator)
    t1 = next_task(owner, team.project)["id"]
    submitted = owner.post("/api/annotations/", {"task": t1, "segments": [segment(2, 5)], "submit": True}, format="json")
    t2 = next_task(owner, team.project)["id"]
    draft = owner.post("/api/annotations/", {"task": t2, "segments": [segment(2, 5)]}, format="json").json()["id"]
    client = team.client(getattr(team, role) if role else None)
    answer = _call(client, endpoint, team.project, t2, draft, submitted.json()["id"])
    expected = MATRIX[endpoint][role_index]
    assert answer.status_code in (expected if isinstance(expected, tuple) else (expected,)), answer.content
    if answer.status_code >= 400:
        assert set(answer.json()) == {"error", "fields"}
    if endpoint == "list" and role:
        assert answer.json()["count"] == VISIBLE[role]
