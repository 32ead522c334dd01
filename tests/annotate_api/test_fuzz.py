"""Malformed input against every annotate endpoint: always a 4xx in the one error shape, never a 500."""
import json

import pytest

from tests.annotate_api.helpers import next_task, segment

HUGE = 10**20  # past a 64-bit integer column
BAD_BODIES = [
    b"{not json", b"[]", b'"text"', b"42", b"null", b"\xff\xfe",
    json.dumps({"task": "x", "segments": "no", "submit": "maybe", "version": [], "reason": {}}).encode(),
    json.dumps({"task": HUGE, "version": HUGE, "segments": [{"start": HUGE, "end": -HUGE}]}).encode(),
    json.dumps({"task": 1.5, "segments": [None, 3, [], {"start": "0", "end": True, "category": 7, "replacement": 8}]}).encode(),
    json.dumps({"segments": [segment(0, 1)] * 2000, "reason": "x" * 5000}).encode(),
]
BAD_QUERIES = ["project=abc", f"project={HUGE}", "project=-1", "project=", "status=nope&task=x&response=1.5",
               f"task={HUGE}", "format=csv&project=1", "created_since=yesterday&checkpoint=0&project=abc"]
BAD_IDS = ["0", str(HUGE)]


def _assert_client_error(answer, what):
    """No 500; an error answer in JSON has the one error shape (a body may happen to be valid for some endpoint)."""
    assert answer.status_code < 500, f"{what}: {answer.status_code} {answer.content[:300]!r}"
    if answer.status_code >= 400 and answer.get("Content-Type", "").startswith("application/json"):
        body = answer.json()
        assert set(body) == {"error", "fields"}, f"{what}: {body}"


@pytest.mark.django_db
def test_malformed_input_never_gives_a_500(team):
    """Bodies, query strings and ids that make no sense answer 4xx naming the problem, for a member and a manager."""
    team.response()
    annotator, manager = team.client(team.annotator), team.client(team.manager)
    task = next_task(annotator, team.project)
    draft = annotator.post("/api/annotations/", {"task": task["id"], "segments": []}, format="json").json()
    ids = {"task": task["id"], "annotation": draft["id"], "project": team.project.pk}
    posts = ["/api/auth/token/", "/api/annotations/", "/api/tasks/{task}/skip/", "/api/annotations/{annotation}/accept/",
             "/api/annotations/{annotation}/reject/", "/api/export-jobs/", "/api/import/"]
    for client in (annotator, manager):
        for url in posts:
            for body in BAD_BODIES:
                answer = client.generic("POST", url.format(**ids), body, content_type="application/json")
                _assert_client_error(answer, f"POST {url} {body[:60]!r}")
        for body in BAD_BODIES:
            answer = client.generic("PATCH", f"/api/annotations/{draft['id']}/", body, content_type="application/json")
            _assert_client_error(answer, f"PATCH {body[:60]!r}")
        for query in BAD_QUERIES:
            for method, url in (("POST", "/api/tasks/next/"), ("GET", "/api/annotations/"), ("GET", "/api/review/next/"),
                                ("GET", "/api/export/")):
                answer = client.generic(method, f"{url}?{query}")
                _assert_client_error(answer, f"{method} {url}?{query}")
        for bad in BAD_IDS:
            for method, url in (("GET", "/api/tasks/{}/"), ("POST", "/api/tasks/{}/skip/"), ("GET", "/api/annotations/{}/"),
                                ("PATCH", "/api/annotations/{}/"), ("POST", "/api/annotations/{}/accept/"),
                                ("POST", "/api/annotations/{}/reject/"), ("GET", "/api/projects/{}/agreement/"),
                                ("GET", "/api/export-jobs/{}/"), ("GET", "/api/export-jobs/{}/download/")):
                answer = client.generic(method, url.format(bad), b'{"version": 1, "reason": "r"}',
                                        content_type="application/json")
                _assert_client_error(answer, f"{method} {url.format(bad)}")


@pytest.mark.django_db
@pytest.mark.parametrize("rewrite,problem", [("\x00", "NUL"), ("a\ud800", "lone surrogate")])
def test_a_rewrite_the_database_cannot_store_is_a_400_naming_it(team, rewrite, problem):
    """A NUL or a lone surrogate in a replacement (raw JSON, no DRF CharField) names segments[0].replacement
    when annotating, editing and editing-then-accepting."""
    team.response()
    annotator, reviewer = team.client(team.annotator), team.client(team.reviewer)
    task = next_task(annotator, team.project)
    bad = [segment(0, 1, replacement=rewrite)]

    def send(client, method, url, body):  # json.dumps escapes a lone surrogate, as a browser's JSON.stringify does
        return client.generic(method, url, json.dumps(body), content_type="application/json")

    created = send(annotator, "POST", "/api/annotations/", {"task": task["id"], "segments": bad})
    draft = annotator.post("/api/annotations/", {"task": task["id"], "segments": [segment(0, 1)]}, format="json").json()
    url = f"/api/annotations/{draft['id']}/"
    patched = send(annotator, "PATCH", url, {"version": draft["version"], "segments": bad, "submit": True})
    annotator.patch(url, {"version": draft["version"], "submit": True}, format="json")
    accepted = send(reviewer, "POST", f"{url}accept/", {"segments": bad})
    for answer in (created, patched, accepted):
        assert answer.status_code == 400, answer.content
        assert problem in answer.json()["fields"]["segments[0].replacement"][0]


@pytest.mark.django_db
def test_a_json_body_over_the_upload_limit_is_a_413_in_the_error_shape(team, settings):
    """DATA_UPLOAD_MAX_MEMORY_SIZE holds for JSON bodies, answered like every other API error (not an HTML 400)."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    annotator = team.client(team.annotator)
    body = json.dumps({"task": 1, "segments": [segment(0, 1)] * 40}).encode()
    answer = annotator.generic("POST", "/api/annotations/", body, content_type="application/json")
    assert answer.status_code == 413 and "limit of 1000 bytes" in answer.json()["error"]
    small = annotator.generic("POST", "/api/annotations/", b'{"task": "x"}', content_type="application/json")
    assert small.status_code == 400 and "task" in small.json()["fields"]


@pytest.mark.django_db
def test_an_unknown_api_path_answers_in_the_error_shape(team):
    """A 404 under /api/ is JSON like every other API error; pages elsewhere keep Django's HTML 404."""
    answer = team.client(team.annotator).get("/api/nope/")
    assert answer.status_code == 404 and answer.json() == {"error": "No endpoint /api/nope/.", "fields": {}}
    assert team.client(team.annotator).get("/nope/")["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_a_multipart_body_with_too_many_fields_answers_in_the_error_shape(team, settings):
    """Django's SuspiciousOperation family (here TooManyFieldsSent) is a JSON 400, not Django's HTML page."""
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    fields = {f"field{i}": "x" for i in range(20)}
    answer = team.client(team.manager).post("/api/import/", fields, format="multipart")
    assert answer.status_code == 400 and "fields" in answer.json()


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [600, 5000])
def test_deeply_nested_json_is_a_400(team, depth):
    """Nesting past what the parser or our checks recurse through is refused, not a RecursionError (500)."""
    body = '{"project": %d, "config": {"lora_target_modules": %s"q"%s}}' % (team.project.pk, "[" * depth, "]" * depth)
    answer = team.client(team.manager).generic("POST", "/api/training-runs/", body, content_type="application/json")
    assert answer.status_code == 400, answer.content[:200]
