"""Celery tasks of the annotate app, one module per concern (found by Celery's autodiscovery)."""
from annotate.tasks.records import preference_record_sync, preference_records_sync_due
from annotate.tasks.exports import export_job_execute
from annotate.tasks.idempotency import idempotent_requests_purge

__all__ = ["preference_record_sync", "preference_records_sync_due", "export_job_execute", "idempotent_requests_purge"]
