"""Concurrent writes on PostgreSQL: two managers activating checkpoints of one project at the same moment."""
import threading

import pytest
from django.db import connection

from tests.factories import make_project
from training import services
from training.models import ModelCheckpoint

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
