"""Celery tasks of the annotate app, one module per concern (found by Celery's autodiscovery)."""
from annotate.tasks.records import preference_record_sync

__all__ = ["preference_record_sync"]
