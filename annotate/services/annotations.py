"""Annotators' writes: drafts, submissions, "no hallucination", with optimistic concurrency.

Every write bumps ``Annotation.version``; a PATCH names the version it was
based on and gets 409 when someone (another tab) wrote in between. A
submitted annotation is final for its annotator: a later draft, submit or
PATCH answers 409, so a double submit leaves exactly one annotation, until
a reviewer rejects it and its slot comes back to the annotator to fix.
"""
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone
from rest_framework import status

from training.ddpo.alignment import SegmentError, apply_segments, segment_errors
from annotate.models import Annotation, AnnotationStatus, AnnotationTask, Segment
from annotate.selectors.annotations import annotation_visible
from annotate.selectors.tasks import task_check_member, task_lock_for_write
from annotate.services.queue import task_release
from annotate.services.records import record_sync_enqueue
from config.errors import ApplicationError
from config.rows import ModelColumns, row_update, rows_insert
from config.fields import unstorable_text

SEGMENT_KEYS = ("start", "end", "category", "replacement")
WRITABLE_STATUSES = (AnnotationStatus.DRAFT, AnnotationStatus.REJECTED)
# What a write changes on a stored annotation (its callers bump ``version``).
ANNOTATION_WRITTEN_FIELDS = ("no_hallucination", "status", "submitted_at", "reviewer", "reviewed_at", "version",
                             "updated_at")


def _project_errors(project, segments) -> list[SegmentError]:
    """What the project refuses in segments the generic rules (``segment_errors``) leave to it: a missing or
    unknown category, a rewrite over ``max_rewrite_chars`` or one the database cannot store."""
    errors = []
    for index, segment in enumerate(segments):
        if not isinstance(segment, dict):
            continue
        category, replacement = segment.get("category"), segment.get("replacement", "")
        if "category" not in segment:
            errors.append(SegmentError(index, "category", "This field is required."))
        elif isinstance(category, str) and category not in project.categories:
            errors.append(SegmentError(
                index, "category", f"Unknown category {category!r}; the project's are {', '.join(project.categories)}."
            ))
        if not isinstance(replacement, str):
            continue
        limit = project.max_rewrite_chars
        if problem := unstorable_text(replacement):
            errors.append(SegmentError(index, "replacement", problem))
        elif len(replacement) > limit:
            errors.append(SegmentError(
                index, "replacement", f"The rewrite has {len(replacement)} characters; the limit is {limit}."
            ))
    return errors


def segments_validate(*, project, text, segments, no_hallucination=False) -> tuple[list[dict], str]:
    """Check segments against the answer and the project; return them as clean dicts in text order, and ``chosen``
    (the answer with them applied, so the caller need not apply them again).

    Raises a 400 ``ApplicationError`` whose ``fields`` name each bad value
    (``segments[1].end``): the rules of ``training.ddpo.alignment.segment_errors``
    (offsets, order, overlaps, types, empty insertions), then the project's:
    unknown categories, rewrites over ``max_rewrite_chars``, text the database
    cannot store. The first field error of each value is kept.
    """
    if no_hallucination and segments:
        raise ApplicationError("Invalid input: segments", fields={"segments": ["Must be empty when no_hallucination is true."]})
    try:
        chosen, _ = apply_segments(text, segments)
        errors = []
    except SegmentError:  # apply_segments stops at the first broken rule; the client hears of every one
        errors = segment_errors(text, segments)
    fields = {}
    for error in errors + _project_errors(project, segments):
        fields.setdefault(error.path, [error.message])
    if fields:
        raise ApplicationError(f"Invalid input: {', '.join(fields)}", fields=fields)
    clean = [{key: segment.get(key, "") for key in SEGMENT_KEYS} for segment in segments]
    return sorted(clean, key=lambda segment: (segment["start"], segment["end"])), chosen


@transaction.atomic(savepoint=False)  # every caller is a write already in its transaction: no savepoint round trips
def annotation_segments_replace(*, annotation, segments, created=False) -> None:
    """Replace the annotation's segments with ``segments`` (clean dicts from ``segments_validate``); a just
    ``created`` annotation has none to delete. The rows written stand in for ``annotation.segments.all()``, so
    the answer built from the annotation reads them from memory."""
    if not created:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(Segment._meta.db_table)} WHERE annotation_id = %s",
                           [annotation.pk])
    written = [Segment(annotation=annotation, **segment) for segment in segments]
    rows_insert(written)
    annotation._prefetched_objects_cache = {"segments": annotation.segments.all()}
    annotation._prefetched_objects_cache["segments"]._result_cache = written


def _annotation_write(*, annotation, task, segments, submit, no_hallucination):
    """Store one write of the holder of ``task``: segments, status, lease; enqueue the record sync on submit."""
    project = task.project  # the response's prompt's (``responses_create`` copies it onto the slot)
    submit = submit or no_hallucination  # "no hallucination" is a judgement, final like a submission
    if submit and not segments and not no_hallucination:  # it would say neither "wrong here" nor "all right"
        raise ApplicationError("Invalid input: segments", fields={
            "segments": ["A submission needs at least one segment, or no_hallucination: true."]})
    segments, annotation.chosen = segments_validate(
        project=project, text=task.response.text, segments=segments, no_hallucination=no_hallucination
    )
    now = timezone.now()
    annotation.no_hallucination = no_hallucination
    annotation.status = AnnotationStatus.SUBMITTED if submit else AnnotationStatus.DRAFT
    annotation.submitted_at = now if submit else None
    if submit:  # a fixed rejection waits for a new review; review_reason keeps the last one's words
        annotation.reviewer, annotation.reviewed_at = None, None
    created = annotation.pk is None
    if created:
        rows_insert([annotation])
    else:
        row_update(annotation, ANNOTATION_WRITTEN_FIELDS)
    annotation_segments_replace(annotation=annotation, segments=segments, created=created)
    if submit:
        task_release(task=task, done=True)
        record_sync_enqueue(annotation_id=annotation.pk)
    else:  # an annotator still at work keeps the slot
        task.lease_expires_at = now + timedelta(minutes=project.lease_minutes)
        row_update(task, ["lease_expires_at"])
    return annotation


def _not_leased(task_id):
    # One answer for a missing task and someone else's, so the id reveals nothing.
    return ApplicationError(
        f"Invalid input: task {task_id} is not leased to you; ask for one with POST /api/tasks/next/.",
        fields={"task": ["Not leased to you."]},
    )


def _task_lock(*, user, task_id):
    task = task_lock_for_write(user=user, task_id=task_id)
    if task is None:
        raise _not_leased(task_id)
    return task


_ANNOTATION = ModelColumns(Annotation, "a")
_ANNOTATION_LOCK_SQL = "SELECT " + _ANNOTATION.sql + " FROM {table} a WHERE {where}{lock}"


def _annotation_lock(*, where, params) -> Annotation | None:
    """Lock the annotation ``where`` (SQL on alias ``a``) names, after its slot (the order every writer takes)."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    sql = _ANNOTATION_LOCK_SQL.format(table=connection.ops.quote_name(Annotation._meta.db_table), where=where, lock=lock)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return _ANNOTATION.build(row) if row is not None else None


def _check_writable(*, user, task, annotation):
    """409 once the caller's annotation is final, 400 naming ``task`` when they don't hold the slot, 404 when they
    hold it but are no longer a member of its project.

    A rejected annotation is not final: its slot came back to the annotator to fix (``annotation_reject``).
    """
    if annotation is not None and annotation.status not in WRITABLE_STATUSES:
        raise ApplicationError(
            f"Annotation {annotation.pk} on task {task.pk} is already {annotation.status}; it can no longer change.",
            fields={"task": [f"Already {annotation.status} as annotation {annotation.pk}."]},
            status=status.HTTP_409_CONFLICT,
        )
    if task.leased_to_id != user.pk or task.status != AnnotationTask.Status.OPEN:
        raise _not_leased(task.pk)
    task_check_member(user=user, task=task)


@transaction.atomic(savepoint=False)  # an error rolls back the caller's transaction (or savepoint) with it
def annotation_save(*, user, task_id, segments, submit=False, no_hallucination=False) -> tuple[Annotation, bool]:
    """Create the caller's annotation on a task they hold, or update their draft there; ``(annotation, created)``.

    A draft is saved with ``submit=False``; a second POST on a task whose
    annotation is already submitted answers 409 and changes nothing.
    """
    task = _task_lock(user=user, task_id=task_id)
    annotation = _annotation_lock(where="a.task_id = %s AND a.annotator_id = %s", params=[task.pk, user.pk])
    _check_writable(user=user, task=task, annotation=annotation)
    created = annotation is None
    if created:
        annotation = Annotation(task=task, annotator=user, started_at=task.leased_at)
    else:
        annotation.version += 1
        annotation.task, annotation.annotator = task, user  # rows at hand, for the answer
    annotation = _annotation_write(
        annotation=annotation, task=task, segments=segments, submit=submit, no_hallucination=no_hallucination
    )
    return annotation, created


@transaction.atomic(savepoint=False)  # an error rolls back the caller's transaction (or savepoint) with it
def annotation_update(*, user, annotation_id, version, segments=None, submit=False, no_hallucination=None) -> Annotation:
    """PATCH the caller's draft: 409 unless ``version`` is the stored one; unset fields keep their value.

    ``no_hallucination=True`` without ``segments`` clears the draft's segments.
    """
    task = task_lock_for_write(user=user, annotation_id=annotation_id)  # the slot of the caller's annotation
    if task is None:  # someone else's: 403 when the caller may see it (a reviewer), else as if it did not exist
        if annotation_visible(user=user).filter(pk=annotation_id).exists():
            raise ApplicationError("Only its annotator edits an annotation; reviewers accept or reject it.",
                                   status=status.HTTP_403_FORBIDDEN)
        raise ApplicationError(f"No annotation {annotation_id} of yours.", status=status.HTTP_404_NOT_FOUND)
    annotation = _annotation_lock(where="a.id = %s", params=[annotation_id])
    annotation.task, annotation.annotator = task, user  # rows at hand, for the answer
    if version != annotation.version:
        raise ApplicationError(
            f"Annotation {annotation_id} changed since version {version}; it is now version {annotation.version}. Reload it.",
            fields={"version": [f"Stale: the current version is {annotation.version}."]},
            status=status.HTTP_409_CONFLICT,
        )
    _check_writable(user=user, task=task, annotation=annotation)
    if no_hallucination is None:  # a rejected "no hallucination" comes back to be corrected, not said again
        no_hallucination = annotation.no_hallucination and annotation.status != AnnotationStatus.REJECTED
    if segments is None:
        segments = [] if no_hallucination else list(annotation.segments.values(*SEGMENT_KEYS))
    annotation.version += 1
    return _annotation_write(
        annotation=annotation, task=task, segments=segments, submit=submit, no_hallucination=no_hallucination
    )
