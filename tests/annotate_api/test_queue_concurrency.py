"""Many annotators asking for work at the same moment, each on their own database connection."""
import threading
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotate.models import Annotation, AnnotationTask, Role
from tests.annotate_api.helpers import Team
from tests.factories import make_user

THREADS = 8
RESPONSES = 12


def _annotate_until_empty(user, project, barrier, taken, errors):
    """Take tasks and submit "no hallucination" on each until the queue answers 204."""
    client = APIClient()
    client.force_authenticate(user)
    try:
        barrier.wait()
        while (answer := client.post(f"/api/tasks/next/?project={project.pk}")).status_code == 200:
            task = answer.json()
            taken.append((user.username, task["id"], task["response"]["id"]))
            done = client.post("/api/annotations/", {"task": task["id"], "no_hallucination": True}, format="json")
            assert done.status_code == 201, done.content
        assert answer.status_code == 204, answer.content
    except Exception as error:  # reported by the test thread
        errors.append(error)
    finally:
        connection.close()


@pytest.mark.postgres
def test_concurrent_next_never_double_assigns(transactional_db):
    """8 threads drain 12 responses x 2 slots: every slot once, every response to 2 distinct people."""
    team = Team(overlap=2)
    for _ in range(RESPONSES):
        team.response()
    users = [make_user(role=Role.ANNOTATOR, project=team.project) for _ in range(THREADS)]
    barrier, taken, errors = threading.Barrier(THREADS), [], []
    threads = [
        threading.Thread(target=_annotate_until_empty, args=(user, team.project, barrier, taken, errors)) for user in users
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    task_ids = [task_id for _, task_id, _ in taken]
    assert len(task_ids) == len(set(task_ids)) == RESPONSES * 2
    assert len({(name, response) for name, _, response in taken}) == len(taken)
    assert set(Counter(response for _, _, response in taken).values()) == {2}
    assert not AnnotationTask.objects.exclude(status="done").exists()
    assert Annotation.objects.count() == RESPONSES * 2
