"""annotate.services.records.record_sync and its task: build, rebuild, retire; idempotent when run twice or retried after a crash."""
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import connection

from annotate.models import Annotation, PreferenceRecord, Segment
from annotate.services import record_sync, record_sync_enqueue
from annotate.services.records import record_imported_align
from annotate.tasks.records import preference_records_sync_due
from config.celery import app
from config.errors import ApplicationError
from tests.factories import make_project
from tests.records.conftest import RED_TO_GREEN, make_annotation

pytestmark = pytest.mark.django_db

CONTENT = ("project_id", "response_id", "image_id", "question", "rejected", "chosen", "alignment",
           "rejected_spans", "chosen_spans", "source", "status", "version")


def content(record):
    return {field: getattr(record, field) for field in CONTENT}


def set_status(annotation, status, **fields):
    Annotation.objects.filter(pk=annotation.pk).update(status=status, **fields)


def test_submit_trigger_builds_the_record():
    """Project trigger "submit": a submitted correction yields a full record with alignment and per-side spans."""
    annotation = make_annotation(project=make_project(record_trigger="submit"), segments=[RED_TO_GREEN])
    record = record_sync(annotation_id=annotation.pk)
    response = annotation.task.response
    assert content(record) == {
        "project_id": response.prompt.project_id, "response_id": response.pk, "image_id": response.prompt.image_id,
        "question": "Describe the image in detail.",
        "rejected": "There is a red circle and a blue square.",
        "chosen": "There is a green circle and a blue square.",
        "alignment": [{"rejected": [11, 14], "chosen": [11, 16], "category": "attribute"}],
        "rejected_spans": [[11, 14]], "chosen_spans": [[11, 16]],
        "source": "annotation", "status": "active", "version": 1,
    }
    assert record.annotation_id == annotation.pk


def test_accept_trigger_waits_for_acceptance():
    """Project trigger "accept" (the default): nothing on submit, the record on accept."""
    annotation = make_annotation(segments=[RED_TO_GREEN])
    assert record_sync(annotation_id=annotation.pk) is None
    set_status(annotation, "accepted")
    assert record_sync(annotation_id=annotation.pk).status == "active"


@pytest.mark.parametrize("fields", [
    {"status": "accepted", "no_hallucination": True},
    {"status": "skipped", "skip_reason": "image missing"},
    {"status": "draft"},
])
def test_no_record_for_judgements_without_a_correction(fields):
    """"No hallucination", skips and drafts create no record."""
    annotation = make_annotation(segments=[RED_TO_GREEN], **fields)
    assert record_sync(annotation_id=annotation.pk) is None
    assert not PreferenceRecord.objects.exists()


def test_no_record_when_nothing_changes():
    """Accepted segments that leave the text as it was (a rewrite to the same words) give no pair."""
    annotation = make_annotation(status="accepted", segments=[{**RED_TO_GREEN, "replacement": "red"}])
    assert record_sync(annotation_id=annotation.pk) is None


def test_run_twice_leaves_one_identical_record():
    """A second run (a redelivered task) changes nothing: same row, same content, same version."""
    annotation = make_annotation(status="accepted", segments=[RED_TO_GREEN])
    first = record_sync(annotation_id=annotation.pk)
    second = record_sync(annotation_id=annotation.pk)
    assert second.pk == first.pk and content(second) == content(first)
    assert PreferenceRecord.objects.count() == 1


def test_crash_after_the_record_write_then_retry(monkeypatch):
    """A worker dying right after writing the record rolls the write back and leaves the annotation due; the retry
    leaves one correct record, and a drain after it has nothing to do."""
    annotation = make_annotation(status="accepted", segments=[RED_TO_GREEN])
    real_bulk_create = PreferenceRecord.objects.bulk_create

    def write_then_die(*args, **kwargs):
        real_bulk_create(*args, **kwargs)
        raise SystemExit("worker killed")

    monkeypatch.setattr(PreferenceRecord.objects, "bulk_create", write_then_die)
    with pytest.raises(SystemExit):
        preference_records_sync_due()
    assert not PreferenceRecord.objects.exists()
    assert Annotation.objects.get(pk=annotation.pk).record_synced_version == 0
    monkeypatch.setattr(PreferenceRecord.objects, "bulk_create", real_bulk_create)
    assert preference_records_sync_due() == 1
    assert preference_records_sync_due() == 0
    record = PreferenceRecord.objects.get()
    assert (record.annotation_id, record.chosen, record.version) == (
        annotation.pk, "There is a green circle and a blue square.", 1)


def test_edit_rebuilds_with_a_new_version():
    """Editing an accepted annotation's segments rewrites its record as version 2."""
    annotation = make_annotation(status="accepted", segments=[RED_TO_GREEN])
    record = record_sync(annotation_id=annotation.pk)
    Segment.objects.create(annotation=annotation, start=28, end=32, category="attribute", replacement="pink")
    rebuilt = record_sync(annotation_id=annotation.pk)
    assert rebuilt.pk == record.pk and rebuilt.version == 2
    assert rebuilt.chosen == "There is a green circle and a pink square."
    assert rebuilt.chosen_spans == [[11, 16], [30, 34]]
    assert record_sync(annotation_id=annotation.pk).version == 2


def test_reject_retires_and_reaccept_restores():
    """Rejecting retires the record (kept, not deleted); accepting again makes it active as a new version."""
    annotation = make_annotation(status="accepted", segments=[RED_TO_GREEN])
    record_sync(annotation_id=annotation.pk)
    set_status(annotation, "rejected", review_reason="wrong colour")
    retired = record_sync(annotation_id=annotation.pk)
    assert (retired.status, retired.version) == ("retired", 1)
    assert record_sync(annotation_id=annotation.pk).status == "retired"
    set_status(annotation, "accepted")
    assert (record_sync(annotation_id=annotation.pk).status, PreferenceRecord.objects.get().version) == ("active", 2)


def test_marked_no_hallucination_later_retires():
    """An annotation changed to "no hallucination" retires the record it had."""
    annotation = make_annotation(status="accepted", segments=[RED_TO_GREEN])
    record_sync(annotation_id=annotation.pk)
    set_status(annotation, "accepted", no_hallucination=True)
    assert record_sync(annotation_id=annotation.pk).status == "retired"


def test_invalid_stored_segments(caplog):
    """Segments that overlap give an ApplicationError naming them; the drain logs it, does not retry, and leaves
    the annotation due."""
    annotation = make_annotation(status="accepted", segments=[RED_TO_GREEN, {**RED_TO_GREEN, "start": 12}])
    with pytest.raises(ApplicationError, match="overlap"):
        record_sync(annotation_id=annotation.pk)
    assert preference_records_sync_due() == 0
    assert f"No record for annotation {annotation.pk}" in caplog.text and "overlap" in caplog.text
    assert not PreferenceRecord.objects.exists()
    assert Annotation.objects.get(pk=annotation.pk).record_synced_version == 0


def test_missing_annotation_is_quiet():
    """A deleted annotation: nothing to do."""
    assert record_sync(annotation_id=987654) is None


@pytest.fixture
def eager_celery():
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def test_enqueue_runs_on_commit(django_capture_on_commit_callbacks, eager_celery):
    """record_sync_enqueue sends the drain only when the transaction commits (run eagerly here)."""
    annotation = make_annotation(status="accepted", segments=[RED_TO_GREEN])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record_sync_enqueue(annotation_id=annotation.pk)
    assert len(callbacks) == 1 and not PreferenceRecord.objects.exists()
    callbacks[0]()
    assert PreferenceRecord.objects.get().annotation_id == annotation.pk


def test_imported_align_ignores_annotation_records():
    """record_imported_align touches imported records only."""
    annotation = make_annotation(status="accepted", segments=[RED_TO_GREEN])
    record = record_sync(annotation_id=annotation.pk)
    assert record_imported_align(record_id=record.pk) is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_syncs_make_one_record():
    """Two workers syncing the same annotation at once: the row lock serialises them, one record results."""
    annotation = make_annotation(status="accepted", segments=[RED_TO_GREEN])
    barrier = Barrier(4)

    def sync(_):
        barrier.wait()
        try:
            return record_sync(annotation_id=annotation.pk).pk
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(sync, range(4)))
    assert len(ids) == 1 and PreferenceRecord.objects.get().version == 1


@pytest.mark.parametrize("decision", ["reject", "edit-then-accept"])
def test_the_beat_sweep_repairs_a_lost_retirement_or_rebuild(decision, django_capture_on_commit_callbacks):
    """A record built on submit, then the reviewer's decision whose drain never left (broker down):
    the sweep sees the record is behind its annotation and retires or rebuilds it, once."""
    from datetime import timedelta

    from annotate.services.records import records_sync_missing
    from annotate.services.review import annotation_accept, annotation_reject
    from tests.factories import make_user

    project = make_project(record_trigger="submit")
    annotation = make_annotation(project=project, segments=[RED_TO_GREEN])
    record_sync(annotation_id=annotation.pk)
    assert records_sync_missing(grace=timedelta(0)) == 0  # in step with its annotation
    reviewer = make_user(role="reviewer", project=project)
    with django_capture_on_commit_callbacks(execute=False):  # the drain is lost
        if decision == "reject":
            annotation_reject(reviewer=reviewer, annotation_id=annotation.pk, reason="wrong")
        else:
            annotation_accept(reviewer=reviewer, annotation_id=annotation.pk,
                              segments=[{**RED_TO_GREEN, "replacement": "pink"}])
    assert PreferenceRecord.objects.get().status == "active" and PreferenceRecord.objects.get().version == 1
    assert records_sync_missing(grace=timedelta(0)) == 1
    record = PreferenceRecord.objects.get()
    if decision == "reject":
        assert record.status == "retired"
    else:
        assert (record.status, record.version, record.chosen) == ("active", 2, "There is a pink circle and a blue square.")
    assert records_sync_missing(grace=timedelta(0)) == 0
