"""The manager dashboard of one project: training runs with live metric charts, checkpoints, generation batches.

The page is a shell; frontend/static/frontend/dashboard.js fills it from the
training API (/api/training-runs/, /api/checkpoints/, /api/generation-batches/).
"""
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render

from annotate.models import Role
from annotate.roles import user_project_role
from annotate.selectors import project_list


@login_required
def dashboard(request, project_id):
    project = get_object_or_404(project_list(user=request.user), pk=project_id)
    if user_project_role(request.user, project.id) != Role.MANAGER:
        raise PermissionDenied("Managers only")
    page_data = {"id": project.id, "name": project.name, "gamma": project.gamma, "beta": project.beta,
                 "overlap": project.overlap}
    return render(request, "frontend/dashboard.html", {"project": project, "page_data": page_data})
