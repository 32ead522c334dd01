"""Which preference records an export takes: a whitelist of filters over one project.

``training_run`` takes the record set a training run trained on (``training.TrainingRunRecord``, reached
through its related name: annotate imports nothing of training). That set exports exactly or not at all: a
record re-annotated since the run took it (its version moved on) would export other text than the run
trained on, and the old text is not kept, so the export answers 409 naming those records instead.
"""
import json
from datetime import datetime

from django.db import connection
from django.db.models import CharField, F, Q, QuerySet
from django.db.models.functions import Cast
from django.utils.dateparse import parse_datetime
from rest_framework import status as http_status

from annotate.models import ExportJob, PreferenceRecord, Project, RecordStatus, RecordTrigger
from annotate.roles import MANAGERS, project_ids_with_role
from config.errors import ApplicationError

EXPORT_FILTERS = (
    "status", "created_since", "created_until", "generation_batch", "checkpoint", "category", "reviewed_only", "split",
    "training_run",
)


def _as_datetime(value):
    """A datetime, or its ISO text (as stored in ``ExportJob.filters``)."""
    return value if value is None or isinstance(value, datetime) else parse_datetime(value)


def _with_category(records, category):
    """Records whose alignment has a span of ``category``."""
    if connection.vendor == "postgresql":
        return records.filter(alignment__contains=[{"category": category}])
    # SQLite has no JSON containment: match the pair in the JSON text Django stored.
    needle = json.dumps({"category": category})[1:-1]
    return records.annotate(alignment_text=Cast("alignment", CharField())).filter(alignment_text__contains=needle)


def training_run_project_id(*, user, training_run: int, project_id: int | None = None) -> int:
    """The project of a training run ``user`` manages (of ``project_id`` when given); an unknown run and
    another team's alike answer 404 naming ``training_run``."""
    projects = Project.objects.filter(training_runs=training_run)
    managed = project_ids_with_role(user=user, roles=MANAGERS)
    if managed is not None:
        projects = projects.filter(pk__in=managed)
    if project_id is not None:
        projects = projects.filter(pk=project_id)
    found = projects.values_list("pk", flat=True).first()
    if found is None:
        where = "" if project_id is None else f" in project {project_id}"
        raise ApplicationError(f"No training run {training_run}{where}.", status=http_status.HTTP_404_NOT_FOUND,
                               fields={"training_run": [f"No training run {training_run}{where}."]})
    return found


def _training_run_set(records, training_run):
    """The records ``training_run`` trained on; a 409 naming ``training_run`` when it has no set yet, or
    when some were re-annotated since (their text then is gone)."""
    records = records.filter(training_run_records__run_id=training_run)
    if not records.exists():
        message = f"Training run {training_run} has no record set: it has not started yet, or ran before runs kept theirs."
        raise ApplicationError(message, status=http_status.HTTP_409_CONFLICT, fields={"training_run": [message]})
    changed = list(records.alias(trained_version=F("training_run_records__record_version"))
                   .exclude(version=F("trained_version")).values_list("pk", flat=True))
    if changed:
        message = (f"{len(changed)} records of training run {training_run} changed since it trained on them "
                   f"(re-annotated), so they would not export as trained: {changed[:100]}")
        raise ApplicationError(message, status=http_status.HTTP_409_CONFLICT, fields={"training_run": [message]})
    return records


def record_export_list(
    *,
    project_id: int,
    status: str = RecordStatus.ACTIVE,
    created_since=None,
    created_until=None,
    generation_batch: int | None = None,
    checkpoint: int | None = None,
    category: str | None = None,
    reviewed_only: bool = False,
    split: str | None = None,
    training_run: int | None = None,
) -> QuerySet:
    """The project's records matching every given filter, oldest first; ``status="all"`` takes retired ones too,
    no ``split`` both sides of the held-out split. ``training_run`` takes the run's record set whatever its
    records' status now (``_training_run_set``)."""
    records = PreferenceRecord.objects.filter(project_id=project_id)
    if training_run is not None:
        records = _training_run_set(records, training_run)
    elif status != "all":
        records = records.filter(status=status)
    if created_since is not None:
        records = records.filter(created_at__gte=_as_datetime(created_since))
    if created_until is not None:
        records = records.filter(created_at__lt=_as_datetime(created_until))
    if generation_batch is not None:
        records = records.filter(response__generation_batch_id=generation_batch)
    if checkpoint is not None:
        records = records.filter(response__checkpoint_id=checkpoint)
    if category:
        records = _with_category(records, category)
    if reviewed_only:
        # A consensus record is reviewed when a reviewer adjudicated it, or when it could only be built from
        # accepted judgements (record trigger "accept").
        records = records.filter(Q(annotation__reviewed_at__isnull=False) | Q(consensus__adjudicated_at__isnull=False)
                                 | Q(consensus__isnull=False, project__record_trigger=RecordTrigger.ACCEPT))
    if split is not None:
        records = records.filter(split=split)
    return records.order_by("id")


def export_job_list(*, user, project_id=None) -> QuerySet:
    """The export jobs of the projects ``user`` manages (every project's for staff), of one project if given."""
    managed = project_ids_with_role(user=user, roles=MANAGERS)
    jobs = ExportJob.objects.all()
    if managed is not None:
        jobs = jobs.filter(project_id__in=managed)
    return jobs if project_id is None else jobs.filter(project_id=project_id)
