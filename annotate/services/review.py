"""Reviewers' writes: accept (optionally after editing the segments) or reject a submitted annotation of someone else."""
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from rest_framework import status

from annotate.models import Annotation, AnnotationStatus, AnnotationTask, Consensus, ConsensusStatus, Response
from annotate.services.annotations import annotation_segments_replace, segments_validate
from annotate.services.records import consensus_record_sync, record_sync_enqueue
from config.errors import ApplicationError


def _lock_submitted(annotation_id, *, reviewer):
    annotation = (
        Annotation.objects.select_for_update(of=("self",))
        .select_related("task__response__prompt__project")
        .get(pk=annotation_id)
    )
    if annotation.annotator_id == reviewer.pk:
        raise ApplicationError(
            f"Annotation {annotation_id} is your own; someone else reviews it.", status=status.HTTP_403_FORBIDDEN
        )
    if annotation.status != AnnotationStatus.SUBMITTED:
        raise ApplicationError(
            f"Annotation {annotation_id} is {annotation.status}; only a submitted annotation can be reviewed.",
            fields={"status": [f"Is {annotation.status}, not submitted."]},
            status=status.HTTP_409_CONFLICT,
        )
    return annotation


def _review_close(annotation, *, reviewer, verdict, reason=""):
    annotation.status = verdict
    annotation.review_reason = reason
    annotation.reviewer = reviewer
    annotation.reviewed_at = timezone.now()
    annotation.version += 1
    annotation.save()
    record_sync_enqueue(annotation_id=annotation.pk)
    return annotation


@transaction.atomic
def annotation_accept(*, reviewer, annotation_id, segments=None) -> Annotation:
    """Accept a submitted annotation; with ``segments`` the reviewer's corrected segments replace the annotator's first.

    Edited segments are validated like an annotator's; an edit to no segments
    at all turns the annotation into a "no hallucination" judgement.
    """
    annotation = _lock_submitted(annotation_id, reviewer=reviewer)
    if segments is not None:
        response = annotation.task.response
        segments, annotation.chosen = segments_validate(
            project=response.prompt.project, text=response.text, segments=segments
        )
        annotation.annotator_segments = list(annotation.segments.values("start", "end", "category", "replacement"))
        annotation_segments_replace(annotation=annotation, segments=segments)
        annotation.no_hallucination = not segments
    return _review_close(annotation, reviewer=reviewer, verdict=AnnotationStatus.ACCEPTED)


@transaction.atomic
def annotation_reject(*, reviewer, annotation_id, reason) -> Annotation:
    """Reject a submitted annotation and send its slot back to the annotator with the reviewer's reason.

    The slot opens again, leased to the annotator: their next task is this
    one, their segments restored and the reason shown, to fix and submit
    again for review. Its lease expires like any other, so a slot its
    annotator does not come back to goes to someone else and the response
    still gets its ``overlap`` judgements.
    """
    # The slot before the annotation, in the order the annotator's writes lock them: no deadlock with a late save.
    task = AnnotationTask.objects.select_for_update(of=("self",)).filter(annotations__pk=annotation_id).first()
    annotation = _lock_submitted(annotation_id, reviewer=reviewer)
    task.status = AnnotationTask.Status.OPEN
    task.leased_to_id = annotation.annotator_id
    task.lease_expires_at = timezone.now() + timedelta(minutes=annotation.task.response.prompt.project.lease_minutes)
    task.save(update_fields=["status", "leased_to", "lease_expires_at"])
    return _review_close(annotation, reviewer=reviewer, verdict=AnnotationStatus.REJECTED, reason=reason)


@transaction.atomic
def consensus_adjudicate(*, reviewer, consensus_id, basis, segments) -> Consensus:
    """Decide a disputed answer: ``segments`` (the versions the reviewer picked per cluster, or their own edit;
    none = nothing is wrong) make its one record, built here in the same transaction.

    ``basis`` is the consensus's ``basis`` the reviewer saw: 409 when the judgements changed since. 403 for one of
    the answer's own annotators, 409 unless it is disputed (or adjudicated: a reviewer may change the decision).
    """
    # The answer's row first, in the order the record sync locks them (response, then consensus): no deadlock.
    response = (Response.objects.select_for_update(of=("self",)).select_related("prompt__project")
                .get(consensus__pk=consensus_id))
    consensus = Consensus.objects.select_for_update().get(pk=consensus_id)
    if Annotation.objects.filter(task__response=response, annotator=reviewer).exists():
        raise ApplicationError(f"You annotated response {response.pk}; someone else adjudicates it.",
                               status=status.HTTP_403_FORBIDDEN)
    if consensus.status not in (ConsensusStatus.DISPUTED, ConsensusStatus.ADJUDICATED):
        raise ApplicationError(
            f"The consensus of response {response.pk} is {consensus.status}; only a disputed one is adjudicated.",
            fields={"status": [f"Is {consensus.status}, not disputed."]}, status=status.HTTP_409_CONFLICT)
    if basis != consensus.basis:
        raise ApplicationError(
            f"The judgements of response {response.pk} changed since you loaded them. Reload.",
            fields={"basis": ["Stale: the judgements changed."]}, status=status.HTTP_409_CONFLICT)
    segments, _ = segments_validate(project=response.prompt.project, text=response.text, segments=segments)
    consensus.adjudicated_segments, consensus.adjudicated_basis = segments, basis
    consensus.adjudicated_by, consensus.adjudicated_at = reviewer, timezone.now()
    consensus.save()
    consensus_record_sync(response_id=response.pk)
    consensus.refresh_from_db()
    return consensus
