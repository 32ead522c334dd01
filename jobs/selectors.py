"""Reads of the job machinery."""
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from jobs.models import JobStatus, job_models


def jobs_due_for_resend(*, resend_after, now=None):
    """Queued jobs whose task should go to the broker again: its last message may be lost.

    A job is due ``resend_after`` after its first send, then each time it has
    waited since its last send as long as it had waited before it (sends at
    30 min, 1 h, 2 h, 4 h... after it was created): a message a broker lost
    is sent again within ``resend_after``, while a job merely waiting behind
    a day-long run on a busy queue gets a handful of messages, not one every
    half hour. The broker itself is not asked: its queues cannot be read
    without consuming.
    """
    now = now or timezone.now()
    due = []
    for model in job_models():
        waiting = (model.objects.filter(status=JobStatus.QUEUED)
                   .annotate(last_sent=Coalesce("sent_at", "created_at"))
                   .filter(last_sent__lte=now - resend_after))
        due += [job for job in waiting if now - job.last_sent >= job.last_sent - job.created_at]
    return due


def task_queue(task_name) -> str:
    """The queue ``CELERY_TASK_ROUTES`` sends a task to: the default queue when it names none."""
    return (settings.CELERY_TASK_ROUTES.get(task_name) or {}).get("queue", settings.CELERY_TASK_DEFAULT_QUEUE)


def _on_queue(model, rows, queue):
    """``rows`` of job ``model`` whose task goes to ``queue``; a model may name its task per row (a field)."""
    try:
        model._meta.get_field("task_name")
    except FieldDoesNotExist:
        return rows if task_queue(model.task_name) == queue else rows.none()
    routed = {name: task_queue(name) for name in settings.CELERY_TASK_ROUTES}
    if queue == settings.CELERY_TASK_DEFAULT_QUEUE:  # unrouted tasks go there too: exclude the others
        return rows.exclude(task_name__in=[name for name, q in routed.items() if q != queue])
    return rows.filter(task_name__in=[name for name, q in routed.items() if q == queue])


def jobs_ahead(job, *, limit=10) -> list:
    """Up to ``limit`` unfinished jobs that a worker of ``job``'s queue takes before ``job``, running ones
    first, then by age: those running, and those queued before it (a queue is first in, first out; the
    broker itself cannot be read without consuming)."""
    queue = task_queue(job.task_name)
    ahead = Q(status=JobStatus.RUNNING) | Q(status=JobStatus.QUEUED, created_at__lt=job.created_at)
    jobs = []
    for model in job_models():
        rows = _on_queue(model, model.objects.filter(ahead), queue)
        if model is type(job):
            rows = rows.exclude(pk=job.pk)
        jobs += rows.order_by("created_at")[:limit]
    return sorted(jobs, key=lambda other: (other.status != JobStatus.RUNNING, other.created_at))[:limit]
