"""Reads: the annotators' verdict on each checkpoint, from the judgements of the answers it wrote.

The loop's learning curve measured by people. For a checkpoint, the unit is
one **judgement**: one annotator's annotation of one of its answers, counted
when it is ``submitted`` or ``accepted``. Drafts are not a verdict yet,
skips say nothing about the answer, and a ``rejected`` annotation is one a
reviewer sent back to be fixed (it returns as ``submitted``). With overlap
k > 1 an answer gives up to k judgements and each annotator's verdict counts:
two annotators who disagree count once each, so the figures are an average
over annotators, not a consensus; ``answers`` says how many distinct answers
they came from. (The Wilson interval assumes independent judgements; k
judgements of one answer are correlated, so with k > 1 it is somewhat too
narrow.) Only answers to prompts of the project(s) asked about count.

Figures, all over the counted judgements:

- ``rate``: the share with at least one segment (a hallucination marked),
  with its 95% Wilson score interval ``[ci_low, ci_high]`` (``wilson_interval``);
- ``segments_per_100_words``: ``100 * segments / words``, where each
  judgement adds its segments and the words of its answer (the response text
  split on whitespace, ``len(text.split())``), so an answer judged twice
  weighs twice, like its segments;
- ``by_category``: per category, its ``segments``, the ``judgements`` with at
  least one of it and their share ``rate``.

Counts are SQL aggregates (three queries for every checkpoint asked at once);
words are counted in Python over the texts of the judged answers, read once
per call: the answers' text is the only input SQL cannot split portably, and
a stored count would have to be kept right by every path that creates a
response (generation, uploads, imports, the demo).
"""
import math

from django.db.models import Count, Exists, OuterRef, Q
from django.http import Http404

from annotate.models import Annotation, AnnotationStatus, Response, Segment
from annotate.roles import REVIEWERS, project_ids_with_role
from training.models import ModelCheckpoint

COUNTED = (AnnotationStatus.SUBMITTED, AnnotationStatus.ACCEPTED)
Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion with ``k`` successes in ``n`` trials (None when n = 0).

    With ``p = k / n``::

        centre = (p + z² / 2n) / (1 + z² / n)
        half   = z / (1 + z² / n) * sqrt(p (1 - p) / n + z² / 4n²)
        [centre - half, centre + half]

    Unlike the normal approximation it stays within [0, 1] and is not empty
    at k = 0 or k = n (k = 0, n = 10 gives [0, 0.2775]).
    """
    if n == 0:
        return None
    p, z2 = k / n, z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _verdict(*, judgements, answers, hallucinated, segments, words, by_category):
    interval = wilson_interval(hallucinated, judgements)
    return {
        "judgements": judgements,
        "answers": answers,
        "hallucinated": hallucinated,
        "rate": hallucinated / judgements if judgements else None,
        "ci_low": interval[0] if interval else None,
        "ci_high": interval[1] if interval else None,
        "segments": segments,
        "words": words,
        "segments_per_100_words": 100 * segments / words if words else None,
        "by_category": {
            category: {**figures, "rate": figures["judgements"] / judgements}
            for category, figures in sorted(by_category.items())
        },
    }


def checkpoint_verdicts(*, checkpoint_ids, project_ids=None) -> dict[int, dict]:
    """``{checkpoint id: verdict}`` for each of ``checkpoint_ids`` (the module docstring defines the figures),
    from its answers to prompts of ``project_ids`` (a list or subquery; None: every project)."""
    counted = Annotation.objects.filter(status__in=COUNTED, task__response__checkpoint_id__in=checkpoint_ids)
    answers = Response.objects.filter(checkpoint_id__in=checkpoint_ids)
    if project_ids is not None:
        counted = counted.filter(task__response__prompt__project_id__in=project_ids)
        answers = answers.filter(prompt__project_id__in=project_ids)
    checkpoint = "task__response__checkpoint_id"
    totals = {
        row[checkpoint]: row for row in counted.values(checkpoint).annotate(
            judgements=Count("id"),
            hallucinated=Count("id", filter=Q(Exists(Segment.objects.filter(annotation=OuterRef("pk"))))),
        )
    }
    categories = {}
    rows = (Segment.objects.filter(annotation__in=counted)
            .values("annotation__" + checkpoint, "category")
            .annotate(segments=Count("id"), judgements=Count("annotation_id", distinct=True)))
    for row in rows:
        categories.setdefault(row["annotation__" + checkpoint], {})[row["category"]] = {
            "segments": row["segments"], "judgements": row["judgements"]}
    words, answered = {}, {}
    judged = answers.annotate(judgements=Count("tasks__annotations", filter=Q(tasks__annotations__status__in=COUNTED)))
    for checkpoint_id, text, judgements in judged.filter(judgements__gt=0).values_list(
            "checkpoint_id", "text", "judgements").iterator(chunk_size=2000):
        words[checkpoint_id] = words.get(checkpoint_id, 0) + judgements * len(text.split())
        answered[checkpoint_id] = answered.get(checkpoint_id, 0) + 1
    verdicts = {}
    for checkpoint_id in checkpoint_ids:
        row, by_category = totals.get(checkpoint_id, {}), categories.get(checkpoint_id, {})
        verdicts[checkpoint_id] = _verdict(
            judgements=row.get("judgements", 0), answers=answered.get(checkpoint_id, 0),
            hallucinated=row.get("hallucinated", 0), words=words.get(checkpoint_id, 0),
            segments=sum(figures["segments"] for figures in by_category.values()), by_category=by_category,
        )
    return verdicts


def project_verdicts(*, project) -> list[dict]:
    """The verdict of every checkpoint of ``project`` or that answered its prompts (a shared base), oldest
    first, on the project's answers only: ``[{"checkpoint": ModelCheckpoint, **verdict}]``."""
    checkpoints = list(
        ModelCheckpoint.objects.filter(Q(project=project) | Q(responses__prompt__project=project))
        .distinct().order_by("created_at", "id")
    )
    verdicts = checkpoint_verdicts(checkpoint_ids=[c.pk for c in checkpoints], project_ids=[project.pk])
    return [{"checkpoint": checkpoint, **verdicts[checkpoint.pk]} for checkpoint in checkpoints]


def checkpoint_verdict_get(*, user, checkpoint_id) -> tuple[ModelCheckpoint, dict]:
    """A checkpoint and its verdict, for the reviewers and managers of its project; 404 for anyone else.

    A shared checkpoint (no project, e.g. an imported base) is visible to whoever reviews some project,
    and its verdict counts its answers in the projects the caller reviews (every project for staff)."""
    reviewed = project_ids_with_role(user=user, roles=REVIEWERS)  # None: staff, every project
    checkpoint = ModelCheckpoint.objects.filter(pk=checkpoint_id).first()
    if checkpoint is not None and reviewed is not None:
        mine = reviewed if checkpoint.project_id is None else reviewed.filter(project_id=checkpoint.project_id)
        checkpoint = checkpoint if mine.exists() else None
    if checkpoint is None:
        raise Http404(f"No checkpoint {checkpoint_id} of yours.")
    project_ids = reviewed if checkpoint.project_id is None else [checkpoint.project_id]
    return checkpoint, checkpoint_verdicts(checkpoint_ids=[checkpoint.pk], project_ids=project_ids)[checkpoint.pk]
