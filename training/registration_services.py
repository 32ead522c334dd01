"""Writes of model registration: a manager brings a base model (a folder under ``MODELS_ROOT`` or a hub id from
the local Hugging Face cache, full weights or a PEFT adapter), a job on queue ``gpu`` checks it.

``checkpoint_registration_create`` refuses what it can tell at once (a folder outside ``MODELS_ROOT``, a
symlink out of it, a malformed hub id, one missing from the cache while downloads are off) with a 400 naming
the field, before any job; else it saves the checkpoint (``validating``) and its queued ``ModelRegistration``.
``model_registration_execute`` (the worker) loads and checks the model (``training.ddpo.registry``): on success
the checkpoint gets its facts and is ``ready`` (and active, when the project has no active checkpoint yet); a
model that cannot work fails the job with the reason.
"""
import logging
import shutil

from django.conf import settings
from django.db import transaction

from config.errors import ApplicationError
from jobs.models import JobStatus, JobStopped
from jobs.services import job_beating, job_enqueue
from training.ddpo.registry import (
    ModelRefused,
    adapter_base_name,
    check_hub_id,
    hub_cached,
    inspect_model,
    resolve_folder,
    resolve_hub,
    resolve_name,
)
from training.models import ModelCheckpoint, ModelRegistration, ModelSource

logger = logging.getLogger(__name__)


def _refused(exc: ModelRefused) -> ApplicationError:
    return ApplicationError(str(exc), fields={exc.field: [str(exc)]})


def _hub_id_check(hub_id: str, *, field: str) -> str:
    """A well-formed hub id, found in the local cache unless downloads are allowed."""
    hub_id = check_hub_id(hub_id, field=field)
    if not settings.MODEL_HUB_DOWNLOADS and not hub_cached(hub_id):
        raise ModelRefused(f"{hub_id} is not in the local Hugging Face cache, and downloads are off "
                           "(MODEL_HUB_DOWNLOADS).", field=field)
    return hub_id


def _location(*, path, hub_id) -> tuple[str, str]:
    """(source, location) of the model asked for: exactly one of a folder and a hub id."""
    if bool(path) == bool(hub_id):
        message = "Name a model folder (path) or a hub id (hub_id), one of them."
        raise ApplicationError(message, fields={"path": [message], "hub_id": [message]})
    if path:
        return ModelSource.FOLDER, str(resolve_folder(path, root=settings.MODELS_ROOT, field="path"))
    return ModelSource.HUB, _hub_id_check(hub_id, field="hub_id")


def _base_check(*, base, source, location) -> str:
    """The adapter's base as asked, checked as far as it can be now; a base for full weights is refused."""
    if not base:
        return ""
    if source == ModelSource.FOLDER and adapter_base_name(settings.MODELS_ROOT / location) is None:
        raise ModelRefused("base is only for a PEFT adapter; this folder has full weights (no "
                           "adapter_config.json).", field="base")
    if settings.MODEL_HUB_DOWNLOADS:
        return base.strip()
    return str(resolve_name(base, root=settings.MODELS_ROOT, downloads=False, field="base"))


@transaction.atomic
def checkpoint_registration_create(*, project, path=None, hub_id=None, base=None, name="",
                                   created_by=None) -> ModelCheckpoint:
    """Queue the check of a manager's model; the checkpoint it becomes is ``validating`` until it ends."""
    try:
        source, location = _location(path=path, hub_id=hub_id)
        base = _base_check(base=base, source=source, location=location)
    except ModelRefused as exc:
        raise _refused(exc) from exc
    name = (name or "").strip() or (location if source == ModelSource.HUB else location.rstrip("/").rsplit("/", 1)[-1])
    checkpoint = ModelCheckpoint.objects.create(project=project, name=name[:200], path=location)
    registration = ModelRegistration.objects.create(project=project, checkpoint=checkpoint, source=source,
                                                    location=location, base=base, created_by=created_by)
    job_enqueue(registration)
    return checkpoint


def adapter_output_dir(*, checkpoint_id):
    """Where an adapter registered as ``checkpoint_id`` is saved merged into its base."""
    return settings.CHECKPOINT_ROOT / f"registered-{checkpoint_id}"


def model_registration_inspect(registration):
    """The worker's check (torch and transformers load here): resolve the model again (the folder may have
    changed since it was asked for), find an adapter's base, load and check, and return its facts."""
    root, downloads = settings.MODELS_ROOT, settings.MODEL_HUB_DOWNLOADS
    if registration.source == ModelSource.FOLDER:
        folder = resolve_folder(registration.location, root=root, field="path")
    else:
        folder = resolve_hub(registration.location, downloads=downloads, field="hub_id")
    base_name = registration.base or adapter_base_name(folder)
    base = None
    if base_name:
        if adapter_base_name(folder) is None:
            raise ModelRefused("base is only for a PEFT adapter; this model has full weights.", field="base")
        base = resolve_name(base_name, root=root, downloads=downloads, field="base")
    return inspect_model(folder, base=base, adapter_output=adapter_output_dir(checkpoint_id=registration.checkpoint_id))


def _activate_if_none_active(*, checkpoint_id, project_id) -> None:
    """The project's first ready model becomes its active checkpoint: the one training runs start from and the
    loop's next batches come from by default (else a new team's loop never starts: nothing is active)."""
    siblings = ModelCheckpoint.objects.filter(project_id=project_id)
    # Lock the project's checkpoints (as checkpoint_activate does): two registrations ending at once activate one.
    list(siblings.select_for_update().values_list("pk", flat=True))
    if not siblings.filter(is_active=True).exists():
        siblings.filter(pk=checkpoint_id).update(is_active=True)


@transaction.atomic
def _model_registration_store(*, registration, facts) -> None:
    ModelCheckpoint.objects.filter(pk=registration.checkpoint_id).update(**facts.to_dict())
    if not registration.transition(JobStatus.SUCCEEDED):
        raise JobStopped  # cancelled meanwhile: the facts roll back
    _activate_if_none_active(checkpoint_id=registration.checkpoint_id, project_id=registration.project_id)


def model_registration_execute(*, registration_id) -> ModelRegistration | None:
    """The worker's body: check the model, write its facts on the checkpoint; refused, fail with the reason."""
    registration = ModelRegistration.objects.filter(pk=registration_id).first()
    if registration is None or not registration.transition(JobStatus.RUNNING):
        return registration
    try:
        with job_beating(registration):
            facts = model_registration_inspect(registration)
        _model_registration_store(registration=registration, facts=facts)
    except ModelRefused as exc:
        logger.info("Model registration %s refused: %s", registration.pk, exc)
        _adapter_output_discard(registration)
        registration.transition(JobStatus.FAILED, error=str(exc))
    except JobStopped:
        _adapter_output_discard(registration)
        registration.status = registration.stored_status() or registration.status
    except Exception as exc:
        logger.exception("Model registration %s failed", registration.pk)
        _adapter_output_discard(registration)
        registration.transition(JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
    return registration


def _adapter_output_discard(registration) -> None:
    """An adapter merged before its check failed (or the job was cancelled) is a full model's weights on disk
    that no checkpoint will ever point at: remove them."""
    shutil.rmtree(adapter_output_dir(checkpoint_id=registration.checkpoint_id), ignore_errors=True)
