"""Inter-annotator agreement between annotators of the same response: where, which category, which rewrite,
and a chance-corrected figure.

**Span F1.** Each annotation marks a set of units of the answer: the code points its segments cover, plus one
unit per insertion point (``start == end``), so a pure insertion can agree or disagree too. For two
annotations A and B of one response, ``F1 = 2 |A ∩ B| / (|A| + |B|)``; two annotations that mark nothing
(both "no hallucination") agree fully, F1 = 1. A pair's F1 is the mean over the responses both annotated;
the overall F1 the mean over every (response, pair) comparison.

**Category and rewrite agreement on matched spans.** Two segments of two annotations of one response are
*matched* when they touch (``segments_touch``: a shared code point, or an insertion at or inside the
other; the consensus clusters segments by the same rule); every matched pair counts once. Category agreement = the share of
matched pairs with the same category; rewrite agreement = the share whose rewrites are equal after
whitespace normalisation (``normalized_rewrite``). Pooled over all matched pairs (per annotator pair, and
overall); ``None`` with no matched pair.

**Krippendorff's alpha** (nominal, on per-code-point binary labels). Every code point of every response
judged by at least two annotators is a unit; each of its annotators gives it the value 1 (inside one of their
segments) or 0. Insertions mark no code point and do not count here. From the coincidence matrix
``o[c][k] = Σ_u (number of ordered pairs of values (c, k) from different annotators in unit u) / (m_u − 1)``
(``m_u`` values in unit u; units with fewer than two values are not pairable and left out),
``n_c = Σ_k o[c][k]`` and ``n = Σ_c n_c``:

    alpha = 1 − (n − 1) · Σ_{c≠k} o[c][k] / Σ_{c≠k} n_c · n_k

(Krippendorff, "Computing Krippendorff's Alpha-Reliability", 2011, nominal data). 1 is perfect agreement,
0 agreement at chance; ``None`` when it is undefined (no pairable values, or every value the same).
"""
from collections import Counter, defaultdict
from itertools import combinations, permutations
from statistics import fmean

from annotate.models import Annotation, AnnotationStatus

JUDGED = (AnnotationStatus.SUBMITTED, AnnotationStatus.ACCEPTED, AnnotationStatus.REJECTED)


def normalized_rewrite(text: str) -> str:
    """The rewrite as compared between annotators: whitespace runs as one space, no space at either end."""
    return " ".join(text.split())


def segments_touch(a: dict, b: dict) -> bool:
    """Whether two segments match: a shared code point, or an insertion at or inside the other."""
    if a["start"] == a["end"] and b["start"] == b["end"]:
        return a["start"] == b["start"]
    if a["start"] == a["end"]:
        return b["start"] <= a["start"] <= b["end"]
    if b["start"] == b["end"]:
        return a["start"] <= b["start"] <= a["end"]
    return a["start"] < b["end"] and b["start"] < a["end"]


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


def matched_agreement(a: list[dict], b: list[dict]) -> tuple[int, int, int]:
    """``(matched pairs, same category, same rewrite)`` between two annotations' segments (module docstring)."""
    matched = same_category = same_rewrite = 0
    for x in a:
        for y in b:
            if segments_touch(x, y):
                matched += 1
                same_category += x["category"] == y["category"]
                same_rewrite += normalized_rewrite(x["replacement"]) == normalized_rewrite(y["replacement"])
    return matched, same_category, same_rewrite


def krippendorff_alpha_nominal(units) -> float | None:
    """Krippendorff's alpha for nominal values; ``units`` is an iterable of the values each unit received (one per
    coder who coded it; missing values left out). The formula is in the module docstring."""
    coincidences = Counter()
    for values in units:
        values = list(values)
        if len(values) < 2:
            continue
        for c, k in permutations(values, 2):
            coincidences[c, k] += 1 / (len(values) - 1)
    totals = Counter()
    for (c, _), count in coincidences.items():
        totals[c] += count
    n = sum(totals.values())
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k)
    if not n or not expected:
        return None
    observed = sum(count for (c, k), count in coincidences.items() if c != k)
    return 1 - (n - 1) * observed / expected


def _binary_units(text_length, markings):
    """Per-code-point values of one response: for each code point, 1 or 0 from each annotation's segments."""
    inside = [span_units((s["start"], s["end"]) for s in segments) for segments in markings]
    return ([int(i in units) for units in inside] for i in range(text_length))


def _ratio(hits, total):
    return hits / total if total else None


def _judged_markings(project):
    """``({response id: {annotator name: (annotation, segments)}}, {response id: its text's length})`` of the
    project's judged annotations; ``annotator`` is loaded. Two queries, whatever the size."""
    by_response, texts = defaultdict(dict), {}
    annotations = (
        Annotation.objects.filter(task__response__prompt__project=project, status__in=JUDGED)
        .select_related("annotator", "task__response")
        .prefetch_related("segments")
    )
    for annotation in annotations:
        if annotation.annotator_segments is not None:  # a reviewer edited them: agreement is the annotators'
            segments = annotation.annotator_segments
        else:
            segments = list(annotation.segments.all().values("start", "end", "category", "replacement"))
        by_response[annotation.task.response_id][annotation.annotator.username] = (annotation, segments)
        texts[annotation.task.response_id] = len(annotation.task.response.text)
    return by_response, texts


def _units(segments):
    return span_units((s["start"], s["end"]) for s in segments)


def pair_scores(*, project):
    """Every comparison of the project: ``(a, b, f1)`` for each two judged annotations of one response, ``a``'s
    annotator's name first; ``annotator`` is loaded on both. Two queries, whatever the size."""
    by_response, _ = _judged_markings(project)
    for marks in by_response.values():
        for name_a, name_b in combinations(sorted(marks), 2):
            (a, segments_a), (b, segments_b) = marks[name_a], marks[name_b]
            yield a, b, span_f1(_units(segments_a), _units(segments_b))


def agreement_for_project(*, project) -> dict:
    """``{"overall_f1", "category_agreement", "rewrite_agreement", "matched_spans", "alpha", "pairs": [...]}``;
    each pair ``{"annotator_a", "annotator_b", "f1", "responses", "category_agreement", "rewrite_agreement",
    "matched_spans"}``, pairs by name."""
    by_response, texts = _judged_markings(project)
    scores = defaultdict(list)
    matches = defaultdict(lambda: [0, 0, 0])
    binary = []
    for response_id, marks in by_response.items():
        if len(marks) >= 2:
            binary.extend(_binary_units(texts[response_id], [segments for _, segments in marks.values()]))
        for name_a, name_b in combinations(sorted(marks), 2):
            a, b = marks[name_a][1], marks[name_b][1]
            scores[name_a, name_b].append(span_f1(_units(a), _units(b)))
            for slot, count in enumerate(matched_agreement(a, b)):
                matches[name_a, name_b][slot] += count
    pairs = [
        {"annotator_a": a, "annotator_b": b, "f1": fmean(values), "responses": len(values),
         "matched_spans": matches[a, b][0], "category_agreement": _ratio(matches[a, b][1], matches[a, b][0]),
         "rewrite_agreement": _ratio(matches[a, b][2], matches[a, b][0])}
        for (a, b), values in sorted(scores.items())
    ]
    every = [value for values in scores.values() for value in values]
    matched, same_category, same_rewrite = (sum(m[slot] for m in matches.values()) for slot in range(3))
    return {
        "overall_f1": fmean(every) if every else None,
        "matched_spans": matched,
        "category_agreement": _ratio(same_category, matched),
        "rewrite_agreement": _ratio(same_rewrite, matched),
        "alpha": krippendorff_alpha_nominal(binary),
        "pairs": pairs,
    }
