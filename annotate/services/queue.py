"""Handing out annotation slots: leases, their expiry, skips.

Each response has ``project.overlap`` slots (``AnnotationTask`` rows). A
lease is ``leased_to`` + ``lease_expires_at`` on the slot; it stays with its
holder past the expiry until someone else takes the slot.
"""
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from rest_framework import status

from annotate.models import (
    Annotation,
    AnnotationStatus,
    AnnotationTask,
    QUEUE_SHARDS,
    ProjectQueue,
    Response,
    ResponseClaim,
)
from annotate.selectors.tasks import task_check_member, task_claim_read
from config.errors import ApplicationError


@transaction.atomic(savepoint=False)  # an error rolls back the caller's transaction (or savepoint) with it
def task_next(*, user, project) -> AnnotationTask | None:
    """Lease the caller's next slot of ``project``: their own open lease first, else the first free slot; None when none is left.

    On PostgreSQL the free slot is taken with ``SELECT ... FOR UPDATE SKIP
    LOCKED``, so concurrent callers each get a different row without waiting;
    on SQLite the IMMEDIATE transaction mode runs writers one at a time.
    The caller's own row is locked first, so two tabs of one person run one
    after the other and never take two slots of one response.

    The lease writes the caller's ``ResponseClaim`` on the response (the
    unique constraint refuses a second one). Taking over someone's expired
    lease drops theirs when they wrote nothing on it, so the response can
    come back to them as it did before they leased it.
    """
    quote, adapt = connection.ops.quote_name, connection.ops.adapt_datetimefield_value
    user_table = quote(get_user_model()._meta.db_table)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {user_table} WHERE id = %s{lock}", [user.pk])
    now = timezone.now()
    # The caller's own open slot, else the head of task_available, read in SQL with what the task JSON shows.
    task = task_claim_read(user=user, project=project, now=now, held=True)
    if task is not None and task.lease_expires_at > now:
        return task
    if task is None:
        task = task_claim_read(user=user, project=project, now=now, held=False)
        if task is None:
            return None
        if task.leased_to_id is not None:  # an expired lease: its holder keeps their claim only with a draft on it
            ResponseClaim.objects.filter(response_id=task.response_id, user_id=task.leased_to_id).exclude(
                user__annotations__task=task).delete()
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {quote(ResponseClaim._meta.db_table)} (project_id, response_id, user_id, "
                           "response_open) VALUES (%s, %s, %s, %s)", [project.pk, task.response_id, user.pk, True])
    task.leased_at = now if task.leased_to_id != user.pk else task.leased_at  # a renewal keeps the start
    task.leased_to = user
    task.lease_expires_at = now + timedelta(minutes=project.lease_minutes)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {quote(AnnotationTask._meta.db_table)} SET leased_to_id = %s, lease_expires_at = %s, "
                       "leased_at = %s WHERE id = %s",
                       [user.pk, adapt(task.lease_expires_at), adapt(task.leased_at), task.pk])
    return task


def queue_open_responses_add(*, project_id, response_id, count) -> None:
    """Add ``count`` (negative: remove) to the project's responses with an open slot, in the ``ProjectQueue``
    shard of ``response_id``: one upsert, whose row lock only writes about the same shard wait for."""
    quote = connection.ops.quote_name
    table = quote(ProjectQueue._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (project_id, shard, open_responses) VALUES (%s, %s, %s) ON CONFLICT (project_id, shard) "
            f"DO UPDATE SET open_responses = {table}.open_responses + excluded.open_responses",
            [project_id, response_id % QUEUE_SHARDS, count])


def _response_open_set(*, task, is_open) -> None:
    """After ``task`` closed (``is_open`` False) or before it reopens (True): when that closes the response's last
    open slot or reopens its first, flip its claims' ``response_open`` and the project's count.

    The response row is locked first, so two slots of one response closing at once see each other's write.
    """
    quote = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:  # on every submit: in SQL, not built with the ORM each time
        cursor.execute(f"SELECT id FROM {quote(Response._meta.db_table)} WHERE id = %s{lock}", [task.response_id])
        cursor.execute(f"SELECT 1 FROM {quote(AnnotationTask._meta.db_table)} WHERE response_id = %s AND status = %s "
                       "LIMIT 1", [task.response_id, AnnotationTask.Status.OPEN])
        if cursor.fetchone() is not None:
            return
    ResponseClaim.objects.filter(response_id=task.response_id).update(response_open=is_open)
    queue_open_responses_add(project_id=task.project_id, response_id=task.response_id, count=1 if is_open else -1)


def task_reopen(*, task, user, lease_minutes) -> None:
    """Open a done slot again, leased to ``user`` (whose annotation on it a reviewer sent back)."""
    _response_open_set(task=task, is_open=True)
    task.status = AnnotationTask.Status.OPEN
    task.leased_to = user
    task.lease_expires_at = timezone.now() + timedelta(minutes=lease_minutes)
    task.save(update_fields=["status", "leased_to", "lease_expires_at"])


def task_lock_leased(*, user, task_id) -> AnnotationTask:
    """Lock a slot the caller holds (inside a transaction); 404 when it is not theirs or no longer open."""
    task = (
        AnnotationTask.objects.select_for_update(of=("self",))
        .select_related("response__prompt__project")
        .filter(pk=task_id, leased_to=user, status=AnnotationTask.Status.OPEN)
        .first()
    )
    if task is None:
        raise ApplicationError(f"No open task {task_id} leased to you.", status=status.HTTP_404_NOT_FOUND)
    task_check_member(user=user, task=task)
    return task


def task_release(*, task, done=False) -> None:
    """End the lease on ``task``; ``done`` closes the slot, otherwise it is free for someone else."""
    task.leased_to = None
    task.lease_expires_at = None
    if done:
        task.status = AnnotationTask.Status.DONE
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {connection.ops.quote_name(AnnotationTask._meta.db_table)} SET leased_to_id = NULL, "
                       "lease_expires_at = NULL, status = %s WHERE id = %s", [task.status, task.pk])
    if done:
        _response_open_set(task=task, is_open=False)


@transaction.atomic(savepoint=False)  # an error rolls back the caller's transaction (or savepoint) with it
def task_skip(*, user, task_id, reason="") -> Annotation:
    """Skip a held slot: record a ``skipped`` annotation (its draft segments dropped) and free the slot for others.

    The caller never gets this response again: their ``ResponseClaim`` on it
    stays with the skipped annotation.
    """
    task = task_lock_leased(user=user, task_id=task_id)
    annotation, created = Annotation.objects.select_for_update().get_or_create(task=task, annotator=user)
    if not created:
        annotation.segments.all().delete()
        annotation.version += 1
    annotation.status = AnnotationStatus.SKIPPED
    annotation.skip_reason = reason
    annotation.no_hallucination = False
    annotation.save()
    task_release(task=task)
    return annotation
