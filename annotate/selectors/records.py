"""Which preference records an export takes: a whitelist of filters over one project."""
import json
from datetime import datetime

from django.db import connection
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from django.utils.dateparse import parse_datetime

from annotate.models import ExportJob, PreferenceRecord, RecordStatus, RecordTrigger
from annotate.roles import MANAGERS, project_ids_with_role

EXPORT_FILTERS = (
    "status", "created_since", "created_until", "generation_batch", "checkpoint", "category", "reviewed_only",
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
) -> QuerySet:
    """The project's records matching every given filter, oldest first; ``status="all"`` takes retired ones too."""
    records = PreferenceRecord.objects.filter(project_id=project_id)
    if status != "all":
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
    return records.order_by("id")


def export_job_list(*, user, project_id=None) -> QuerySet:
    """The export jobs of the projects ``user`` manages (every project's for staff), of one project if given."""
    managed = project_ids_with_role(user=user, roles=MANAGERS)
    jobs = ExportJob.objects.all()
    if managed is not None:
        jobs = jobs.filter(project_id__in=managed)
    return jobs if project_id is None else jobs.filter(project_id=project_id)
