"""Inter-annotator agreement: span-level F1 by character overlap between annotators of the same response.

Each annotation marks a set of units of the answer: the code points its
segments cover, plus one unit per insertion point (``start == end``), so a
pure insertion can agree or disagree too. For two annotations A and B of one
response, ``F1 = 2 |A ∩ B| / (|A| + |B|)``; two annotations that mark
nothing (both "no hallucination") agree fully, F1 = 1. A pair's F1 is the
mean over the responses both annotated; the overall F1 the mean over every
(response, pair) comparison. Categories and rewrites do not count: this is
agreement on *where* the errors are.
"""
from collections import defaultdict
from itertools import combinations
from statistics import fmean

from annotate.models import Annotation, AnnotationStatus

JUDGED = (AnnotationStatus.SUBMITTED, AnnotationStatus.ACCEPTED, AnnotationStatus.REJECTED)


def span_units(segments) -> set:
    """The units an annotation marks: code points ``i`` it covers and ``("insert", p)`` for insertions at ``p``."""
    units = set()
    for start, end in segments:
        units.update(range(start, end) if end > start else [("insert", start)])
    return units


def span_f1(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return 2 * len(a & b) / (len(a) + len(b))


def pair_scores(*, project):
    """Every comparison of the project: ``(a, b, f1)`` for each two judged annotations of one response, ``a``'s
    annotator's name first; ``annotator`` is loaded on both. Two queries, whatever the size."""
    by_response = defaultdict(dict)
    annotations = (
        Annotation.objects.filter(task__response__prompt__project=project, status__in=JUDGED)
        .select_related("annotator", "task")
        .prefetch_related("segments")
    )
    for annotation in annotations:
        if annotation.annotator_segments is not None:  # a reviewer edited them: agreement is the annotators'
            spans = [(segment["start"], segment["end"]) for segment in annotation.annotator_segments]
        else:
            spans = [(segment.start, segment.end) for segment in annotation.segments.all()]
        by_response[annotation.task.response_id][annotation.annotator.username] = (annotation, span_units(spans))
    for marks in by_response.values():
        for name_a, name_b in combinations(sorted(marks), 2):
            (a, units_a), (b, units_b) = marks[name_a], marks[name_b]
            yield a, b, span_f1(units_a, units_b)


def agreement_for_project(*, project) -> dict:
    """``{"overall_f1": float | None, "pairs": [{"annotator_a", "annotator_b", "f1", "responses"}]}``, pairs by name."""
    scores = defaultdict(list)
    for a, b, f1 in pair_scores(project=project):
        scores[a.annotator.username, b.annotator.username].append(f1)
    pairs = [
        {"annotator_a": a, "annotator_b": b, "f1": fmean(values), "responses": len(values)}
        for (a, b), values in sorted(scores.items())
    ]
    every = [value for values in scores.values() for value in values]
    return {"overall_f1": fmean(every) if every else None, "pairs": pairs}
