"""Preference records: an annotation's correction turned into a dense training pair.

``record_sync`` brings the record of one annotation to the state its
annotation calls for, and is safe to run any number of times:

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
"""
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from training.ddpo.alignment import SegmentError, alignment_from_diff, alignment_spans, apply_segments
from annotate.models import (
    Annotation,
    AnnotationStatus,
    ConsensusStatus,
    PreferenceRecord,
    Project,
    RecordPolicy,
    RecordSource,
    RecordStatus,
    Response,
)
from annotate.services.consensus import consensus_refresh, counted_statuses
from annotate.splits import record_split, record_split_key
from config.errors import ApplicationError
from jobs.services import task_enqueue

logger = logging.getLogger(__name__)

SYNC_TASK = "annotate.tasks.records.preference_record_sync"
CONTENT_FIELDS = (
    "project_id", "response_id", "image_id", "question", "rejected", "chosen",
    "alignment", "rejected_spans", "chosen_spans", "source", "status",
)


def record_sync_enqueue(*, annotation_id: int) -> None:
    """Sync the annotation's record in a worker once the current transaction commits.

    A broker that refuses the message is logged, not raised: the annotation is stored by then and the
    request must not fail; ``records_sync_missing`` (beat) catches up later."""
    # By name: the task module imports these services, so they don't import it back.
    task_enqueue(SYNC_TASK, annotation_id, robust=True)


def records_sync_missing(*, grace: timedelta | None = None, limit: int = 1000) -> int:
    """Sync the annotations whose record is behind them (``record_synced_version < version``: a lost or
    refused sync message, a worker killed while it held one) and that changed more than ``grace`` ago
    (default ``RECORDS_SYNC_GRACE_SECONDS``), so the message sent on commit normally gets there first.
    Newest first, at most ``limit`` a run, by the partial index ``annotation_record_due_idx``; returns how
    many it synced."""
    if grace is None:
        grace = timedelta(seconds=settings.RECORDS_SYNC_GRACE_SECONDS)
    due = (Annotation.objects.filter(record_synced_version__lt=F("version"), updated_at__lt=timezone.now() - grace)
           .order_by("-updated_at").values_list("pk", flat=True)[:limit])
    synced = 0
    for annotation_id in due:
        try:
            record_sync(annotation_id=annotation_id)
            synced += 1
        except ApplicationError as error:
            logger.error("No record for annotation %s: %s", annotation_id, error.message)
    return synced


def project_records_resync(*, project_id: int, policy_changed: bool = False) -> int:
    """Mark the project's submitted annotations due for the beat sweep (its record trigger changed, so they now
    call for a record or no longer do), the accepted ones too when its record policy changed (their records go
    from one per annotation to one per answer, or back); returns how many."""
    statuses = (AnnotationStatus.SUBMITTED, AnnotationStatus.ACCEPTED) if policy_changed else (AnnotationStatus.SUBMITTED,)
    return Annotation.objects.filter(
        task__response__prompt__project_id=project_id, status__in=statuses
    ).update(record_synced_version=0)


def _record_content(annotation):
    """The record fields the annotation calls for, or ``None`` when it yields no record."""
    project = annotation.task.response.prompt.project
    if annotation.no_hallucination or annotation.status not in counted_statuses(project.record_trigger):
        return None
    segments = list(annotation.segments.values("start", "end", "category", "replacement"))
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
    if annotation.task.response.prompt.project.record_policy == RecordPolicy.CONSENSUS:
        _record_in_step(PreferenceRecord.objects.select_for_update().filter(annotation=annotation).first(), None)
        record = consensus_record_sync(response_id=annotation.task.response_id)
    else:
        # The policy was "consensus" before: the answer's one record gives way to one per annotation.
        _record_in_step(PreferenceRecord.objects.select_for_update().filter(
            consensus__response_id=annotation.task.response_id).first(), None)
        record = _record_bring_in_step(annotation)
    if annotation.record_synced_version != annotation.version:
        Annotation.objects.filter(pk=annotation.pk).update(record_synced_version=annotation.version)
    return record


def _response_split(*, response_id, project_id):
    """The side a new record of the response goes to: that of the response's other records when it has some
    (they stay where they are if the project's share changed since), else ``record_split`` of the response."""
    sibling = PreferenceRecord.objects.filter(response_id=response_id).values_list("split", flat=True).first()
    percent = Project.objects.values_list("heldout_percent", flat=True).get(pk=project_id)
    return sibling or record_split(record_split_key(response_id=response_id), percent)


def _record_bring_in_step(annotation):
    record = PreferenceRecord.objects.select_for_update().filter(annotation=annotation).first()
    return _record_in_step(record, _record_content(annotation), annotation=annotation)


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
    return _record_in_step(record, content, consensus=consensus)


def _record_in_step(record, content, **owner):
    """Create (``owner`` names whose it is), rebuild or retire ``record`` so that it holds ``content``."""
    if content is None:
        if record is not None and record.status == RecordStatus.ACTIVE:
            record.status = RecordStatus.RETIRED
            record.save(update_fields=["status", "updated_at"])
            logger.info("Retired record %s", record.pk)
        return record
    if record is None:
        split = _response_split(response_id=content["response_id"], project_id=content["project_id"])
        record = PreferenceRecord.objects.create(**owner, split=split, **content)
        logger.info("Built record %s of %s", record.pk, owner)
        return record
    if all(getattr(record, field) == value for field, value in content.items()):
        return record
    for field, value in content.items():
        setattr(record, field, value)
    record.version += 1
    record.save()
    logger.info("Rebuilt record %s as version %s", record.pk, record.version)
    return record


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
