"""The team analytics page of one project, for its managers: a shell that frontend/static/frontend/js/analytics.js
fills from /api/projects/ID/analytics/ (annotate.selectors.analytics) and /api/projects/ID/verdicts/."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse

from annotate.apis.analytics import TABLES
from annotate.permissions import project_for_role
from annotate.roles import MANAGERS


@login_required
def analytics(request, project_id):
    project = project_for_role(user=request.user, project_id=project_id, roles=MANAGERS)
    csv = {table.replace("-", "_"): reverse(f"project-analytics-{table}-csv", args=[project.id])
           for table in [*TABLES, "verdicts"]}
    return render(request, "frontend/analytics.html",
                  {"project": project, "csv": csv, "page_data": {"id": project.id, "name": project.name}})
