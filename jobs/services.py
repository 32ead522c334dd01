"""Writes of the job machinery: send a job's task, beat while it works, fail (or resume) lost jobs, resend
unstarted ones."""
import logging
import threading
from contextlib import contextmanager
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from kombu.exceptions import KombuError

from jobs.models import JobStatus, job_models
from jobs.selectors import jobs_due_for_resend

logger = logging.getLogger(__name__)

# The first wait before a job's task is sent again (then the wait doubles); a second message is
# harmless (the queued -> running transition lets one worker in).
RESEND_AFTER = timedelta(minutes=30)


def lost_after_setting() -> timedelta:
    """How long a running job may go without a heartbeat before its worker counts as lost
    (``JOBS_LOST_AFTER_SECONDS``); workers beat ten times as often."""
    return timedelta(seconds=settings.JOBS_LOST_AFTER_SECONDS)


def job_send(job, *, fail_if_refused=True) -> bool:
    """Send the job's task to the broker now. A broker that refuses the first send fails the job with the
    reason, so no job waits queued forever (a queued run blocks the project's next one); a refused resend
    leaves it queued, since its first message may still be waiting in the queue."""
    type(job).objects.filter(pk=job.pk).update(sent_at=timezone.now())
    try:
        current_app.signature(job.task_name, args=(job.pk,)).apply_async()
    except (KombuError, OSError) as exc:
        logger.exception("Could not queue %s", job)
        if fail_if_refused:
            job.transition(JobStatus.FAILED, error=f"Could not queue the task: {type(exc).__name__}: {exc}")
        return False
    return True


def job_enqueue(job) -> None:
    """Send the job's task once the current transaction commits (a worker must see the row)."""
    transaction.on_commit(lambda: job_send(job))


def task_send(task_name, *args, countdown=None) -> None:
    """Send a task that is no job by name now, to run ``countdown`` seconds from now (at once when ``None``). The
    queue is ``CELERY_TASK_ROUTES``'s choice (the default queue unless routed)."""
    current_app.signature(task_name, args=args).apply_async(countdown=countdown)


def task_enqueue(task_name, *args, robust=False) -> None:
    """Send a task that is no job by name once the current transaction commits (a worker must see what it
    wrote); ``robust`` logs a broker's refusal instead of raising it."""
    transaction.on_commit(lambda: task_send(task_name, *args), robust=robust)


def task_enqueue_coalesced(task_name, *, seconds, robust=False) -> None:
    """``task_enqueue`` for a task without arguments that works on whatever is due when it runs: at most one
    message per ``seconds`` per process, sent to run ``seconds`` later.

    The flag is ``cache.add`` of a key that expires after ``seconds`` (on the default cache, the process's own
    memory: each process coalesces its own commits). A commit that finds it set happened before it expires, so
    before the message its setter sent runs. A refused send clears the flag, so the next commit tries again.
    With ``seconds`` 0, or tasks run eagerly (the tests), every commit sends one to run at once."""
    transaction.on_commit(lambda: _task_send_coalesced(task_name, seconds), robust=robust)


def _task_send_coalesced(task_name, seconds):
    if seconds <= 0 or current_app.conf.task_always_eager:
        task_send(task_name)
        return
    key = f"task-coalesced:{task_name}"
    if not cache.add(key, 1, timeout=seconds):
        return
    try:
        task_send(task_name, countdown=seconds)
    except Exception:
        cache.delete(key)
        raise


@contextmanager
def job_beating(job, *, every=None):
    """Beat ``job`` from a thread while the body runs, so the lost-worker check only fails jobs whose
    process died: loading a model and the reference pass log no steps, and may take longer than ``JOBS_LOST_AFTER_SECONDS``."""
    every = every or lost_after_setting() / 10
    stop = threading.Event()

    def beat():
        try:
            while not stop.wait(every.total_seconds()):
                try:
                    if not job.beat():  # the job stopped running (finished, cancelled, failed)
                        break
                except DatabaseError:  # a passing database hiccup must not silence the job for good
                    logger.warning("Heartbeat of %s failed; trying again", job, exc_info=True)
                    connection.close()  # the next beat opens a fresh connection
        finally:
            connection.close()  # the thread's own connection

    thread = threading.Thread(target=beat, name=f"beat-{job}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def jobs_fail_lost(*, lost_after=None) -> int:
    """Fail running jobs whose worker stopped beating (killed, out of memory), or hand each lost job of a
    resumable kind to its ``resume_service`` (which sends it again or fails it); returns how many were lost."""
    lost_after = lost_after or lost_after_setting()
    cutoff = timezone.now() - lost_after
    handled = 0
    for model in job_models():
        lost = model.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff)
        if model.resume_service:
            resume = import_string(model.resume_service)
            handled += sum(bool(resume(job_id=pk, lost_after=lost_after)) for pk in lost.values_list("pk", flat=True))
        else:
            handled += lost.update(status=JobStatus.FAILED, finished_at=timezone.now(),
                                   error=f"Worker lost: no heartbeat for {lost_after}.")
    return handled


def jobs_resend_unstarted(*, resend_after=RESEND_AFTER) -> int:
    """Send again the task of every job whose broker message may be lost (``jobs_due_for_resend``); returns
    how many were sent."""
    return sum(job_send(job, fail_if_refused=False) for job in jobs_due_for_resend(resend_after=resend_after))
