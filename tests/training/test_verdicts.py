"""The annotators' verdict per checkpoint: a hand count on a fixture, the Wilson interval, the API's permissions."""
import math

import pytest
from rest_framework.test import APIClient

from annotate.models import Annotation, AnnotationStatus, Role, Segment
from tests.factories import make_judged_response, make_project, make_user
from training.models import ModelCheckpoint
from training.verdicts import checkpoint_verdicts, project_verdicts, wilson_interval

S, A, R, K, D = (AnnotationStatus.SUBMITTED, AnnotationStatus.ACCEPTED, AnnotationStatus.REJECTED,
                 AnnotationStatus.SKIPPED, AnnotationStatus.DRAFT)


@pytest.fixture
def fixture(db):
    """Checkpoints base -> round 1 -> round 2 of one project (overlap 2), a shared one, and another project."""
    project, other = make_project(overlap=2), make_project()
    one, two = make_user(role=Role.ANNOTATOR, project=project), make_user(role=Role.ANNOTATOR, project=project)
    base = ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base")
    round1 = ModelCheckpoint.objects.create(project=project, name="round 1", path="/nowhere/r1", parent=base)
    round2 = ModelCheckpoint.objects.create(project=project, name="round 2", path="/nowhere/r2", parent=round1)
    shared = ModelCheckpoint.objects.create(project=None, name="hub base", path="org/model")
    # base: 3 counted judgements (2 hallucinated: 2 object + 1 number segments) on 2 answers of 5 and 10 words;
    # a rejected one (3 attribute segments), a skip and a draft are not counted.
    make_judged_response(project, base, "one two three four five", [(one, S, ["object", "object"]), (two, A, [])])
    make_judged_response(project, base, " a b\tc d e\nf g h i   j ", [(one, A, ["number"]), (two, R, ["attribute"] * 3)])
    make_judged_response(project, base, "x y z", [(one, K, []), (two, D, ["object"])])
    # Another project's answer by base, and an answer written by no checkpoint: neither counts.
    make_judged_response(other, base, "w w w", [(make_user(role=Role.ANNOTATOR, project=other), S, ["object"])])
    make_judged_response(project, None, "w w w", [(one, S, ["object"])])
    # round 1: two clean judgements of one 4-word answer. round 2: no answers yet.
    make_judged_response(project, round1, "alpha beta gamma delta", [(one, S, []), (two, A, [])])
    make_judged_response(project, shared, "six words in this one answer", [(one, A, ["position"])])
    return project, other, (base, round1, round2, shared)


def test_verdict_equals_a_hand_count(fixture):
    """Counted: submitted and accepted judgements of the project's answers; rejected, skipped, drafts are not."""
    project, _, (base, round1, round2, shared) = fixture
    verdicts = {row["checkpoint"]: row for row in project_verdicts(project=project)}
    assert list(verdicts) == [base, round1, round2, shared]  # creation order, the shared base included
    low, high = wilson_interval(2, 3)
    assert verdicts[base] == {
        "checkpoint": base, "judgements": 3, "answers": 2, "hallucinated": 2, "rate": 2 / 3,
        "ci_low": low, "ci_high": high, "segments": 3, "words": 5 + 5 + 10,
        "segments_per_100_words": pytest.approx(15.0),
        "by_category": {"number": {"segments": 1, "judgements": 1, "rate": 1 / 3},
                        "object": {"segments": 2, "judgements": 1, "rate": 1 / 3}},
    }
    clean = verdicts[round1]
    assert (clean["judgements"], clean["answers"], clean["hallucinated"], clean["rate"]) == (2, 1, 0, 0.0)
    assert (clean["segments"], clean["words"], clean["segments_per_100_words"], clean["by_category"]) == (0, 8, 0.0, {})
    assert clean["ci_low"] == 0.0 and clean["ci_high"] == pytest.approx(wilson_interval(0, 2)[1])
    empty = verdicts[round2]
    assert (empty["judgements"], empty["answers"], empty["rate"], empty["ci_low"], empty["ci_high"],
            empty["segments_per_100_words"]) == (0, 0, None, None, None, None)
    assert verdicts[shared]["rate"] == 1.0 and verdicts[shared]["segments_per_100_words"] == pytest.approx(100 / 6)


def test_verdict_follows_new_annotations(fixture):
    """Computed on read: a judgement submitted now is in the next answer; every project counts without a filter."""
    _, _, (base, round1, _, _) = fixture
    annotation = Annotation.objects.get(task__response__checkpoint=round1, status=S)
    Segment.objects.create(annotation=annotation, start=0, end=5, category="attribute", replacement="omega")
    verdict = checkpoint_verdicts(checkpoint_ids=[round1.pk])[round1.pk]
    assert (verdict["hallucinated"], verdict["by_category"]["attribute"]["segments"]) == (1, 1)
    assert checkpoint_verdicts(checkpoint_ids=[base.pk])[base.pk]["judgements"] == 4  # the other project's too


def _score_interval(k, n, z=1.959963984540054):
    """The Wilson interval found as what it is, independently of the closed form: the proportions p whose score
    statistic |k/n - p| / sqrt(p (1 - p) / n) is at most z, by bisection on each side of k/n."""
    def inside(p):
        return abs(k / n - p) <= z * math.sqrt(p * (1 - p) / n)

    def edge(outer, inner):
        for _ in range(200):
            middle = (outer + inner) / 2
            outer, inner = (outer, middle) if inside(middle) else (middle, inner)
        return inner
    return edge(0.0, k / n) if k else 0.0, edge(1.0, k / n) if k < n else 1.0


@pytest.mark.parametrize("k,n,expected", [(0, 10, (0.0, 0.2775)), (5, 10, (0.2366, 0.7634)), (10, 10, (0.7225, 1.0)),
                                          (1, 3, None), (37, 500, None)])
def test_wilson_interval(k, n, expected):
    """The closed form matches the score test's inversion, and the values checked by hand to 4 places."""
    low, high = wilson_interval(k, n)
    assert (low, high) == pytest.approx(_score_interval(k, n), abs=1e-9)
    if expected:
        assert (low, high) == pytest.approx(expected, abs=5e-5)
    assert wilson_interval(0, 0) is None


def test_verdict_api_for_reviewers_and_managers(fixture):
    """Staff and the project's reviewers read both endpoints; its annotators get 403 (project) or 404 (a
    checkpoint); another project's reviewer 404; anonymous callers are refused."""
    project, other, (base, round1, round2, shared) = fixture
    reviewer = make_user(role=Role.REVIEWER, project=project)
    for user in (make_user(role=Role.MANAGER), reviewer):
        client = APIClient()
        client.force_authenticate(user)
        listed = client.get(f"/api/projects/{project.pk}/verdicts/")
        assert listed.status_code == 200, listed.content
        assert [row["checkpoint"] for row in listed.json()] == [base.pk, round1.pk, round2.pk, shared.pk]
        assert listed.json()[0]["segments_per_100_words"] == pytest.approx(15.0)
        one = client.get(f"/api/checkpoints/{base.pk}/verdict/").json()
        assert (one["judgements"], one["hallucinated"], one["name"], one["parent"]) == (3, 2, "base", None)
        assert one["by_category"]["object"] == {"segments": 2, "judgements": 1, "rate": pytest.approx(1 / 3)}
    # The shared checkpoint's verdict, for this reviewer: its answers in the projects they review.
    assert client.get(f"/api/checkpoints/{shared.pk}/verdict/").json()["judgements"] == 1
    annotator, outsider = APIClient(), APIClient()
    annotator.force_authenticate(make_user(role=Role.ANNOTATOR, project=project))
    outsider.force_authenticate(make_user(role=Role.REVIEWER, project=other))
    assert annotator.get(f"/api/projects/{project.pk}/verdicts/").status_code == 403
    assert annotator.get(f"/api/checkpoints/{base.pk}/verdict/").status_code == 404
    assert outsider.get(f"/api/projects/{project.pk}/verdicts/").status_code == 404
    assert outsider.get(f"/api/checkpoints/{base.pk}/verdict/").status_code == 404
    assert outsider.get("/api/checkpoints/999999/verdict/").status_code == 404
    assert APIClient().get(f"/api/projects/{project.pk}/verdicts/").status_code in (401, 403)


def test_queries_do_not_grow_with_checkpoints_or_annotations(fixture, django_assert_num_queries):
    """Three aggregate queries for every checkpoint at once, plus the one listing the project's checkpoints."""
    project, _, _ = fixture
    with django_assert_num_queries(4):
        project_verdicts(project=project)


def test_schema_documents_the_verdict_endpoints_without_warnings(fixture):
    """Both paths are in the OpenAPI schema, and no warning points into their views."""
    from drf_spectacular.drainage import GENERATOR_STATS

    GENERATOR_STATS.reset()
    client = APIClient()
    client.force_authenticate(make_user(role=Role.MANAGER))
    schema = client.get("/api/schema/?format=json").json()
    assert {"/api/projects/{project_id}/verdicts/", "/api/checkpoints/{checkpoint_id}/verdict/"} <= set(schema["paths"])
    messages = list(GENERATOR_STATS._warn_cache) + list(GENERATOR_STATS._error_cache)
    assert [m for m in messages if "verdict" in m.lower()] == []
