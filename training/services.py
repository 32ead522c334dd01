from datetime import timedelta

from django.apps import apps
from django.utils import timezone

from training.jobs import JobStatus

LOST_AFTER = timedelta(minutes=10)
JOB_MODELS = ("training.TrainingRun", "training.GenerationBatch", "annotate.ExportJob")


def jobs_fail_lost(*, lost_after=LOST_AFTER):
    """Fail running jobs whose worker stopped beating (killed, out of memory); returns how many."""
    cutoff = timezone.now() - lost_after
    failed = 0
    for label in JOB_MODELS:
        model = apps.get_model(label)
        failed += model.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff).update(
            status=JobStatus.FAILED, finished_at=timezone.now(), error="Worker lost: no heartbeat for 10 minutes."
        )
    return failed
