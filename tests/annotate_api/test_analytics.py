"""Team analytics: figures equal a hand count on a fixture with known timings (analytics_fixture.py), CSV downloads,
who may see them, a constant number of queries, and where the timings come from (leases, annotations)."""
import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotate.models import Annotation, AnnotationTask, Role
from annotate.selectors.analytics import team_analytics
from tests.annotate_api.analytics_fixture import WEEK_1, WEEK_2, analytics_team
from tests.annotate_api.helpers import Team, next_task, segment
from tests.factories import make_judged_response, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    return analytics_team()


def _client(user):
    from rest_framework.test import APIClient

    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def _csv(answer):
    return list(csv.DictReader(io.StringIO(answer.content.decode())))


def test_batches_equal_a_hand_count(team):
    """Per batch: answers, slots, open (free or lease expired), leased (live lease), done, skips; no batch last."""
    project, _, (batch1, batch2) = team
    batches = team_analytics(project=project)["batches"]
    checkpoint = batch1.checkpoint_id
    assert batches == [
        {"batch": batch1.pk, "checkpoint": checkpoint, "answers": 3, "slots": 6, "open": 1, "leased": 1, "done": 4,
         "skipped": 1},
        {"batch": batch2.pk, "checkpoint": checkpoint, "answers": 2, "slots": 4, "open": 2, "leased": 1, "done": 1,
         "skipped": 1},
        {"batch": None, "checkpoint": None, "answers": 2, "slots": 2, "open": 0, "leased": 0, "done": 2, "skipped": 1},
    ]


def test_annotators_equal_a_hand_count(team):
    """Counts by status, sent back, median seconds over the timed (never sent back, with a start), skip reasons,
    mean span F1 against the others."""
    project, _, _ = team
    rows = {row["annotator"]: row for row in team_analytics(project=project)["annotators"]}
    assert list(rows) == ["alice", "bob", "carol"]
    alice, bob, carol = rows["alice"], rows["bob"], rows["carol"]
    # alice: r1 60 s, r2 30 s, r5 45 s, r7 100 s -> median of 30 45 60 100 = 52.5
    assert {key: alice[key] for key in ("submitted", "waiting", "accepted", "rejected", "sent_back", "skipped",
                                        "median_seconds", "timed", "untimed")} == {
        "submitted": 4, "waiting": 1, "accepted": 3, "rejected": 0, "sent_back": 0, "skipped": 1,
        "median_seconds": 52.5, "timed": 4, "untimed": 0}
    assert alice["skip_reasons"] == {"image broken": 1}
    # F1: r1 vs bob 1; r2 [0,4) vs bob's [2,4) 2*2/6; r5 {0,1,5} vs carol's {0,1} 2*2/5
    assert alice["mean_f1"] == pytest.approx((1 + 2 / 3 + 4 / 5) / 3) and alice["comparisons"] == 3
    # bob: r1 accepted (120 s); r2 rejected and r3 reopened after a send-back are submitted but untimed
    assert {key: bob[key] for key in ("submitted", "waiting", "accepted", "rejected", "sent_back", "skipped",
                                      "median_seconds", "timed", "untimed")} == {
        "submitted": 3, "waiting": 0, "accepted": 1, "rejected": 1, "sent_back": 2, "skipped": 2,
        "median_seconds": 120.0, "timed": 1, "untimed": 2}
    assert bob["skip_reasons"] == {"image broken": 1, "unclear question": 1}
    assert bob["mean_f1"] == pytest.approx((1 + 2 / 3) / 2) and bob["comparisons"] == 2
    # carol: r3 without a start (untimed), r5 90 s; her draft on r4 is not submitted
    assert {key: carol[key] for key in ("submitted", "waiting", "accepted", "median_seconds", "timed", "untimed",
                                        "skipped", "skip_reasons")} == {
        "submitted": 2, "waiting": 1, "accepted": 1, "median_seconds": 90.0, "timed": 1, "untimed": 1,
        "skipped": 0, "skip_reasons": {}}
    assert carol["mean_f1"] == pytest.approx(4 / 5) and carol["comparisons"] == 1


def test_agreement_by_week_equals_a_hand_count(team):
    """Each comparison counts for both annotators, in the week of their own submission."""
    project, _, _ = team
    weeks = [(row["annotator"], row["week"], round(row["mean_f1"], 6), row["comparisons"])
             for row in team_analytics(project=project)["agreement"]]
    assert weeks == [
        ("alice", WEEK_1, 1.0, 1), ("alice", WEEK_2, round((2 / 3 + 4 / 5) / 2, 6), 2),
        ("bob", WEEK_1, 1.0, 1), ("bob", WEEK_2, round(2 / 3, 6), 1),
        ("carol", WEEK_2, 0.8, 1),
    ]


def test_the_api_answers_the_same_figures_to_the_projects_managers_only(team):
    """The project's manager and staff: 200; its reviewer and annotators: 403; another project's manager and
    unknown projects: 404; anonymous: 401/403."""
    project, users, _ = team
    url = f"/api/projects/{project.pk}/analytics/"
    answer = _client(users["manager"]).get(url)
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert [row["annotator"] for row in data["annotators"]] == ["alice", "bob", "carol"]
    assert data["annotators"][0]["median_seconds"] == pytest.approx(52.5) and data["batches"][2]["batch"] is None
    assert data["agreement"][0] == {"annotator": "alice", "week": WEEK_1, "mean_f1": 1.0, "comparisons": 1}
    assert _client(make_user(role=Role.MANAGER)).get(url).status_code == 200  # staff
    for name in ("reviewer", "alice"):
        assert _client(users[name]).get(url).status_code == 403, name
    assert _client(users["outsider"]).get(url).status_code == 404
    assert _client(users["manager"]).get(f"/api/projects/{project.pk + 1000}/analytics/").status_code == 404
    assert _client(None).get(url).status_code in (401, 403)
    for table in ("batches", "annotators", "skip-reasons", "agreement"):
        csv_url = f"/api/projects/{project.pk}/analytics/{table}.csv"
        assert _client(users["reviewer"]).get(csv_url).status_code == 403, table
        assert _client(users["outsider"]).get(csv_url).status_code == 404, table
        assert _client(users["manager"]).get(csv_url, HTTP_ACCEPT="text/csv").status_code == 200, table


def test_csv_downloads_hold_the_tables(team):
    """An attachment named after the project and table; a header of the JSON's fields; the same figures."""
    project, users, (batch1, _) = team
    client = _client(users["manager"])
    answer = client.get(f"/api/projects/{project.pk}/analytics/annotators.csv")
    assert answer.status_code == 200 and answer["Content-Type"] == "text/csv; charset=utf-8"
    assert answer["Content-Disposition"] == 'attachment; filename="team-analytics-annotators.csv"'
    rows = _csv(answer)
    assert list(rows[0]) == ["annotator", "submitted", "waiting", "accepted", "rejected", "sent_back", "skipped",
                             "median_seconds", "timed", "untimed", "mean_f1", "comparisons"]
    assert (rows[0]["annotator"], rows[0]["median_seconds"], rows[0]["submitted"]) == ("alice", "52.5", "4")
    assert rows[1]["sent_back"] == "2" and float(rows[2]["mean_f1"]) == pytest.approx(0.8)

    batches = _csv(client.get(f"/api/projects/{project.pk}/analytics/batches.csv"))
    assert [(row["batch"], row["open"], row["leased"], row["done"], row["skipped"]) for row in batches] == [
        (str(batch1.pk), "1", "1", "4", "1"), (str(batch1.pk + 1), "2", "1", "1", "1"), ("", "0", "0", "2", "1")]
    reasons = _csv(client.get(f"/api/projects/{project.pk}/analytics/skip-reasons.csv"))
    assert [(row["annotator"], row["reason"], row["count"]) for row in reasons] == [
        ("alice", "image broken", "1"), ("bob", "image broken", "1"), ("bob", "unclear question", "1")]
    weeks = _csv(client.get(f"/api/projects/{project.pk}/analytics/agreement.csv"))
    assert [(row["annotator"], row["week"], row["comparisons"]) for row in weeks][:2] == [
        ("alice", WEEK_1, "1"), ("alice", WEEK_2, "2")]


def test_csv_cells_that_start_like_a_formula_are_quoted(team):
    """CSV injection: a skip reason or a name starting with = + - @ opens in a spreadsheet as text, not a formula."""
    project, users, _ = team
    evil = make_user(role=Role.ANNOTATOR, project=project, username="@evil")
    task = AnnotationTask.objects.filter(response__prompt__project=project).first()
    for index, reason in enumerate(("=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "fine = ok")):
        Annotation.objects.create(task=AnnotationTask.objects.create(project=project, response=task.response, slot=10 + index),
                                  annotator=evil, status="skipped", skip_reason=reason)
    rows = _csv(_client(users["manager"]).get(f"/api/projects/{project.pk}/analytics/skip-reasons.csv"))
    evil_rows = {row["reason"]: row["annotator"] for row in rows if "evil" in row["annotator"]}
    assert set(evil_rows.values()) == {"'@evil"}
    assert set(evil_rows) == {"'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)", "fine = ok"}


def test_verdicts_csv_by_category(db):
    """Per checkpoint an (any) row and a row per category; reviewers may download it (as the verdicts JSON)."""
    from training.models import ModelCheckpoint

    team = Team(overlap=2)
    base = ModelCheckpoint.objects.create(project=team.project, name="=base", path="/nowhere/base")
    ok = "submitted"
    make_judged_response(team.project, base, "one two three four", [(team.annotator, ok, ["object", "number"]),
                                                                    (team.other, ok, [])])
    url = f"/api/projects/{team.project.pk}/analytics/verdicts.csv"
    answer = team.client(team.reviewer).get(url)
    assert answer.status_code == 200 and answer["Content-Disposition"].startswith("attachment; filename=")
    rows = _csv(answer)
    assert [(row["name"], row["category"], row["judgements"], row["with_category"], row["segments"])
            for row in rows] == [("'=base", "(any)", "2", "1", "2"), ("'=base", "number", "2", "1", "1"),
                                 ("'=base", "object", "2", "1", "1")]
    assert float(rows[0]["rate"]) == pytest.approx(0.5) and rows[0]["ci_low"] and rows[1]["ci_low"] == ""
    assert team.client(team.annotator).get(url).status_code == 403
    assert team.client(team.outsider_reviewer).get(url).status_code == 404


def _queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_a_constant_number_of_queries(team):
    """More annotators, batches, answers and annotations: the same number of queries per call."""
    project, users, (batch1, _) = team
    client = _client(users["manager"])
    urls = [f"/api/projects/{project.pk}/analytics/"] + [
        f"/api/projects/{project.pk}/analytics/{table}.csv" for table in ("batches", "annotators", "skip-reasons",
                                                                            "agreement")]
    before = [_queries(client, url) for url in urls]
    from tests.annotate_api.analytics_fixture import _annotation, _response
    from training.models import GenerationBatch

    more = [make_user(role=Role.ANNOTATOR, project=project) for _ in range(3)]
    batch3 = GenerationBatch.objects.create(project=project, checkpoint=batch1.checkpoint)
    for index in range(4):
        _, tasks = _response(project, batch3 if index % 2 else None)
        for slot, user in enumerate(more[:2]):
            _annotation(tasks[slot], user, "accepted", spans=[(0, index + 1)], started=timezone.now(), seconds=index)
        _annotation(tasks[0], more[2], "skipped", skip_reason=f"reason {index}")
    assert [_queries(client, url) for url in urls] == before


def test_leases_and_annotations_record_when_work_started(db):
    """task_next stamps leased_at when a slot goes to a new holder (a renewal keeps it); the annotation created on
    it copies it as started_at, and a submission's interval is from there."""
    team = Team()
    team.response()
    api = team.client(team.annotator)
    claimed = next_task(api, team.project)
    task = AnnotationTask.objects.get(pk=claimed["id"])
    first = task.leased_at
    assert first is not None and task.leased_to == team.annotator
    AnnotationTask.objects.filter(pk=task.pk).update(lease_expires_at=timezone.now() - timedelta(minutes=1))
    assert next_task(api, team.project)["id"] == task.pk  # the holder renews their own expired lease
    assert AnnotationTask.objects.get(pk=task.pk).leased_at == first
    other = team.client(team.other)
    AnnotationTask.objects.filter(pk=task.pk).update(lease_expires_at=timezone.now() - timedelta(minutes=1))
    assert next_task(other, team.project)["id"] == task.pk  # someone else takes the expired slot: a new start
    second = AnnotationTask.objects.get(pk=task.pk).leased_at
    assert second > first
    answer = other.post("/api/annotations/", {"task": task.pk, "segments": [segment(2, 5)], "submit": True},
                        format="json")
    assert answer.status_code == 201, answer.content
    annotation = Annotation.objects.get(pk=answer.json()["id"])
    assert annotation.started_at == second and annotation.submitted_at >= second


def test_the_endpoints_are_in_the_schema_without_warnings(team):
    """The JSON and CSV endpoints are in the OpenAPI schema; no warning points into their views."""
    from drf_spectacular.drainage import GENERATOR_STATS

    project, users, _ = team
    GENERATOR_STATS.reset()
    paths = _client(users["manager"]).get("/api/schema/?format=json").json()["paths"]
    base = "/api/projects/{project_id}/analytics/"
    assert {base, *(f"{base}{table}.csv" for table in ("batches", "annotators", "skip-reasons", "agreement",
                                                        "verdicts"))} <= set(paths)
    assert "text/csv" in paths[f"{base}annotators.csv"]["get"]["responses"]["200"]["content"]
    messages = list(GENERATOR_STATS._warn_cache) + list(GENERATOR_STATS._error_cache)
    assert [m for m in messages if "nalytics" in m or "Csv" in m or "tables" in m] == []
