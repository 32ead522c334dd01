"""Celery tasks of the training app: thin, take ids, do the work in services.

``training_run_execute``, ``generation_batch_execute``, ``checkpoint_evaluation_execute``, ``playground_request_execute``
and ``model_registration_execute`` run on queue ``gpu``
(``CELERY_TASK_ROUTES``); the rest on ``default``. The GPU jobs are acked late
(``CELERY_TASK_ACKS_LATE`` says why), the rest on receipt.
"""
from celery import shared_task

from training import playground_services, promotion, registration_services, services


@shared_task(name="training.tasks.training_run_execute", acks_late=True)
def training_run_execute(run_id):
    run = services.training_run_execute(run_id=run_id)
    return run and run.status


@shared_task(name="training.tasks.generation_batch_execute", acks_late=True)
def generation_batch_execute(batch_id):
    batch = services.generation_batch_execute(batch_id=batch_id)
    return batch and batch.status


@shared_task(name="training.tasks.checkpoint_evaluation_execute", acks_late=True)
def checkpoint_evaluation_execute(evaluation_id):
    evaluation = promotion.checkpoint_evaluation_execute(evaluation_id=evaluation_id)
    return evaluation and evaluation.status


@shared_task(name="training.tasks.training_auto_trigger")
def training_auto_trigger():
    return [run.pk for run in services.training_auto_trigger()]


@shared_task(name="training.tasks.playground_request_execute", acks_late=True)
def playground_request_execute(request_id):
    request = playground_services.playground_request_execute(request_id=request_id)
    return request and request.status


@shared_task(name="training.tasks.model_registration_execute", acks_late=True)
def model_registration_execute(registration_id):
    registration = registration_services.model_registration_execute(registration_id=registration_id)
    return registration and registration.status
