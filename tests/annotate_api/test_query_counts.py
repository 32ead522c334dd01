"""The statements of one annotation loop (claim, draft, submit; each with an ``Idempotency-Key``), counted: the
API's throughput on a small machine is mostly the Python time around each statement, so a new one on this path
should be a choice, not an accident. Each count is every statement the request sends, transaction control
included (inside the test's transaction: savepoints)."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.annotate_api.helpers import Team, segment

KEY = "Idempotency-Key"


def _statements(call):
    with CaptureQueriesContext(connection) as queries:
        answer = call()
    assert answer.status_code < 300, answer.content
    return answer.json(), [query["sql"] for query in queries.captured_queries]


@pytest.mark.parametrize("overlap, closes", [(1, True), (2, False)])
def test_one_loop_statements(db, overlap, closes):
    """claim 11, draft 9, submit 12 (14 when it closes the response's last open slot; 20, 16, 20 and 22 before
    issue #18's throughput work): the transaction's two, the key's lookup and its outcome's insert, one read per
    check, one write per row; no savepoint inside the request's own."""
    team = Team(overlap=overlap)
    team.response()
    client = team.client(team.annotator)
    task, claim = _statements(lambda: client.post(f"/api/tasks/next/?project={team.project.pk}", headers={KEY: "c"}))
    draft, draft_sql = _statements(lambda: client.post(
        "/api/annotations/", {"task": task["id"], "segments": [segment(2, 5)]}, format="json", headers={KEY: "d"}))
    _, submit = _statements(lambda: client.patch(
        f"/api/annotations/{draft['id']}/", {"version": draft["version"], "submit": True, "segments": [segment(2, 5, replacement="cat")]}, format="json",
        headers={KEY: "s"}))
    counts = (len(claim), len(draft_sql), len(submit))
    assert counts == (11, 9, 14 if closes else 12), "\n\n".join("\n".join(sql) for sql in (claim, draft_sql, submit))
