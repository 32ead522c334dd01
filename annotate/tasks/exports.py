"""Background exports (queue ``default``)."""
from celery import shared_task

from annotate.services.export_jobs import export_job_run


@shared_task(name="annotate.tasks.exports.export_job_execute")
def export_job_execute(job_id):
    """Write export job ``job_id``'s file; the service records success or failure on the job."""
    export_job_run(job_id=job_id)
