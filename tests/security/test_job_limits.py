"""Job sizes are bounded by settings: past a limit, a 400 naming the field, and no job (#18, finding 8)."""
import os
import subprocess
import sys

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from annotate.models import Prompt
from tests.conftest import ROOT
from tests.factories import make_project, make_user
from training.models import GenerationBatch, ModelCheckpoint, TrainingRun

pytestmark = pytest.mark.django_db

# Valid together at their limits: several samples need sampling (temperature > 0).
GENERATION_BASE = {"temperature": 1.0}


@pytest.fixture
def project():
    project = make_project()
    ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True)
    Prompt.objects.create(project=project, question="Describe the image.")
    return project


@pytest.fixture
def manager():
    client = APIClient()
    client.force_authenticate(make_user(role="manager"))
    return client


def launch(manager, project, config):
    return manager.post("/api/training-runs/", {"project": project.pk, "config": config}, format="json")


def generate(manager, project, params):
    return manager.post("/api/generation-batches/", {"project": project.pk, "params": params}, format="json")


def assert_refused(answer, field, limit):
    assert answer.status_code == 400, answer.content
    assert answer.json()["fields"] == {field: [f"At most {limit} on this platform, got {limit + 1}."]}
    assert field in answer.json()["error"]


def test_the_limits_cover_the_job_sizes():
    assert {"max_new_tokens", "samples_per_prompt", "batch_size"} <= set(settings.GENERATION_LIMITS)
    assert {"epochs", "max_steps", "batch_size", "grad_accum", "num_workers"} <= set(settings.TRAINING_LIMITS)


@pytest.mark.parametrize("name", sorted(settings.TRAINING_LIMITS))
def test_a_training_value_over_its_limit_is_a_400_naming_it(project, manager, name):
    limit = settings.TRAINING_LIMITS[name]
    assert_refused(launch(manager, project, {name: limit + 1}), f"config.{name}", limit)
    assert not TrainingRun.objects.exists()


@pytest.mark.parametrize("name", sorted(settings.GENERATION_LIMITS))
def test_a_generation_value_over_its_limit_is_a_400_naming_it(project, manager, name):
    limit = settings.GENERATION_LIMITS[name]
    assert_refused(generate(manager, project, {**GENERATION_BASE, name: limit + 1}), f"params.{name}", limit)
    assert not GenerationBatch.objects.exists()


def test_jobs_at_the_limits_are_queued(project, manager):
    assert launch(manager, project, dict(settings.TRAINING_LIMITS)).status_code == 201
    assert generate(manager, project, {**GENERATION_BASE, **settings.GENERATION_LIMITS}).status_code == 201


def test_the_limits_are_settings(project, manager, settings):
    settings.TRAINING_LIMITS = {**settings.TRAINING_LIMITS, "epochs": 3}
    settings.GENERATION_LIMITS = {**settings.GENERATION_LIMITS, "max_new_tokens": 32}
    assert_refused(launch(manager, project, {"epochs": 4}), "config.epochs", 3)
    assert_refused(generate(manager, project, {"max_new_tokens": 33}), "params.max_new_tokens", 32)


def test_the_environment_sets_them(tmp_path):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings", DEBUG="1", DATA_DIR=str(tmp_path),
               TRAINING_LIMIT_EPOCHS="7", GENERATION_LIMIT_MAX_NEW_TOKENS="99")
    env.pop("DATABASE_URL", None)
    show = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.TRAINING_LIMITS['epochs'], s.GENERATION_LIMITS['max_new_tokens'])")
    shown = subprocess.run([sys.executable, "-c", show], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert shown.stdout.split() == ["7", "99"], shown.stderr
