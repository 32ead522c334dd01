"""Reads of the task queue: what a caller could take next, what they hold, how far they are."""
from django.db.models import Count, Exists, F, Func, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.db.models.lookups import IsNull
from django.shortcuts import get_object_or_404
from django.utils import timezone
from rest_framework import status

from annotate.models import Annotation, AnnotationStatus, AnnotationTask, Project, ProjectQueue, ResponseClaim
from annotate.roles import user_project_role
from config.errors import ApplicationError

DONE_STATUSES = (AnnotationStatus.SUBMITTED, AnnotationStatus.ACCEPTED, AnnotationStatus.REJECTED)


def _unclaimed_by(user):
    """No ``ResponseClaim`` of ``user`` on the slot's response: one probe of its unique index per slot.

    A scalar subquery, not ``NOT EXISTS``: PostgreSQL turns the latter into an anti-join whose method it picks
    from table statistics (a fresh table has none, and a scan of the user's claims per slot was its pick),
    while a scalar subquery stays a per-row subplan, planned alone on its full unique key.
    """
    claim = ResponseClaim.objects.filter(response=OuterRef("response"), user=user).values("pk")[:1]
    return IsNull(Subquery(claim), True)


def task_available(*, user, project, now=None):
    """``(free, expired)``: the open slots of ``project`` free to ``user`` now, each in queue order.

    A slot is free when nobody holds it or its lease expired; a response is
    never offered to someone who has any annotation (draft, skip, submission)
    or an open lease on one of its slots (a ``ResponseClaim``), so its k slots
    go to k distinct people. Slots nobody holds (by response, then slot) come
    before expired leases (the longest expired first): an expired lease may
    carry its holder's draft, which they can still finish until someone takes
    the slot. Each follows a partial index in its own order (``task_free_idx``,
    ``task_leased_idx``) and ends at the first unclaimed slot, so taking the
    head reads the slots the caller already claimed near the head, whatever
    the length of the queue, and needs no table statistics to be planned so.
    """
    now = now or timezone.now()
    open_slots = AnnotationTask.objects.filter(project=project, status=AnnotationTask.Status.OPEN).filter(_unclaimed_by(user))
    free = open_slots.filter(leased_to__isnull=True).order_by("response_id", "slot")
    expired = open_slots.filter(leased_to__isnull=False, lease_expires_at__lte=now).order_by("lease_expires_at", "id")
    return free, expired


def task_held(*, user, project):
    """The caller's open slots in ``project`` (a lease past its expiry stays theirs until someone else takes it)."""
    return AnnotationTask.objects.filter(
        project=project, status=AnnotationTask.Status.OPEN, leased_to=user
    ).order_by("lease_expires_at")


def task_check_member(*, user, task):
    """404 unless ``user`` is a member of the task's project: someone removed from it keeps no right to the slot
    they held (its lease is still theirs until someone else takes it)."""
    if user_project_role(user=user, project_id=task.project_id) is None:
        raise ApplicationError(f"No task {task.pk} of yours: you are not a member of its project.",
                               fields={"task": ["Not a member of its project."]}, status=status.HTTP_404_NOT_FOUND)


def _with_related(queryset):
    """With what the task JSON shows."""
    return queryset.select_related("response__prompt__image", "project")


def task_get_leased(*, user, task_id):
    """A task the caller holds, with what the task JSON shows; 404 for anyone else's, a finished one, or one in a
    project the caller is no longer a member of."""
    task = get_object_or_404(_with_related(AnnotationTask.objects), pk=task_id, leased_to=user,
                             status=AnnotationTask.Status.OPEN)
    task_check_member(user=user, task=task)
    return task


def task_get_claimed(*, task_id):
    """The task ``task_next`` just leased, with what the task JSON shows (its caller's membership was checked)."""
    return _with_related(AnnotationTask.objects).get(pk=task_id)


def _sent_back_to(user):
    """Annotations on a slot a reviewer's reject reopened for ``user`` (``annotation_reject``)."""
    return Q(task__status=AnnotationTask.Status.OPEN, task__leased_to=user) & ~Q(review_reason="")


def tasks_returned_counts(*, user) -> dict[int, int]:
    """``{project id: answers a reviewer sent back to the caller, not yet fixed}``."""
    returned = Annotation.objects.filter(
        _sent_back_to(user), annotator=user, status__in=(AnnotationStatus.REJECTED, AnnotationStatus.DRAFT))
    counts = returned.values("task__response__prompt__project").annotate(n=Count("pk")).order_by()
    return {row["task__response__prompt__project"]: row["n"] for row in counts}


def _count(queryset, field="pk"):
    """The number of distinct ``field`` values in ``queryset``, as a scalar subquery."""
    return Subquery(queryset.order_by().annotate(
        n=Func(F(field), function="COUNT", template="%(function)s(DISTINCT %(expressions)s)")).values("n"))


def task_queue_position(*, user, project, now=None):
    """``{"done": submitted judgements, "remaining": responses still to do, the one held included}``, in one query.

    A rejected annotation whose slot came back to its annotator counts as still to do, not done.

    "remaining" is what a scan of every open slot would count (the responses with a slot the caller could take
    now, plus the ones they hold), from a handful of index entries: ``ProjectQueue.open_responses`` (responses
    with an open slot, a counter the slot services keep), minus the caller's claims on open responses they no
    longer hold (``claim_open_idx``: skipped, or done while others' slots are still open), minus the responses
    nobody could take now because every open slot is under someone else's unexpired lease (``task_leased_idx``:
    about one row per annotator at work). The last term is read, not counted, because leases expire with time,
    not with a write.
    """
    now = now or timezone.now()
    judged = Annotation.objects.filter(annotator=user, task__project=OuterRef("pk"), status__in=DONE_STATUSES).exclude(
        _sent_back_to(user) & Q(status=AnnotationStatus.REJECTED))
    takeable = AnnotationTask.objects.filter(response=OuterRef("response"), status=AnnotationTask.Status.OPEN).filter(
        Q(leased_to__isnull=True) | Q(lease_expires_at__lte=now))
    taken = AnnotationTask.objects.filter(
        project=OuterRef("pk"), status=AnnotationTask.Status.OPEN, leased_to__isnull=False, lease_expires_at__gt=now,
    ).filter(~Exists(takeable), _unclaimed_by(user))
    done, open_responses, claimed, held, taken = Project.objects.filter(pk=project.pk).values_list(
        _count(judged),
        Coalesce(Subquery(ProjectQueue.objects.filter(project=OuterRef("pk")).values("open_responses")), 0),
        _count(ResponseClaim.objects.filter(project=OuterRef("pk"), user=user, response_open=True)),
        _count(task_held(user=user, project=OuterRef("pk")), "response"),
        _count(taken, "response"),
    ).get()
    return {"done": done, "remaining": max(0, open_responses - claimed + held - taken)}


def task_detail(*, user, task) -> dict:
    """What the task JSON shows: the slot, the caller's annotation on it (or None) and their queue position."""
    annotation = Annotation.objects.filter(task=task, annotator=user).select_related("reviewer").prefetch_related("segments").first()
    if annotation is not None:
        annotation.task, annotation.annotator = task, user
    return {"task": task, "annotation": annotation, "queue": task_queue_position(user=user, project=task.project)}
