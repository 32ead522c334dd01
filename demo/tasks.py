"""Celery task of the demo: checkpoint 0 of the shapes world, on queue ``gpu`` (``CELERY_TASK_ROUTES``)."""
from celery import shared_task

from demo import services


@shared_task(name=services.BOOTSTRAP_TASK)
def bootstrap_run_execute(run_id):
    run = services.bootstrap_run_execute(run_id=run_id)
    return run and run.status
