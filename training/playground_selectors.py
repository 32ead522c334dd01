"""Reads of the checkpoint playground: who sees which requests, what a queued one waits behind."""
from django.db.models import Q

from annotate.models import Prompt
from annotate.roles import REVIEWERS, project_ids_with_role
from jobs.models import JobStatus
from jobs.selectors import jobs_ahead
from training.models import CHECKPOINT_READY, ModelCheckpoint, PlaygroundRequest


def playground_request_list(*, user):
    """The requests of the projects where ``user`` reviews or manages."""
    requests = PlaygroundRequest.objects.select_related("project", "image", "checkpoint", "second_checkpoint")
    projects = project_ids_with_role(user=user, roles=REVIEWERS)
    return requests if projects is None else requests.filter(project_id__in=projects)


def playground_checkpoints(*, project):
    """The checkpoints the playground may ask in ``project``: its own and the shared ones (a base model), once
    ready (a registered model whose check is running or refused it answers nothing)."""
    return ModelCheckpoint.objects.filter(Q(project=project) | Q(project__isnull=True)).filter(CHECKPOINT_READY) \
        .order_by("-created_at", "-id")


def checkpoint_project_id(*, checkpoint_id):
    """The project of a checkpoint; None for a shared one or an unknown id."""
    return ModelCheckpoint.objects.filter(pk=checkpoint_id).values_list("project_id", flat=True).first()


def playground_prompt_find(*, project, image, question):
    """The project's prompt of this image and question, if one exists (an answer sent joins it)."""
    return Prompt.objects.filter(project=project, image=image, question=question).order_by("id").first()


def _job_entry(job, *, project_id):
    own = getattr(job, "project_id", None) == project_id
    kind = str(job._meta.verbose_name)
    # Another project's job is named by its kind only: the queue is shared, the project is not.
    name = f"{kind} #{job.pk}" if own else f"another project's {kind}"
    detail = job.status
    if job.status == JobStatus.RUNNING and getattr(job, "total_steps", 0):
        detail += f", step {job.step}/{job.total_steps}"
    elif job.status == JobStatus.RUNNING:
        detail += f", {job.progress:.0%}"
    return {"kind": kind, "id": job.pk if own else None, "status": job.status, "label": f"{name} ({detail})"}


def playground_waiting_behind(*, request) -> list[dict]:
    """What a queued request waits behind on its queue (``gpu``): running jobs, then those queued before it,
    each ``{kind, id, status, label}`` (``id`` None for another project's), e.g. the label "training run #7
    (running, step 120/400)". Empty once the request runs."""
    if request.status != JobStatus.QUEUED:
        return []
    return [_job_entry(job, project_id=request.project_id) for job in jobs_ahead(request)]
