"""Good uploads: manifests (JSONL, CSV), dedup, answers as queued responses, images with question templates."""
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from annotate.models import (
    AnnotationTask, ImageAsset, Membership, PreferenceRecord, Project, Prompt, Response, Role,
)
from annotate.selectors.records import record_export_list
from annotate.selectors.tasks import queue_open_responses
from annotate.services.exports import export_chunks
from annotate.services.uploads import default_templates
from tests.factories import make_image, make_project, make_user, png_bytes
from tests.uploads.helpers import BLUE, RED, jsonl, make_zip, stored_counts

pytestmark = pytest.mark.django_db

MANIFEST = jsonl(
    {"image": "img/red.png", "question": "What colour is the square?", "answer": "It is red, next to a dog.",
     "model": "llava-1.5-7b", "origin": {"dataset": "ours"}, "scene": 7},
    {"image": "img/red.png", "question": "Describe the image in detail."},
    {"image": "./blue.png", "question": "Describe the image in detail.", "answer": "A blue square.", "model": "gpt-4v"},
)


@pytest.fixture
def project():
    return make_project(overlap=2)


@pytest.fixture
def manager(project):
    """A member with the manager role (not staff)."""
    user = make_user(username="lead")
    Membership.objects.create(project=project, user=user, role=Role.MANAGER)
    return user


def client_of(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def upload(user, project, data=None, name="upload.zip", **fields):
    if data is not None:
        fields["file"] = SimpleUploadedFile(name, data, "application/zip")
    answer = client_of(user).post(f"/api/projects/{project.pk}/uploads/", fields, format="multipart")
    assert answer.status_code == 201, answer.content
    return answer.json()


def test_jsonl_manifest_stores_prompts_and_queues_answers_credited_to_their_model(manager, project):
    counts = upload(manager, project, make_zip({"img/red.png": RED, "blue.png": BLUE, "manifest.jsonl": MANIFEST}))
    assert counts == {"prompts": 3, "prompts_existing": 0, "images_new": 2, "images_reused": 0, "responses": 2,
                      "responses_existing": 0, "tasks": 4}
    first = Prompt.objects.get(project=project, question="What colour is the square?")
    assert first.origin == {"dataset": "ours", "scene": 7, "upload": "upload.zip"}
    assert (first.image.width, first.image.height, first.image.size_bytes) == (32, 32, len(RED))
    responses = {r.model_name: r for r in Response.objects.filter(prompt__project=project)}
    assert set(responses) == {"llava-1.5-7b", "gpt-4v"} and all(r.checkpoint_id is None for r in responses.values())
    assert [t.slot for t in AnnotationTask.objects.filter(response=responses["gpt-4v"])] == [0, 1]
    assert queue_open_responses(project_id=project.pk) == 2

    annotator = make_user(role=Role.ANNOTATOR, project=project)
    task = client_of(annotator).post(f"/api/tasks/next/?project={project.pk}").json()
    assert task["response"]["written_by"] in {"llava-1.5-7b", "gpt-4v"}
    assert task["queue"]["remaining"] == 2


def test_csv_manifest_keeps_extra_columns_in_origin(manager, project):
    csv = ('image,question,answer,model,source,origin\nred.png,"What is it, really?","A red\nsquare.",m1,web,"{""id"": 4}"\n'
           'blue.png,Describe it.,,,,\n')
    counts = upload(manager, project, make_zip({"red.png": RED, "blue.png": BLUE, "manifest.csv": csv}))
    assert (counts["prompts"], counts["responses"], counts["tasks"]) == (2, 1, 2)
    prompt = Prompt.objects.get(question="What is it, really?")
    assert prompt.origin == {"id": 4, "source": "web", "upload": "upload.zip"}
    assert prompt.responses.get().text == "A red\nsquare." and prompt.responses.get().model_name == "m1"


def test_an_image_already_stored_is_reused(manager, project):
    """Same sha256 -> the same ImageAsset, and no second file."""
    existing = make_image(color=(200, 30, 30))
    assert png_bytes((200, 30, 30)) == RED
    before = stored_counts()["files"]
    counts = upload(manager, project, make_zip({"img/red.png": RED, "blue.png": BLUE, "manifest.jsonl": MANIFEST}))
    assert (counts["images_new"], counts["images_reused"]) == (1, 1)
    assert Prompt.objects.get(question="What colour is the square?").image_id == existing.pk
    assert ImageAsset.objects.count() == 2 and stored_counts()["files"] == before + 1


def test_the_same_upload_twice_adds_nothing(manager, project):
    data = make_zip({"img/red.png": RED, "blue.png": BLUE, "manifest.jsonl": MANIFEST})
    upload(manager, project, data)
    again = upload(manager, project, data)
    assert again == {"prompts": 0, "prompts_existing": 3, "images_new": 0, "images_reused": 2, "responses": 0,
                     "responses_existing": 2, "tasks": 0}
    assert stored_counts()["tasks"] == 4 and queue_open_responses(project_id=project.pk) == 2


def test_images_alone_are_asked_the_shipped_templates(manager, project):
    templates = default_templates()
    assert len(templates) >= 8 and "Describe this image in detail." in templates
    counts = upload(manager, project, make_zip({"a/red.png": RED, "blue.png": BLUE, "__MACOSX/._blue.png": b"junk"}),
                    templates_per_image="2")
    assert (counts["prompts"], counts["images_new"], counts["responses"]) == (4, 2, 0)
    for image in ImageAsset.objects.all():
        asked = [p.question for p in Prompt.objects.filter(image=image)]
        assert len(set(asked)) == 2 and set(asked) <= set(templates)
    assert {p.origin["type"] for p in Prompt.objects.all()} == {"detailed description"}


def test_image_files_with_a_managers_own_templates(manager, project):
    files = [SimpleUploadedFile("red.png", RED), SimpleUploadedFile("red.png", BLUE)]  # one name twice
    counts = upload(manager, project, images=files, templates="What is the colour?\n\nHow many shapes are there?\n",
                    templates_per_image="2")
    assert (counts["prompts"], counts["images_new"]) == (4, 2)
    assert sorted({p.question for p in Prompt.objects.all()}) == ["How many shapes are there?", "What is the colour?"]
    assert {p.origin["type"] for p in Prompt.objects.all()} == {"custom template"}


def test_staff_may_upload_and_the_export_carries_the_model(project):
    staff = make_user(role=Role.MANAGER)
    upload(staff, project, make_zip({"img/red.png": RED, "blue.png": BLUE, "manifest.jsonl": MANIFEST}))
    response = Response.objects.get(model_name="gpt-4v")
    PreferenceRecord.objects.create(project=project, response=response, image=response.prompt.image,
                                    question=response.prompt.question, chosen="A blue circle.", rejected=response.text)
    lines = b"".join(export_chunks(records=record_export_list(project_id=project.pk), export_format="rlhfv-jsonl"))
    [row] = [json.loads(line) for line in lines.splitlines()]
    assert json.loads(row["origin_split"])["model"] == "gpt-4v"


def test_command_creates_the_project_and_refuses_a_bad_file_without_creating_it(tmp_path, capsys):
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    good.write_bytes(make_zip({"img/red.png": RED, "blue.png": BLUE, "manifest.jsonl": MANIFEST}))
    bad.write_bytes(make_zip({"red.png": RED, "manifest.csv": "img,prompt\n"}, zipfile.ZIP_STORED))
    with pytest.raises(CommandError, match=r"line 1: columns: missing column\(s\) image, question"):
        call_command("upload_prompts", str(bad), "--project", "fresh")
    assert not Project.objects.filter(name="fresh").exists()
    call_command("upload_prompts", str(good), "--project", "fresh")
    assert "3 prompts created" in capsys.readouterr().out
    project = Project.objects.get(name="fresh")
    assert project.prompts.count() == 3 and AnnotationTask.objects.filter(project=project).count() == 2


def test_a_zipped_folder_with_its_manifest_inside(manager, project):
    """Zipping a folder puts everything under it: the manifest there is found, its image paths relative to it."""
    counts = upload(manager, project, make_zip({"batch/img/red.png": RED, "batch/blue.png": BLUE,
                                                "batch/manifest.jsonl": MANIFEST}))
    assert (counts["prompts"], counts["images_new"], counts["responses"]) == (3, 2, 2)
