"""Span-level character-overlap F1 between annotators of the same response."""
import pytest

from annotate.selectors.agreement import span_f1, span_units
from tests.annotate_api.helpers import Team, next_task, segment


def test_span_f1_counts_shared_characters():
    """[0, 4) against [2, 6): 2 shared of 4 + 4 characters."""
    assert span_f1(span_units([(0, 4)]), span_units([(2, 6)])) == pytest.approx(0.5)


def test_span_f1_insertions_and_empty():
    """Insertions at the same point agree; two empty markings agree fully; one empty side scores 0."""
    assert span_f1(span_units([(3, 3)]), span_units([(3, 3)])) == 1.0
    assert span_f1(span_units([(3, 3)]), span_units([(4, 4)])) == 0.0
    assert span_f1(set(), set()) == 1.0
    assert span_f1(set(), span_units([(0, 2)])) == 0.0


def test_agreement_endpoint_per_pair_and_overall(db):
    """Two responses, two annotators: per-pair mean over responses, overall over comparisons."""
    team = Team(overlap=2)
    team.response(), team.response()
    marks = {"ann": [[segment(0, 4)], []], "other": [[segment(2, 6)], []]}
    for user in (team.annotator, team.other):
        client = team.client(user)
        for segments in marks[user.username]:
            task = next_task(client, team.project)
            extra = {"segments": segments, "submit": True} if segments else {"no_hallucination": True}
            client.post("/api/annotations/", {"task": task["id"], **extra}, format="json")
    body = team.client(team.reviewer).get(f"/api/projects/{team.project.pk}/agreement/").json()
    assert body == {
        "overall_f1": pytest.approx(0.75),
        "pairs": [{"annotator_a": "ann", "annotator_b": "other", "f1": pytest.approx(0.75), "responses": 2}],
    }


def test_agreement_without_pairs_is_null(team):
    body = team.client(team.manager).get(f"/api/projects/{team.project.pk}/agreement/").json()
    assert body == {"overall_f1": None, "pairs": []}


def test_a_reviewers_edit_does_not_change_the_annotators_agreement(db):
    """Edit-then-accept replaces the segments that become the record, but agreement keeps comparing what the
    annotators marked (the annotator's own segments are kept on the annotation)."""
    from annotate.models import Annotation

    team = Team(overlap=2)
    team.response()
    for user in (team.annotator, team.other):
        client = team.client(user)
        task = next_task(client, team.project)
        client.post("/api/annotations/", {"task": task["id"], "segments": [segment(0, 4)], "submit": True}, format="json")
    reviewer = team.client(team.reviewer)
    url = f"/api/projects/{team.project.pk}/agreement/"
    assert reviewer.get(url).json()["overall_f1"] == 1.0
    edited = Annotation.objects.get(annotator=team.annotator)
    answer = reviewer.post(f"/api/annotations/{edited.pk}/accept/", {"segments": [segment(10, 14)]}, format="json")
    assert answer.status_code == 200 and answer.json()["segments"][0]["start"] == 10
    assert reviewer.get(url).json()["overall_f1"] == 1.0
    edited.refresh_from_db()
    assert [(s["start"], s["end"]) for s in edited.annotator_segments] == [(0, 4)]
