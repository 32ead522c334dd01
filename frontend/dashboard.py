"""The manager dashboard of one project: training runs with live metric charts, checkpoints, generation batches.

The page is a shell; frontend/static/frontend/dashboard.js fills it from the
training API (/api/training-runs/, /api/checkpoints/, /api/generation-batches/).
"""
import typing

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from annotate.permissions import project_for_role
from annotate.roles import MANAGERS
from training.ddpo.config import DDPOConfig
from training.services import training_config_resolve

# The settings the launch form sets (dashboard.html has an input named after each).
LAUNCH_SETTINGS = ("gamma", "beta", "learning_rate", "epochs", "batch_size", "sft_weight")


def _lowest(limits, *, integer):
    """The HTML ``min`` of a setting with DDPOConfig ``limits``: its inclusive bound; above an exclusive one, the
    next integer, or for a float the bound itself (HTML cannot exclude it: the API's 400 names the setting)."""
    if "ge" in limits:
        return limits["ge"]
    if "gt" in limits:
        return limits["gt"] + 1 if integer else limits["gt"]
    return None


def launch_form(*, project) -> dict:
    """``{setting: {"value": default, "min": bound}}`` of the launch form: the project's resolved settings and
    DDPOConfig's bounds, so that the page holds no copy of either."""
    defaults, bounds = training_config_resolve(project=project), DDPOConfig.bounds()
    hints = typing.get_type_hints(DDPOConfig)
    form = {}
    for name in LAUNCH_SETTINGS:
        lowest = _lowest(bounds.get(name, {}), integer=hints[name] is int)
        form[name] = {"value": defaults[name]} if lowest is None else {"value": defaults[name], "min": lowest}
    return form


@login_required
def dashboard(request, project_id):
    project = project_for_role(user=request.user, project_id=project_id, roles=MANAGERS)
    page_data = {"id": project.id, "name": project.name, "overlap": project.overlap,
                 "launch": launch_form(project=project)}
    return render(request, "frontend/dashboard.html", {"project": project, "page_data": page_data})


@login_required
def models(request, project_id):
    """Bring a base model: register a folder under MODELS_ROOT or a hub id, follow its check, see its facts,
    generate the first batch from it (frontend/static/frontend/models.js, on /api/checkpoints/)."""
    project = project_for_role(user=request.user, project_id=project_id, roles=MANAGERS)
    page_data = {"id": project.id, "name": project.name, "models_root": str(settings.MODELS_ROOT),
                 "hub_downloads": settings.MODEL_HUB_DOWNLOADS}
    return render(request, "frontend/models.html", {"project": project, "page_data": page_data})
