from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.templatetags.static import static

from annotate.permissions import project_for_role
from annotate.roles import MANAGERS, REVIEWERS, user_project_role
from annotate.selectors import project_list
from annotate.selectors.images import image_get_visible, image_list_of_project
from annotate.selectors.annotations import review_waiting_counts
from annotate.selectors.tasks import task_queue_position, tasks_returned_counts
from annotate.services.uploads import MAX_TEMPLATES, default_templates
from frontend.projects import may_create_projects
from training.playground_selectors import playground_checkpoints

PLAYGROUND_IMAGES = 60  # the newest of the project's images offered to pick from; any other can be uploaded


@login_required
def home(request):
    """The caller's projects: every member may annotate; reviewers and managers also review; answers sent back;
    what is left to annotate and to review."""
    projects = []
    returned = tasks_returned_counts(user=request.user)
    for project in project_list(user=request.user):
        role = user_project_role(user=request.user, project_id=project.id)
        can_review = role in REVIEWERS
        projects.append({"project": project, "role": role, "can_review": can_review,
                         "returned": returned.get(project.id, 0),
                         "queue": task_queue_position(user=request.user, project=project),
                         "review": review_waiting_counts(project=project, reviewer=request.user) if can_review else None})
    return render(request, "frontend/home.html", {"projects": projects, "may_create": may_create_projects(request.user)})


def _page_data(project):
    """What the page's script needs, handed over through json_script (escaped)."""
    return {"id": project.id, "name": project.name, "categories": list(project.categories)}


@login_required
def annotate(request, project_id):
    project = project_for_role(user=request.user, project_id=project_id)
    return render(request, "frontend/annotate.html", {"project": project, "page_data": _page_data(project)})


@login_required
def review(request, project_id):
    project = project_for_role(user=request.user, project_id=project_id, roles=REVIEWERS)
    return render(request, "frontend/review.html", {"project": project, "page_data": _page_data(project)})


@login_required
def playground(request, project_id):
    """Ask one or two checkpoints about an image, side by side; mark words, send an answer to the queue."""
    project = project_for_role(user=request.user, project_id=project_id, roles=REVIEWERS)
    page_data = {
        **_page_data(project),
        "checkpoints": [{"id": c.id, "name": c.name, "is_active": c.is_active}
                        for c in playground_checkpoints(project=project)],
        "images": [{"id": image.id, "url": image.file.url, "width": image.width, "height": image.height}
                   for image in image_list_of_project(project=project)[:PLAYGROUND_IMAGES]],
    }
    return render(request, "frontend/playground.html", {"project": project, "page_data": page_data})


@login_required
def upload(request, project_id):
    """Managers drop a zip (images + manifest, or images alone) or image files; the page shows the upload's
    progress, then what was stored or every rejected line."""
    project = project_for_role(user=request.user, project_id=project_id, roles=MANAGERS)
    page_data = {**_page_data(project), "max_templates": MAX_TEMPLATES, "max_files": settings.DATA_UPLOAD_MAX_NUMBER_FILES}
    return render(request, "frontend/upload.html", {"project": project, "page_data": page_data,
                                                    "templates": default_templates()})


@login_required
def media(request, name):
    """An image of the caller's projects (whitenoise serves static files, not uploads); anything else 404."""
    image = image_get_visible(user=request.user, name=name)
    try:
        return FileResponse(image.file.open("rb"))
    except FileNotFoundError:
        raise Http404("No such file")


def favicon(request):
    """Browsers (and some API clients) ask ``/favicon.ico`` whatever the page says: send them to the static icon.

    Not permanent: the static URL carries the file's hash in production and changes with it."""
    return redirect(static("frontend/favicon.svg"))
