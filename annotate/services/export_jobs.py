"""Background exports: an ``ExportJob`` written to storage by a worker, with progress and a guarded status."""
import logging
import tempfile

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from annotate.models import ExportJob
from annotate.selectors.records import record_export_list
from annotate.services.exports import export_chunks, export_filename
from jobs.models import JobStatus, JobStopped
from jobs.services import job_enqueue

logger = logging.getLogger(__name__)


@transaction.atomic
def export_job_create(*, user, project, export_format: str, filters: dict, include_segments: bool = False) -> ExportJob:
    """Queue a background export of ``project`` (``filters``: ``record_export_list`` keywords, JSON-ready).
    Filters refused now (a training run's record set that changed) are refused at once, not by the worker."""
    record_export_list(project_id=project.pk, **filters)
    job = ExportJob.objects.create(
        project=project, format=export_format, created_by=user,
        filters={**filters, "include_segments": include_segments},
    )
    job_enqueue(job)
    return job


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Write a queued export job's file to storage with progress; a job not queued any more is left alone."""
    job = ExportJob.objects.select_related("project").filter(pk=job_id).first()
    if job is None or not job.transition(JobStatus.RUNNING):
        return job
    filters = dict(job.filters)
    include_segments = bool(filters.pop("include_segments", False))
    try:
        records = record_export_list(project_id=job.project_id, **filters)
        total = records.count()
        ExportJob.objects.filter(pk=job.pk).update(total_rows=total)

        written = 0

        def on_rows(count):
            nonlocal written
            written = count
            if not job.beat(progress=count / total if total else 1.0, rows_written=count):
                raise JobStopped

        name = export_filename(project_name=job.project.name, export_format=job.format)
        with tempfile.TemporaryFile() as out:
            for chunk in export_chunks(records=records, export_format=job.format,
                                       include_segments=include_segments, on_rows=on_rows):
                out.write(chunk)
            out.seek(0)
            stored = default_storage.save(f"exports/{job.pk}/{name}", File(out))
        job.transition(JobStatus.SUCCEEDED, file=stored, rows_written=written)
    except JobStopped:
        logger.info("Export job %s stopped while running", job_id)
    except Exception as error:
        logger.exception("Export job %s failed", job_id)
        job.transition(JobStatus.FAILED, error=f"{type(error).__name__}: {error}")
    return job
