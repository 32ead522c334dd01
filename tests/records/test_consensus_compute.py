"""annotate.services.consensus.consensus_compute: clusters, thresholds, versions, categories (no database)."""
from annotate.services.consensus import consensus_compute

CATEGORIES = ["object", "attribute", "number"]


def seg(start, end, replacement="x", category="object"):
    return {"start": start, "end": end, "category": category, "replacement": replacement}


def judged(*marks):
    return [{"id": i + 1, "annotator": f"a{i + 1}", "segments": list(segments)} for i, segments in enumerate(marks)]


def compute(*marks, threshold=0.5):
    return consensus_compute(judged(*marks), threshold=threshold, categories=CATEGORIES)


def test_overlapping_spans_cluster_and_the_most_common_exact_span_wins():
    """[10, 15) twice and [10, 16) once touch: one cluster, 3 of 3; the exact [10, 15) (2 of 3) with its rewrite
    (whitespace normalised: "a  b" = " a b") is kept with the first writer's text."""
    result = compute([seg(10, 15, "a  b")], [seg(10, 15, " a b")], [seg(10, 16, "a b")])
    (cluster,) = result["clusters"]
    assert cluster["decision"] == "kept" and cluster["votes"] == 3
    assert result["segments"] == [seg(10, 15, "a  b")] and not result["disputed"]


def test_two_of_four_is_disputed_and_a_boundary_tie_too():
    assert compute([seg(0, 3)], [seg(0, 3)], [], [])["clusters"][0]["decision"] == "disputed"
    tie = compute([seg(0, 3)], [seg(0, 4)], [])["clusters"][0]
    assert tie["decision"] == "disputed" and "boundaries tie" in tie["reason"]


def test_insertions_touch_the_span_they_sit_at():
    """An insertion at 3 touches [0, 3) (at its end) but not [4, 6); two insertions touch only at the same point."""
    result = compute([seg(0, 3)], [seg(3, 3)], [seg(4, 6)])
    assert [(c["start"], c["end"], c["votes"]) for c in result["clusters"]] == [(0, 3, 2), (4, 6, 1)]
    assert len(compute([seg(3, 3)], [seg(5, 5)])["clusters"]) == 2


def test_threshold_is_exact_and_stricter_thresholds_dispute():
    """2 of 3 > 0.5 * 3 keeps; at 2/3 (0.6666666666666666) 2 > 1.9999999999999998 still keeps, at 0.67 it doesn't."""
    marks = ([seg(0, 3)], [seg(0, 3)], [])
    assert compute(*marks)["clusters"][0]["decision"] == "kept"
    assert compute(*marks, threshold=2 / 3)["clusters"][0]["decision"] == "kept"
    assert compute(*marks, threshold=0.67)["clusters"][0]["decision"] == "disputed"
    assert compute([seg(0, 3)], [], [])["clusters"][0]["decision"] == "dropped"


def test_category_is_the_clusters_majority_ties_by_project_order():
    """Rewrites agree; categories: number, attribute, attribute -> attribute. number vs attribute -> attribute
    (earlier in the project's list)."""
    result = compute([seg(0, 3, category="number")], [seg(0, 3, category="attribute")], [seg(0, 3, category="attribute")])
    assert result["segments"][0]["category"] == "attribute"
    result = compute([seg(0, 3, category="number")], [seg(0, 3, category="attribute")])
    assert result["segments"][0]["category"] == "attribute"


def test_no_majority_rewrite_is_disputed_and_no_hallucination_everywhere_is_nothing():
    split = compute([seg(0, 3, "a")], [seg(0, 3, "b")], [seg(0, 3, "c")])
    assert split["disputed"] and "no majority rewrite" in split["clusters"][0]["reason"]
    assert compute([], [], []) == {"clusters": [], "segments": [], "disputed": False}
