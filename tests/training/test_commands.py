"""manage.py generate_batch: answers + tasks from the command line."""
import pytest
from django.core.management import CommandError, call_command

from annotate.models import AnnotationTask, Prompt, Response
from tests.factories import make_image, make_project
from training.jobs import JobStatus
from training.models import GenerationBatch, ModelCheckpoint


@pytest.mark.django_db
def test_unknown_project_or_nothing_to_answer_is_a_clear_error():
    """A missing project, or a project without an active checkpoint, stops with a message."""
    with pytest.raises(CommandError, match="No project named"):
        call_command("generate_batch", "--project", "nope")
    project = make_project()
    with pytest.raises(CommandError, match="no active checkpoint"):
        call_command("generate_batch", "--project", project.name)


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
