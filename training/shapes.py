"""The shapes world on the platform: its project, prompts with rendered scenes, checkpoint 0 and evaluations.

Prompt images are the model-sized renders that checkpoint 0 was trained and is
evaluated on (the UI upscales them with sharp pixels): a larger render shrunk by
the processor would differ from what the model learned. They are named after their scene (``scene-<seed>.png``), so the
simulated annotator finds a task's scene from its image URL. torch loads
only inside ``checkpoint_bootstrap`` and ``checkpoint_evaluate``.
"""
import hashlib
import io
import logging
import time

from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from annotate.models import AnnotationTask, ImageAsset, Project, Prompt, RecordTrigger, Response
from synthetic.describe import DESCRIBE
from synthetic.habits import habitual_answer
from synthetic.render import MODEL_SIZE, render
from synthetic.scenes import HELD_OUT_SIZE, held_out_scenes, make_scene, scene_from_id
from training.models import ModelCheckpoint
from training.services import checkpoint_activate, checkpoint_register, generation_batch_create

logger = logging.getLogger(__name__)

PROJECT_NAME = "shapes"
INSTRUCTIONS = (
    "Each image shows a few shapes on a 3x3 grid. Mark every false claim in the answer "
    "(objects that are not there, wrong colours, sizes, counts or positions) and rewrite it; "
    "delete invented objects. If everything is true, say so."
)
DEMO_TASK = "annotate.tasks.demo.shapes_demo_bootstrap"
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
                origin={"dataset": "shapes", "scene_id": scene.scene_id, "kind": "description"},
            )
        prompts.append(prompt)
    return prompts


@transaction.atomic
def shapes_habit_responses_create(*, project, prompts) -> list[Response]:
    """Answers from the habit corpus (no model) with their annotation slots: work before checkpoint 0 exists."""
    responses = Response.objects.bulk_create(
        Response(prompt=prompt, text=habitual_answer(scene_from_id(prompt.origin["scene_id"]), prompt.question),
                 sampling_params={"origin": HABIT_ORIGIN})
        for prompt in prompts
    )
    AnnotationTask.objects.bulk_create(
        AnnotationTask(response=response, slot=slot) for response in responses for slot in range(project.overlap)
    )
    return responses


def checkpoint_evaluate(*, checkpoint, held_out=HELD_OUT_SIZE) -> dict:
    """Judge greedy descriptions of the held-out scenes; stored on the checkpoint as ``eval_metrics``."""
    from synthetic.evaluate import evaluate  # torch

    metrics = {**evaluate(checkpoint.path, held_out_scenes(held_out)), "held_out": held_out}
    ModelCheckpoint.objects.filter(pk=checkpoint.pk).update(eval_metrics=metrics)
    checkpoint.eval_metrics = metrics
    return metrics


def checkpoint_bootstrap(*, project, seed=0, log=logger.info, **options) -> ModelCheckpoint:
    """Train checkpoint 0 (``synthetic.bootstrap``; ``options`` are ``BootstrapConfig`` fields such as
    steps), register it and make it the project's active checkpoint."""
    from synthetic.bootstrap import bootstrap  # torch

    path = settings.CHECKPOINT_ROOT / f"{project.name}-bootstrap-{seed}-{int(time.time())}"
    bootstrap(path, seed=seed, log=log, **options)
    checkpoint = checkpoint_register(project=project, path=str(path), name=f"{project.name} bootstrap (checkpoint 0)")
    return checkpoint_activate(checkpoint=checkpoint)


# The demo: checkpoint 0 trained in the background on first start -----------------------------

DEMO_QUEUED_MARKER = "shapes-demo-bootstrap.queued"
DEMO_LOST_AFTER_SECONDS = 3600


def shapes_demo_seed(*, project) -> int:
    """The demo's first tasks, at once: habit-corpus answers (labelled so in ``sampling_params``), once."""
    if Response.objects.filter(prompt__project=project, sampling_params__origin=HABIT_ORIGIN).exists():
        return 0
    seeds = range(DEMO_HABIT_FIRST_SEED, DEMO_HABIT_FIRST_SEED + DEMO_HABIT_PROMPTS)
    return len(shapes_habit_responses_create(project=project, prompts=shapes_prompts_create(project=project, seeds=seeds)))


def _demo_marker():
    return settings.CHECKPOINT_ROOT / DEMO_QUEUED_MARKER


def shapes_demo_bootstrap_enqueue(*, project) -> bool:
    """Queue the demo's checkpoint 0 (queue gpu) unless the project has one or one is on its way
    (queued less than an hour ago); returns whether it queued."""
    marker = _demo_marker()
    if project.checkpoints.exists():
        return False
    if marker.exists() and time.time() - marker.stat().st_mtime < DEMO_LOST_AFTER_SECONDS:
        return False
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    transaction.on_commit(
        lambda: current_app.signature(DEMO_TASK, args=(project.pk,)).apply_async(queue="gpu")
    )
    return True


def shapes_demo_bootstrap(*, project_id, prompts=DEMO_GENERATED_PROMPTS, held_out=HELD_OUT_SIZE,
                          **options) -> ModelCheckpoint | None:
    """The worker's body: checkpoint 0, then a generation batch whose answers become tasks, then its
    held-out metrics. Does nothing when the project already has a checkpoint."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None or project.checkpoints.exists():
        return None
    checkpoint = checkpoint_bootstrap(project=project, **options)
    fresh = shapes_prompts_create(project=project, seeds=range(DEMO_FIRST_SEED, DEMO_FIRST_SEED + prompts))
    generation_batch_create(project=project, checkpoint=checkpoint, prompt_ids=[p.pk for p in fresh],
                            params={"max_new_tokens": MAX_NEW_TOKENS})
    checkpoint_evaluate(checkpoint=checkpoint, held_out=held_out)
    _demo_marker().unlink(missing_ok=True)
    return checkpoint
