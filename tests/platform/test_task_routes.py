"""Which queue runs a task is decided in one place, CELERY_TASK_ROUTES: the GPU jobs on ``gpu``, the rest on
``default``; no task or send names its own queue. Only the GPU jobs are acked late: the rest must not wait out
the broker's 48 h visibility timeout after a killed worker (a sweep makes them good)."""
from django.conf import settings

from config.celery import app

GPU_TASKS = {"training.tasks.training_run_execute", "training.tasks.generation_batch_execute",
             "training.tasks.checkpoint_evaluation_execute", "training.tasks.playground_request_execute",
             "training.tasks.model_registration_execute", "demo.tasks.bootstrap_run_execute"}


def our_tasks():
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_every_task_goes_to_the_queue_its_route_names():
    ours = our_tasks()
    assert GPU_TASKS <= set(ours)
    for name, task in ours.items():
        assert getattr(task, "queue", None) is None, f"{name} names its own queue"
        queue = app.amqp.router.route({}, name)["queue"].name
        assert queue == ("gpu" if name in GPU_TASKS else "default"), name


def test_only_the_gpu_jobs_are_acked_late():
    """A record sync a killed worker had started is gone at once (the sweep rebuilds it), not held unacked for
    the visibility timeout; a GPU job stays unacked while it runs, and is redelivered only after it."""
    if settings.CELERY_BROKER_URL.startswith("redis"):  # the filesystem transport never redelivers
        assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] >= 48 * 3600
    assert app.conf.task_reject_on_worker_lost
    acked_late = {name for name, task in our_tasks().items() if task.acks_late}
    assert acked_late == GPU_TASKS
