"""Manager pages of a project's set-up: a new project, its settings, its members.

The pages are shells with their forms; frontend/static/frontend/js/projects.js
sends them to the API (``POST /api/projects/``, ``PATCH /api/projects/<id>/``,
``/api/projects/<id>/members/``) and shows each refusal next to its field.
Members without the manager role get 403, anyone else 404; a new project is
for staff and for whoever manages a project already.
"""
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from annotate.markdown import markdown_to_html
from annotate.models import PromotionPolicy, RecordPolicy, RecordTrigger, Role
from annotate.permissions import project_for_role
from annotate.roles import MANAGERS, project_ids_with_role
from annotate.services.projects import (
    CATEGORY_MAX_CHARS,
    MAX_CATEGORIES,
    MAX_INSTRUCTIONS_CHARS,
    MAX_LEASE_MINUTES,
    MAX_OVERLAP,
)


def may_create_projects(user) -> bool:
    """Staff, or a manager of at least one project (``annotate.permissions.ManagesAProject``)."""
    managed = project_ids_with_role(user=user, roles=MANAGERS)
    return managed is None or managed.exists()


@login_required
def project_new(request):
    if not may_create_projects(request.user):
        raise PermissionDenied("Creating a project needs the manager role in a project.")
    return render(request, "frontend/project_new.html", {"page_data": {"max_categories": MAX_CATEGORIES}})


@login_required
def project_settings(request, project_id):
    project = project_for_role(user=request.user, project_id=project_id, roles=MANAGERS)
    page_data = {"id": project.id, "max_categories": MAX_CATEGORIES, "category_max_chars": CATEGORY_MAX_CHARS,
                 "training_config": project.training_config}
    return render(request, "frontend/project_settings.html", {
        "project": project, "page_data": page_data, "instructions_html": markdown_to_html(project.instructions),
        "record_triggers": RecordTrigger.choices, "record_policies": RecordPolicy.choices,
        "promotion_policies": PromotionPolicy.choices, "max_overlap": MAX_OVERLAP,
        "max_lease_minutes": MAX_LEASE_MINUTES, "max_instructions_chars": MAX_INSTRUCTIONS_CHARS})


@login_required
def project_members(request, project_id):
    project = project_for_role(user=request.user, project_id=project_id, roles=MANAGERS)
    page_data = {"id": project.id, "me": request.user.pk, "roles": Role.values}
    return render(request, "frontend/project_members.html",
                  {"project": project, "page_data": page_data, "roles": Role.choices})
