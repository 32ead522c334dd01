"""Writes of the checkpoint playground: ask one or two checkpoints about an image, answer on queue ``gpu``,
send an answer to the annotation queue with the words marked by hand.

A request is a short job (``PlaygroundRequest``, the ``jobs`` status machine):
``playground_request_create`` validates and queues it; the worker's
``playground_request_execute`` loads each checkpoint in turn, answers the one
prompt and stores the answer as soon as it has it (the page shows the first
while the second is generated). torch and transformers load only there.
"""
import logging

from django.core.files.storage import default_storage
from django.db import transaction
from rest_framework import status

from annotate.models import Prompt, Response
from annotate.selectors.images import image_list_of_project
from annotate.services.images import image_upload_check, images_store
from annotate.services.responses import responses_create
from config.errors import ApplicationError
from jobs.models import JobStatus
from jobs.services import job_beating, job_enqueue
from training.generation import SamplingParams, generate, load_generator
from training.models import PlaygroundRequest
from training.playground_selectors import playground_checkpoints, playground_prompt_find
from training.services import sampling_params_resolve

logger = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000


def _bad(field, message):
    return ApplicationError(message, fields={field: [message]})


def _checkpoints(*, project, checkpoint_ids):
    """The 1 or 2 distinct checkpoints of ``project`` (or shared) named by ``checkpoint_ids``, in that order."""
    if not 1 <= len(checkpoint_ids) <= 2:
        raise _bad("checkpoints", f"Name one or two checkpoints, got {len(checkpoint_ids)}.")
    found = playground_checkpoints(project=project).in_bulk(checkpoint_ids)
    for index, checkpoint_id in enumerate(checkpoint_ids):
        if checkpoint_id not in found:
            raise _bad(f"checkpoints[{index}]", f"No checkpoint {checkpoint_id} in this project.")
    if len(set(checkpoint_ids)) < len(checkpoint_ids):
        raise _bad("checkpoints[1]", "The same checkpoint twice: name two different ones, or one.")
    return [found[checkpoint_id] for checkpoint_id in checkpoint_ids]


def _sampling(sampling):
    params = sampling_params_resolve(sampling, field="sampling")
    if params["samples_per_prompt"] != 1:
        raise _bad("sampling.samples_per_prompt", "The playground shows one answer per checkpoint: 1.")
    return params


def _question(question):
    question = (question or "").strip()
    if not question:
        raise _bad("question", "Ask a question.")
    if len(question) > MAX_QUESTION_CHARS:
        raise _bad("question", f"At most {MAX_QUESTION_CHARS} characters, got {len(question)}.")
    return question


def _image(*, project, image_id, upload, saved):
    """The project's image ``image_id``, or the uploaded file checked and stored (its name goes to ``saved``),
    or None (a question without an image)."""
    if image_id is not None and upload is not None:
        raise _bad("image", "Pick a project image or upload one, not both.")
    if upload is not None:
        checked = image_upload_check(upload, field="image")
        return images_store([checked], saved=saved)[checked.sha256]
    if image_id is not None and not image_list_of_project(project=project).filter(pk=image_id).exists():
        raise _bad("image_id", f"No image {image_id} in this project.")
    return image_id


def playground_request_create(*, project, checkpoint_ids, question, image_id=None, upload=None, sampling=None,
                              created_by=None) -> PlaygroundRequest:
    """Queue ``question`` about an image of the project (``image_id``), an uploaded one (``upload``) or none,
    to one or two checkpoints; each input error is a 400 naming its field, and nothing is stored then."""
    saved = []
    try:
        with transaction.atomic():
            checkpoints = _checkpoints(project=project, checkpoint_ids=list(checkpoint_ids))
            params, question = _sampling(sampling), _question(question)
            request = PlaygroundRequest.objects.create(
                project=project, image_id=_image(project=project, image_id=image_id, upload=upload, saved=saved),
                question=question, checkpoint=checkpoints[0], params=params, created_by=created_by,
                second_checkpoint=checkpoints[1] if len(checkpoints) > 1 else None)
            job_enqueue(request)
            return request
    except BaseException:
        for name in saved:  # the upload's file, when its row was rolled back
            default_storage.delete(name)
        raise


def playground_request_execute(*, request_id) -> PlaygroundRequest | None:
    """The worker's body: each checkpoint answers the prompt in turn (its answer stored as soon as it is
    there), then the request succeeds; an error fails it with its text. None if the request is gone."""
    request = PlaygroundRequest.objects.select_related("image", "checkpoint", "second_checkpoint").filter(
        pk=request_id).first()
    if request is None or not request.transition(JobStatus.RUNNING):
        return request
    prompt = {"question": request.question, "image": request.image.file.path if request.image else None}
    params = SamplingParams.from_dict(request.params)
    answers = {}
    try:
        with job_beating(request):
            for done, checkpoint in enumerate(request.checkpoints, start=1):
                generator = load_generator(checkpoint.path)
                [[answers[str(checkpoint.pk)]]] = generate(generator, [prompt], params)
                del generator  # free its memory before the next checkpoint loads
                request.beat(progress=done / len(request.checkpoints), answers=answers)
    except Exception as exc:
        logger.exception("Playground request %s failed", request.pk)
        request.transition(JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        return request
    request.transition(JobStatus.SUCCEEDED, answers=answers)
    return request


def playground_marks_check(marks, text) -> list[list[int]]:
    """``marks`` as sorted ``[start, end)`` code-point ranges of ``text``: each non-empty, in range and apart
    from the others; else a 400 naming ``marks[i]``."""
    if not isinstance(marks, list):
        raise _bad("marks", "Expected a list of [start, end] ranges.")
    for index, mark in enumerate(marks):
        if not (isinstance(mark, list) and len(mark) == 2 and all(type(offset) is int for offset in mark)
                and 0 <= mark[0] < mark[1] <= len(text)):
            raise _bad(f"marks[{index}]", f"Expected [start, end] with 0 <= start < end <= {len(text)} "
                                          f"(code points of the answer), got {mark!r}.")
    order = sorted(range(len(marks)), key=lambda i: marks[i])
    for before, index in zip(order, order[1:]):
        if marks[index][0] < marks[before][1]:
            raise _bad(f"marks[{index}]", f"Overlaps marks[{before}].")
    return [marks[i] for i in order]


@transaction.atomic
def playground_answer_send(*, request, checkpoint_id, marks=None) -> Response:
    """Turn a checkpoint's answer into an annotation task: a Response of that checkpoint to the prompt of the
    request's image and question (the project's existing one, else a new one), with ``project.overlap`` slots.
    The marked words are kept in ``request.sent``, beside the response they belong to."""
    request = PlaygroundRequest.objects.select_for_update().select_related("project").get(pk=request.pk)
    key = str(checkpoint_id)
    if key not in {str(checkpoint.pk) for checkpoint in request.checkpoints}:
        raise _bad("checkpoint", f"Checkpoint {checkpoint_id} was not asked in this request.")
    if request.status != JobStatus.SUCCEEDED:
        raise ApplicationError(f"The request is {request.status}: there is no answer to send yet.",
                               status=status.HTTP_409_CONFLICT)
    if key in request.sent:
        raise ApplicationError(f"This answer was sent already, as response {request.sent[key]['response']}.",
                               status=status.HTTP_409_CONFLICT)
    text = request.answers[key]
    if not text.strip():
        raise _bad("checkpoint", "The checkpoint's answer is empty: there is nothing to annotate.")
    marks = playground_marks_check([] if marks is None else marks, text)
    prompt = playground_prompt_find(project=request.project, image=request.image, question=request.question) \
        or Prompt.objects.create(project=request.project, image=request.image, question=request.question,
                                 origin={"source": "playground", "request": request.pk})
    [response] = responses_create(project=request.project, responses=[
        Response(prompt=prompt, checkpoint_id=checkpoint_id, text=text, sampling_params=request.params)])
    request.sent = {**request.sent, key: {"response": response.pk, "marks": marks}}
    request.save(update_fields=["sent"])
    return response
