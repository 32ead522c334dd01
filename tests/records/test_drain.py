"""The records drain (``records_sync_due``) and the coalesced messages that schedule it (``record_sync_enqueue``):
at most one drain per process and window; a drain syncs every annotation due in a few statements a batch, and
concurrent drains split the work."""
import threading
import time
from datetime import timedelta
from concurrent.futures import ThreadPoolExecutor
from unittest.mock import call, patch

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from kombu.exceptions import OperationalError as BrokerError

from annotate.models import Annotation, PreferenceRecord, Segment
from annotate.services import record_sync_enqueue, records
from annotate.services.records import DRAIN_TASK, SYNC_TASK, record_sync, records_sync_due, records_sync_missing
from annotate.tasks.records import preference_record_sync, preference_records_sync_due
from config.celery import app
from tests.factories import make_project, make_response, make_user
from tests.records.conftest import RED_TO_GREEN, make_annotation

pytestmark = pytest.mark.django_db


@pytest.fixture
def send():
    """The broker, as ``jobs.services.task_send``, and a fresh window: no flag left by an earlier test."""
    cache.clear()
    with patch("jobs.services.task_send") as sent:
        yield sent
    cache.clear()


@pytest.fixture
def eager_celery():
    assert app.tasks[DRAIN_TASK].name == preference_records_sync_due.name  # else an eager send goes to the broker
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def commit_enqueue(capture, annotation_id=1):
    """One write's commit: its on_commit callback runs."""
    with capture(execute=True):
        record_sync_enqueue(annotation_id=annotation_id)


def due(annotation):
    annotation = Annotation.objects.get(pk=annotation.pk)
    return annotation.record_synced_version < annotation.version


def test_one_drain_per_window(settings, send, django_capture_on_commit_callbacks):
    """The first commit of a window sends a drain to run a window later; the next ones within the window send
    nothing (that drain runs after them); the first after the window sends one more."""
    settings.RECORDS_SYNC_COALESCE_SECONDS = 0.3
    commit_enqueue(django_capture_on_commit_callbacks)
    commit_enqueue(django_capture_on_commit_callbacks)
    assert send.call_args_list == [call(DRAIN_TASK, countdown=0.3)]
    time.sleep(0.35)
    commit_enqueue(django_capture_on_commit_callbacks)
    commit_enqueue(django_capture_on_commit_callbacks)
    assert send.call_args_list == [call(DRAIN_TASK, countdown=0.3)] * 2


def test_a_window_of_zero_sends_a_drain_per_commit(settings, send, django_capture_on_commit_callbacks):
    settings.RECORDS_SYNC_COALESCE_SECONDS = 0
    commit_enqueue(django_capture_on_commit_callbacks)
    commit_enqueue(django_capture_on_commit_callbacks)
    assert send.call_args_list == [call(DRAIN_TASK)] * 2


def test_nothing_is_sent_before_the_commit(send, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record_sync_enqueue(annotation_id=1)
    assert len(callbacks) == 1 and not send.called


def test_a_refused_drain_is_logged_and_the_next_commit_tries_again(settings, send, caplog,
                                                                   django_capture_on_commit_callbacks):
    """The request does not fail (its annotation is stored; the sweep catches up), and the window's flag is
    cleared, so the next commit sends the drain instead of waiting out the window."""
    settings.RECORDS_SYNC_COALESCE_SECONDS = 5
    send.side_effect = [BrokerError("broker down"), None]
    commit_enqueue(django_capture_on_commit_callbacks)
    assert "broker down" in caplog.text
    commit_enqueue(django_capture_on_commit_callbacks)
    assert send.call_args_list == [call(DRAIN_TASK, countdown=5)] * 2


def test_eager_tasks_drain_at_every_commit(settings, eager_celery, django_capture_on_commit_callbacks):
    """Run eagerly (the tests' in-process mode), each commit builds its record at once, whatever the window."""
    settings.RECORDS_SYNC_COALESCE_SECONDS = 60
    cache.clear()
    project = make_project(record_trigger="submit")
    for count in (1, 2):
        annotation = make_annotation(project=project, segments=[RED_TO_GREEN])
        commit_enqueue(django_capture_on_commit_callbacks, annotation.pk)
        assert PreferenceRecord.objects.filter(annotation=annotation).exists()
        assert PreferenceRecord.objects.count() == count


def test_a_drain_syncs_everything_due_but_drafts():
    """Built, rebuilt, retired, all in one drain; a draft waits for the sweep (no write sends one for it); an
    annotation in step is not read again."""
    project = make_project(record_trigger="submit")
    new = [make_annotation(project=project, segments=[RED_TO_GREEN]) for _ in range(3)]
    edited, rejected, in_step = (make_annotation(project=project, segments=[RED_TO_GREEN]) for _ in range(3))
    for annotation in (edited, rejected, in_step):
        record_sync(annotation_id=annotation.pk)
    Segment.objects.create(annotation=edited, start=28, end=32, category="attribute", replacement="pink")
    Annotation.objects.filter(pk=edited.pk).update(version=2)
    Annotation.objects.filter(pk=rejected.pk).update(version=2, status="rejected")
    draft = make_annotation(project=project, segments=[RED_TO_GREEN], status="draft")

    assert records_sync_due() == 5
    assert PreferenceRecord.objects.filter(annotation__in=new, status="active", version=1).count() == 3
    assert PreferenceRecord.objects.values_list("version", "chosen").get(annotation=edited) == (
        2, "There is a green circle and a pink square.")
    assert PreferenceRecord.objects.get(annotation=rejected).status == "retired"
    assert not any(due(annotation) for annotation in [*new, edited, rejected, in_step])
    assert due(draft) and records_sync_due() == 0
    assert records_sync_missing(grace=timedelta(0)) == 1 and not due(draft)


def statements(call_):
    with CaptureQueriesContext(connection) as queries:
        result = call_()
    return result, [query["sql"] for query in queries.captured_queries]


@pytest.mark.parametrize("size", [1, 20])
def test_a_drain_issues_the_same_few_statements_whatever_its_size(size):
    """9 statements for 1 or 20 new records (about 10 an annotation before, one message and sync each): the
    batch's savepoint and release, its lock, its annotations with their answers and projects, their segments,
    their records, the sides of their answers, one insert, one update marking them in step."""
    project = make_project(record_trigger="submit")
    for _ in range(size):
        make_annotation(project=project, segments=[RED_TO_GREEN])
    synced, sql = statements(records_sync_due)
    assert synced == size and PreferenceRecord.objects.count() == size
    assert len(sql) == 9, "\n".join(sql)


def test_rebuilds_and_retirements_add_one_statement_each_to_a_batch():
    project = make_project(record_trigger="submit")
    built = [make_annotation(project=project, segments=[RED_TO_GREEN]) for _ in range(10)]
    for annotation in built:
        record_sync(annotation_id=annotation.pk)
    Annotation.objects.filter(pk__in=[annotation.pk for annotation in built[:5]]).update(version=2, status="rejected")
    Segment.objects.filter(annotation__in=built[5:]).update(replacement="pink")
    Annotation.objects.filter(pk__in=[annotation.pk for annotation in built[5:]]).update(version=2)
    for _ in range(5):
        make_annotation(project=project, segments=[RED_TO_GREEN])
    synced, sql = statements(records_sync_due)
    assert synced == 15 and len(sql) == 11, "\n".join(sql)
    assert sorted(PreferenceRecord.objects.values_list("status", "version")) == (
        [("active", 1)] * 5 + [("active", 2)] * 5 + [("retired", 1)] * 5)


def test_one_record_sync_issues_fewer_statements_than_before():
    """record_sync of one annotation, the per-annotation path the consensus policy and rebuild_records keep:
    8 statements to build (11 before: the policy's two record reads are one, the project's held-out share is
    the loaded project's, the log line names ids instead of reading the annotator), 5 when in step (6)."""
    annotation = make_annotation(project=make_project(record_trigger="submit"), segments=[RED_TO_GREEN])
    _, build = statements(lambda: record_sync(annotation_id=annotation.pk))
    _, again = statements(lambda: record_sync(annotation_id=annotation.pk))
    assert (len(build), len(again)) == (8, 5), "\n\n".join("\n".join(sql) for sql in (build, again))


def test_over_its_limit_a_drain_stops_and_sends_another(send, django_capture_on_commit_callbacks):
    project = make_project(record_trigger="submit")
    annotations = [make_annotation(project=project, segments=[RED_TO_GREEN]) for _ in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        assert records_sync_due(limit=2) == 2
    assert send.call_args_list == [call(DRAIN_TASK, None)]
    assert [due(annotation) for annotation in annotations] == [False] * 2 + [True] * 3
    with django_capture_on_commit_callbacks(execute=True):
        assert records_sync_due() == 3
    assert len(send.call_args_list) == 1


def test_an_annotation_that_fails_is_tried_once_a_run(monkeypatch, caplog, send, django_capture_on_commit_callbacks):
    """Invalid stored segments: logged, left due, not taken again by the same run's next batches; a run that
    reaches its limit on failures alone sends no drain after it (it would fail the same ones)."""
    monkeypatch.setattr(records, "BATCH", 1)
    project = make_project(record_trigger="submit")
    broken = make_annotation(project=project, segments=[RED_TO_GREEN, {**RED_TO_GREEN, "start": 12}])
    fine = [make_annotation(project=project, segments=[RED_TO_GREEN]) for _ in range(2)]
    assert records_sync_due() == 2
    assert caplog.text.count(f"No record for annotation {broken.pk}") == 1
    assert due(broken) and not any(due(annotation) for annotation in fine)
    with django_capture_on_commit_callbacks(execute=True):
        assert records_sync_due(limit=1) == 0
    assert not send.called


def test_consensus_projects_go_one_answer_at_a_time():
    """Under the consensus policy the drain syncs each annotation by record_sync: the answer's one record."""
    project = make_project(record_trigger="submit", overlap=2, record_policy="consensus")
    response = make_response(project)
    for task in response.tasks.all():
        annotation = Annotation.objects.create(task=task, annotator=make_user(role="annotator", project=project),
                                               status="submitted")
        Segment.objects.create(annotation=annotation, **RED_TO_GREEN)
    assert records_sync_due() == 2
    record = PreferenceRecord.objects.get()
    assert (record.annotation_id, record.consensus.response_id, record.chosen) == (
        None, response.pk, "There is a green circle and a blue square.")


def test_the_old_task_name_runs_the_drain():
    """A per-annotation message queued by an earlier release still runs: it drains every annotation due."""
    project = make_project(record_trigger="submit")
    annotations = [make_annotation(project=project, segments=[RED_TO_GREEN]) for _ in range(2)]
    assert app.tasks[SYNC_TASK].name == preference_record_sync.name
    assert app.tasks[SYNC_TASK](annotations[0].pk) == 2
    assert PreferenceRecord.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_annotation_locked_elsewhere_is_skipped_and_left_due():
    """A drain does not wait for an annotation another transaction holds (a user's write, another drain): it
    syncs the rest and leaves that one to its holder."""
    project = make_project(record_trigger="submit")
    held, *others = [make_annotation(project=project, segments=[RED_TO_GREEN]) for _ in range(3)]
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                list(Annotation.objects.select_for_update().filter(pk=held.pk))
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(30)
        started = time.monotonic()
        assert records_sync_due() == 2
        assert time.monotonic() - started < 5
        assert due(held) and not any(due(annotation) for annotation in others)
    finally:
        release.set()
        holder.join()
    assert records_sync_due() == 1 and not due(held)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_split_the_work(monkeypatch):
    """Four drains at once over 40 due annotations, 5 a batch: every annotation synced exactly once between
    them (their counts add up to 40), one record each."""
    monkeypatch.setattr(records, "BATCH", 5)
    project = make_project(record_trigger="submit")
    annotations = [make_annotation(project=project, segments=[RED_TO_GREEN]) for _ in range(40)]
    barrier = threading.Barrier(4)

    def drain(_):
        barrier.wait()
        try:
            return records_sync_due()
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(drain, range(4)))
    assert sum(counts) == 40, counts
    assert PreferenceRecord.objects.count() == 40
    assert set(PreferenceRecord.objects.values_list("annotation_id", flat=True)) == {a.pk for a in annotations}
    assert not any(due(annotation) for annotation in annotations)
