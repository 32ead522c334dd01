"""Agreement between annotators of the same response: span F1, category and rewrite agreement on matched
spans, Krippendorff's alpha."""
import pytest

from annotate.selectors.agreement import krippendorff_alpha_nominal, matched_agreement, span_f1, span_units
from tests.annotate_api.helpers import Team, next_task, segment
from tests.factories import make_user


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
    # Alpha by hand: TEXT has 47 code points. The answer judged "no hallucination" by both gives 47 units of
    # (0, 0); the other 47 too, but [0, 2) = (1, 0), [2, 4) = (1, 1), [4, 6) = (0, 1). Coincidences (pairs of a
    # two-value unit count 1): o01 = o10 = 4, o11 = 4, so n1 = 8, n = 188, n0 = 180: alpha = 1 - 187 * 4 / (180 * 8).
    assert body == {
        "overall_f1": pytest.approx(0.75), "matched_spans": 1, "category_agreement": 1.0, "rewrite_agreement": 1.0,
        "alpha": pytest.approx(1 - 187 * 4 / (180 * 8)),
        "pairs": [{"annotator_a": "ann", "annotator_b": "other", "f1": pytest.approx(0.75), "responses": 2,
                   "matched_spans": 1, "category_agreement": 1.0, "rewrite_agreement": 1.0}],
    }


def test_agreement_without_pairs_is_null(team):
    body = team.client(team.manager).get(f"/api/projects/{team.project.pk}/agreement/").json()
    assert body == {"overall_f1": None, "matched_spans": 0, "category_agreement": None, "rewrite_agreement": None,
                    "alpha": None, "pairs": []}


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


def test_alpha_textbook_nominal_example():
    """Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", C: four observers, twelve units, missing
    values, nominal: alpha = 0.743 (unit 12 has one value and is not pairable)."""
    observers = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = [[value for value in unit if value is not None] for unit in zip(*observers)]
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=5e-4)


def test_alpha_textbook_binary_example_and_limits():
    """Krippendorff (2011), A: two observers, ten binary units: alpha = 0.095 (= 1 - 19 * 4 / (14 * 6)).
    Perfect agreement is 1; no variation at all or nothing pairable is undefined."""
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert krippendorff_alpha_nominal(zip(a, b)) == pytest.approx(1 - 19 * 4 / (14 * 6))
    assert krippendorff_alpha_nominal(zip(a, b)) == pytest.approx(0.095, abs=5e-4)
    assert krippendorff_alpha_nominal(zip(a, a, a)) == pytest.approx(1.0)
    assert krippendorff_alpha_nominal([[0, 0], [0, 0]]) is None
    assert krippendorff_alpha_nominal([[1], [0]]) is None


def test_matched_agreement_counts_touching_pairs():
    """A's [0, 4) touches B's [2, 6) and B's insertion at 4 (same category, one same rewrite after whitespace
    normalisation); A's [10, 12) touches nothing."""
    a = [segment(0, 4, "object", "a  dog"), segment(10, 12)]
    b = [segment(2, 6, "object", " a dog "), segment(4, 4, "number", "two")]
    assert matched_agreement(a, b) == (2, 1, 1)


def test_category_and_rewrite_agreement_on_a_fixture(db):
    """Three annotators, one answer: ann and other mark [0, 4) object/"dog"; third marks [2, 6) number/"dog"
    and [8, 9). Matched pairs: (ann, other) 1 same/same, (ann, third) 1 differing category, same rewrite,
    (other, third) likewise: category 1/3, rewrite 3/3."""
    team = Team(overlap=3)
    third = make_user(role="annotator", project=team.project, username="third")
    team.response()
    marks = {"ann": [segment(0, 4)], "other": [segment(0, 4)], "third": [segment(2, 6, "number"), segment(8, 9)]}
    for user in (team.annotator, team.other, third):
        client = team.client(user)
        task = next_task(client, team.project)
        client.post("/api/annotations/", {"task": task["id"], "segments": marks[user.username], "submit": True},
                    format="json")
    body = team.client(team.reviewer).get(f"/api/projects/{team.project.pk}/agreement/").json()
    assert body["matched_spans"] == 3
    assert body["category_agreement"] == pytest.approx(1 / 3) and body["rewrite_agreement"] == 1.0
    by_pair = {(p["annotator_a"], p["annotator_b"]): p for p in body["pairs"]}
    assert by_pair["ann", "other"]["category_agreement"] == pytest.approx(1.0)
    assert by_pair["ann", "third"]["category_agreement"] == pytest.approx(0.0)
    # Alpha by hand over TEXT's 47 code points, values (ann, other, third): [0, 2) (1, 1, 0), [2, 4) (1, 1, 1),
    # [4, 6) (0, 0, 1), [8, 9) (0, 0, 1), the other 40 (0, 0, 0). In a unit of three values each ordered pair
    # counts 1/2, so each of the 5 mixed units adds 1 to o01: o01 = 5; the ones: 4 + 4 + 5 = 13 = n1; n = 141.
    assert body["alpha"] == pytest.approx(1 - 140 * 5 / (128 * 13))
