"""Celery task of the demo: checkpoint 0 of the shapes world, on queue ``gpu`` (``CELERY_TASK_ROUTES``), acked late
like every GPU job (``CELERY_TASK_ACKS_LATE`` says why)."""
from celery import shared_task

from demo import services


@shared_task(name=services.BOOTSTRAP_TASK, acks_late=True)
def bootstrap_run_execute(run_id):
    run = services.bootstrap_run_execute(run_id=run_id)
    return run and run.status
