"""Who may act on a project: outsiders get 404 (the project is not theirs to know), members without the role 403.

``project_for_role`` is the one check, for the API and the screens alike: it
raises Django's ``Http404`` / ``PermissionDenied``, which the API's exception
handler answers in its error shape. Object-level visibility of tasks and
annotations lives in the selectors (``task_get_leased``, ``annotation_visible``):
what a user may not see answers 404, like a row that does not exist.
"""
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework.permissions import BasePermission

from annotate.models import Project
from annotate.roles import ANY_MEMBER, MANAGERS, project_ids_with_role, user_project_role


def project_for_role(*, user, project_id, roles=ANY_MEMBER) -> Project:
    """The project if ``user`` holds one of ``roles`` in it; 404 for outsiders and unknown ids, 403 for the wrong role."""
    role = user_project_role(user=user, project_id=project_id)
    project = Project.objects.filter(pk=project_id).first() if role else None
    if project is None:
        raise Http404(f"No project {project_id} of yours.")
    if role not in roles:
        raise PermissionDenied(f"This needs the {' or '.join(roles)} role in project {project_id}.")
    return project


class ManagesAProject(BasePermission):
    """Staff, or a member with the manager role in at least one project (which project: ``project_for_role``)."""

    message = "This needs the manager role."

    def has_permission(self, request, view):
        managed = project_ids_with_role(user=request.user, roles=MANAGERS)
        return managed is None or managed.exists()
