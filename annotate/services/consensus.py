"""Consensus of overlapping annotators: one answer's k judgements turned into the segments of its one record.

Under a project's ``record_policy = "consensus"`` an answer gets one record, built once the last of its
``overlap`` judgements counts (submitted or accepted; accepted only with ``record_trigger = "accept"``), from
what they agree on. A "no hallucination" judgement counts, as a vote for no segment anywhere.

Matching. Every segment of every judgement is a node; two segments *touch* when they share a code point,
or when one is an insertion at ``p`` (``start == end``) and the other is the same insertion or a span with
``start <= p <= end``. Clusters are the connected groups of touching segments. A judgement *votes* for a
cluster when one of its segments is in it; with ``n`` judgements, ``v`` votes and the project's
``consensus_threshold`` ``t`` (in [0.5, 1)):

* ``v > t·n``: the cluster is marked. Its version is the voters' most common exact layout (the ``(start, end)``
  of their segments in the cluster) and, among the voters with that layout, the rewrite (each segment's
  replacement, whitespace runs collapsed, ends stripped) that more than ``t`` of them wrote. Exact spans, not a
  union or intersection: a rewrite replaces exactly the span its writer marked, so only an exact span keeps
  the rewrite meaningful and the offsets of the record exact. A tie for the layout, or no rewrite over the
  threshold, leaves the cluster **disputed**.
* ``n − v > t·n``: most say nothing is wrong there; the cluster is dropped.
* otherwise (a tie at 0.5, or short of a stricter threshold either way): **disputed**.

Each segment of a kept version gets the most common category among the cluster's voters whose segments touch
it (each voter once per category), a tie going to the category first in the project's list; its replacement is
the exact text of the lowest-id annotation that wrote that version. Comparisons are exact: the threshold
is read as the decimal the manager set (``Fraction(repr(t))``).

An answer with a disputed cluster gets no record until a reviewer adjudicates it (``consensus_adjudicate``):
the reviewer's segments then make the record, for as long as the judgements stay those they saw (``basis``).
"""
import hashlib
import json
from collections import Counter
from fractions import Fraction

from django.db import transaction
from django.utils import timezone

from annotate.models import Annotation, AnnotationStatus, Consensus, ConsensusStatus, RecordTrigger
from annotate.selectors.agreement import normalized_rewrite, segments_touch

SEGMENT_FIELDS = ("start", "end", "category", "replacement")


def _clusters(judgements):
    """Connected groups of touching segments: lists of ``(judgement index, segment)``, in text order."""
    nodes = [(index, segment) for index, judgement in enumerate(judgements) for segment in judgement["segments"]]
    parent = list(range(len(nodes)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(nodes)):
        for j in range(i + 1, len(nodes)):
            if segments_touch(nodes[i][1], nodes[j][1]):
                parent[root(i)] = root(j)
    groups = {}
    for i, node in enumerate(nodes):
        groups.setdefault(root(i), []).append(node)
    clusters = [sorted(group, key=lambda node: (node[1]["start"], node[1]["end"], node[0])) for group in groups.values()]
    return sorted(clusters, key=lambda group: (group[0][1]["start"], group[0][1]["end"]))


def _category(cluster, kept, categories):
    """The most common category among the cluster's voters whose segments touch ``kept``; ties by project order."""
    votes = Counter()
    for index in {index for index, _ in cluster}:
        votes.update({segment["category"] for i, segment in cluster if i == index and segments_touch(segment, kept)})
    order = {category: position for position, category in enumerate(categories)}
    return min(votes, key=lambda category: (-votes[category], order.get(category, len(order)), category))


def _decide(cluster, judgements, threshold, categories):
    """One cluster as the adjudication view shows it, with its decision and, when kept, its agreed segments."""
    n = len(judgements)
    by_voter = {}
    for index, segment in cluster:
        by_voter.setdefault(index, []).append(segment)
    votes = len(by_voter)
    versions = {}
    for index, segments in sorted(by_voter.items(), key=lambda item: judgements[item[0]]["id"]):
        key = tuple((s["start"], s["end"], normalized_rewrite(s["replacement"])) for s in segments)
        versions.setdefault(key, []).append(index)
    shown = [{
        "segments": [{field: segment[field] for field in SEGMENT_FIELDS} for segment in by_voter[indexes[0]]],
        "annotations": [judgements[i]["id"] for i in indexes],
        "annotators": [judgements[i]["annotator"] for i in indexes],
    } for indexes in versions.values()]
    cluster_out = {
        "start": min(segment["start"] for _, segment in cluster),
        "end": max(segment["end"] for _, segment in cluster),
        "votes": votes, "judgements": n, "versions": shown,
        "none": [{"annotation": j["id"], "annotator": j["annotator"]} for i, j in enumerate(judgements) if i not in by_voter],
        "decision": "disputed", "reason": "", "segments": [],
    }
    if n - votes > threshold * n:
        cluster_out.update(decision="dropped", reason=f"{n - votes} of {n} mark nothing here")
        return cluster_out
    if not votes > threshold * n:
        cluster_out["reason"] = f"{votes} of {n} mark a segment here: no majority either way"
        return cluster_out
    layouts = Counter()
    for key, indexes in versions.items():
        layouts[tuple(span[:2] for span in key)] += len(indexes)
    (layout, count), *rest = layouts.most_common()
    if rest and rest[0][1] == count:
        cluster_out["reason"] = "no most common span: the voters' boundaries tie"
        return cluster_out
    same_layout = {key: indexes for key, indexes in versions.items() if tuple(span[:2] for span in key) == layout}
    with_layout = sum(len(indexes) for indexes in same_layout.values())
    key, indexes = max(same_layout.items(), key=lambda item: len(item[1]))
    if not len(indexes) > threshold * with_layout:
        cluster_out["reason"] = f"no majority rewrite among the {with_layout} who marked this span"
        return cluster_out
    writer = by_voter[indexes[0]]
    cluster_out.update(decision="kept", reason=f"{votes} of {n} mark it; {len(indexes)} of {with_layout} wrote this")
    cluster_out["segments"] = [
        {"start": s["start"], "end": s["end"], "category": _category(cluster, s, categories), "replacement": s["replacement"]}
        for s in writer
    ]
    return cluster_out


def consensus_compute(judgements, *, threshold, categories) -> dict:
    """The consensus of ``judgements`` (dicts: ``id``, ``annotator``, ``segments``; "no hallucination" = no segments).

    Returns ``{"clusters": [...], "segments": agreed segments in text order, "disputed": bool}`` (module docstring).
    """
    threshold = Fraction(repr(float(threshold)))
    clusters = [_decide(cluster, judgements, threshold, categories) for cluster in _clusters(judgements)]
    segments = [segment for cluster in clusters for segment in cluster["segments"]]
    return {
        "clusters": clusters,
        "segments": sorted(segments, key=lambda segment: (segment["start"], segment["end"])),
        "disputed": any(cluster["decision"] == "disputed" for cluster in clusters),
    }


def counted_statuses(trigger):
    """The judgements that count towards the consensus: those that would make a record under the trigger."""
    if trigger == RecordTrigger.SUBMIT:
        return (AnnotationStatus.SUBMITTED, AnnotationStatus.ACCEPTED)
    return (AnnotationStatus.ACCEPTED,)


def _judgements(response, project):
    annotations = (Annotation.objects.filter(task__response=response, status__in=counted_statuses(project.record_trigger))
                   .select_related("annotator").prefetch_related("segments").order_by("id"))
    return [{
        "id": annotation.pk,
        "annotator": annotation.annotator.username,
        "segments": [] if annotation.no_hallucination else [
            {field: getattr(segment, field) for field in SEGMENT_FIELDS} for segment in annotation.segments.all()],
    } for annotation in annotations]


def judgements_basis(judgements) -> str:
    """A fingerprint of what the judgements say (not of their status or version: an accept without edits keeps it)."""
    canonical = json.dumps([[j["id"], sorted((s["start"], s["end"], s["category"], s["replacement"]) for s in j["segments"])]
                            for j in judgements])
    return hashlib.sha256(canonical.encode()).hexdigest()


@transaction.atomic
def consensus_refresh(*, response) -> Consensus | None:
    """Bring the answer's consensus row to what its judgements say now; the caller holds the response's row lock.

    Nothing is stored before the first judgement counts. Fewer than ``overlap`` counted judgements leave it
    waiting; then agreed, disputed, or adjudicated while the judgements are those the reviewer decided on.
    """
    project = response.prompt.project
    consensus = Consensus.objects.select_for_update().filter(response=response).first()
    judgements = _judgements(response, project)
    if consensus is None and not judgements:
        return None
    consensus = consensus or Consensus(response=response)
    basis = judgements_basis(judgements)
    computed = consensus_compute(judgements, threshold=project.consensus_threshold, categories=project.categories)
    consensus.clusters, consensus.basis = computed["clusters"], basis
    if len(judgements) < project.overlap:
        consensus.status, consensus.segments = ConsensusStatus.WAITING, []
    elif consensus.adjudicated_segments is not None and consensus.adjudicated_basis == basis:
        consensus.status, consensus.segments = ConsensusStatus.ADJUDICATED, consensus.adjudicated_segments
    elif computed["disputed"]:
        consensus.status, consensus.segments = ConsensusStatus.DISPUTED, []
    else:
        consensus.status, consensus.segments = ConsensusStatus.AGREED, computed["segments"]
    if consensus.status == ConsensusStatus.DISPUTED:
        consensus.disputed_at = consensus.disputed_at or timezone.now()
    else:
        consensus.disputed_at = None
    if consensus.status != ConsensusStatus.ADJUDICATED and consensus.adjudicated_segments is not None:
        # The judgements changed since the reviewer decided: their decision no longer answers these.
        consensus.adjudicated_segments, consensus.adjudicated_basis = None, ""
        consensus.adjudicated_by, consensus.adjudicated_at = None, None
    consensus.save()
    return consensus
