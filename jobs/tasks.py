"""Beat tasks of the job machinery (queue ``default``): fail lost jobs, resend unstarted ones."""
from celery import shared_task

from jobs import services


@shared_task(name="jobs.tasks.jobs_fail_lost")
def jobs_fail_lost():
    return services.jobs_fail_lost()


@shared_task(name="jobs.tasks.jobs_resend_unstarted")
def jobs_resend_unstarted():
    return services.jobs_resend_unstarted()
