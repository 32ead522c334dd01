"""Long jobs (training runs, generation batches, exports, checkpoint 0 of the demo) share one status machine.

A transition is a conditional UPDATE (``WHERE status IN allowed``): two workers
racing for the same job cannot both win, and a cancelled job is never flipped
back to running. ``heartbeat_at`` lets ``jobs_fail_lost`` fail jobs whose
worker died, or hand them to their ``resume_service`` when their work survives
the worker (a training run saves its steps): running -> queued is legal for
those jobs alone, and only that service takes it; ``sent_at`` lets ``jobs_resend_unstarted`` send again the task of
a job whose broker message was lost (a broker restarted without persistence).
Every concrete subclass of ``Job`` in any installed app takes part in both
sweeps (``job_models``); which queue runs its task is ``CELERY_TASK_ROUTES``'
business alone.
"""
from django.apps import apps
from django.db import models
from django.utils import timezone


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)

ALLOWED_FROM = {
    JobStatus.QUEUED: (JobStatus.RUNNING,),  # a resumable job whose worker was lost, sent again
    JobStatus.RUNNING: (JobStatus.QUEUED,),
    JobStatus.SUCCEEDED: (JobStatus.RUNNING,),
    JobStatus.FAILED: (JobStatus.QUEUED, JobStatus.RUNNING),
    JobStatus.CANCELLED: (JobStatus.QUEUED, JobStatus.RUNNING),
}


class JobStopped(Exception):
    """The job stopped running (cancelled, or failed as lost) while its worker was still busy with it."""


class Job(models.Model):
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When its task last went to the broker.")

    # The Celery task that executes the job, by name (task modules import the services, not back).
    task_name = ""
    # The service that takes a lost job of this kind back (``service(job_id=..., lost_after=...)``), by name
    # like ``task_name``: jobs imports no app above it. Empty: a lost job fails, its work is gone.
    resume_service = ""

    class Meta:
        abstract = True
        constraints = []

    @classmethod
    def status_constraints(cls, prefix):
        return [
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values), name=f"{prefix}_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(progress__gte=0.0, progress__lte=1.0), name=f"{prefix}_progress_range"
            ),
        ]

    @property
    def resumable(self):
        return bool(self.resume_service)

    @property
    def is_finished(self):
        return self.status in FINISHED

    def stored_status(self):
        """The status in the database now; None once the row is deleted."""
        return type(self).objects.filter(pk=self.pk).values_list("status", flat=True).first()

    def transition(self, to, **fields):
        """Move to ``to`` if the stored status allows it; returns whether it did."""
        if to == JobStatus.QUEUED and not self.resumable:
            raise ValueError(f"{type(self).__name__} cannot be queued again: it is not resumable.")
        now = timezone.now()
        if to == JobStatus.RUNNING:
            # A resumed job keeps its first start: what it took then (a run's records) is what it works on.
            fields.setdefault("started_at", self.started_at or now)
            fields.setdefault("heartbeat_at", now)
        if to in FINISHED:
            fields.setdefault("finished_at", now)
        if to == JobStatus.SUCCEEDED:
            fields.setdefault("progress", 1.0)
        updated = type(self).objects.filter(pk=self.pk, status__in=ALLOWED_FROM[to]).update(status=to, **fields)
        if updated:
            self.status = to
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(updated)

    def beat(self, progress=None, **fields):
        """Record liveness (and progress) of a running job; returns False once it stopped running."""
        if progress is not None:
            fields["progress"] = min(max(progress, 0.0), 1.0)
        updated = type(self).objects.filter(pk=self.pk, status=JobStatus.RUNNING).update(
            heartbeat_at=timezone.now(), **fields
        )
        return bool(updated)


def job_models() -> list[type[Job]]:
    """Every concrete job model of the installed apps."""
    return [model for model in apps.get_models() if issubclass(model, Job)]
