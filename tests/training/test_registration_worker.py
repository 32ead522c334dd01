"""End to end on a real Celery worker: a manager registers models through the API, the gpu queue checks them,
and a registered model generates the first batch."""
import shutil

import pytest
from transformers import AutoModelForImageTextToText

from annotate.models import AnnotationTask, Prompt
from jobs.models import FINISHED, JobStatus
from tests.factories import make_image, make_project
from tests.training.test_registration_api import member_manager
from tests.training.test_registry import save_lora_adapter, tiny_lm
from tests.training.test_worker import wait_for

pytestmark = pytest.mark.slow


def registered(client, project, **body):
    response = client.post("/api/checkpoints/", {"project": project.pk, **body}, format="json")
    assert response.status_code == 202, response.content
    return wait_for(client, f"/api/checkpoints/{response.json()['id']}/", lambda c: c["status"] != "validating")


def test_registered_models_are_checked_on_the_worker_and_generate(transactional_db, settings, tiny_vlm,
                                                                  celery_worker_process):
    """The tiny LLaVA folder is ready with its facts; a text-only LM is refused with the reason; a LoRA adapter
    on the LLaVA is merged and ready; the registered LLaVA answers a batch whose answers become tasks."""
    root = settings.MODELS_ROOT
    shutil.copytree(tiny_vlm, root / "llava")
    tiny_lm(root / "text-lm")
    save_lora_adapter(root / "llava", root / "llava-lora")
    project = make_project(overlap=2)
    manager = member_manager(project)

    llava = registered(manager, project, path="llava")
    model = AutoModelForImageTextToText.from_pretrained(root / "llava")
    assert (llava["status"], llava["error"]) == ("ready", "")
    assert (llava["architecture"], llava["model_type"], llava["dtype"], llava["prefix_sharing"]) == (
        "LlavaForConditionalGeneration", "llava", "float32", True)
    assert llava["parameters"] == sum(p.numel() for p in model.parameters())

    text = registered(manager, project, path="text-lm", name="text only")
    assert text["status"] == "failed" and "text-only model" in text["error"] and "cannot take an image" in text["error"]
    assert text["architecture"] == "" and text["parameters"] is None

    lora = registered(manager, project, path="llava-lora")
    assert lora["status"] == "ready", lora["error"]
    assert (lora["adapter"], lora["adapter_base"]) == (str(root / "llava-lora"), str(root / "llava"))
    assert lora["path"] == str(settings.CHECKPOINT_ROOT / f"registered-{lora['id']}")
    assert lora["parameters"] == llava["parameters"]

    prompts = [Prompt.objects.create(project=project, image=make_image(), question="Describe the image.")
               for _ in range(2)]
    response = manager.post("/api/generation-batches/", {"project": project.pk, "checkpoint": llava["id"],
                                                         "params": {"max_new_tokens": 4}}, format="json")
    assert response.status_code == 201, response.content
    batch = wait_for(manager, f"/api/generation-batches/?project={project.pk}",
                     lambda page: page["results"][0]["status"] in FINISHED)["results"][0]
    assert batch["status"] == JobStatus.SUCCEEDED, batch["error"]
    assert batch["response_count"] == len(prompts)
    assert AnnotationTask.objects.filter(response__generation_batch_id=batch["id"]).count() == len(prompts) * 2
