"""Writes of the annotate app, one module per concern; the names other code relies on are re-exported here."""
from annotate.services.team import project_team_create
from training.ddpo.alignment import apply_segments
from annotate.services.records import record_sync, record_sync_enqueue
from annotate.services.exports import export_chunks
from annotate.services.export_jobs import export_job_create, export_job_run
from annotate.services.imports import dataset_import
from annotate.services.annotations import annotation_save, annotation_update, segments_validate
from annotate.services.queue import task_next, task_skip
from annotate.services.review import annotation_accept, annotation_reject
from annotate.services.responses import responses_create

__all__ = [
    "project_team_create", "apply_segments", "record_sync", "record_sync_enqueue", "export_chunks", "export_job_create",
    "export_job_run", "dataset_import", "annotation_save", "annotation_update", "segments_validate", "task_next",
    "task_skip", "annotation_accept", "annotation_reject", "responses_create",
]
