"""Celery tasks of the training app: thin, take ids, do the work in services."""
from celery import shared_task

from training.services import jobs_fail_lost as fail_lost_jobs


@shared_task(name="training.tasks.jobs_fail_lost")
def jobs_fail_lost():
    return fail_lost_jobs()
