"""Reads of the task queue: what a caller could take next, what they hold, how far they are."""
from django.db.models import Count, Exists, F, OuterRef, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone
from rest_framework import status

from annotate.models import Annotation, AnnotationStatus, AnnotationTask
from annotate.roles import user_project_role
from annotate.selectors.annotations import annotation_list
from config.errors import ApplicationError

DONE_STATUSES = (AnnotationStatus.SUBMITTED, AnnotationStatus.ACCEPTED, AnnotationStatus.REJECTED)


def task_available(*, user, project, now=None):
    """Open slots of ``project`` free to ``user`` now, in queue order.

    A slot is free when nobody holds it or its lease expired; a response is
    never offered to someone who has any annotation (draft, skip, submission)
    or an open lease on one of its slots, so its k slots go to k distinct people.
    Slots nobody holds come before expired leases: an expired lease may carry
    its holder's draft, which they can still finish until someone takes the slot.
    """
    now = now or timezone.now()
    annotated = Annotation.objects.filter(annotator=user, task__response=OuterRef("response"))
    leased = AnnotationTask.objects.filter(response=OuterRef("response"), leased_to=user, status=AnnotationTask.Status.OPEN)
    return (
        AnnotationTask.objects.filter(response__prompt__project=project, status=AnnotationTask.Status.OPEN)
        .filter(Q(leased_to__isnull=True) | Q(lease_expires_at__lte=now))
        .filter(~Exists(annotated), ~Exists(leased))
        .order_by(F("leased_to").asc(nulls_first=True), "response_id", "slot")
    )


def task_held(*, user, project):
    """The caller's open slots in ``project`` (a lease past its expiry stays theirs until someone else takes it)."""
    return AnnotationTask.objects.filter(
        response__prompt__project=project, status=AnnotationTask.Status.OPEN, leased_to=user
    ).order_by("lease_expires_at")


def task_check_member(*, user, task):
    """404 unless ``user`` is a member of the task's project: someone removed from it keeps no right to the slot
    they held (its lease is still theirs until someone else takes it)."""
    if user_project_role(user=user, project_id=task.response.prompt.project_id) is None:
        raise ApplicationError(f"No task {task.pk} of yours: you are not a member of its project.",
                               fields={"task": ["Not a member of its project."]}, status=status.HTTP_404_NOT_FOUND)


def task_get_leased(*, user, task_id):
    """A task the caller holds, with what the task JSON shows; 404 for anyone else's, a finished one, or one in a
    project the caller is no longer a member of."""
    queryset = AnnotationTask.objects.select_related("response__prompt__image", "response__prompt__project")
    task = get_object_or_404(queryset, pk=task_id, leased_to=user, status=AnnotationTask.Status.OPEN)
    task_check_member(user=user, task=task)
    return task


def _sent_back_to(user):
    """Annotations on a slot a reviewer's reject reopened for ``user`` (``annotation_reject``)."""
    return Q(task__status=AnnotationTask.Status.OPEN, task__leased_to=user) & ~Q(review_reason="")


def tasks_returned_counts(*, user) -> dict[int, int]:
    """``{project id: answers a reviewer sent back to the caller, not yet fixed}``."""
    returned = Annotation.objects.filter(
        _sent_back_to(user), annotator=user, status__in=(AnnotationStatus.REJECTED, AnnotationStatus.DRAFT))
    counts = returned.values("task__response__prompt__project").annotate(n=Count("pk")).order_by()
    return {row["task__response__prompt__project"]: row["n"] for row in counts}


def task_queue_position(*, user, project):
    """``{"done": submitted judgements, "remaining": responses still to do, the one held included}``.

    A rejected annotation whose slot came back to its annotator counts as still to do, not done."""
    done = Annotation.objects.filter(
        annotator=user, task__response__prompt__project=project, status__in=DONE_STATUSES
    ).exclude(_sent_back_to(user) & Q(status=AnnotationStatus.REJECTED)).count()
    remaining = task_available(user=user, project=project).order_by().values("response_id").distinct().count()
    held = task_held(user=user, project=project).order_by().values("response_id").distinct().count()
    return {"done": done, "remaining": remaining + held}


def task_detail(*, user, task) -> dict:
    """What the task JSON shows: the slot, the caller's annotation on it (or None) and their queue position."""
    annotation = annotation_list(user=user, filters={"task": task.pk}).filter(annotator=user).first()
    return {"task": task, "annotation": annotation, "queue": task_queue_position(user=user, project=task.response.prompt.project)}
