"""The manager dashboard of one project: training runs with live metric charts, checkpoints, generation batches.

The page is a shell; frontend/static/frontend/dashboard.js fills it from the
training API (/api/training-runs/, /api/checkpoints/, /api/generation-batches/).
"""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from annotate.permissions import project_for_role
from annotate.roles import MANAGERS


@login_required
def dashboard(request, project_id):
    project = project_for_role(user=request.user, project_id=project_id, roles=MANAGERS)
    page_data = {"id": project.id, "name": project.name, "gamma": project.gamma, "beta": project.beta,
                 "overlap": project.overlap}
    return render(request, "frontend/dashboard.html", {"project": project, "page_data": page_data})
