"""Which queue runs a task is decided in one place, CELERY_TASK_ROUTES: the GPU jobs on ``gpu``, the rest on
``default``; no task or send names its own queue."""
from config.celery import app

GPU_TASKS = {"training.tasks.training_run_execute", "training.tasks.generation_batch_execute",
             "demo.tasks.bootstrap_run_execute"}


def test_every_task_goes_to_the_queue_its_route_names():
    app.loader.import_default_modules()
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    assert GPU_TASKS <= set(ours)
    for name, task in ours.items():
        assert getattr(task, "queue", None) is None, f"{name} names its own queue"
        queue = app.amqp.router.route({}, name)["queue"].name
        assert queue == ("gpu" if name in GPU_TASKS else "default"), name
