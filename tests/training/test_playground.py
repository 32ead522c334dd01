"""The checkpoint playground: ask one or two checkpoints (API, validation, permissions), what a queued request
waits behind, the worker's answers, sending an answer to the annotation queue."""
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from annotate.models import AnnotationTask, ExportJob, ImageAsset, Prompt, Response, Role
from jobs.models import JobStatus
from tests.factories import make_image, make_project, make_user, png_bytes
from training import playground_services as services
from training.models import GenerationBatch, ModelCheckpoint, PlaygroundRequest, TrainingRun
from training.playground_selectors import playground_waiting_behind

QUESTION = "What colour is the circle?"


@pytest.fixture
def setup(db):
    """A project (overlap 2) with an image in a prompt, its active checkpoint and a shared base model."""
    project = make_project(overlap=2)
    image = make_image()
    Prompt.objects.create(project=project, image=image, question="Describe the image.")
    active = ModelCheckpoint.objects.create(project=project, name="run 3", path="/nowhere/run-3", is_active=True)
    base = ModelCheckpoint.objects.create(project=None, name="base", path="/nowhere/base")
    return project, image, active, base


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def member(project, role):
    """A member of ``project`` with ``role`` who is no staff (a manager of one project only)."""
    user = make_user(role=role, project=project)
    return user


def ask(client, project, image, asked, **extra):
    """POST a question about ``image`` to the ``asked`` checkpoints; ``extra`` overrides fields of the body."""
    body = {"project": project.pk, "image_id": image.pk, "question": QUESTION,
            "checkpoints": [c.pk for c in asked], "sampling": {"max_new_tokens": 8}, **extra}
    return client.post("/api/playground/", body, format="json")


def answered(request, texts):
    """The request as the worker leaves it: succeeded with one answer per checkpoint."""
    request.transition(JobStatus.RUNNING)
    request.transition(JobStatus.SUCCEEDED, answers={str(c.pk): text for c, text in zip(request.checkpoints, texts)})
    return request


def test_a_reviewer_asks_two_checkpoints_about_a_project_image(setup):
    """201 with the request queued, both checkpoints in order (the project's and the shared base), resolved sampling."""
    project, image, active, base = setup
    response = ask(client_for(member(project, Role.REVIEWER)), project, image, [active, base])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "queued" and body["question"] == QUESTION and body["image_id"] == image.pk
    assert body["image_url"] == image.file.url
    assert [a["checkpoint"]["id"] for a in body["answers"]] == [active.pk, base.pk]
    assert [a["checkpoint"]["is_active"] for a in body["answers"]] == [True, False]
    assert [a["text"] for a in body["answers"]] == [None, None]
    assert body["sampling"]["max_new_tokens"] == 8 and body["sampling"]["temperature"] == 0.0
    request = PlaygroundRequest.objects.get(pk=body["id"])
    assert request.checkpoints == [active, base] and request.project == project


def test_the_project_defaults_to_the_first_checkpoints(setup):
    """The body of DESIGN.md's contract (no project) is enough when the first checkpoint is a project's."""
    project, image, active, _ = setup
    client = client_for(make_user(role=Role.MANAGER))
    body = {"image_id": image.pk, "question": QUESTION, "checkpoints": [active.pk], "sampling": {}}
    response = client.post("/api/playground/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["project"] == project.pk


def _upload(data, name="picture.png"):
    return SimpleUploadedFile(name, data, content_type="image/png")


def _too_many_pixels():
    buffer = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buffer, format="PNG")  # 64 M pixels in a few kilobytes
    return buffer.getvalue()


BAD_INPUT = {
    "a checkpoint of another project": (lambda s: {"checkpoints": [s["other"].pk]}, "checkpoints[0]"),
    "an unknown checkpoint second": (lambda s: {"checkpoints": [s["active"].pk, 10**9]}, "checkpoints[1]"),
    "three checkpoints": (lambda s: {"checkpoints": [s["active"].pk, s["base"].pk, s["active"].pk]}, "checkpoints"),
    "no checkpoint": (lambda s: {"checkpoints": []}, "checkpoints"),
    "the same checkpoint twice": (lambda s: {"checkpoints": [s["active"].pk, s["active"].pk]}, "checkpoints[1]"),
    "a negative temperature": (lambda s: {"sampling": {"temperature": -1}}, "sampling"),
    "an unknown sampling key": (lambda s: {"sampling": {"beams": 4}}, "sampling"),
    "a string for a number": (lambda s: {"sampling": {"max_new_tokens": "8"}}, "sampling"),
    "too many new tokens": (lambda s: {"sampling": {"max_new_tokens": 10**6}}, "sampling.max_new_tokens"),
    "several samples": (lambda s: {"sampling": {"temperature": 0.7, "samples_per_prompt": 2}},
                        "sampling.samples_per_prompt"),
    "an image of another project": (lambda s: {"image_id": s["foreign_image"].pk}, "image_id"),
    "a blank question": (lambda s: {"question": "   "}, "question"),
    "a question too long": (lambda s: {"question": "a" * 2001}, "question"),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(setup, case):
    project, image, active, base = setup
    other = ModelCheckpoint.objects.create(project=make_project(), name="theirs", path="/nowhere/theirs")
    foreign_image = make_image()
    Prompt.objects.create(project=other.project, image=foreign_image, question="Describe the image.")
    overrides, field = BAD_INPUT[case]
    response = ask(client_for(make_user(role=Role.MANAGER)), project, image, [active],
                   **overrides({"active": active, "base": base, "other": other, "foreign_image": foreign_image}))
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"], response.json()
    assert not PlaygroundRequest.objects.exists()


def _ask_with_upload(client, project, checkpoints, upload):
    """A multipart form, as the page sends it with an uploaded image: sampling as JSON text."""
    body = {"project": project.pk, "question": QUESTION, "checkpoints": [c.pk for c in checkpoints],
            "sampling": '{"max_new_tokens": 8}', "image": upload}
    return client.post("/api/playground/", body, format="multipart")


def test_an_uploaded_image_is_checked_and_stored(setup):
    """A real image is stored once (by sha256) and asked about; the sampling comes as JSON text in the form."""
    project, _, active, base = setup
    client = client_for(member(project, Role.MANAGER))
    response = _ask_with_upload(client, project, [active, base], _upload(png_bytes((1, 2, 3), (48, 40))))
    assert response.status_code == 201, response.content
    request = PlaygroundRequest.objects.get(pk=response.json()["id"])
    assert (request.image.width, request.image.height) == (48, 40) and request.params["max_new_tokens"] == 8
    again = _ask_with_upload(client, project, [active], _upload(png_bytes((1, 2, 3), (48, 40))))
    assert again.json()["image_id"] == request.image_id


@pytest.mark.parametrize("data,words", [(b"GIF89a-but-not-really", "not an image"), (_too_many_pixels(), "pixels"),
                                        (b"", "empty")])
def test_an_upload_that_is_no_sane_image_is_a_400_naming_image(setup, data, words):
    project, _, active, _ = setup
    images = ImageAsset.objects.count()
    response = _ask_with_upload(client_for(make_user(role=Role.MANAGER)), project, [active], _upload(data))
    assert response.status_code == 400, response.content
    assert words in " ".join(response.json()["fields"]["image"])
    assert ImageAsset.objects.count() == images and not PlaygroundRequest.objects.exists()


def test_a_picked_image_and_an_upload_together_are_refused(setup):
    project, image, active, _ = setup
    body = {"project": project.pk, "image_id": image.pk, "question": QUESTION, "checkpoints": [active.pk],
            "image": _upload(png_bytes((9, 9, 9)))}
    response = client_for(make_user(role=Role.MANAGER)).post("/api/playground/", body, format="multipart")
    assert response.status_code == 400 and "image" in response.json()["fields"]


def test_annotators_and_other_teams_are_refused(setup):
    """An annotator of the project: 403 to ask, 404 to read or send; another project's manager: 404 throughout."""
    project, image, active, _ = setup
    request = services.playground_request_create(project=project, checkpoint_ids=[active.pk], question=QUESTION,
                                                 image_id=image.pk)
    answered(request, ["A red circle."])
    for user, create_status in ((member(project, Role.ANNOTATOR), 403), (member(make_project(), Role.MANAGER), 404)):
        client = client_for(user)
        assert ask(client, project, image, [active]).status_code == create_status
        assert client.get(f"/api/playground/{request.pk}/").status_code == 404
        sent = client.post(f"/api/playground/{request.pk}/send/", {"checkpoint": active.pk}, format="json")
        assert sent.status_code == 404
    assert PlaygroundRequest.objects.count() == 1 and not Response.objects.filter(checkpoint=active).exists()
    assert client_for(member(project, Role.REVIEWER)).get(f"/api/playground/{request.pk}/").status_code == 200


def test_a_queued_request_says_what_it_waits_behind_on_the_gpu_queue(setup):
    """Running jobs first, then the gpu jobs queued before it; not the later ones, nor default-queue jobs; another
    project's job by its kind only."""
    project, image, active, _ = setup
    other = make_project()
    run = TrainingRun.objects.create(project=project, base_checkpoint=active, step=120, total_steps=400)
    run.transition(JobStatus.RUNNING)
    GenerationBatch.objects.create(project=other, checkpoint=active)
    ExportJob.objects.create(project=project, format="rlhfv-jsonl")  # queue default: never ahead of a gpu job
    request = services.playground_request_create(project=project, checkpoint_ids=[active.pk], question=QUESTION,
                                                 image_id=image.pk)
    GenerationBatch.objects.create(project=project, checkpoint=active)  # queued after it
    body = client_for(member(project, Role.REVIEWER)).get(f"/api/playground/{request.pk}/").json()
    assert [job["label"] for job in body["waiting_behind"]] == [
        f"training run #{run.pk} (running, step 120/400)", "another project's generation batch (queued)"]
    assert [job["id"] for job in body["waiting_behind"]] == [run.pk, None]
    request.transition(JobStatus.RUNNING)
    assert playground_waiting_behind(request=request) == []


def test_send_makes_an_annotation_task_an_annotator_can_claim(setup):
    """The answer becomes a Response of its checkpoint with project.overlap open slots; the marks are kept beside it;
    an annotator's next task is that answer."""
    project, image, active, base = setup
    request = services.playground_request_create(project=project, checkpoint_ids=[active.pk, base.pk],
                                                 question=QUESTION, image_id=image.pk, sampling={"max_new_tokens": 8})
    answered(request, ["A blue circle, 🙂 left.", "A red circle."])
    client = client_for(member(project, Role.REVIEWER))
    sent = client.post(f"/api/playground/{request.pk}/send/", {"checkpoint": active.pk, "marks": [[16, 20], [2, 6]]},
                       format="json")
    assert sent.status_code == 201, sent.content
    response = Response.objects.get(pk=sent.json()["response"])
    assert (response.text, response.checkpoint, response.sampling_params) == ("A blue circle, 🙂 left.", active,
                                                                              request.params)
    assert (response.prompt.image, response.prompt.question, response.prompt.project) == (image, QUESTION, project)
    assert response.prompt.origin == {"source": "playground", "request": request.pk}
    assert sent.json()["tasks"] == 2 == AnnotationTask.objects.filter(response=response, status="open").count()
    request.refresh_from_db()
    assert request.sent == {str(active.pk): {"response": response.pk, "marks": [[2, 6], [16, 20]]}}
    detail = client.get(f"/api/playground/{request.pk}/").json()
    assert [a["sent"] for a in detail["answers"]] == [request.sent[str(active.pk)], None]

    annotator = member(project, Role.ANNOTATOR)
    task = client_for(annotator).post(f"/api/tasks/next/?project={project.pk}").json()
    assert task["response"] == {"id": response.pk, "text": "A blue circle, 🙂 left.", "written_by": active.name}

    again = client.post(f"/api/playground/{request.pk}/send/", {"checkpoint": active.pk}, format="json")
    assert again.status_code == 409
    second = client.post(f"/api/playground/{request.pk}/send/", {"checkpoint": base.pk}, format="json").json()
    assert Response.objects.get(pk=second["response"]).prompt == response.prompt  # the same prompt, reused


def test_send_joins_the_projects_existing_prompt(setup):
    project, image, active, _ = setup
    existing = Prompt.objects.get(project=project, image=image)
    request = services.playground_request_create(project=project, checkpoint_ids=[active.pk],
                                                 question=existing.question, image_id=image.pk)
    answered(request, ["A red circle."])
    response = services.playground_answer_send(request=request, checkpoint_id=active.pk)
    assert response.prompt == existing and Prompt.objects.filter(project=project).count() == 1


@pytest.mark.parametrize("body,field,status", [
    ({"marks": [[0, 2], [5, 99]]}, "marks[1]", 400),
    ({"marks": [[3, 3]]}, "marks[0]", 400),
    ({"marks": [[0, 4], [2, 6]]}, "marks[1]", 400),
    ({"marks": [[0, True]]}, "marks[0]", 400),
    ({"marks": {"0": [0, 2]}}, "marks", 400),
])
def test_bad_marks_are_a_400_naming_the_mark(setup, body, field, status):
    project, image, active, _ = setup
    request = answered(services.playground_request_create(project=project, checkpoint_ids=[active.pk],
                                                          question=QUESTION, image_id=image.pk), ["A red circle."])
    sent = client_for(make_user(role=Role.MANAGER)).post(f"/api/playground/{request.pk}/send/",
                                                        {"checkpoint": active.pk, **body}, format="json")
    assert sent.status_code == status and field in sent.json()["fields"], sent.content
    assert not Response.objects.filter(checkpoint=active).exists()


def test_send_needs_an_answer_of_a_checkpoint_asked(setup):
    """Before the answers: 409; a checkpoint not asked: 400 naming it."""
    project, image, active, base = setup
    request = services.playground_request_create(project=project, checkpoint_ids=[active.pk], question=QUESTION,
                                                 image_id=image.pk)
    client = client_for(make_user(role=Role.MANAGER))
    assert client.post(f"/api/playground/{request.pk}/send/", {"checkpoint": active.pk}, format="json").status_code == 409
    answered(request, ["A red circle."])
    refused = client.post(f"/api/playground/{request.pk}/send/", {"checkpoint": base.pk}, format="json")
    assert refused.status_code == 400 and "checkpoint" in refused.json()["fields"]


def test_the_worker_fails_the_request_with_the_error_text(setup):
    """A checkpoint that cannot be loaded fails the request, its error saying why."""
    project, image, active, _ = setup
    request = services.playground_request_create(project=project, checkpoint_ids=[active.pk], question=QUESTION,
                                                 image_id=image.pk)
    request = services.playground_request_execute(request_id=request.pk)
    request.refresh_from_db()
    assert request.status == JobStatus.FAILED and "/nowhere/run-3" in request.error and request.answers == {}


@pytest.mark.slow
def test_the_worker_answers_from_two_checkpoints(db, tiny_vlm, other_tiny_vlm):
    """Two tiny VLMs (different weights) answer the same image and question; the request succeeds with both."""
    project = make_project()
    image = make_image()
    Prompt.objects.create(project=project, image=image, question="Describe the image.")
    first = ModelCheckpoint.objects.create(project=project, name="tiny", path=str(tiny_vlm), is_active=True)
    second = ModelCheckpoint.objects.create(project=project, name="other tiny", path=str(other_tiny_vlm))
    request = services.playground_request_create(project=project, checkpoint_ids=[first.pk, second.pk],
                                                 question="Describe the image.", image_id=image.pk,
                                                 sampling={"max_new_tokens": 8})
    services.playground_request_execute(request_id=request.pk)
    request.refresh_from_db()
    assert request.status == JobStatus.SUCCEEDED, request.error
    assert request.progress == 1.0 and set(request.answers) == {str(first.pk), str(second.pk)}
    assert all(request.answers.values()) and request.answers[str(first.pk)] != request.answers[str(second.pk)]
