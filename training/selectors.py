"""Reads of the training app: runs, metrics, checkpoints, generation batches, training records."""
from django.db.models import Exists, OuterRef, Q

from annotate.models import PreferenceRecord, Project, Prompt, RecordSource, Response, RecordSplit, RecordStatus
from annotate.roles import MANAGERS, project_ids_with_role
from jobs.models import FINISHED, JobStatus
from synthetic.scenes import DATASET as SHAPES_DATASET
from training.models import CheckpointEvaluation, GenerationBatch, ModelCheckpoint, TrainingMetric, TrainingRun


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
    checkpoints = ModelCheckpoint.objects.select_related("project", "parent", "produced_by", "registration") \
        .prefetch_related("evaluations")
    managed = project_ids_with_role(user=user, roles=MANAGERS)
    if managed is not None:  # shared checkpoints (no project) are visible to every manager
        checkpoints = checkpoints.filter(Q(project_id__in=managed) | Q(project__isnull=True))
    if project_id is not None:
        checkpoints = checkpoints.filter(project_id=project_id)
    return checkpoints


def checkpoint_evaluation_list(*, checkpoint):
    return CheckpointEvaluation.objects.filter(checkpoint=checkpoint).select_related("reference")


def checkpoint_evaluation_unfinished_exists(*, checkpoint):
    return CheckpointEvaluation.objects.filter(checkpoint=checkpoint).exclude(status__in=FINISHED).exists()


def project_is_shapes_world(*, project) -> bool:
    """Whether the project holds shapes-world prompts (``demo``'s), whose answers the judge can check."""
    return Prompt.objects.filter(project=project, origin__dataset=SHAPES_DATASET).exists()


def checkpoint_active(*, project):
    return ModelCheckpoint.objects.filter(project=project, is_active=True).first()


def generation_batch_list(*, user, project_id=None):
    return _managed(GenerationBatch.objects.select_related("project", "checkpoint"), user=user, project_id=project_id)


def prompts_without_response(*, project, checkpoint, limit):
    """The project's prompts this checkpoint has not answered yet: those nobody answered first (a loop's
    rounds then ask fresh prompts while there are any), oldest first."""
    answered = Prompt.objects.filter(responses__checkpoint=checkpoint)
    return list(Prompt.objects.filter(project=project).exclude(pk__in=answered)
                .annotate(answered_before=Exists(Response.objects.filter(prompt=OuterRef("pk"))))
                .order_by("answered_before", "id")[:limit])


def training_records(*, project):
    """The project's active training-side preference records as ``training.ddpo`` record dicts (image = file
    path): held-out records never train."""
    return _record_dicts(project=project, split=RecordSplit.TRAIN)


def heldout_records(*, project, limit=None):
    """The project's active held-out records as ``training.ddpo`` record dicts, oldest first (the first
    ``limit`` of them): the evaluation data of its checkpoints."""
    return _record_dicts(project=project, split=RecordSplit.HELDOUT, limit=limit)


def heldout_record_count(*, project) -> int:
    return PreferenceRecord.objects.filter(project=project, status=RecordStatus.ACTIVE,
                                           split=RecordSplit.HELDOUT).count()


def _record_dicts(*, project, split, limit=None):
    records = (PreferenceRecord.objects.filter(project=project, status=RecordStatus.ACTIVE, split=split)
               .select_related("image").order_by("id"))
    return [_record_dict(record) for record in records[:limit].iterator()]


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


def records_since_last_run(*, project) -> int:
    """Active training records (held-out ones never train) created after the project's last finished run
    (succeeded, failed or cancelled) took its records, i.e. started (or was created, when it never started):
    records that came while a run was queued were trained on by it."""
    last = project.training_runs.filter(status__in=FINISHED).order_by("-created_at").first()
    records = PreferenceRecord.objects.filter(project=project, status=RecordStatus.ACTIVE, split=RecordSplit.TRAIN)
    if last is not None:
        records = records.filter(created_at__gt=last.started_at or last.created_at)
    return records.count()


def checkpoint_awaiting_decision(*, project):
    """The output of the project's newest succeeded run while nothing has decided its fate yet (its
    evaluation is running or queued): neither active nor the subject of any promotion decision."""
    newest = (ModelCheckpoint.objects.filter(produced_by__project=project, produced_by__status=JobStatus.SUCCEEDED)
              .order_by("-produced_by__created_at").first())
    if newest is None or newest.is_active or newest.promotion_decisions.exists():
        return None
    return newest


def projects_due_for_training():
    """Projects with an auto-train threshold, an active checkpoint, no unfinished run, no checkpoint awaiting
    its promotion decision, and at least the threshold of new records (``records_since_last_run``).

    The run starts from the active checkpoint when it is created: waiting for the decision makes that the
    newly promoted one, not the one it is about to replace. A failed or cancelled run is not relaunched
    until that many more records arrive.
    """
    candidates = Project.objects.filter(auto_train_threshold__gt=0, checkpoints__is_active=True).distinct()
    return [project for project in candidates
            if not training_run_active_exists(project=project)
            and checkpoint_awaiting_decision(project=project) is None
            and records_since_last_run(project=project) >= project.auto_train_threshold]
