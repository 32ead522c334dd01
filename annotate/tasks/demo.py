"""Celery task of the demo: checkpoint 0 of the shapes world, trained on queue ``gpu`` after the first start."""
from celery import shared_task

from training.shapes import DEMO_TASK, shapes_demo_bootstrap


@shared_task(name=DEMO_TASK, queue="gpu")
def shapes_demo_bootstrap_task(project_id):
    """Bootstrap, first generation batch, held-out metrics; returns the checkpoint id (None when it had one)."""
    checkpoint = shapes_demo_bootstrap(project_id=project_id)
    return checkpoint and checkpoint.pk
