"""All of a project's settings in one write: ``PATCH /api/projects/<id>/``.

Each part stays with its owner and its checks: the annotation settings
(``annotate.services.projects.project_update``: name, instructions,
categories...), the training defaults (``training.services.
project_training_defaults_update``: gamma, beta, ``training_config``
checked against ``DDPOConfig``) and the loop (``training.promotion.
project_loop_settings_update``). One transaction: a refusal in any part
stores nothing.
"""
from django.db import transaction

from annotate.models import Project
from annotate.services.projects import PROJECT_FIELDS, project_update
from config.errors import ApplicationError
from training.promotion import LOOP_SETTINGS, project_loop_settings_update
from training.services import project_training_defaults_update

TRAINING_DEFAULTS = ("gamma", "beta", "training_config")
SETTINGS = (*PROJECT_FIELDS, *TRAINING_DEFAULTS, *LOOP_SETTINGS)


@transaction.atomic
def project_settings_update(*, project, **changes) -> Project:
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise ApplicationError(f"Not a project setting: {', '.join(unknown)}.", fields={n: ["Unknown."] for n in unknown})
    part = lambda names: {name: changes[name] for name in names if name in changes}
    project = project_update(project=project, **part(PROJECT_FIELDS))
    training = part(TRAINING_DEFAULTS)
    if training:
        try:
            project = project_training_defaults_update(
                project=project, gamma=training.get("gamma", project.gamma), beta=training.get("beta", project.beta),
                config=training.get("training_config", project.training_config))
        except ApplicationError as exc:  # its input is called ``config`` there, ``training_config`` here
            exc.fields = {"training_config" if name in ("config", "project") else name: problems
                          for name, problems in exc.fields.items()}
            raise
    loop = part(LOOP_SETTINGS)
    if loop:
        project = project_loop_settings_update(project=project, **loop)
    return project
