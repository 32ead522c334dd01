"""Reads of annotations, each limited to what the caller may see.

An annotator sees their own annotations in the projects they are a member of;
a reviewer (or a project's manager) also every annotation of the projects they
review; staff all. Anything else (a project one was removed from included) is
"not found".
"""
from django.db.models import Count, Min, Q
from django.shortcuts import get_object_or_404

from annotate.models import Annotation, AnnotationStatus, Consensus, ConsensusStatus, Response
from annotate.roles import REVIEWERS, project_ids_with_role

# The only filters the list accepts: exact matches on these, nothing that walks relations.
ANNOTATION_FILTERS = {
    "project": "task__response__prompt__project_id",
    "status": "status",
    "task": "task_id",
    "response": "task__response_id",
}


def _with_related(queryset):
    return queryset.select_related("task__response", "annotator", "reviewer").prefetch_related("segments")


def annotation_visible(*, user):
    annotations = Annotation.objects.all()
    member_of = project_ids_with_role(user=user)
    if member_of is not None:
        reviewed = project_ids_with_role(user=user, roles=REVIEWERS)
        annotations = annotations.filter(task__response__prompt__project_id__in=member_of).filter(
            Q(annotator=user) | Q(task__response__prompt__project_id__in=reviewed))
    return _with_related(annotations)


def annotation_get(*, user, annotation_id) -> Annotation:
    return get_object_or_404(annotation_visible(user=user), pk=annotation_id)


def annotation_list(*, user, filters):
    """The caller's visible annotations matching ``filters``, a dict of ``ANNOTATION_FILTERS`` keys to values."""
    lookups = {ANNOTATION_FILTERS[name]: value for name, value in filters.items() if name in ANNOTATION_FILTERS}
    return annotation_visible(user=user).filter(**lookups).order_by("id")


def _review_waiting(*, project, reviewer):
    """Submitted annotations of ``project`` that ``reviewer`` may decide (not their own)."""
    return Annotation.objects.filter(
        status=AnnotationStatus.SUBMITTED, task__response__prompt__project=project
    ).exclude(annotator=reviewer)


def review_waiting_counts(*, project, reviewer) -> dict:
    """``{"answers": answers waiting for the reviewer, "annotations": their submitted annotations}``."""
    return _review_waiting(project=project, reviewer=reviewer).aggregate(
        answers=Count("task__response", distinct=True), annotations=Count("pk"))


def review_next(*, project, reviewer):
    """The response of ``project`` waiting longest for review and its submitted annotations not by ``reviewer``; None when none waits."""
    waiting = _review_waiting(project=project, reviewer=reviewer)
    response = (
        Response.objects.filter(tasks__annotations__in=waiting)
        .select_related("prompt__image", "checkpoint")
        .annotate(first_submitted=Min("tasks__annotations__submitted_at"))
        .order_by("first_submitted", "id")
        .first()
    )
    if response is None:
        return None
    return response, list(_with_related(waiting.filter(task__response=response)).order_by("submitted_at", "id"))


def _adjudication_waiting(*, project, reviewer):
    """Disputed answers of ``project`` that ``reviewer`` may adjudicate (none they annotated themselves)."""
    return Consensus.objects.filter(
        status=ConsensusStatus.DISPUTED, response__prompt__project=project
    ).exclude(response__tasks__annotations__annotator=reviewer)


def adjudication_waiting_count(*, project, reviewer) -> int:
    return _adjudication_waiting(project=project, reviewer=reviewer).count()


def adjudication_next(*, project, reviewer):
    """The disputed answer waiting longest and its judgements side by side; None when none waits."""
    consensus = (_adjudication_waiting(project=project, reviewer=reviewer)
                 .select_related("response__prompt__image", "response__checkpoint").order_by("disputed_at", "id").first())
    if consensus is None:
        return None
    # Every judgement the consensus counted is in each cluster, as a version's or as one that marks nothing there.
    judged = {pk for cluster in consensus.clusters for version in cluster["versions"] for pk in version["annotations"]}
    judged |= {none["annotation"] for cluster in consensus.clusters for none in cluster["none"]}
    return consensus, list(_with_related(Annotation.objects.filter(pk__in=judged)).order_by("id"))
