"""Concurrent writes on PostgreSQL: two managers activating checkpoints, or launching runs, of one project at once;
the policy deciding one checkpoint twice at once."""
import threading

import pytest
from django.db import connection

from annotate.models import Prompt
from config.errors import ApplicationError
from tests.factories import make_project
from training import services
from jobs.models import JobStatus
from training.models import GenerationBatch, ModelCheckpoint, PromotionDecision, TrainingRun
from training.promotion import checkpoint_promotion_decide

pytestmark = pytest.mark.postgres


def test_concurrent_activations_leave_one_active(transactional_db):
    """Activations racing in two transactions queue on the project's checkpoint rows: no unique-constraint 500."""
    project = make_project()
    checkpoints = [ModelCheckpoint.objects.create(project=project, name=f"c{i}", path=f"/nowhere/{i}") for i in range(3)]
    services.checkpoint_activate(checkpoint=checkpoints[0])
    errors = []

    def activate(checkpoint, barrier):
        try:
            barrier.wait()
            services.checkpoint_activate(checkpoint=checkpoint)
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            connection.close()

    for _ in range(15):
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=activate, args=(c, barrier)) for c in checkpoints[1:]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        services.checkpoint_activate(checkpoint=checkpoints[0])
    assert errors == []
    assert list(ModelCheckpoint.objects.filter(project=project, is_active=True)) == [checkpoints[0]]


def test_concurrent_launches_queue_one_run(transactional_db):
    """Two launches for one project at the same moment: one run is queued, the other answers 409."""
    project = make_project()
    ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True)
    outcomes = []

    def launch(barrier):
        try:
            barrier.wait()
            outcomes.append(services.training_run_create(project=project).status)
        except ApplicationError as exc:
            outcomes.append(exc.status)
        finally:
            connection.close()

    for _ in range(5):
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=launch, args=(barrier,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        TrainingRun.objects.filter(project=project).update(status=JobStatus.CANCELLED)
    assert sorted(outcomes, key=str) == sorted([409, JobStatus.QUEUED] * 5, key=str)


def test_concurrent_decisions_promote_once(transactional_db):
    """The policy deciding one checkpoint twice at once (a resent evaluation): one decision, one batch."""
    project = make_project(promotion_policy="always", next_batch_size=1)
    base = ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True)
    for index in range(10):
        Prompt.objects.create(project=project, question=f"q{index}")
    decisions, errors = [], []

    def decide(checkpoint, barrier):
        try:
            barrier.wait()
            decisions.append(checkpoint_promotion_decide(checkpoint=checkpoint).pk)
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            connection.close()

    for round_ in range(5):
        checkpoint = ModelCheckpoint.objects.create(project=project, name=f"r{round_}", path=f"/nowhere/r{round_}",
                                                    parent=base)
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=decide, args=(checkpoint, barrier)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [] and len(set(decisions[-2:])) == 1
    assert PromotionDecision.objects.count() == 5 == GenerationBatch.objects.count()
