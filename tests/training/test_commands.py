"""manage.py generate_batch (answers + tasks from the command line) and create_team's refusals."""
import pytest
from django.core.management import CommandError, call_command

from annotate.models import AnnotationTask, Prompt, Response
from tests.factories import make_image, make_project
from jobs.models import JobStatus
from training.models import GenerationBatch, ModelCheckpoint


@pytest.mark.django_db
def test_unknown_project_or_nothing_to_answer_is_a_clear_error():
    """A missing project, or a project without an active checkpoint, stops with a message."""
    with pytest.raises(CommandError, match="No project named"):
        call_command("generate_batch", "--project", "nope")
    project = make_project()
    with pytest.raises(CommandError, match="no active checkpoint"):
        call_command("generate_batch", "--project", project.name)


@pytest.mark.django_db
@pytest.mark.parametrize("arguments,message", [
    (["--limit", "0"], "limit must be at least 1"), (["--limit", "-1"], "limit must be at least 1"),
    (["--checkpoint", "/typo/path"], "No model folder /typo/path"),
    (["--samples", "2"], "samples_per_prompt: more than 1 needs temperature > 0"),
    (["--checkpoint", "{folder}", "--limit", "0"], "limit must be at least 1"),
])
def test_bad_options_stop_before_anything_is_stored(arguments, message, tmp_path):
    """A limit below 1, a model folder that is not there or greedy decoding with several samples: a clear
    error, and no batch or checkpoint row is left behind (not even for a folder that exists)."""
    project = make_project()
    ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True)
    Prompt.objects.create(project=project, question="Describe the image.")
    with pytest.raises(CommandError, match=message):
        call_command("generate_batch", "--project", project.name, *[a.format(folder=tmp_path) for a in arguments])
    assert not GenerationBatch.objects.exists() and ModelCheckpoint.objects.count() == 1


@pytest.mark.django_db
def test_create_team_refuses_negative_sizes():
    """Negative team sizes are refused (existing users: tests/annotate_api/test_project_people.py)."""
    with pytest.raises(CommandError, match="annotators"):
        call_command("create_team", "--project", "third", "--password", "harbour-lantern", "--annotators", "-1")


@pytest.mark.slow
@pytest.mark.django_db
def test_generate_batch_registers_a_path_and_writes_tasks(tiny_vlm, capsys):
    """A model folder is registered as a checkpoint; every prompt gets an answer with overlap task slots."""
    project = make_project(overlap=2)
    for question in ("Describe the image.", "What colour is the square?"):
        Prompt.objects.create(project=project, image=make_image(), question=question)
    call_command("generate_batch", "--project", project.name, "--checkpoint", str(tiny_vlm), "--max-new-tokens", "4")
    batch = GenerationBatch.objects.get()
    assert batch.status == JobStatus.SUCCEEDED and batch.response_count == 2
    assert batch.checkpoint == ModelCheckpoint.objects.get(path=str(tiny_vlm), project=project)
    assert Response.objects.filter(generation_batch=batch).count() == 2
    assert AnnotationTask.objects.count() == 4
    assert "2 answers to 2 prompts" in capsys.readouterr().out
