"""The beat sweep (``records_sync_missing``): every annotation whose record is behind it gets synced once the grace
is over, found by the partial index ``annotation_record_due_idx``, not by a scan."""
from datetime import timedelta
from unittest.mock import call, patch

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotate.models import Annotation, PreferenceRecord
from annotate.services import annotation_save, task_next
from annotate.services.records import project_records_resync, record_sync, records_sync_missing
from tests.factories import make_project, make_response, make_user
from tests.records.conftest import RED_TO_GREEN, make_annotation

pytestmark = pytest.mark.django_db


def age(annotation, seconds):
    Annotation.objects.filter(pk=annotation.pk).update(updated_at=timezone.now() - timedelta(seconds=seconds))


def lost_submit(project, django_capture_on_commit_callbacks, *, submit=True):
    """An annotator's write whose drain never reaches a worker (a killed worker had taken it)."""
    make_response(project)
    annotator = make_user(role="annotator", project=project)
    task = task_next(user=annotator, project=project)
    with django_capture_on_commit_callbacks(execute=False):
        annotation, _ = annotation_save(user=annotator, task_id=task.pk, segments=[RED_TO_GREEN], submit=submit)
    return annotation


def test_a_lost_sync_message_is_made_good_once_the_grace_is_over(settings, django_capture_on_commit_callbacks):
    """Submitted, its drain lost: within RECORDS_SYNC_GRACE_SECONDS the sweep leaves it to the drain; after
    it, the sweep builds the record and marks the annotation in step, so the next sweep has nothing to do."""
    settings.RECORDS_SYNC_GRACE_SECONDS = 60
    annotation = lost_submit(make_project(record_trigger="submit"), django_capture_on_commit_callbacks)
    age(annotation, 55)
    assert records_sync_missing() == 0 and not PreferenceRecord.objects.exists()
    age(annotation, 61)
    assert records_sync_missing() == 1
    assert PreferenceRecord.objects.get(annotation=annotation).chosen == "There is a green circle and a blue square."
    annotation.refresh_from_db()
    assert annotation.record_synced_version == annotation.version
    assert records_sync_missing(grace=timedelta(0)) == 0


def test_a_sync_leaves_updated_at_alone():
    """Marking an annotation in step is no change of it: ``updated_at`` (oldest first, the grace) stays."""
    annotation = make_annotation(project=make_project(record_trigger="submit"), segments=[RED_TO_GREEN])
    age(annotation, 600)
    before = Annotation.objects.get(pk=annotation.pk).updated_at
    record_sync(annotation_id=annotation.pk)
    after = Annotation.objects.get(pk=annotation.pk)
    assert after.updated_at == before and after.record_synced_version == after.version == 1


def test_an_idle_draft_is_looked_at_once(django_capture_on_commit_callbacks):
    """A draft schedules no drain; left idle, the sweep finds it needs no record, once."""
    annotation = lost_submit(make_project(record_trigger="submit"), django_capture_on_commit_callbacks, submit=False)
    assert annotation.status == "draft"
    assert records_sync_missing(grace=timedelta(0)) == 1 and not PreferenceRecord.objects.exists()
    assert records_sync_missing(grace=timedelta(0)) == 0


def test_oldest_first_and_at_most_limit(django_capture_on_commit_callbacks):
    """Past its limit a sweep stops, and sends a drain with its grace for the rest."""
    project = make_project(record_trigger="submit")
    annotations = [make_annotation(project=project, segments=[RED_TO_GREEN]) for _ in range(3)]
    for seconds, annotation in zip((300, 100, 200), annotations):
        age(annotation, seconds)
    with patch("jobs.services.task_send") as send, django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert records_sync_missing(grace=timedelta(0), limit=1) == 1
    assert list(PreferenceRecord.objects.values_list("annotation_id", flat=True)) == [annotations[0].pk]
    assert len(callbacks) == 1 and send.call_args == call("annotate.tasks.records.preference_records_sync_due", 0.0)
    assert records_sync_missing(grace=timedelta(0)) == 2 and PreferenceRecord.objects.count() == 3


def test_a_changed_record_trigger_brings_the_submitted_annotations_records():
    """accept -> submit: the submitted annotations now call for a record; submit -> accept: they no longer do."""
    project = make_project(record_trigger="accept")
    annotation = make_annotation(project=project, segments=[RED_TO_GREEN])
    accepted = make_annotation(project=project, segments=[RED_TO_GREEN], status="accepted")
    for each in (annotation, accepted):
        record_sync(annotation_id=each.pk)
    assert records_sync_missing(grace=timedelta(0)) == 0 and PreferenceRecord.objects.count() == 1

    project.record_trigger = "submit"
    project.save()
    assert project_records_resync(project_id=project.pk) == 1
    assert records_sync_missing(grace=timedelta(0)) == 1
    assert PreferenceRecord.objects.get(annotation=annotation).status == "active"

    project.record_trigger = "accept"
    project.save()
    project_records_resync(project_id=project.pk)
    assert records_sync_missing(grace=timedelta(0)) == 1
    assert PreferenceRecord.objects.get(annotation=annotation).status == "retired"
    assert PreferenceRecord.objects.get(annotation=accepted).status == "active"


def test_the_admin_resyncs_when_the_record_trigger_changes(client):
    project = make_project(record_trigger="accept")
    annotation = make_annotation(project=project, segments=[RED_TO_GREEN])
    record_sync(annotation_id=annotation.pk)
    client.force_login(get_user_model().objects.create_superuser(username="root", password="root-pass-123"))
    form = {"name": project.name, "instructions": "", "categories": '["object"]', "overlap": 1, "lease_minutes": 30,
            "record_trigger": "submit", "gamma": 5.0, "beta": 0.5, "auto_train_threshold": 0,
            "max_rewrite_chars": 2000, "heldout_percent": 0, "record_policy": "each", "consensus_threshold": 0.5,
            "promotion_policy": "gate", "promotion_margin": 0.02, "judge_margin": 0.02, "next_batch_size": 200,
            "next_batch_params": "{}", "training_config": "{}", "memberships-TOTAL_FORMS": 0,
            "memberships-INITIAL_FORMS": 0}
    answer = client.post(f"/admin/annotate/project/{project.pk}/change/", form)
    assert answer.status_code == 302, answer.content[:2000]
    assert Annotation.objects.get(pk=annotation.pk).record_synced_version == 0
    assert records_sync_missing(grace=timedelta(0)) == 1 and PreferenceRecord.objects.get().status == "active"


@pytest.mark.postgres
def test_the_sweep_reads_the_partial_index():
    """The query implies the index's predicate: with sequential scans off, PostgreSQL reads the index (a plan
    without it would mean a scan of every annotation each minute)."""
    make_annotation(project=make_project(record_trigger="submit"), segments=[RED_TO_GREEN])
    with CaptureQueriesContext(connection) as queries:
        records_sync_missing(grace=timedelta(0))
    sql = next(query["sql"] for query in queries.captured_queries if "SKIP LOCKED" in query["sql"])  # the sweep's own
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "annotation_record_due_idx" in plan, plan
    assert "annotate_preferencerecord" not in sql and "annotate_project" not in sql


@pytest.mark.django_db(transaction=True)
def test_the_migration_carries_the_sync_state_over_to_the_annotation():
    """Stored before 0007: a record's ``annotation_version`` becomes its annotation's ``record_synced_version``;
    an annotation that calls for a record and has none is due; every other one is in step."""
    from tests.training.test_migrations import migrate

    old = migrate([("annotate", "0006_project_training_bounds")])
    try:
        user = old.get_model("auth", "User").objects.create(username="old-annotator")
        Project, OldAnnotation = old.get_model("annotate", "Project"), old.get_model("annotate", "Annotation")
        on_submit, on_accept = Project.objects.create(name="s", record_trigger="submit"), Project.objects.create(name="a")

        def annotation(project, status, version, record_version=None):
            prompt = old.get_model("annotate", "Prompt").objects.create(project=project, question="q")
            response = old.get_model("annotate", "Response").objects.create(prompt=prompt, text="t")
            task = old.get_model("annotate", "AnnotationTask").objects.create(response=response)
            made = OldAnnotation.objects.create(task=task, annotator=user, status=status, version=version)
            if record_version is not None:
                old.get_model("annotate", "PreferenceRecord").objects.create(
                    project=project, annotation=made, question="q", chosen="c", rejected="t",
                    annotation_version=record_version)
            return made.pk

        expected = {
            annotation(on_submit, "submitted", 2): 0,  # its sync message was lost
            annotation(on_submit, "accepted", 3, record_version=2): 2,  # a lost rebuild
            annotation(on_accept, "accepted", 3, record_version=3): 3,
            annotation(on_accept, "submitted", 2): 2,  # waits for its review
            annotation(on_submit, "draft", 4): 4,
        }
    finally:
        migrate()
    assert dict(Annotation.objects.values_list("pk", "record_synced_version")) == expected
