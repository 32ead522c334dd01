"""Celery tasks of preference records: thin, take ids, the work is in ``annotate.services.records``."""
import logging

from celery import shared_task
from django.db import OperationalError

from annotate.services.records import SYNC_TASK, record_sync, records_sync_missing
from config.errors import ApplicationError

logger = logging.getLogger(__name__)


# ignore_result: one runs per submit and nothing reads its return value, so it stores no TaskResult row (a
# transaction of its own in the worker and in PostgreSQL per record, and a row per annotation in the table).
@shared_task(name=SYNC_TASK, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5,
             ignore_result=True)
def preference_record_sync(annotation_id):
    """Bring the annotation's record to its current state; returns the record id (or ``None``)."""
    try:
        record = record_sync(annotation_id=annotation_id)
    except ApplicationError as error:
        logger.error("No record for annotation %s: %s", annotation_id, error.message)
        return None
    return record.pk if record is not None else None


@shared_task(name="annotate.tasks.records.preference_records_sync_missing")
def preference_records_sync_missing():
    """Beat: build the records whose sync message was lost; returns how many."""
    return records_sync_missing()
