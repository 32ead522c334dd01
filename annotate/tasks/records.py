"""Celery tasks of preference records: thin, take ids, the work is in ``annotate.services.records``."""
from datetime import timedelta

from celery import shared_task
from django.db import OperationalError

from annotate.services.records import DRAIN_TASK, SYNC_TASK, records_sync_due, records_sync_missing


# ignore_result: writes schedule one every RECORDS_SYNC_COALESCE_SECONDS per process and nothing reads its return
# value, so it stores no TaskResult row (a transaction of its own in the worker, and a row in the table).
@shared_task(name=DRAIN_TASK, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5,
             ignore_result=True)
def preference_records_sync_due(grace_seconds=None):
    """Sync every annotation behind its record (``records_sync_due``; a sweep that stopped at its limit sends
    itself again with its ``grace_seconds``); returns how many it synced."""
    return records_sync_due(grace=None if grace_seconds is None else timedelta(seconds=grace_seconds))


# The per-annotation message of earlier releases, kept registered: messages an older deployment queued must not
# fail as unregistered tasks on upgrade. The drain syncs their annotation along with every other one due.
@shared_task(name=SYNC_TASK, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5,
             ignore_result=True)
def preference_record_sync(annotation_id):
    """Run the drain (``records_sync_due``), which syncs ``annotation_id`` if it is due; returns how many it synced."""
    return records_sync_due()


@shared_task(name="annotate.tasks.records.preference_records_sync_missing")
def preference_records_sync_missing():
    """Beat: build the records whose drain was lost, and those of idle drafts; returns how many."""
    return records_sync_missing()
