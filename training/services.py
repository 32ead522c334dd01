"""Writes of the training app: training runs, checkpoints and their evaluations, generation batches.

Long jobs follow one pattern: ``<job>_create`` validates, saves a queued row
and enqueues the task by name once the transaction commits; the worker calls
``<job>_execute(id)``, which moves it queued -> running (a guarded UPDATE, so
a job cancelled or taken meanwhile is left alone), beats while it works and
ends in succeeded / failed (with the error text) / cancelled. ``_execute``
is not one transaction: its progress must be visible while it runs.
A training run whose worker is lost is sent again (``training_run_resume_lost``)
and continues from the last step saved in its output folder, on the record set
its first attempt took (``TrainingRunRecord``, and a snapshot in the folder).
torch and transformers load only inside the ``_execute`` bodies (gpu worker).
"""
import json
import logging
import math
import os
import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import status

from annotate.models import Project, Prompt, Response
from annotate.services.responses import responses_create
from config.errors import ApplicationError
from config.fields import unstorable_json
from training.ddpo.config import CONFIG_NAME, DDPOConfig
from training.generation import SamplingParams, generate, load_generator
from jobs.models import JobStatus, JobStopped
from jobs.services import job_beating, job_enqueue
from training.models import (
    CheckpointEvaluation,
    CheckpointStatus,
    GenerationBatch,
    ModelCheckpoint,
    TrainingMetric,
    TrainingRun,
    TrainingRunInterruption,
    TrainingRunRecord,
    TrainingTrigger,
)
from training.selectors import (
    checkpoint_active,
    checkpoint_evaluation_unfinished_exists,
    heldout_record_count,
    heldout_records,
    project_is_shapes_world,
    projects_due_for_training,
    prompts_without_response,
    training_records,
    training_run_active_exists,
)

logger = logging.getLogger(__name__)

# Set by the service itself, never by a caller's config.
RESERVED_CONFIG_KEYS = {"model", "output_dir", "reference", "reference_cache_dir", "resume", "progress"}
# Stand-ins for the required paths while checking settings before there is a run.
PLACEHOLDER_PATHS = {"model": "-", "output_dir": "-"}
DEFAULT_BATCH_PROMPTS = 64
# The records a run trains on, as training.ddpo takes them, beside its checkpoints: a resumed attempt trains
# on exactly these, whatever was re-annotated since.
RECORDS_FILE = "records.json"


def checkpoint_ready_check(*, checkpoint, field) -> None:
    """A 400 naming ``field`` unless ``checkpoint`` is ready: a registered model generates, trains and is
    evaluated only once its registration succeeded."""
    state = checkpoint.status
    if state != CheckpointStatus.READY:
        reason = f": {checkpoint.error}" if checkpoint.error else "."
        raise ApplicationError(f"Checkpoint {checkpoint.pk} is not ready ({state}){reason}",
                               fields={field: [f"Checkpoint {checkpoint.pk} is {state}."]})


def _checkpoint_of_project(*, project, checkpoint, field):
    checkpoint = checkpoint or checkpoint_active(project=project)
    if checkpoint is None:
        raise ApplicationError("The project has no active checkpoint; name one.", fields={field: ["Required."]})
    if checkpoint.project_id not in (None, project.pk):
        raise ApplicationError("The checkpoint belongs to another project.", fields={field: ["Not in this project."]})
    checkpoint_ready_check(checkpoint=checkpoint, field=field)
    return checkpoint


# Training runs ---------------------------------------------------------------------------------


def reference_cache_dir(*, checkpoint_id) -> Path:
    """Where the per-token log-probs of a checkpoint used as reference are kept: every run from it and every
    evaluation against it reads and fills the same cache."""
    return settings.CHECKPOINT_ROOT / "reference-cache" / f"checkpoint-{checkpoint_id}"


def training_run_config(*, run) -> DDPOConfig:
    """The run's full DDPO config: its settings, resolved at creation, and the paths this service owns.

    Every attempt after the first resumes from the last step saved in the run's own folder; steps are saved
    every ``save_steps`` (the run's, or ``TRAINING_RUN_SAVE_STEPS``; a resumed run may change it)."""
    return DDPOConfig.from_dict({
        **run.config,
        "model": run.base_checkpoint.path,
        "output_dir": str(settings.CHECKPOINT_ROOT / f"run-{run.pk}"),
        # The reference is the base checkpoint: runs from the same base share its cached log-probs.
        "reference_cache_dir": str(reference_cache_dir(checkpoint_id=run.base_checkpoint_id)),
        "resume": run.attempts > 1,
        "save_steps": run.config.get("save_steps") or settings.TRAINING_RUN_SAVE_STEPS,
    })


def _dataclass_from_json(cls, data, *, field):
    """``cls.from_dict(data)`` of a client's JSON object; an unknown key, a wrong type, a bad value or a
    string the database cannot store names ``field``."""
    problem = unstorable_json(data)
    if problem:
        raise ApplicationError(f"Invalid {field}: {problem}", fields={field: [problem]})
    try:
        return cls.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise ApplicationError(f"Invalid {field}: {exc}", fields={field: [str(exc)]}) from exc


def job_size_check(values, *, limits, field):
    """A 400 naming ``<field>.<key>`` for each value of ``values`` above its limit in ``limits``
    (``settings.TRAINING_LIMITS``, ``settings.GENERATION_LIMITS``): the largest job a client may ask for."""
    errors = {f"{field}.{name}": [f"At most {limit} on this platform, got {values[name]}."]
              for name, limit in limits.items() if values.get(name) is not None and values[name] > limit}
    if errors:
        raise ApplicationError(f"Invalid input: {', '.join(errors)}", fields=errors)


def sampling_params_resolve(params, *, field) -> dict:
    """A client's sampling settings (a JSON object, None for the defaults) as a full ``SamplingParams`` dict,
    within ``settings.GENERATION_LIMITS``; else a 400 naming ``field`` (or ``<field>.<key>``)."""
    params = _dataclass_from_json(SamplingParams, params or {}, field=field).to_dict()
    job_size_check(params, limits=settings.GENERATION_LIMITS, field=field)
    return params


def training_config_check(config):
    """Raise ApplicationError naming ``config`` unless it is a valid set of training.ddpo overrides."""
    if not isinstance(config, dict):
        raise ApplicationError("config must be an object.", fields={"config": ["Expected an object."]})
    reserved = sorted(RESERVED_CONFIG_KEYS & set(config))
    if reserved:
        raise ApplicationError(f"config may not set {', '.join(reserved)}.", fields={"config": [f"Reserved: {reserved}"]})
    _dataclass_from_json(DDPOConfig, {**PLACEHOLDER_PATHS, **config}, field="config")


def training_config_resolve(*, project, config=None) -> dict:
    """The settings a run of ``project`` trains with: DDPOConfig's defaults, then the project's
    ``training_config``, its gamma and beta, then the ``config`` overrides, validated as a whole; without the
    paths this service owns.

    A bad override names ``config``; a project default DDPOConfig refuses names ``project``."""
    config = {} if config is None else config
    training_config_check(config)
    try:
        resolved = DDPOConfig.from_dict({**PLACEHOLDER_PATHS, **project.training_config, "gamma": project.gamma,
                                         "beta": project.beta, **config})
    except (TypeError, ValueError) as exc:  # the overrides passed alone: a project default is wrong
        raise ApplicationError(f"The project's training defaults are invalid: {exc}",
                               fields={"project": [str(exc)]}) from exc
    return {name: value for name, value in resolved.to_dict().items() if name not in RESERVED_CONFIG_KEYS}


@transaction.atomic
def project_training_defaults_update(*, project, gamma, beta, config) -> Project:
    """Set what every run of ``project`` trains with unless its launch says otherwise: gamma, beta and the
    other ``training.ddpo`` settings (``config``, e.g. learning rate and epochs), validated together."""
    if {"gamma", "beta"} & set(config):
        raise ApplicationError("gamma and beta are the project's own fields, not part of its training config.",
                               fields={"config": ["Set gamma and beta on their own."]})
    training_config_check(config)
    project.training_config, project.gamma, project.beta = config, gamma, beta
    training_config_resolve(project=project)
    project.save(update_fields=["training_config", "gamma", "beta"])
    return project


def training_run_slot_claim(*, project) -> None:
    """Inside the transaction that creates a run: lock the project (concurrent launches queue up here) and
    refuse a second queued or running run with a 409."""
    Project.objects.select_for_update().filter(pk=project.pk).first()
    if training_run_active_exists(project=project):
        raise ApplicationError("A training run of this project is already queued or running.",
                               status=status.HTTP_409_CONFLICT)


@transaction.atomic
def training_run_create(*, project, base_checkpoint=None, config=None, trigger=TrainingTrigger.MANUAL,
                        created_by=None) -> TrainingRun:
    """Queue a DDPO run of the project's active records from ``base_checkpoint`` (default: the active one),
    with its settings resolved now (``training_config_resolve``): the worker reads them as they were at launch."""
    resolved = training_config_resolve(project=project, config=config)
    job_size_check(resolved, limits=settings.TRAINING_LIMITS, field="config")
    base_checkpoint = _checkpoint_of_project(project=project, checkpoint=base_checkpoint, field="base_checkpoint")
    training_run_slot_claim(project=project)
    run = TrainingRun.objects.create(project=project, base_checkpoint=base_checkpoint, config=resolved,
                                     trigger=trigger, created_by=created_by)
    job_enqueue(run)
    return run


@transaction.atomic
def training_run_cancel(*, run) -> TrainingRun:
    """Cancel a queued run at once; ask a running one to stop (its worker checks after every step)."""
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)  # the worker cannot start it meanwhile
    if run.is_finished:
        raise ApplicationError(f"The run already {run.status}.", status=status.HTTP_409_CONFLICT)
    TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    run.cancel_requested = True
    if run.status == JobStatus.QUEUED:
        run.transition(JobStatus.CANCELLED)
    return run


def _total_steps(config: DDPOConfig, record_count: int) -> int:
    micro_batches = math.ceil(record_count / config.batch_size)
    return config.max_steps or config.epochs * math.ceil(micro_batches / config.grad_accum)


def _finite(value):
    return value if math.isfinite(value) else None


def training_run_record_metrics(*, run, step, values):
    """Store one step's metrics and advance the run's step, progress and heartbeat."""
    values = {name: _finite(float(value)) for name, value in values.items() if isinstance(value, (int, float))}
    TrainingMetric.objects.update_or_create(run=run, step=step, defaults={"values": values})
    run.total_steps = max(run.total_steps, step)
    run.beat(progress=step / run.total_steps, step=step, total_steps=run.total_steps)


def training_run_stop_requested(run) -> bool:
    """A cancel was asked for, or this attempt stopped running (failed or taken for lost and sent again, deleted)."""
    return not TrainingRun.objects.filter(pk=run.pk, status=JobStatus.RUNNING, cancel_requested=False,
                                          attempts=run.attempts).exists()


def _training_run_locked_attempt(run):
    """Lock the run's row; its ``(cancel_requested, attempts)``, None once it is deleted."""
    return TrainingRun.objects.select_for_update().filter(pk=run.pk).values_list("cancel_requested", "attempts").first()


@transaction.atomic
def _training_run_end(*, run, to, **fields) -> bool:
    """Move this attempt of the run to ``to``; a no-op once a later attempt owns the run (this worker was
    taken for lost, e.g. frozen past JOBS_LOST_AFTER_SECONDS, and the run was sent again)."""
    locked = _training_run_locked_attempt(run)
    return locked is not None and locked[1] == run.attempts and run.transition(to, **fields)


@transaction.atomic
def _training_run_finish(*, run, output_path):
    """Succeed, register the output checkpoint and queue its evaluation, unless a cancel came first or a later
    attempt owns the run.

    The row lock orders this with ``training_run_cancel``: a cancel answered
    200 ("requested") always ends the run cancelled, never succeeded."""
    locked = _training_run_locked_attempt(run)
    if locked is None or locked[1] != run.attempts:
        return None
    if locked[0]:
        run.transition(JobStatus.CANCELLED)
        return None
    if not run.transition(JobStatus.SUCCEEDED, step=run.total_steps):
        return None
    checkpoint = ModelCheckpoint.objects.create(
        project=run.project, name=f"{run.project.name} run {run.pk}", path=str(output_path),
        parent=run.base_checkpoint, produced_by=run,
    )
    checkpoint_evaluation_create(checkpoint=checkpoint)
    return checkpoint


def training_run_work(*, run_id, body) -> TrainingRun | None:
    """The worker's frame of every training run: queued -> running, a heartbeat while ``body(run)`` trains
    and returns the output folder, then the output checkpoint registered; an error fails the run with its
    text, ``JobStopped`` from the body ends it cancelled. None if the run is gone."""
    run = TrainingRun.objects.select_related("project", "base_checkpoint").filter(pk=run_id).first()
    if run is None or not run.transition(JobStatus.RUNNING):
        return run
    try:
        with job_beating(run):
            output_path = body(run)
    except JobStopped:
        _training_run_end(run=run, to=JobStatus.CANCELLED)  # a no-op for a run failed as lost or deleted
        return run
    except Exception as exc:
        logger.exception("Training run %s failed", run.pk)
        _training_run_end(run=run, to=JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        return run
    _training_run_finish(run=run, output_path=output_path)
    return run


@transaction.atomic
def training_run_resume_lost(*, job_id, lost_after) -> bool:
    """The lost-worker sweep's service for runs (``TrainingRun.resume_service``): note the interruption and
    send the run again, to continue from its last saved step, within ``TRAINING_RUN_MAX_ATTEMPTS`` attempts;
    past them it fails. Cancel wins: a run whose cancel was requested ends cancelled. Returns whether the run
    was still lost (it may have beaten, finished or been cancelled since the sweep listed it)."""
    run = TrainingRun.objects.select_for_update().filter(
        pk=job_id, status=JobStatus.RUNNING, heartbeat_at__lt=timezone.now() - lost_after).first()
    if run is None:
        return False
    if run.cancel_requested:  # the worker died before it saw the request
        return run.transition(JobStatus.CANCELLED)
    reason = f"worker lost (no heartbeat for {round(lost_after.total_seconds())} s)"
    TrainingRunInterruption.objects.create(run=run, attempt=run.attempts, at=timezone.now(), step=run.step,
                                           reason=reason)
    if run.attempts >= settings.TRAINING_RUN_MAX_ATTEMPTS:
        return run.transition(JobStatus.FAILED, error=f"Worker lost: {reason}, attempt {run.attempts} of "
                                                      f"{settings.TRAINING_RUN_MAX_ATTEMPTS}.")
    run.transition(JobStatus.QUEUED, attempts=run.attempts + 1, heartbeat_at=None)
    job_enqueue(run)
    return True


def training_run_resumed(*, run, step) -> None:
    """An attempt after an interrupted one starts from saved step ``step`` (0: from the start): noted on the
    interruption; the lost attempt's metrics past it are dropped (this attempt logs those steps again)."""
    TrainingRunInterruption.objects.filter(run=run, attempt=run.attempts - 1).update(resumed_step=step)
    TrainingMetric.objects.filter(run=run, step__gt=step).delete()
    run.step = step
    run.beat(progress=step / run.total_steps if run.total_steps else 0.0, step=step)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    partial.replace(path)


@transaction.atomic
def training_run_records_take(*, run, output) -> list[dict]:
    """The run's record set, taken now from the project's training records: stored (ids and versions) and
    written to its folder."""
    records = training_records(project=run.project)
    if not records:
        raise ApplicationError("The project has no active preference records.")
    run.trained_records.all().delete()  # an earlier attempt's set whose folder is gone: this one starts over
    TrainingRunRecord.objects.bulk_create([
        TrainingRunRecord(run=run, record_id=int(record["id"]), record_version=record["version"]) for record in records
    ], batch_size=10_000)
    _write_atomically(output / RECORDS_FILE, json.dumps(records))
    return records


def _ddpo_records(*, run, output) -> list[dict]:
    """The records this attempt trains on: those its run took, when an earlier attempt left them with its
    steps; otherwise the project's now, in an emptied folder (a run id's folder may hold steps of a run of
    an earlier database)."""
    snapshot = output / RECORDS_FILE
    if run.attempts > 1 and snapshot.exists() and run.trained_records.exists():
        return json.loads(snapshot.read_text())
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    return training_run_records_take(run=run, output=output)


def _saved_step(output: Path, total_steps: int) -> int:
    """The step an attempt resumes from: its folder's last saved step (the trainer's rule), all when done."""
    from training.ddpo.trainer import latest_checkpoint  # torch: gpu worker only

    if (output / "final" / CONFIG_NAME).exists():
        return total_steps
    saved = latest_checkpoint(output)
    return int(saved.name.split("-")[1]) if saved else 0


def _ddpo_train(run):
    from training.ddpo.trainer import train  # torch: gpu worker only

    config = training_run_config(run=run)
    output = Path(config.output_dir)
    records = _ddpo_records(run=run, output=output)
    run.record_count, run.total_steps = len(records), _total_steps(config, len(records))
    run.beat(record_count=run.record_count, total_steps=run.total_steps)
    if run.attempts > 1:
        training_run_resumed(run=run, step=_saved_step(output, run.total_steps))
    return train(
        config, records,
        on_metrics=lambda step, values: training_run_record_metrics(run=run, step=step, values=values),
        should_stop=lambda: training_run_stop_requested(run),
        on_phase=lambda phase: logger.info("Training run %s: %s phase", run.pk, phase),
    )


def training_run_execute(*, run_id) -> TrainingRun | None:
    """The worker's body of a DDPO run: train on the project's active records, stream metrics, register the
    output checkpoint."""
    return training_run_work(run_id=run_id, body=_ddpo_train)


def training_auto_trigger() -> list[TrainingRun]:
    """Queue a run for every project with at least ``auto_train_threshold`` new records (beat, every few minutes)."""
    runs = []
    for project in projects_due_for_training():
        try:
            runs.append(training_run_create(project=project, trigger=TrainingTrigger.AUTO))
        except ApplicationError as exc:  # e.g. a run was queued meanwhile
            logger.info("No auto run for project %s: %s", project.pk, exc.message)
    return runs


# Checkpoints -----------------------------------------------------------------------------------


@transaction.atomic
def checkpoint_register(*, project, path, name="", parent=None, eval_metrics=None) -> ModelCheckpoint:
    """Register a model folder or hub id (e.g. a bootstrap model) as a checkpoint of ``project``."""
    path = str(path).strip()
    if not path:
        raise ApplicationError("A checkpoint needs a path.", fields={"path": ["Required."]})
    return ModelCheckpoint.objects.create(project=project, path=path, name=name or path, parent=parent,
                                          eval_metrics=eval_metrics or {})


@transaction.atomic
def checkpoint_activate(*, checkpoint) -> ModelCheckpoint:
    """Make ``checkpoint`` the one that generates its project's next batch (one active per project)."""
    if checkpoint.project_id is None:
        raise ApplicationError("Only a project's checkpoint can be activated.", fields={"project": ["Required."]})
    checkpoint_ready_check(checkpoint=checkpoint, field="checkpoint")
    siblings = ModelCheckpoint.objects.filter(project_id=checkpoint.project_id)
    # Lock the project's checkpoints first (an UPDATE alone locks only the rows it matched when it started):
    # a concurrent activation waits here, then sees this one's result instead of breaking the one-active constraint.
    list(siblings.select_for_update().values_list("pk", flat=True))
    siblings.filter(is_active=True).exclude(pk=checkpoint.pk).update(is_active=False)
    siblings.filter(pk=checkpoint.pk).update(is_active=True)
    checkpoint.is_active = True
    return checkpoint


@transaction.atomic
def checkpoint_metrics_merge(*, checkpoint, metrics: dict) -> ModelCheckpoint:
    """Replace some top-level parts of the checkpoint's ``eval_metrics`` (e.g. ``judge``), keeping the rest."""
    stored = ModelCheckpoint.objects.select_for_update().get(pk=checkpoint.pk).eval_metrics
    checkpoint.eval_metrics = {**stored, **metrics}
    ModelCheckpoint.objects.filter(pk=checkpoint.pk).update(eval_metrics=checkpoint.eval_metrics)
    return checkpoint


# Checkpoint evaluations ------------------------------------------------------------------------

# What a run's config says about how its pairs are scored; the rest of it (learning rate, epochs...) is training.
SCORING_KEYS = ("gamma", "beta", "average", "dtype", "bf16", "max_completion_tokens", "shared_prefix", "batch_size")


@transaction.atomic
def checkpoint_evaluation_create(*, checkpoint, reference=None, created_by=None) -> CheckpointEvaluation:
    """Queue the evaluation of ``checkpoint`` on its project's held-out records against ``reference`` (default:
    its parent, i.e. its run's base and reference; a checkpoint without one is its own), and by the judge for a
    shapes-world project. Its size is the platform's (EVALUATION_MAX_RECORDS, EVALUATION_JUDGE_SCENES), not the
    caller's. A 409 while one of the checkpoint is queued or running."""
    if checkpoint.project_id is None:
        raise ApplicationError("A checkpoint of no project has no held-out records to be evaluated on.",
                               fields={"checkpoint": ["Belongs to no project."]})
    checkpoint_ready_check(checkpoint=checkpoint, field="checkpoint")
    if reference is not None and reference.project_id not in (None, checkpoint.project_id):
        raise ApplicationError("The reference belongs to another project.", fields={"reference": ["Not in this project."]})
    ModelCheckpoint.objects.select_for_update().filter(pk=checkpoint.pk).first()  # concurrent requests queue up here
    if checkpoint_evaluation_unfinished_exists(checkpoint=checkpoint):
        raise ApplicationError("An evaluation of this checkpoint is already queued or running.",
                               status=status.HTTP_409_CONFLICT)
    evaluation = CheckpointEvaluation.objects.create(
        checkpoint=checkpoint, reference=reference or checkpoint.parent or checkpoint, created_by=created_by,
        judge_scenes=settings.EVALUATION_JUDGE_SCENES)
    job_enqueue(evaluation)
    return evaluation


def checkpoint_evaluation_config(*, evaluation) -> DDPOConfig:
    """How the held-out pairs are scored: as the checkpoint's run trained (``SCORING_KEYS`` of its config), else
    with the project's gamma and beta; policy, reference and the reference's log-prob cache."""
    checkpoint, reference = evaluation.checkpoint, evaluation.reference
    if reference is None:
        raise ApplicationError("The reference checkpoint was deleted; evaluate against another one.")
    run_config = checkpoint.produced_by.config if checkpoint.produced_by else {}
    return DDPOConfig.from_dict({
        "gamma": checkpoint.project.gamma, "beta": checkpoint.project.beta,
        **{name: value for name, value in run_config.items() if name in SCORING_KEYS},
        "model": checkpoint.path, "reference": reference.path, "output_dir": "-",
        "reference_cache_dir": str(reference_cache_dir(checkpoint_id=reference.pk)),
    })


def _finite_figures(figures: dict) -> dict:
    return {name: _finite(value) if isinstance(value, float) else value for name, value in figures.items()}


def checkpoint_evaluation_measure(evaluation) -> dict:
    """The worker's figures for ``evaluation``: the held-out pairs scored against its reference, and the judge's
    figures on held-out scenes for a shapes world (``CheckpointEvaluation`` gives the schema)."""
    from synthetic.evaluate import evaluate_held_out  # torch: gpu worker only
    from training.ddpo.evaluate import evaluate_pairs

    project = evaluation.checkpoint.project
    config = checkpoint_evaluation_config(evaluation=evaluation)
    records = heldout_records(project=project, limit=settings.EVALUATION_MAX_RECORDS)
    share = 0.5 if evaluation.judge_scenes else 1.0  # of the progress bar, before the judge's part (if any)

    def report(done, total):
        if not evaluation.beat(progress=share * done / total):
            raise JobStopped

    heldout = _finite_figures(evaluate_pairs(config, records, on_batch=report))
    metrics = {"evaluation": evaluation.pk, "heldout": {
        **heldout, "available": heldout_record_count(project=project), "reference": evaluation.reference_id,
        "gamma": config.gamma, "beta": config.beta, "average": config.average}}
    # Asked when it runs, not when it was queued: checkpoint 0 of the demo is queued before its project has prompts.
    if evaluation.judge_scenes and project_is_shapes_world(project=project):
        metrics["judge"] = evaluate_held_out(evaluation.checkpoint.path, evaluation.judge_scenes)
    return metrics


# Generation batches ----------------------------------------------------------------------------


def _batch_prompts(*, project, checkpoint, prompt_ids, limit):
    if prompt_ids is None:
        return prompts_without_response(project=project, checkpoint=checkpoint, limit=limit or DEFAULT_BATCH_PROMPTS)
    prompts = list(Prompt.objects.filter(project=project, pk__in=prompt_ids))
    missing = sorted(set(prompt_ids) - {prompt.pk for prompt in prompts})
    if missing:
        raise ApplicationError(f"{len(missing)} unknown prompts for this project.",
                               fields={"prompts": [f"Not found: {missing[:20]}"]})
    return prompts


@transaction.atomic
def generation_batch_create(*, project, checkpoint=None, prompt_ids=None, limit=None, params=None,
                            created_by=None, enqueue=True) -> GenerationBatch:
    """Queue answers from ``checkpoint`` (default: the active one) to the given prompts,
    or to up to ``limit`` of the project's prompts it has not answered yet.
    ``enqueue=False`` leaves the batch for the caller to execute (the CLI, in its own process)."""
    if limit is not None and limit < 1:
        raise ApplicationError("limit must be at least 1.", fields={"limit": [f"Must be at least 1, got {limit}."]})
    params = sampling_params_resolve(params, field="params")
    checkpoint = _checkpoint_of_project(project=project, checkpoint=checkpoint, field="checkpoint")
    prompts = _batch_prompts(project=project, checkpoint=checkpoint, prompt_ids=prompt_ids, limit=limit)
    if not prompts:
        raise ApplicationError("No prompts to answer.", fields={"prompts": ["Every prompt already has an answer."]})
    batch = GenerationBatch.objects.create(project=project, checkpoint=checkpoint, params=params,
                                           prompt_count=len(prompts), created_by=created_by)
    batch.prompts.set(prompts)
    if enqueue:
        job_enqueue(batch)
    return batch


@transaction.atomic
def generation_batch_cancel(*, batch) -> GenerationBatch:
    """Cancel a queued or running batch at once; a running one's worker stops after its current
    micro-batch and stores nothing."""
    batch = GenerationBatch.objects.select_for_update().get(pk=batch.pk)
    if not batch.transition(JobStatus.CANCELLED):
        raise ApplicationError(f"The batch already {batch.status}.", status=status.HTTP_409_CONFLICT)
    return batch


@transaction.atomic
def _generation_batch_store(*, batch, prompts, answers) -> int:
    """Write the answers as Responses with ``project.overlap`` annotation slots each; returns how many."""
    responses = responses_create(project=batch.project, responses=[
        Response(prompt=prompt, checkpoint=batch.checkpoint, generation_batch=batch, text=text,
                 sampling_params=batch.params)
        for prompt, samples in zip(prompts, answers) for text in samples
    ])
    if not batch.transition(JobStatus.SUCCEEDED, response_count=len(responses)):
        raise JobStopped  # rolls the responses and tasks back
    return len(responses)


def generation_batch_execute(*, batch_id, progress=False) -> GenerationBatch | None:
    """The worker's body: load the checkpoint, answer every prompt in batches, store responses + tasks."""
    batch = GenerationBatch.objects.select_related("project", "checkpoint").filter(pk=batch_id).first()
    if batch is None or not batch.transition(JobStatus.RUNNING):
        return batch
    try:
        prompts = list(batch.prompts.select_related("image").order_by("id"))
        inputs = [{"question": p.question, "image": p.image.file.path if p.image else None} for p in prompts]

        def report(done, total):
            if not batch.beat(progress=done / total):
                raise JobStopped

        with job_beating(batch):
            generator = load_generator(batch.checkpoint.path)
            answers = generate(generator, inputs, SamplingParams.from_dict(batch.params), progress=progress,
                               on_batch=report)
        _generation_batch_store(batch=batch, prompts=prompts, answers=answers)
    except JobStopped:
        stored = batch.stored_status()
        if stored:
            batch.status = stored
        logger.info("Generation batch %s stopped while answering: %s", batch.pk, stored or "deleted")
    except Exception as exc:
        logger.exception("Generation batch %s failed", batch.pk)
        batch.transition(JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
    return batch
