"""Preference records: an annotation's correction turned into a dense training pair.

``record_sync`` brings the record of one annotation to the state its annotation calls for, and is safe to run any
number of times:

    eligible (project trigger reached, segments that change the text)
        no record            -> create it (version 1), on the train or held-out side
                                (``annotate.splits``; a rebuild never moves it)
        content changed      -> rewrite it, version + 1, active again
        same content, active -> nothing
    not eligible (draft, rejected, skipped, no hallucination, no change)
        active record        -> retire it
        otherwise            -> nothing

Under the "consensus" record policy the record belongs to the answer, not to one annotation: syncing any of
its judgements syncs the answer's one record (``consensus_record_sync``) by the same rules, eligible when its
consensus is agreed or adjudicated (``annotate.services.consensus``).

A write does not send its annotation to a worker: ``record_sync_enqueue`` schedules a drain
(``records_sync_due``), at most one per process and ``RECORDS_SYNC_COALESCE_SECONDS``, which syncs every
annotation behind its record (``record_synced_version < version``) in batches, reading and writing each batch's
annotations, segments and records in a few statements in all.
"""
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from training.ddpo.alignment import SegmentError, alignment_from_diff, alignment_spans, apply_segments
from annotate.models import (
    Annotation,
    AnnotationStatus,
    ConsensusStatus,
    PreferenceRecord,
    RecordPolicy,
    RecordSource,
    RecordStatus,
    Response,
    Segment,
)
from annotate.services.consensus import consensus_refresh, counted_statuses
from annotate.splits import record_split, record_split_key
from config.errors import ApplicationError
from jobs.services import task_enqueue, task_enqueue_coalesced

logger = logging.getLogger(__name__)

DRAIN_TASK = "annotate.tasks.records.preference_records_sync_due"
SYNC_TASK = "annotate.tasks.records.preference_record_sync"  # the per-annotation message of earlier releases
BATCH = 50  # annotations a drain locks and syncs in one transaction
CONTENT_FIELDS = (
    "project_id", "response_id", "image_id", "question", "rejected", "chosen",
    "alignment", "rejected_spans", "chosen_spans", "source", "status",
)


def record_sync_enqueue(*, annotation_id: int) -> None:
    """Have a worker sync the annotation's record soon after the current transaction commits, in a drain
    (``records_sync_due``) that syncs it with every other annotation behind its record.

    Coalesced: a process sends at most one drain per ``RECORDS_SYNC_COALESCE_SECONDS`` (the window), to run a
    window later (``task_enqueue_coalesced``; the flag is ``cache.add(key, 1, timeout=window)``). No annotation is
    missed: one whose commit finds the flag already set committed before the flag expires, and the drain
    scheduled by whoever set the flag runs after that expiry (by the clocks of the process and the worker, which
    are kept in step), so it finds the annotation due. The drain finds it by its version, so ``annotation_id`` is
    not sent. With a window of 0, or tasks run eagerly (the tests), every commit drains at once.

    A broker that refuses the message is logged, not raised: the annotation is stored by then and the request
    must not fail; ``records_sync_missing`` (beat) catches up later."""
    task_enqueue_coalesced(DRAIN_TASK, seconds=settings.RECORDS_SYNC_COALESCE_SECONDS, robust=True)


def records_sync_due(*, grace: timedelta | None = None, limit: int = 1000) -> int:
    """Sync the annotations whose record is behind them (``record_synced_version < version``), oldest first, by the
    partial index ``annotation_record_due_idx``, ``BATCH`` to a transaction, until none is left; returns how many
    it synced.

    Without ``grace`` it is the drain a write schedules (``record_sync_enqueue``), and leaves drafts out: no write
    schedules one for a draft, and an annotator at work saves theirs again within seconds (the drain would hold up
    that save on its lock). With ``grace`` it is the beat sweep (``records_sync_missing``): drafts too, but only
    the annotations changed more than ``grace`` ago.

    Concurrent drains split the work instead of waiting for each other or syncing twice: a batch locks its
    annotations ``FOR UPDATE SKIP LOCKED`` and passes over those locked elsewhere, since their holder (another
    drain, or a write whose own commit schedules a drain) takes care of them. SQLite has no row locks; its
    IMMEDIATE transactions run the batches one after another, each reading what the one before committed.

    An annotation that cannot be synced (invalid stored segments) is logged and stays due; this run does not try
    it again. After ``limit`` annotations a run stops, and sends a drain like itself for the rest (unless it
    synced none of them)."""
    cutoff = None if grace is None else timezone.now() - grace
    synced, taken, failed = 0, 0, set()
    while taken < limit:
        size = min(BATCH, limit - taken)
        ids, done = _records_sync_batch(size=size, cutoff=cutoff, skip=failed)
        taken, synced = taken + len(ids), synced + len(done)
        failed.update(set(ids) - done)
        if len(ids) < size:
            return synced
    if synced:  # else all it took failed, and so would a drain after it: the sweep tries them again
        logger.info("Synced %s records, stopping at the limit of %s; sending a drain for the rest", synced, limit)
        task_enqueue(DRAIN_TASK, None if grace is None else grace.total_seconds(), robust=True)
    return synced


def records_sync_missing(*, grace: timedelta | None = None, limit: int = 1000) -> int:
    """The beat sweep: ``records_sync_due`` for the annotations that changed more than ``grace`` ago (default
    ``RECORDS_SYNC_GRACE_SECONDS``), drafts included: those whose drain was lost (a broker that refused it, a
    worker killed holding it), idle drafts, projects marked for a resync (``project_records_resync``)."""
    if grace is None:
        grace = timedelta(seconds=settings.RECORDS_SYNC_GRACE_SECONDS)
    return records_sync_due(grace=grace, limit=limit)


@transaction.atomic
def _records_sync_batch(*, size, cutoff, skip):
    """Lock up to ``size`` due annotations nobody else holds, oldest first, but those in ``skip``, and sync them;
    returns the ids taken and the set of those synced."""
    due = Annotation.objects.filter(record_synced_version__lt=F("version")).exclude(pk__in=skip)
    due = due.exclude(status=AnnotationStatus.DRAFT) if cutoff is None else due.filter(updated_at__lt=cutoff)
    ids = list(due.select_for_update(skip_locked=connection.features.has_select_for_update_skip_locked)
               .order_by("updated_at").values_list("pk", flat=True)[:size])
    if not ids:
        return ids, set()
    each, answers = [], []
    for annotation in Annotation.objects.select_related("task__response__prompt__project").filter(pk__in=ids):
        policy = annotation.task.response.prompt.project.record_policy
        (answers if policy == RecordPolicy.CONSENSUS else each).append(annotation)
    _, errors = _annotations_records_sync(each)
    synced = {annotation.pk for annotation in each} - set(errors)
    # One answer's record at a time, in the order of the answers, whose rows they lock: two drains lock them in
    # the same order, so neither waits for a row the other holds while holding one it wants.
    for annotation in sorted(answers, key=lambda annotation: annotation.task.response_id):
        try:
            record_sync(annotation_id=annotation.pk)
            synced.add(annotation.pk)
        except ApplicationError as error:
            errors[annotation.pk] = error
    for annotation_id, error in errors.items():
        logger.error("No record for annotation %s: %s", annotation_id, error.message)
    return ids, synced


def project_records_resync(*, project_id: int, policy_changed: bool = False) -> int:
    """Mark the project's submitted annotations due for the beat sweep (its record trigger changed, so they now
    call for a record or no longer do), the accepted ones too when its record policy changed (their records go
    from one per annotation to one per answer, or back); returns how many."""
    statuses = (AnnotationStatus.SUBMITTED, AnnotationStatus.ACCEPTED) if policy_changed else (AnnotationStatus.SUBMITTED,)
    return Annotation.objects.filter(
        task__response__prompt__project_id=project_id, status__in=statuses
    ).update(record_synced_version=0)


def _calls_for_record(annotation):
    """Whether the annotation's judgement can make a record at all (before its segments are looked at)."""
    project = annotation.task.response.prompt.project
    return not annotation.no_hallucination and annotation.status in counted_statuses(project.record_trigger)


def _record_content(annotation, segments):
    """The record fields the annotation with ``segments`` calls for, or ``None`` when it yields no record."""
    if not _calls_for_record(annotation):
        return None
    return _answer_content(annotation.task.response, segments, what=f"Annotation {annotation.pk}")


def _answer_content(response, segments, *, what):
    """The record fields of ``response`` corrected by ``segments``, or ``None`` when they change nothing."""
    project = response.prompt.project
    try:
        chosen, alignment = apply_segments(response.text, segments)
    except SegmentError as error:
        raise ApplicationError(
            f"{what} has invalid segments: {error}", fields={error.path: [error.message]}
        )
    if chosen == response.text:
        return None
    rejected_spans, chosen_spans = alignment_spans(alignment)
    return {
        "project_id": project.pk,
        "response_id": response.pk,
        "image_id": response.prompt.image_id,
        "question": response.prompt.question,
        "rejected": response.text,
        "chosen": chosen,
        "alignment": alignment,
        "rejected_spans": rejected_spans,
        "chosen_spans": chosen_spans,
        "source": RecordSource.ANNOTATION,
        "status": RecordStatus.ACTIVE,
    }


@transaction.atomic
def record_sync(*, annotation_id: int) -> PreferenceRecord | None:
    """Create, rebuild (version + 1) or retire the annotation's record; ``None`` when it has none and needs none.
    Either way the annotation is marked in step (``record_synced_version``), without touching its ``updated_at``."""
    annotation = (
        Annotation.objects.select_for_update(of=("self",))
        .select_related("task__response__prompt__project")
        .filter(pk=annotation_id)
        .first()
    )
    if annotation is None:
        return None
    if annotation.task.response.prompt.project.record_policy != RecordPolicy.CONSENSUS:
        records, errors = _annotations_records_sync([annotation])
        if errors:
            raise errors[annotation.pk]
        return records[annotation.pk]
    _record_in_step(PreferenceRecord.objects.select_for_update().filter(annotation=annotation).first(), None)
    record = consensus_record_sync(response_id=annotation.task.response_id)
    if annotation.record_synced_version != annotation.version:
        Annotation.objects.filter(pk=annotation.pk).update(record_synced_version=annotation.version)
    return record


def _annotations_records_sync(annotations):
    """Sync the records of ``annotations`` (locked, their task's response, prompt and project loaded) under the
    "each" policy, in one statement of each kind for all of them: their segments, their records and their
    answers' consensus records, the sides of new records' answers, then one write per kind of change and one
    marking the annotations in step. Returns ``({annotation id: its record or None}, {annotation id:
    ApplicationError})``; an annotation with an error is left as it was, behind its record."""
    if not annotations:
        return {}, {}
    segments = defaultdict(list)
    eligible = [annotation.pk for annotation in annotations if _calls_for_record(annotation)]
    if eligible:  # each annotation's in the model's order, (start, end)
        for row in (Segment.objects.filter(annotation_id__in=eligible).order_by("annotation_id", "start", "end")
                    .values("annotation_id", "start", "end", "category", "replacement")):
            segments[row.pop("annotation_id")].append(row)
    own, answers = {}, {}
    for record in (PreferenceRecord.objects.select_for_update(of=("self",))
                   .filter(Q(annotation__in=annotations)
                           | Q(consensus__response_id__in={annotation.task.response_id for annotation in annotations}))
                   .annotate(answer_id=F("consensus__response_id")).order_by("pk")):
        if record.annotation_id is not None:
            own[record.annotation_id] = record
        else:
            answers[record.answer_id] = record
    changes, records, errors = _Changes(), {}, {}
    for annotation in annotations:
        try:
            content = _record_content(annotation, segments[annotation.pk])
        except ApplicationError as error:
            errors[annotation.pk] = error
            continue
        # The policy was "consensus" before: the answer's one record gives way to one per annotation.
        _record_step(changes, answers.get(annotation.task.response_id), None)
        records[annotation.pk] = _record_step(changes, own.get(annotation.pk), content, annotation=annotation,
                                              percent=annotation.task.response.prompt.project.heldout_percent)
    _records_write(changes)
    behind = [annotation.pk for annotation in annotations
              if annotation.pk in records and annotation.record_synced_version != annotation.version]
    if behind:  # each holds the version read under its lock
        Annotation.objects.filter(pk__in=behind).update(record_synced_version=F("version"))
    return records, errors


@transaction.atomic
def consensus_record_sync(*, response_id: int) -> PreferenceRecord | None:
    """Refresh the answer's consensus (``consensus_refresh``) and bring its one record in step with it."""
    # The answer's row orders its syncs: two judgements arriving together build one record, not two.
    response = Response.objects.select_for_update(of=("self",)).select_related("prompt__project").filter(
        pk=response_id).first()
    if response is None:
        return None
    consensus = consensus_refresh(response=response)
    if consensus is None:
        return None
    content = None
    if consensus.status in (ConsensusStatus.AGREED, ConsensusStatus.ADJUDICATED):
        content = _answer_content(response, consensus.segments, what=f"The consensus of response {response.pk}")
    record = PreferenceRecord.objects.select_for_update().filter(consensus=consensus).first()
    return _record_in_step(record, content, consensus=consensus, percent=response.prompt.project.heldout_percent)


@dataclass
class _Changes:
    """The record writes a sync has decided on, stored together by ``_records_write``."""

    create: list = field(default_factory=list)  # (unsaved record, its project's heldout_percent)
    rebuild: list = field(default_factory=list)
    retire: list = field(default_factory=list)


def _record_step(changes, record, content, *, percent=None, **owner):
    """Decide into ``changes`` what brings ``record`` to hold ``content`` (the module docstring's rules): create
    (``owner`` names whose it is; ``percent`` is its project's held-out share), rebuild or retire it. Returns the
    record as it will be stored."""
    if content is None:
        if record is not None and record.status == RecordStatus.ACTIVE:
            record.status = RecordStatus.RETIRED
            changes.retire.append(record)
        return record
    if record is None:
        record = PreferenceRecord(**owner, **content)
        changes.create.append((record, percent))
        return record
    if all(getattr(record, name) == value for name, value in content.items()):
        return record
    for name, value in content.items():
        setattr(record, name, value)
    record.version += 1
    changes.rebuild.append(record)
    return record


def _record_in_step(record, content, *, percent=None, **owner):
    """Create (``owner`` names whose it is), rebuild or retire ``record`` so that it holds ``content``."""
    changes = _Changes()
    record = _record_step(changes, record, content, percent=percent, **owner)
    _records_write(changes)
    return record


def _records_write(changes):
    """Store ``changes``: at most one statement per kind, and one read of the sides of the new records' answers."""
    now = timezone.now()
    if changes.retire:
        PreferenceRecord.objects.filter(pk__in=[record.pk for record in changes.retire]).update(
            status=RecordStatus.RETIRED, updated_at=now)
        for record in changes.retire:
            record.updated_at = now
        logger.info("Retired records %s", [record.pk for record in changes.retire])
    if changes.rebuild:
        for record in changes.rebuild:
            record.updated_at = now
        PreferenceRecord.objects.bulk_update(changes.rebuild, [*CONTENT_FIELDS, "version", "updated_at"])
        logger.info("Rebuilt records %s", [(record.pk, record.version) for record in changes.rebuild])
    if changes.create:
        _splits_assign(changes.create)
        PreferenceRecord.objects.bulk_create([record for record, _ in changes.create])
        logger.info("Built records %s", [record.pk for record, _ in changes.create])


def _splits_assign(creates):
    """Put each new record on the side of its answer's other records when it has some (they stay where they are if
    the project's share changed since), else on ``record_split`` of its answer."""
    sides, response_ids = {}, {record.response_id for record, _ in creates}
    for response_id, split in (PreferenceRecord.objects.filter(response_id__in=response_ids)
                               .order_by("-pk").values_list("response_id", "split")):
        sides[response_id] = split  # descending: the first record's side is the one kept
    for record, percent in creates:
        if record.response_id not in sides:
            sides[record.response_id] = record_split(record_split_key(response_id=record.response_id), percent)
        record.split = sides[record.response_id]


@transaction.atomic
def record_imported_align(*, record_id: int) -> PreferenceRecord | None:
    """Give an imported record without an alignment one recovered by diff (``alignment_from_diff``)."""
    record = PreferenceRecord.objects.select_for_update().filter(pk=record_id, source=RecordSource.IMPORTED).first()
    if record is None:
        return None
    alignment = alignment_from_diff(record.rejected, record.chosen)
    rejected_spans, chosen_spans = alignment_spans(alignment)
    if (record.alignment, record.rejected_spans, record.chosen_spans) != (alignment, rejected_spans, chosen_spans):
        record.alignment, record.rejected_spans, record.chosen_spans = alignment, rejected_spans, chosen_spans
        record.version += 1
        record.save(update_fields=["alignment", "rejected_spans", "chosen_spans", "version", "updated_at"])
    return record
