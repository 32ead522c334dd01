"""Reads of the training app: runs, metrics, checkpoints, generation batches, training records."""
from django.db.models import Q

from annotate.models import PreferenceRecord, Project, Prompt, RecordSource, RecordStatus
from annotate.roles import MANAGERS, project_ids_with_role
from jobs.models import FINISHED
from training.models import GenerationBatch, ModelCheckpoint, TrainingMetric, TrainingRun


def _managed(queryset, *, user, project_id=None, field="project_id"):
    managed = project_ids_with_role(user=user, roles=MANAGERS)
    if managed is not None:
        queryset = queryset.filter(**{f"{field}__in": managed})
    if project_id is not None:
        queryset = queryset.filter(**{field: project_id})
    return queryset


def training_run_list(*, user, project_id=None):
    runs = TrainingRun.objects.select_related("project", "base_checkpoint", "output_checkpoint")
    return _managed(runs.prefetch_related("interruptions"), user=user, project_id=project_id)


def training_run_metrics(*, run):
    """The run's metric series: ``{"steps": [...], "series": {name: [value|None, ...]}}``, one column per step."""
    rows = list(TrainingMetric.objects.filter(run=run).order_by("step").values_list("step", "values"))
    names = sorted({name for _, values in rows for name in values})
    return {
        "steps": [step for step, _ in rows],
        "series": {name: [values.get(name) for _, values in rows] for name in names},
    }


def checkpoint_list(*, user, project_id=None):
    checkpoints = ModelCheckpoint.objects.select_related("project", "parent", "produced_by")
    managed = project_ids_with_role(user=user, roles=MANAGERS)
    if managed is not None:  # shared checkpoints (no project) are visible to every manager
        checkpoints = checkpoints.filter(Q(project_id__in=managed) | Q(project__isnull=True))
    if project_id is not None:
        checkpoints = checkpoints.filter(project_id=project_id)
    return checkpoints


def checkpoint_active(*, project):
    return ModelCheckpoint.objects.filter(project=project, is_active=True).first()


def generation_batch_list(*, user, project_id=None):
    return _managed(GenerationBatch.objects.select_related("project", "checkpoint"), user=user, project_id=project_id)


def prompts_without_response(*, project, checkpoint, limit):
    """The project's prompts this checkpoint has not answered yet, oldest first."""
    answered = Prompt.objects.filter(responses__checkpoint=checkpoint)
    return list(Prompt.objects.filter(project=project).exclude(pk__in=answered).order_by("id")[:limit])


def training_records(*, project):
    """The project's active preference records as ``training.ddpo`` record dicts (image = file path)."""
    records = PreferenceRecord.objects.filter(project=project, status=RecordStatus.ACTIVE).select_related("image")
    return [_record_dict(record) for record in records.order_by("id").iterator()]


def _record_dict(record):
    # Imported rows without an alignment carry no spans: None lets ddpo fall back to a token diff.
    spans_known = record.source == RecordSource.ANNOTATION or bool(record.alignment)
    return {
        "id": str(record.pk),
        "version": record.version,
        "image": record.image.file.path if record.image else None,
        "question": record.question,
        "chosen": record.chosen,
        "rejected": record.rejected,
        "chosen_spans": record.chosen_spans if spans_known else None,
        "rejected_spans": record.rejected_spans if spans_known else None,
    }


def training_run_active_exists(*, project):
    return TrainingRun.objects.filter(project=project).exclude(status__in=FINISHED).exists()


def projects_due_for_training():
    """Projects with an auto-train threshold, an active checkpoint, no unfinished run, and enough new records.

    "New" means created after the project's last finished run (succeeded, failed or cancelled) took its
    records, i.e. started (or was created, when it never started): a failed or cancelled run is not
    relaunched until that many more records arrive, and records that came while a run was queued were
    trained on by it.
    """
    due = []
    candidates = Project.objects.filter(auto_train_threshold__gt=0, checkpoints__is_active=True)
    for project in candidates.distinct():
        if training_run_active_exists(project=project):
            continue
        last = project.training_runs.filter(status__in=FINISHED).order_by("-created_at").first()
        records = PreferenceRecord.objects.filter(project=project, status=RecordStatus.ACTIVE)
        if last is not None:
            records = records.filter(created_at__gt=last.started_at or last.created_at)
        if records.count() >= project.auto_train_threshold:
            due.append(project)
    return due
