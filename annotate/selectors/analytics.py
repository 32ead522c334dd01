"""Reads: how the team works on a project — progress per generation batch, figures per annotator, agreement over time.

**Per batch** (``batch_progress``), over the answers of the project grouped by
``Response.generation_batch`` (answers without one — imported, the demo's —
are one row, ``batch`` null, last). A slot (``AnnotationTask``) is ``done``
once its annotation is submitted; ``leased`` while open with a lease that has
not expired; ``open`` otherwise (free, or its lease expired: the next
annotator may take it). ``skipped`` counts skip annotations: a skip frees the
slot again, so it is not a state of a slot.

**Per annotator** (``annotator_figures``), over their annotations of the project:

- ``submitted``: handed in at least once and not skipped — status submitted
  (``waiting``), accepted, rejected, or a draft again after a reviewer sent it
  back (reopened to be fixed);
- ``accepted``, ``rejected`` (status now: sent back, not fixed yet), and
  ``sent_back``: sent back at least once (``review_reason`` non-empty),
  whatever came of it after;
- ``median_seconds``: the median of ``submitted_at - started_at`` over their
  ``timed`` annotations: submitted, accepted or rejected ones that have a
  ``started_at`` (when the annotator got the slot) and were never sent back
  (a resubmission's ``submitted_at`` is the fix's, so its interval would hold
  the wait for the review). The rest of ``submitted`` is ``untimed`` (older
  data has no ``started_at``);
- ``skipped`` and ``skip_reasons``: ``{reason: count}`` (an empty reason is
  ``""``);
- ``mean_f1`` over ``comparisons``: span F1 (``annotate.selectors.agreement``)
  of each of their judged annotations against every other annotator's of the
  same answer, averaged; null without any.

**Agreement over time** (``agreement_by_week``): the same comparisons per
annotator and calendar week (Monday to Sunday in ``settings.TIME_ZONE``) of
the annotator's own annotation (``submitted_at``; ``created_at`` when that is
missing). A comparison of A and B counts for A in the week A submitted and
for B in B's week. Weeks rather than every N annotations: one time axis for the
whole team, so a fast and a slow annotator's points line up by date, and a
manager reads "last week" directly; ``comparisons`` says how much each point
rests on.

A constant number of queries (counts are SQL aggregates; timings, and the
span units of agreement, are read once and reduced in Python, which works the
same on PostgreSQL and SQLite).
"""
from collections import defaultdict
from datetime import timedelta
from statistics import fmean, median

from django.db.models import Count, Q
from django.utils import timezone

from annotate.models import Annotation, AnnotationStatus, AnnotationTask, Response
from annotate.selectors.agreement import JUDGED, pair_scores

SENT_BACK = ~Q(review_reason="")
SUBMITTED = Q(status__in=JUDGED) | (Q(status=AnnotationStatus.DRAFT) & SENT_BACK)
TIMED = Q(status__in=JUDGED, review_reason="", started_at__isnull=False, submitted_at__isnull=False)


def batch_progress(*, project, now=None) -> list[dict]:
    """``[{"batch", "checkpoint", "answers", "slots", "open", "leased", "done", "skipped"}]``, by batch id, the
    answers without a batch last (``batch`` and ``checkpoint`` null)."""
    now = now or timezone.now()
    open_slot = Q(tasks__status=AnnotationTask.Status.OPEN)
    free = Q(tasks__lease_expires_at__isnull=True) | Q(tasks__lease_expires_at__lte=now)
    rows = (
        Response.objects.filter(prompt__project=project)
        .values("generation_batch_id", "generation_batch__checkpoint_id")
        .annotate(answers=Count("id", distinct=True), slots=Count("tasks"),
                  open=Count("tasks", filter=open_slot & free),
                  leased=Count("tasks", filter=open_slot & Q(tasks__lease_expires_at__gt=now)),
                  done=Count("tasks", filter=Q(tasks__status=AnnotationTask.Status.DONE)))
        .order_by()
    )
    skipped = dict(
        Annotation.objects.filter(task__response__prompt__project=project, status=AnnotationStatus.SKIPPED)
        .values("task__response__generation_batch_id").annotate(skipped=Count("id"))
        .order_by().values_list("task__response__generation_batch_id", "skipped")
    )
    progress = [
        {"batch": row["generation_batch_id"], "checkpoint": row["generation_batch__checkpoint_id"],
         "answers": row["answers"], "slots": row["slots"], "open": row["open"], "leased": row["leased"],
         "done": row["done"], "skipped": skipped.get(row["generation_batch_id"], 0)}
        for row in rows
    ]
    return sorted(progress, key=lambda row: (row["batch"] is None, row["batch"] or 0))


def _week(annotation) -> str:
    """The ISO date of the Monday starting the week of ``annotation``'s submission."""
    day = timezone.localtime(annotation.submitted_at or annotation.created_at).date()
    return (day - timedelta(days=day.weekday())).isoformat()


def agreement_comparisons(*, project) -> list[tuple[Annotation, float]]:
    """Each comparison twice, once per side: ``(annotation, f1 against the other annotator's)``."""
    sides = []
    for a, b, f1 in pair_scores(project=project):
        sides += [(a, f1), (b, f1)]
    return sides


def agreement_by_week(*, comparisons) -> list[dict]:
    """``[{"annotator", "week", "mean_f1", "comparisons"}]`` by annotator, then week (the module docstring)."""
    scores = defaultdict(list)
    for annotation, f1 in comparisons:
        scores[annotation.annotator.username, _week(annotation)].append(f1)
    return [{"annotator": name, "week": week, "mean_f1": fmean(values), "comparisons": len(values)}
            for (name, week), values in sorted(scores.items())]


def skip_reason_counts(*, project) -> list[dict]:
    """``[{"annotator", "reason", "count"}]`` of the project's skips, by annotator name, then the most given first."""
    rows = (Annotation.objects.filter(task__response__prompt__project=project, status=AnnotationStatus.SKIPPED)
            .values("annotator__username", "skip_reason").annotate(count=Count("id"))
            .order_by("annotator__username", "-count", "skip_reason"))
    return [{"annotator": row["annotator__username"], "reason": row["skip_reason"], "count": row["count"]}
            for row in rows]


def annotator_figures(*, project, comparisons) -> list[dict]:
    """A row per annotator with any annotation of the project, by name (the module docstring defines the figures)."""
    annotations = Annotation.objects.filter(task__response__prompt__project=project)
    rows = (
        annotations.values("annotator_id", "annotator__username")
        .annotate(submitted=Count("id", filter=SUBMITTED),
                  waiting=Count("id", filter=Q(status=AnnotationStatus.SUBMITTED)),
                  accepted=Count("id", filter=Q(status=AnnotationStatus.ACCEPTED)),
                  rejected=Count("id", filter=Q(status=AnnotationStatus.REJECTED)),
                  sent_back=Count("id", filter=SENT_BACK),
                  skipped=Count("id", filter=Q(status=AnnotationStatus.SKIPPED)))
        .order_by("annotator__username")
    )
    seconds = defaultdict(list)
    for annotator_id, started, submitted in annotations.filter(TIMED).values_list(
            "annotator_id", "started_at", "submitted_at").iterator(chunk_size=2000):
        seconds[annotator_id].append((submitted - started).total_seconds())
    reasons = defaultdict(dict)
    for row in skip_reason_counts(project=project):
        reasons[row["annotator"]][row["reason"]] = row["count"]
    f1s = defaultdict(list)
    for annotation, f1 in comparisons:
        f1s[annotation.annotator_id].append(f1)
    figures = []
    for row in rows:
        annotator_id = row.pop("annotator_id")
        timed, agreement = seconds.get(annotator_id, []), f1s.get(annotator_id, [])
        row["annotator"] = row.pop("annotator__username")
        figures.append({
            **row,
            "median_seconds": median(timed) if timed else None, "timed": len(timed),
            "untimed": row["submitted"] - len(timed), "skip_reasons": reasons.get(row["annotator"], {}),
            "mean_f1": fmean(agreement) if agreement else None, "comparisons": len(agreement),
        })
    return figures


def team_analytics(*, project, now=None) -> dict:
    """``{"batches", "annotators", "agreement"}``: ``batch_progress``, ``annotator_figures``, ``agreement_by_week``."""
    comparisons = agreement_comparisons(project=project)
    return {
        "batches": batch_progress(project=project, now=now),
        "annotators": annotator_figures(project=project, comparisons=comparisons),
        "agreement": agreement_by_week(comparisons=comparisons),
    }
