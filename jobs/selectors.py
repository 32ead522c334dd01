"""Reads of the job machinery."""
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
