"""The shapes world on the platform: its project, prompts with rendered scenes, checkpoint 0 and evaluations.

Prompt images are the model-sized renders that checkpoint 0 was trained and is
evaluated on (the UI upscales them with sharp pixels): a larger render shrunk by
the processor would differ from what the model learned. They are named after
their scene (``scene-<seed>.png``), so the simulated annotator finds a task's
scene from its image URL. Checkpoint 0 is a training run like any other
(trigger ``bootstrap``, no base checkpoint, its own task on queue ``gpu``): the
dashboard lists it with its steps, a manager can cancel it, a lost worker's run
is sent again like any run's but starts over: ``synthetic.bootstrap`` saves no
steps to resume from (it is seeded). torch loads only inside the ``_execute``
body and ``checkpoint_evaluate``.
"""
import hashlib
import io
import logging

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from annotate.models import ImageAsset, Project, Prompt, RecordTrigger, Response
from annotate.services import responses_create
from jobs.models import JobStopped
from jobs.services import job_enqueue
from synthetic.describe import DESCRIBE
from synthetic.habits import habitual_answer
from synthetic.render import MODEL_SIZE, render
from synthetic.scenes import DATASET, HELD_OUT_SIZE, make_scene, scene_from_id
from training.models import ModelCheckpoint, TrainingRun, TrainingTrigger
from training.selectors import training_run_active_exists
from training.services import (
    checkpoint_activate,
    checkpoint_metrics_merge,
    generation_batch_create,
    training_run_record_metrics,
    training_run_resumed,
    training_run_slot_claim,
    training_run_stop_requested,
    training_run_work,
)

logger = logging.getLogger(__name__)

PROJECT_NAME = "shapes"
INSTRUCTIONS = (
    "Each image shows a few shapes on a 3x3 grid. Mark every false claim in the answer "
    "(objects that are not there, wrong colours, sizes, counts or positions) and rewrite it; "
    "delete invented objects. If everything is true, say so."
)
BOOTSTRAP_TASK = "demo.tasks.bootstrap_run_execute"
DEMO_FIRST_SEED = 2_000_000  # past the bootstrap's and the loop's training scenes
DEMO_HABIT_FIRST_SEED = 2_100_000
DEMO_HABIT_PROMPTS = 20
DEMO_GENERATED_PROMPTS = 64
MAX_NEW_TOKENS = 64
HABIT_ORIGIN = "habit corpus (synthetic.habits): the bootstrap's taught answers, no model"


@transaction.atomic
def shapes_project_setup(*, name=PROJECT_NAME) -> Project:
    """The shapes project; records are built on submit, so the loop needs no reviewer."""
    project, created = Project.objects.get_or_create(
        name=name, defaults={"instructions": INSTRUCTIONS, "record_trigger": RecordTrigger.SUBMIT}
    )
    return project


def _scene_image(scene) -> ImageAsset:
    buffer = io.BytesIO()
    render(scene, MODEL_SIZE).save(buffer, format="PNG")
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    existing = ImageAsset.objects.filter(sha256=digest).first()
    if existing is not None:
        return existing
    image = ImageAsset(sha256=digest, width=MODEL_SIZE, height=MODEL_SIZE, size_bytes=len(data))
    image.file.save(f"{scene.scene_id}.png", ContentFile(data), save=False)
    image.save()
    return image


@transaction.atomic
def shapes_prompts_create(*, project, seeds) -> list[Prompt]:
    """A detailed-description prompt per scene seed (the existing one when the project has it)."""
    prompts = []
    for seed in seeds:
        scene = make_scene(seed)
        prompt = Prompt.objects.filter(project=project, origin__scene_id=scene.scene_id).first()
        if prompt is None:
            prompt = Prompt.objects.create(
                project=project, image=_scene_image(scene), question=DESCRIBE,
                origin={"dataset": DATASET, "scene_id": scene.scene_id, "kind": "description"},
            )
        prompts.append(prompt)
    return prompts


def shapes_habit_responses_create(*, project, prompts) -> list[Response]:
    """Answers from the habit corpus (no model) with their annotation slots: work before checkpoint 0 exists."""
    return responses_create(project=project, responses=[
        Response(prompt=prompt, text=habitual_answer(scene_from_id(prompt.origin["scene_id"]), prompt.question),
                 sampling_params={"origin": HABIT_ORIGIN})
        for prompt in prompts
    ])


def checkpoint_evaluate(*, checkpoint, held_out=HELD_OUT_SIZE) -> dict:
    """Judge greedy descriptions of ``held_out`` held-out scenes, in this process; stored as the checkpoint's
    ``eval_metrics["judge"]`` (the rest of them, its evaluation job's, kept)."""
    from synthetic.evaluate import evaluate_held_out  # torch

    metrics = evaluate_held_out(checkpoint.path, held_out)
    checkpoint_metrics_merge(checkpoint=checkpoint, metrics={"judge": metrics})
    return metrics


# Checkpoint 0: a training run of its own kind ------------------------------------------------


@transaction.atomic
def bootstrap_run_create(*, project, bootstrap=None, first_batch=0) -> TrainingRun:
    """Queue the training of the project's checkpoint 0 (``synthetic.bootstrap``; ``bootstrap`` holds
    ``BootstrapConfig`` fields such as steps). Once trained it becomes the active checkpoint and answers
    ``first_batch`` fresh scenes (the answers become tasks); its evaluation job, queued as for every run's
    checkpoint, judges it on the held-out scenes."""
    training_run_slot_claim(project=project)
    run = TrainingRun.objects.create(
        project=project, trigger=TrainingTrigger.BOOTSTRAP, task_name=BOOTSTRAP_TASK,
        config={"bootstrap": bootstrap or {}, "first_batch": first_batch},
    )
    job_enqueue(run)
    return run


def _bootstrap_train(run):
    from synthetic.bootstrap import BootstrapConfig, bootstrap  # torch

    options = run.config["bootstrap"]
    run.total_steps = options.get("steps", BootstrapConfig.steps)
    run.beat(total_steps=run.total_steps)
    if run.attempts > 1:
        training_run_resumed(run=run, step=0)

    def on_step(step, values):
        training_run_record_metrics(run=run, step=step, values=values)
        if training_run_stop_requested(run):
            raise JobStopped

    path = settings.CHECKPOINT_ROOT / f"{run.project.name}-bootstrap-run-{run.pk}"
    return bootstrap(path, log=lambda line: logger.info("Training run %s: %s", run.pk, line), on_step=on_step,
                     **options)


def bootstrap_run_execute(*, run_id) -> TrainingRun | None:
    """The worker's body: train checkpoint 0 (its evaluation queued), make it active, then its first batch."""
    run = training_run_work(run_id=run_id, body=_bootstrap_train)
    checkpoint = ModelCheckpoint.objects.filter(produced_by=run).first() if run else None
    if checkpoint is None:
        return run
    ModelCheckpoint.objects.filter(pk=checkpoint.pk).update(name=f"{run.project.name} checkpoint 0")
    checkpoint_activate(checkpoint=checkpoint)
    if run.config["first_batch"]:
        first = DEMO_FIRST_SEED
        fresh = shapes_prompts_create(project=run.project, seeds=range(first, first + run.config["first_batch"]))
        generation_batch_create(project=run.project, checkpoint=checkpoint, prompt_ids=[p.pk for p in fresh],
                                params={"max_new_tokens": MAX_NEW_TOKENS})
    return run


# The demo: first tasks at once, checkpoint 0 queued on first start ------------------------------


def shapes_demo_seed(*, project) -> int:
    """The demo's first tasks, at once: habit-corpus answers (labelled so in ``sampling_params``), once."""
    if Response.objects.filter(prompt__project=project, sampling_params__origin=HABIT_ORIGIN).exists():
        return 0
    seeds = range(DEMO_HABIT_FIRST_SEED, DEMO_HABIT_FIRST_SEED + DEMO_HABIT_PROMPTS)
    return len(shapes_habit_responses_create(project=project, prompts=shapes_prompts_create(project=project, seeds=seeds)))


def shapes_demo_bootstrap_enqueue(*, project) -> TrainingRun | None:
    """Queue the demo's checkpoint 0 unless the project has a checkpoint or a run on its way; a failed or
    cancelled one is queued again on the next start."""
    if project.checkpoints.exists() or training_run_active_exists(project=project):
        return None
    return bootstrap_run_create(project=project, first_batch=DEMO_GENERATED_PROMPTS)
