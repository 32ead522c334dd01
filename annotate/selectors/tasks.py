"""Reads of the task queue: what a caller could take next, what they hold, how far they are."""
from django.db import connection
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.lookups import IsNull
from django.shortcuts import get_object_or_404
from django.utils import timezone
from rest_framework import status

from annotate.models import (
    TASK_LEASED,
    Annotation,
    AnnotationStatus,
    AnnotationTask,
    ImageAsset,
    Membership,
    Project,
    ProjectQueue,
    Prompt,
    Response,
    ResponseClaim,
    Role,
)
from annotate.roles import user_is_staff, user_project_role
from config.errors import ApplicationError
from config.rows import ModelColumns

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
    """Open slots of ``project`` free to ``user`` now, in queue order.

    A slot is free when nobody holds it or its lease expired; a response is
    never offered to someone who has any annotation (draft, skip, submission)
    or an open lease on one of its slots (a ``ResponseClaim``), so its k slots
    go to k distinct people. Slots nobody holds come before expired leases: an
    expired lease may carry its holder's draft, which they can still finish
    until someone takes the slot.

    The order is ``task_open_idx``'s, so taking the head (LIMIT 1) walks that
    index from the start and stops at the first slot that passes: it reads the
    slots near the head the caller already claimed, and past the free ones the
    leases still running (about one per annotator at work), whatever the
    length of the queue. No other index gives that order, so the plan needs
    no table statistics.
    """
    now = now or timezone.now()
    return (
        AnnotationTask.objects.filter(project=project, status=AnnotationTask.Status.OPEN)
        .filter(Q(leased_to__isnull=True) | Q(lease_expires_at__lte=now))
        .filter(_unclaimed_by(user))
        .order_by(TASK_LEASED, "response_id", "slot")
    )


# The claim's reads and the writes' lock (``task_next``, ``task_lock_for_write``), written out: built with the ORM
# they cost more Python time than the database takes to run them. Each reads one slot with what its callers show
# or check, locking the slot alone. {lock} is the locking clause where the database has one (not SQLite).
_TASK = ModelColumns(AnnotationTask, "t")
_PROJECT = ModelColumns(Project, "pr")
_CLAIM_COLUMNS = _TASK.sql + """, r.text, r.prompt_id, r.model_name, r.checkpoint_id,
  (SELECT ck.name FROM {checkpoint} ck WHERE ck.id = r.checkpoint_id), p.question, p.image_id, i.file
FROM {task} t JOIN {response} r ON r.id = t.response_id JOIN {prompt} p ON p.id = r.prompt_id
  LEFT JOIN {image} i ON i.id = p.image_id"""
# The checkpoint that wrote an answer (its name is the task's ``written_by``): a model of the training app, which
# this one may not import, reached through the foreign key.
_CHECKPOINT = Response._meta.get_field("checkpoint").related_model
# The caller's open slots in the project, the first to expire first (a lease past its expiry stays theirs until
# someone else takes it).
_HELD_SQL = "SELECT " + _CLAIM_COLUMNS + """
WHERE t.project_id = %s AND t.status = '{open}' AND t.leased_to_id = %s ORDER BY t.lease_expires_at LIMIT 1{lock}"""
# ``task_available``'s head: the walk of ``task_open_idx`` from its start (``test_claim_plan_walks_the_open_slots_index``).
# The open status is written into these statements, not passed: a prepared statement's generic plan (PostgreSQL
# stops planning it per run after five) may then use the partial indexes on open slots, whose condition a
# parameter would not prove.
_AVAILABLE_SQL = "SELECT " + _CLAIM_COLUMNS + """
WHERE t.project_id = %s AND t.status = '{open}' AND (t.leased_to_id IS NULL OR t.lease_expires_at <= %s)
  AND (SELECT c.id FROM {claim} c WHERE c.response_id = t.response_id AND c.user_id = %s LIMIT 1) IS NULL
ORDER BY t.leased_to_id IS NOT NULL, t.response_id, t.slot LIMIT 1{lock}"""
# A slot to write on, with its answer, its project and the caller's role there; {where} picks it by its id or by
# the id of the caller's annotation on it.
_WRITE_SQL = "SELECT " + _TASK.sql + ", r.text, r.prompt_id, " + _PROJECT.sql + """,
  (SELECT m.role FROM {membership} m WHERE m.project_id = t.project_id AND m.user_id = %s ORDER BY m.id LIMIT 1)
FROM {task} t JOIN {response} r ON r.id = t.response_id JOIN {project} pr ON pr.id = t.project_id
WHERE {where}{lock}"""


def _tables():
    models = {"task": AnnotationTask, "response": Response, "prompt": Prompt, "image": ImageAsset,
              "claim": ResponseClaim, "project": Project, "membership": Membership, "annotation": Annotation,
              "checkpoint": _CHECKPOINT}
    return {name: connection.ops.quote_name(model._meta.db_table) for name, model in models.items()}


def _lock_clause(*, skip_locked=False):
    if not connection.features.has_select_for_update:
        return ""  # SQLite: its IMMEDIATE transactions run writers one at a time
    return " FOR UPDATE OF t" + (" SKIP LOCKED" if skip_locked else "")


def _fetchone(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def task_claim_sql(*, user, project, now, held) -> tuple[str, list]:
    """The SQL and parameters of the claim's read: the caller's open slot in ``project`` (``held``, locked), or the
    head of ``task_available`` (locked, skipping slots other claims hold locked)."""
    opened = AnnotationTask.Status.OPEN
    if held:
        return _HELD_SQL.format(lock=_lock_clause(), open=opened, **_tables()), [project.pk, user.pk]
    return (_AVAILABLE_SQL.format(lock=_lock_clause(skip_locked=True), open=opened, **_tables()),
            [project.pk, connection.ops.adapt_datetimefield_value(now), user.pk])


def task_claim_read(*, user, project, now, held) -> AnnotationTask | None:
    """The row ``task_claim_sql`` reads, as an ``AnnotationTask`` whose ``response.prompt.image`` and ``project``
    need no further query; None when there is none."""
    row = _fetchone(*task_claim_sql(user=user, project=project, now=now, held=held))
    if row is None:
        return None
    task = _TASK.build(row[:len(_TASK)])
    text, prompt_id, model_name, checkpoint_id, checkpoint_name, question, image_id, image_file = row[len(_TASK):]
    prompt = Prompt(id=prompt_id, project_id=task.project_id, question=question, image_id=image_id)
    prompt.image = ImageAsset(id=image_id, file=image_file) if image_id is not None else None
    response = Response(id=task.response_id, prompt_id=prompt_id, text=text, model_name=model_name)
    response.prompt = prompt
    if checkpoint_id is not None:
        response.checkpoint = _CHECKPOINT(id=checkpoint_id, name=checkpoint_name)
    for instance in (prompt, response) + ((prompt.image,) if prompt.image else ()) + (
            (response.checkpoint,) if checkpoint_id is not None else ()):
        instance._state.adding, instance._state.db = False, connection.alias
    task.response, task.project = response, project
    return task


def task_lock_for_write(*, user, task_id=None, annotation_id=None) -> AnnotationTask | None:
    """Lock a slot for a write by ``user``: ``task_id``'s, or that of ``user``'s annotation ``annotation_id``; with
    ``response`` (its text) and ``project`` loaded, and ``caller_role``, the caller's role in the project (None for
    someone no longer a member; staff: manager). None when there is no such slot."""
    if annotation_id is None:
        where, params = "t.id = %s", [task_id]
    else:
        where = "t.id = (SELECT a.task_id FROM {annotation} a WHERE a.id = %s AND a.annotator_id = %s)"
        params = [annotation_id, user.pk]
    tables = _tables()
    sql = _WRITE_SQL.format(where=where.format(**tables), lock=_lock_clause(), **tables)
    row = _fetchone(sql, [user.pk, *params])
    if row is None:
        return None
    task = _TASK.build(row[:len(_TASK)])
    text, prompt_id = row[len(_TASK):len(_TASK) + 2]
    task.project = _PROJECT.build(row[len(_TASK) + 2:-1])
    task.response = Response(id=task.response_id, prompt_id=prompt_id, text=text)
    task.response._state.adding, task.response._state.db = False, connection.alias
    task.caller_role = Role.MANAGER if user_is_staff(user) else row[-1]
    return task


def task_check_member(*, user, task):
    """404 unless ``user`` is a member of the task's project: someone removed from it keeps no right to the slot
    they held (its lease is still theirs until someone else takes it). A slot from ``task_lock_for_write`` carries
    the caller's role already."""
    role = task.caller_role if hasattr(task, "caller_role") else user_project_role(user=user, project_id=task.project_id)
    if role is None:
        raise ApplicationError(f"No task {task.pk} of yours: you are not a member of its project.",
                               fields={"task": ["Not a member of its project."]}, status=status.HTTP_404_NOT_FOUND)


def _with_related(queryset):
    """With what the task JSON shows."""
    return queryset.select_related("response__prompt__image", "response__checkpoint", "project")


def task_get_leased(*, user, task_id):
    """A task the caller holds, with what the task JSON shows; 404 for anyone else's, a finished one, or one in a
    project the caller is no longer a member of."""
    task = get_object_or_404(_with_related(AnnotationTask.objects), pk=task_id, leased_to=user,
                             status=AnnotationTask.Status.OPEN)
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


# One statement, written out: built with the ORM, its five subqueries cost more Python time than the database
# takes to run them. {name}s are the models' tables ({open}: the open status, written in as in the claim's); the
# parameters follow the order of the %s.
_POSITION_SQL = """
SELECT
  (SELECT COUNT(*) FROM {annotation} a JOIN {task} t ON t.id = a.task_id
    WHERE a.annotator_id = %s AND t.project_id = %s AND a.status IN (%s, %s, %s)
      AND NOT (a.status = %s AND t.status = '{open}' AND t.leased_to_id = %s AND a.review_reason <> '')),
  COALESCE((SELECT SUM(q.open_responses) FROM {queue} q WHERE q.project_id = %s), 0),
  (SELECT COUNT(*) FROM {claim} c WHERE c.project_id = %s AND c.user_id = %s AND c.response_open),
  (SELECT COUNT(DISTINCT h.response_id) FROM {task} h WHERE h.project_id = %s AND h.status = '{open}' AND h.leased_to_id = %s),
  (SELECT COUNT(DISTINCT s.response_id) FROM {task} s
    WHERE s.project_id = %s AND s.status = '{open}' AND s.leased_to_id IS NOT NULL AND s.lease_expires_at > %s
      AND NOT EXISTS (SELECT 1 FROM {task} f WHERE f.response_id = s.response_id AND f.status = '{open}'
                      AND (f.leased_to_id IS NULL OR f.lease_expires_at <= %s))
      AND NOT EXISTS (SELECT 1 FROM {claim} c WHERE c.response_id = s.response_id AND c.user_id = %s)),
  (SELECT d.id FROM {annotation} d WHERE d.task_id = %s AND d.annotator_id = %s)
"""


def task_queue_position(*, user, project, now=None):
    """``{"done": submitted judgements, "remaining": responses still to do, the one held included}``, in one query."""
    return _queue_position(user=user, project=project, now=now)[0]


def _queue_position(*, user, project, now=None, task_id=None):
    """The queue position (``task_queue_position``) and the id of the caller's annotation on ``task_id`` (None
    without one), in one query.

    A rejected annotation whose slot came back to its annotator counts as still to do, not done.

    "remaining" is what a scan of every open slot would count (the responses with a slot the caller could take
    now, plus the ones they hold), from a handful of index entries: ``ProjectQueue`` (responses
    with an open slot, a counter in shards the slot services keep), minus the caller's claims on open responses they no
    longer hold (``claim_open_idx``: skipped, or done while others' slots are still open), minus the responses
    nobody could take now because every open slot is under someone else's unexpired lease (about one row per
    annotator at work). The last term is read, not counted, because leases expire with time, not with a write.
    """
    now = connection.ops.adapt_datetimefield_value(now or timezone.now())
    tables = {"annotation": Annotation, "task": AnnotationTask, "queue": ProjectQueue, "claim": ResponseClaim}
    sql = _POSITION_SQL.format(open=AnnotationTask.Status.OPEN,
                               **{name: connection.ops.quote_name(model._meta.db_table) for name, model in tables.items()})
    params = [user.pk, project.pk, *DONE_STATUSES, AnnotationStatus.REJECTED, user.pk,
              project.pk, project.pk, user.pk, project.pk, user.pk, project.pk, now, now, user.pk, task_id, user.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        done, open_responses, claimed, held, taken, annotation_id = cursor.fetchone()
    return {"done": done, "remaining": max(0, open_responses - claimed + held - taken)}, annotation_id


def queue_open_responses(*, project_id) -> int:
    """The project's responses with an open slot, as its ``ProjectQueue`` shards count them."""
    return ProjectQueue.objects.filter(project_id=project_id).aggregate(total=Sum("open_responses"))["total"] or 0


def task_detail(*, user, task) -> dict:
    """What the task JSON shows: the slot, the caller's annotation on it (or None) and their queue position."""
    queue, annotation_id = _queue_position(user=user, project=task.project, task_id=task.pk)
    annotation = None
    if annotation_id is not None:  # a reload of a held slot with its draft; a fresh claim has none
        annotation = Annotation.objects.select_related("reviewer").prefetch_related("segments").get(pk=annotation_id)
        annotation.task, annotation.annotator = task, user
    return {"task": task, "annotation": annotation, "queue": queue}
