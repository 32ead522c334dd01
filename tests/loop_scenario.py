"""The platform's loop closing by itself on real workers (tests/training/test_loop_e2e.py, and in Chromium
tests/browser/test_loop_timeline.py): a project whose active checkpoint is a tiny VLM has answered some
prompts; an annotator corrects the answers through the REST API, and nothing else is called — the records
cross the auto-train threshold, the beat's trigger launches a run, the run is evaluated on the held-out
records, the policy promotes it, and the new checkpoint's batch brings new tasks."""
import time

from rest_framework.test import APIClient

from annotate.models import AnnotationTask, Prompt, PromotionPolicy, RecordTrigger, Response, Role
from annotate.services import responses_create
from annotate.splits import HELDOUT, record_split, record_split_key
from tests.factories import make_image, make_project, make_user
from training.models import ModelCheckpoint

COLOURS = ["red", "blue", "green", "yellow"]
PREFIX = "There is a "
TRAINING, HELD_OUT, FRESH = 4, 2, 2  # records that train (= the threshold), held-out records, unanswered prompts
HELDOUT_PERCENT = 30


def _answer(index):
    return f"{PREFIX}{COLOURS[index % 4]} circle."


def loop_project(*, model_path):
    """The project, its annotator and its active checkpoint; the checkpoint answered TRAINING + HELD_OUT
    prompts (picked by their answers' split, so that both sides have their count) and FRESH prompts wait."""
    project = make_project(
        record_trigger=RecordTrigger.SUBMIT, heldout_percent=HELDOUT_PERCENT, auto_train_threshold=TRAINING,
        promotion_policy=PromotionPolicy.ALWAYS, next_batch_size=FRESH, next_batch_params={"max_new_tokens": 8},
        training_config={"epochs": 1, "batch_size": 4})
    base = ModelCheckpoint.objects.create(project=project, name="base", path=str(model_path), is_active=True)
    sides, index = {"train": [], HELDOUT: []}, 0
    while len(sides["train"]) < TRAINING or len(sides[HELDOUT]) < HELD_OUT:
        prompt = Prompt.objects.create(project=project, image=make_image(), question="Describe the image in detail.")
        [response] = responses_create(project=project, responses=[
            Response(prompt=prompt, checkpoint=base, text=_answer(index))])
        side = record_split(record_split_key(response_id=response.pk), HELDOUT_PERCENT)
        wanted = TRAINING if side == "train" else HELD_OUT
        if len(sides[side]) < wanted:
            sides[side].append(response)
        else:  # that side is full: the answer gets no task, so the counts stay exact
            AnnotationTask.objects.filter(response=response).delete()
        index += 1
    for _ in range(FRESH):
        Prompt.objects.create(project=project, image=make_image(), question="Describe the image in detail.")
    annotator = make_user(role=Role.ANNOTATOR, project=project)
    return project, base, annotator


def annotate_all(*, project, annotator) -> int:
    """The annotator corrects the colour of every answer over the REST API: the test's only calls."""
    client = APIClient()
    client.force_authenticate(annotator)
    done = 0
    while (task := client.post(f"/api/tasks/next/?project={project.pk}")).status_code == 200:
        text = task.json()["response"]["text"]
        wrong = text[len(PREFIX):].split()[0]
        right = COLOURS[(COLOURS.index(wrong) + 1) % 4]
        segments = [{"start": len(PREFIX), "end": len(PREFIX) + len(wrong), "category": "attribute",
                     "replacement": right}]
        reply = client.post("/api/annotations/", {"task": task.json()["id"], "segments": segments, "submit": True},
                            format="json")
        assert reply.status_code == 201, reply.content
        done += 1
    return done


def next_checkpoint_task(*, project, base, annotator, timeout=600) -> tuple[ModelCheckpoint, dict]:
    """Poll (reading only) until a checkpoint other than ``base`` is active and the annotator's next task is one
    of its answers: (that checkpoint, the claimed task)."""
    client = APIClient()
    client.force_authenticate(annotator)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = ModelCheckpoint.objects.filter(project=project, is_active=True).exclude(pk=base.pk).first()
        if active is not None and AnnotationTask.objects.filter(response__checkpoint=active).exists():
            task = client.post(f"/api/tasks/next/?project={project.pk}")
            assert task.status_code == 200, task.content
            return active, task.json()
        time.sleep(1)
    raise AssertionError(f"no task from a new checkpoint within {timeout} s")


def tiny_model(folder):
    """A random tiny LLaVA for tests outside tests/training (whose ``tiny_vlm`` fixture builds the same kind)."""
    from synthetic.tiny_vlm import build_tiny_vlm  # torch

    return build_tiny_vlm(folder, [f"{PREFIX}{colour} circle. Describe the image in detail." for colour in COLOURS] * 10)
