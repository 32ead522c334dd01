"""Who may act on a project: outsiders get 404 (the project is not theirs to know), members without the role 403.

Object-level visibility of tasks and annotations lives in the selectors
(``task_get_leased``, ``annotation_visible``): what a user may not
see answers 404, like a row that does not exist.
"""
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import BasePermission, IsAuthenticated

from annotate.models import Project, Role
from annotate.roles import project_ids_managed, user_project_role

ANY_MEMBER = (Role.ANNOTATOR, Role.REVIEWER, Role.MANAGER)
REVIEWERS = (Role.REVIEWER, Role.MANAGER)


def project_for_role(*, user, project_id, roles=ANY_MEMBER):
    """The project if ``user`` holds one of ``roles`` in it; 404 for outsiders and unknown ids, 403 for the wrong role."""
    role = user_project_role(user, project_id)
    project = Project.objects.filter(pk=project_id).first() if role else None
    if project is None:
        raise NotFound(f"No project {project_id} of yours.")
    if role not in roles:
        raise PermissionDenied(f"This needs the {' or '.join(roles)} role in project {project_id}.")
    return project


class ManagesAProject(BasePermission):
    """Staff, or a member with the manager role in at least one project (which project: ``project_for_role``)."""

    message = "This needs the manager role."

    def has_permission(self, request, view):
        managed = project_ids_managed(user=request.user)
        return managed is None or bool(managed)


# The manager endpoints' permissions (exchange and training APIs): which project is then project_for_role's.
MANAGER_PERMISSIONS = [IsAuthenticated, ManagesAProject]
